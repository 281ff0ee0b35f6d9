/** Configuration: the schema, defaults and the one reader of `process.env`. Owns no IO beyond that read. */
export { loadConfig, configSchema, envNames, oidcEnvNames, oidcAlgorithms } from './config.ts';
export type { Config, OidcConfig } from './config.ts';
export { loadCliSettings, saveCliSettings, cliSettingsFile } from './cli-settings.ts';
export type { CliSettings } from './cli-settings.ts';
