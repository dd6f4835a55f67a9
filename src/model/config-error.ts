// The error every config validator throws (config/, clusters/,
// authenticate/oidc, store/settings.ts). Here at the bottom so each section
// can be validated where it is used without importing config/.
export class ConfigError extends Error {}
