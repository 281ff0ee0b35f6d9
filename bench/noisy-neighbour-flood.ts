/**
 * The noisy tenant's open-loop flood for bench/noisy-neighbour.ts, run in a worker thread so that the
 * attacker's own client work (building requests, writing ~1 MB bodies, reconnecting after each refusal)
 * is not done on the event loop that also serves the platform and times the victim — as it would be on
 * another machine. `workerData`: { port, path, token, body, floodRps, maxOutstanding }. Posts
 * { statuses, skipped, offeredRps, cpuMs, elapsedMs } (cpuMs: this thread's CPU time) when sent 'stop', then exits.
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { postStatus } from './support/paced-post.ts';

const data = workerData as { port: number; path: string; token: string; body: Uint8Array; floodRps: number; maxOutstanding: number };
const body = Buffer.from(data.body);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const target = { port: data.port };
const post = (): Promise<number> => postStatus(target, agent, data.path, data.token, body);

const statuses = new Map<number, number>();
let outstanding = 0;
let skipped = 0;
let sent = 0;
let stopped = false;
const inflight = new Set<Promise<void>>();
const started = performance.now();
// This thread's own CPU time (the attacker's client work), reported with the statuses.
const cpuAtStart = process.threadCpuUsage();
const tick = setInterval(() => {
  const due = Math.floor(((performance.now() - started) / 1000) * data.floodRps) - sent;
  for (let i = 0; i < due && !stopped; i += 1) {
    sent += 1;
    if (outstanding >= data.maxOutstanding) {
      skipped += 1;
      continue;
    }
    outstanding += 1;
    const done = post().then((status) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      outstanding -= 1;
      inflight.delete(done);
    });
    inflight.add(done);
  }
}, 5);

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearInterval(tick);
  void Promise.all([...inflight]).then(() => {
    const elapsed = (performance.now() - started) / 1000;
    const cpu = process.threadCpuUsage(cpuAtStart);
    parentPort?.postMessage({ statuses: [...statuses], skipped, offeredRps: sent / elapsed, cpuMs: (cpu.user + cpu.system) / 1000, elapsedMs: elapsed * 1000 });
    agent.destroy();
    parentPort?.close();
  });
});
