import { chmodSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where the CLI finds its server and token: flags, then environment, then the file `bulkhead login` wrote. */
export interface CliSettings {
  url: string | undefined;
  token: string | undefined;
  /** Where the token came from: an explicit flag wins over BULKHEAD_TOKEN, which wins over the saved login. */
  tokenSource: '--token' | 'BULKHEAD_TOKEN' | 'saved login' | undefined;
  file: string;
  /** What `bulkhead login` saved (an SSO login adds the IdP's refresh token and the tenant). */
  saved: { url?: string; token?: string; ssoRefreshToken?: string; tenant?: string };
}

export const cliSettingsFile = (env: Readonly<Record<string, string | undefined>> = process.env): string =>
  env['BULKHEAD_CLI_CONFIG'] ?? join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'bulkhead', 'cli.json');

export const loadCliSettings = (
  flags: { url?: string | undefined; token?: string | undefined },
  env: Readonly<Record<string, string | undefined>> = process.env,
): CliSettings => {
  const file = cliSettingsFile(env);
  let saved: CliSettings['saved'] = {};
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as CliSettings['saved'];
  } catch {
    // No saved login: flags and environment must say it.
  }
  return {
    url: flags.url ?? env['BULKHEAD_URL'] ?? saved.url,
    token: flags.token ?? env['BULKHEAD_TOKEN'] ?? saved.token,
    tokenSource: flags.token !== undefined ? '--token' : env['BULKHEAD_TOKEN'] !== undefined ? 'BULKHEAD_TOKEN' : saved.token !== undefined ? 'saved login' : undefined,
    file,
    saved,
  };
};

/** Writes the login file with mode 0600 (it holds a token), atomically. */
export const saveCliSettings = (file: string, settings: { url: string; token: string; ssoRefreshToken?: string; tenant?: string }): void => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
};
