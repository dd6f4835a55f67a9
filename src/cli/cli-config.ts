// The read-side commands need only to know where recordings are: the
// --data-dir flag, else the config file's dataDir, else the default.
import { readConfigFile, resolveConfig, type ServeConfig, ConfigError } from '../config/config.js';
import { CliError } from './errors.js';

export function configForCli(o: { dataDir?: string; config?: string }): ServeConfig {
  try {
    const file = o.config ? readConfigFile(o.config) : {};
    return resolveConfig(file, o.dataDir ? { dataDir: o.dataDir } : {});
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
}
