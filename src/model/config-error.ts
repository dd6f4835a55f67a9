// Kept apart from config.ts so the validators of config sections can throw it
// without importing the module that imports them.
export class ConfigError extends Error {}
