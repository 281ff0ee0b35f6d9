/**
 * The victim tenant's paced clients for bench/noisy-neighbour.ts, in a worker thread (`--victim-client
 * thread`), so that the victim's own client work (building requests, parsing answers, timing) is not done
 * on the event loop that serves the platform — as on another machine, like the flood's client
 * (noisy-neighbour-flood.ts). `workerData`: { port, path, token, body, victimRps, victimClients }. For each
 * message { ms } it runs the paced clients for `ms` and posts { latencies (sorted), errors, total };
 * 'stop' ends it.
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { postStatus, runPaced } from './support/paced-post.ts';
import type { PacedResult } from './support/paced-post.ts';

const data = workerData as { port: number; path: string; token: string; body: Uint8Array; victimRps: number; victimClients: number };
const body = Buffer.from(data.body);
const agent = new http.Agent({ keepAlive: true, maxSockets: data.victimClients });
const target = { port: data.port };
const run = (ms: number): Promise<PacedResult> =>
  runPaced(data.victimClients, data.victimRps, ms, () => postStatus(target, agent, data.path, data.token, body));

parentPort?.on('message', (message: { ms: number } | 'stop') => {
  if (message === 'stop') {
    agent.destroy();
    parentPort?.close();
    return;
  }
  void run(message.ms).then((result) => parentPort?.postMessage(result));
});
