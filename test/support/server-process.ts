/**
 * The real server as a child process (`node src/main/cli.ts up`), for crash tests and benchmarks that
 * must kill it (SIGKILL) or measure it without sharing its event loop. Stdout/stderr are kept in memory
 * (for a failure message) and never printed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

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
  const child = spawn(process.execPath, [...nodeArgs, cliPath, 'up'], {
    env: { PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', BULKHEAD_HOST: '127.0.0.1', BULKHEAD_PORT: String(port), BULKHEAD_RELAY_PORT: String(relayPort), ...env },
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
