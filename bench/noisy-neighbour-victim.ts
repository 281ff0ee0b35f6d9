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

const data = workerData as { port: number; path: string; token: string; body: Uint8Array; victimRps: number; victimClients: number };
const body = Buffer.from(data.body);
const agent = new http.Agent({ keepAlive: true, maxSockets: data.victimClients });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const post = (): Promise<number> =>
  new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: data.port, agent, method: 'POST', path: data.path, headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${data.token}` }, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });

/** The same pacing as the inline clients in noisy-neighbour.ts. */
const run = async (ms: number): Promise<{ latencies: number[]; errors: number; total: number }> => {
  const latencies: number[] = [];
  let errors = 0;
  const interval = (1000 * data.victimClients) / data.victimRps;
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: data.victimClients }, async (_, c) => {
    let next = performance.now() + (interval * c) / data.victimClients;
    while (next < end) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      const status = await post();
      const dt = performance.now() - t0;
      if (status === 200) latencies.push(dt);
      else errors += 1;
      next += interval;
      if (next < performance.now()) next = performance.now();
    }
  }));
  latencies.sort((a, b) => a - b);
  return { latencies, errors, total: latencies.length + errors };
};

parentPort?.on('message', (message: { ms: number } | 'stop') => {
  if (message === 'stop') {
    agent.destroy();
    parentPort?.close();
    return;
  }
  void run(message.ms).then((result) => parentPort?.postMessage(result));
});
