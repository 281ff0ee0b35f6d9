/**
 * The real server as a child process (`node src/main/cli.ts up`), for crash tests and benchmarks that
 * must kill it (SIGKILL) or measure it without sharing its event loop. Stdout/stderr are kept in memory
 * (for a failure message) and never printed.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../src/main/server-node-flags.ts';

const cliPath = fileURLToPath(new URL('../../src/main/cli.ts', import.meta.url));

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Sends `signal` and resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  output(): string;
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/**
 * Starts `bulkhead up` with `env` (BULKHEAD_HOME, BULKHEAD_DATABASE_URL, BULKHEAD_BOOTSTRAP_TOKEN ...) on
 * a free port and waits until /readyz answers 200 (or throws after `timeoutMs`, killing the child).
 * `nodeArgs` go to node before the script (benchmarks: `--cpu-prof`, `--trace-gc`, which NODE_OPTIONS refuses).
 */
export const startServerProcess = async (env: Record<string, string>, timeoutMs = 60_000, nodeArgs: readonly string[] = []): Promise<ServerProcess> => {
  const port = await freePort();
  const relayPort = await freePort();
  // The start-up flags bin/bulkhead passes, so what is measured here is what production runs.
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeArgs, cliPath, 'up'], {
    env: { PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', BULKHEAD_HOST: '127.0.0.1', BULKHEAD_PORT: String(port), BULKHEAD_RELAY_PORT: String(relayPort), BULKHEAD_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited during start-up (code ${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become ready in ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    child,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
};

/**
 * One JSON call to a server over real HTTP (Bearer `token` when given): the status and the body, parsed
 * when it is JSON (else the text; undefined when empty). Throws only when the server cannot be reached.
 */
export const callServer = async (url: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text === '' ? undefined : text;
  try {
    if (text !== '') parsed = JSON.parse(text);
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, body: parsed };
};

/** `callServer` that wants a 2xx: returns the body, or throws with the method, path, status and body. */
export const mustServer = async (url: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<any> => {
  const response = await callServer(url, token, method, path, body);
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
};

/** Live (non-zombie) host processes whose command line holds `marker`, as `ps` lines: a job's leftovers. */
export const processesWith = (marker: string): string[] =>
  execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(marker) && !/\sZ/.test(line.slice(0, 16)) && !line.includes('ps -eo'));
