/**
 * The noisy tenant's open-loop flood for bench/noisy-neighbour.ts, run in a worker thread so that the
 * attacker's own client work (building requests, writing ~1 MB bodies, reconnecting after each refusal)
 * is not done on the event loop that also serves the platform and times the victim — as it would be on
 * another machine. `workerData`: { port, path, token, body, floodRps, maxOutstanding, sockets }. Posts
 * { statuses, skipped, offeredRps, cpuMs, elapsedMs } (cpuMs: this thread's CPU time) when sent 'stop', then exits.
 * Also runs as a child process (`fork` with advanced serialization; `--flood-client process`): then its
 * garbage collection and threads are not the platform process's either; the same data comes as the first
 * IPC message, and the result goes back over IPC.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { floodAgentFor, postStatus } from './support/paced-post.ts';

type FloodData = { port: number; path: string; token: string; body: Uint8Array; floodRps: number; maxOutstanding: number; sockets: number };
/** Where the flood runs, as one interface: its data, its parent's messages, its answer, its CPU time, its end. */
const port = parentPort;
const host = port === null
  ? {
    data: await new Promise<FloodData>((resolve) => process.once('message', (message) => resolve(message as FloodData))),
    onMessage: (listener: (message: unknown) => void) => void process.on('message', listener),
    send: (message: unknown) => void process.send?.(message),
    // All of the process's CPU time: the attacker's client work, its GC and threads.
    cpuUsage: (previous?: NodeJS.CpuUsage) => process.cpuUsage(previous),
    close: () => process.disconnect(),
  }
  : {
    data: workerData as FloodData,
    onMessage: (listener: (message: unknown) => void) => void port.on('message', listener),
    send: (message: unknown) => port.postMessage(message),
    // This thread's own CPU time (the attacker's client work).
    cpuUsage: (previous?: NodeJS.CpuUsage) => process.threadCpuUsage(previous),
    close: () => port.close(),
  };
const data = host.data;
const body = Buffer.from(data.body);
const agent = floodAgentFor(data.sockets);

const target = { port: data.port };
const post = (): Promise<number> => postStatus(target, agent, data.path, data.token, body);

const statuses = new Map<number, number>();
let outstanding = 0;
let skipped = 0;
let sent = 0;
let stopped = false;
const inflight = new Set<Promise<void>>();
const started = performance.now();
// The client's CPU time, reported with the statuses.
const cpuAtStart = host.cpuUsage();
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

host.onMessage((message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearInterval(tick);
  void Promise.all([...inflight]).then(() => {
    const elapsed = (performance.now() - started) / 1000;
    const cpu = host.cpuUsage(cpuAtStart);
    host.send({ statuses: [...statuses], skipped, offeredRps: sent / elapsed, cpuMs: (cpu.user + cpu.system) / 1000, elapsedMs: elapsed * 1000 });
    agent.destroy();
    host.close();
  });
});
