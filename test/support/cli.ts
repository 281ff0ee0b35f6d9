/**
 * Runs the real `bulkhead` CLI in-process (commander program, HTTP API client) with a given environment,
 * capturing what it prints. The offline admin operations and `bulkhead up` are not available here.
 */
import type { AdminOperations, CliDeps } from '../../src/cli/index.ts';
import { runCli } from '../../src/cli/index.ts';

const notUsed = async (): Promise<never> => {
  throw new Error('not used in this test');
};

export const noAdmin: AdminOperations = { migrate: notUsed, createPlatformToken: notUsed, verifyAudit: notUsed, setPassword: notUsed, doctor: notUsed };

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** `env` is the CLI's whole environment (BULKHEAD_URL, BULKHEAD_TOKEN, BULKHEAD_CLI_CONFIG, ...). */
export const runCliWith = async (args: string[], env: Record<string, string>, admin: AdminOperations = noAdmin): Promise<CliRun> => {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, env, runServer: notUsed, admin };
  process.exitCode = 0;
  const code = await runCli(args, deps);
  process.exitCode = 0;
  return { code, out: out.join(''), err: err.join('') };
};
