/**
 * A tenant's `runs/search` flood in a worker thread (bench/db-time-flood.ts), so that its client work —
 * sending searches, reading and parsing their answers — is not done on the event loop that times the
 * tenant being measured. Resolves once the worker runs; the returned function stops it after every search
 * in flight has answered and gives what it did.
 */
import { Worker } from 'node:worker_threads';

export interface SearchFloodResult {
  /** Count per outcome: the HTTP status, with the error code for failures ("429 RATE_LIMITED"). */
  outcomes: [string, number][];
  searches: number;
  /** The worker thread's CPU time. */
  cpuMs: number;
}

export const startSearchFlood = async (o: { url: string; token: string; bodies: readonly string[]; clients: number }): Promise<() => Promise<SearchFloodResult>> => {
  const worker = new Worker(new URL('../db-time-flood.ts', import.meta.url), { workerData: { url: o.url, token: o.token, bodies: [...o.bodies], clients: o.clients } });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return async () => {
    const result = await new Promise<SearchFloodResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage('stop');
    });
    await worker.terminate();
    return result;
  };
};
