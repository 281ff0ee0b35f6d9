/**
 * `bulkhead serve-model`: the OIP model worker (src/serving/worker/oip-worker.ts) in its TCP mode, as the
 * server container of a cluster endpoint's pod runs it. A child process, so the worker keeps its own
 * argv contract; SIGTERM and SIGINT are passed on (the worker drains), and its exit code is returned.
 */
import { spawn } from 'node:child_process';
import type { ServeModelOptions } from '../cli/index.ts';
import { oipWorkerScript } from '../serving/index.ts';

export const serveModel = (options: ServeModelOptions): Promise<number> =>
  new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', oipWorkerScript, options.model, `tcp:${options.host}:${options.port}`, options.name, options.version],
      { stdio: 'inherit', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
    );
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onTerm = forward('SIGTERM');
    const onInt = forward('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(code ?? (signal === null ? 0 : 1));
    });
  });
