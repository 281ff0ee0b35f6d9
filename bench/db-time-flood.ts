/**
 * The noisy tenant's search flood for bench/db-time.ts, run in a worker thread so that N's own client work
 * (sending searches, reading and parsing responses of 100 runs each) is not done on the event loop that
 * also serves the platform and times the victim — as it would be on another machine.
 * `workerData`: { url, token, body: one JSON body per search form, clients }. Each client issues
 * `runs/search` back to back, cycling through the forms. Posts { outcomes, searches, cpuMs } (cpuMs: this
 * thread's CPU time) when sent 'stop' and every search in flight has answered, then exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBenchClient } from './support/http-client.ts';

const data = workerData as { url: string; token: string; bodies: string[]; clients: number };
const client = createBenchClient(data.url, data.token, data.clients);
const outcomes = new Map<string, number>();
let searches = 0;
let stopped = false;
const cpuAtStart = process.threadCpuUsage();

const loop = async (offset: number): Promise<void> => {
  for (let i = offset; !stopped; i += 1) {
    const response = await client.request('POST', '/api/2.0/mlflow/runs/search', data.bodies[i % data.bodies.length]);
    let key = String(response.status);
    if (response.status !== 200) {
      try {
        const parsed = JSON.parse(response.body) as { error_code?: string; code?: string };
        key = `${response.status} ${parsed.error_code ?? parsed.code ?? ''}`;
      } catch {
        // not JSON: the status alone
      }
    } else {
      // Parsed as a real client would: that is part of the client's work, not the platform's.
      JSON.parse(response.body);
    }
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    searches += 1;
  }
};
const loops = Array.from({ length: data.clients }, (_, c) => loop(c));
parentPort?.postMessage('started');
parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  void Promise.all(loops).then(() => {
    const cpu = process.threadCpuUsage(cpuAtStart);
    parentPort?.postMessage({ outcomes: [...outcomes], searches, cpuMs: (cpu.user + cpu.system) / 1000 });
    client.close();
    parentPort?.close();
  });
});
