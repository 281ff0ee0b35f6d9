/**
 * What one refused large request costs the platform's thread, held vs closed at once (admission-server.ts),
 * without the rest of the platform: a server from `createAdmissionServerFactory` over a tenant admission
 * whose tenant is over its rate for the whole run, flooded by bench/noisy-neighbour-flood.ts (a worker
 * thread, keep-alive agent of 64 sockets, open loop, at most `--max-outstanding` in flight) with `--rows`
 * row bodies (0.94 MB at 4096). Phases of `--seconds`, held and closed-at-once alternating over `--rounds`.
 * Per phase: refusals answered, the server thread's CPU time per refusal, and the flood thread's CPU time
 * (the attacker's client, here on the same machine). CPU time, unlike latency, is little moved by other
 * load on a shared machine; the load average is printed anyway.
 * `--client send-first`: a client that writes its whole body before reading the answer (admission-hold-client.ts).
 *   node_modules/.bin/node bench/admission-hold.ts [--seconds 3] [--rounds 3] [--flood-rps 1500] [--rows 4096] [--client node|send-first]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { admissionTokenKey, createAdmissionServerFactory, createTenantAdmission } from '../src/http/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    'flood-rps': { type: 'string', default: '1500' },
    'max-outstanding': { type: 'string', default: '256' },
    rows: { type: 'string', default: '4096' },
    // node: Node's http client (answer read as it arrives; bench/noisy-neighbour-flood.ts); send-first: the
    // whole body written before the answer is read (bench/admission-hold-client.ts), 64 connections.
    client: { type: 'string', default: 'node' },
  },
});
const clientKind = values.client;
if (clientKind !== 'node' && clientKind !== 'send-first') throw new Error('--client must be node or send-first');
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const floodRps = Number(values['flood-rps']);
const maxOutstanding = Number(values['max-outstanding']);
const rows = Number(values.rows);
const FEATURES = 64;
const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, FEATURES], datatype: 'FP32', data: Array.from({ length: rows * FEATURES }, (_, i) => (i % 5) / 5) }] }));
const token = 'bench-flooding-tenant-token';

const admission = createTenantAdmission({ maxInFlight: 0, maxConnections: 0, tokenTtlMs: 3_600_000 });
let admitted = 0;
const server = createAdmissionServerFactory(admission, undefined)((_req, res) => {
  admitted += 1;
  res.end('{}');
}, {});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

const phase = async (holding: boolean): Promise<{ refusals: number; serverCpuMs: number; clientCpuMs: number; ms: number; held: number }> => {
  admission.setHolding(holding);
  // Known, and over its rate for the whole phase (a refusal window far longer than the phase).
  admission.learn(admissionTokenKey(token), 'noisy');
  admission.rateRefused('noisy', 3_600_000);
  const before = admission.stats();
  const worker = clientKind === 'node'
    ? new Worker(new URL('./noisy-neighbour-flood.ts', import.meta.url), {
      workerData: { port, path: '/v2/models/scorer/infer', token, body: new Uint8Array(body), floodRps, maxOutstanding },
    })
    : new Worker(new URL('./admission-hold-client.ts', import.meta.url), {
      workerData: { port, path: '/v2/models/scorer/infer', token, body: new Uint8Array(body), connections: 64 },
    });
  const cpu0 = process.threadCpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpu = process.threadCpuUsage(cpu0);
  const ms = performance.now() - t0;
  const after = admission.stats();
  const result = new Promise<{ cpuMs: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  worker.postMessage('stop');
  // The flood's last requests go through (forgetting ends the refusal window) instead of waiting for holds.
  admission.forgetTenant('noisy');
  const r = await Promise.race([result, new Promise<{ cpuMs: number }>((resolve) => setTimeout(() => resolve({ cpuMs: NaN }), 5000))]);
  await worker.terminate();
  return { refusals: after.rate - before.rate, serverCpuMs: (cpu.user + cpu.system) / 1000, clientCpuMs: r.cpuMs, ms, held: after.heldTotal - before.heldTotal };
};

console.log(`admission-hold: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; flood of ${(body.length / 1e6).toFixed(2)} MB bodies from a worker thread: ${clientKind === 'node' ? `Node's http client, ${floodRps} req/s open loop (64 keep-alive sockets, ≤ ${maxOutstanding} outstanding)` : '64 send-first closed loops'}; ${rounds} rounds × 2 phases × ${seconds} s`);
const results: Record<'held' | 'closed', Array<Awaited<ReturnType<typeof phase>>>> = { held: [], closed: [] };
for (let round = 1; round <= rounds; round += 1) {
  for (const holding of round % 2 === 1 ? [true, false] : [false, true]) {
    const r = await phase(holding);
    results[holding ? 'held' : 'closed'].push(r);
    console.log(`  round ${round} ${holding ? 'held  ' : 'closed'}: ${r.refusals} refusals (${r.held} held) in ${(r.ms / 1000).toFixed(1)} s; server thread ${r.serverCpuMs.toFixed(0)} ms CPU (${((1000 * r.serverCpuMs) / Math.max(1, r.refusals)).toFixed(0)} µs/refusal, ${((100 * r.serverCpuMs) / r.ms).toFixed(0)} % of a CPU); flood client thread ${r.clientCpuMs.toFixed(0)} ms CPU (${((100 * r.clientCpuMs) / r.ms).toFixed(0)} %); load ${os.loadavg()[0]!.toFixed(2)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};
for (const key of ['held', 'closed'] as const) {
  const rs = results[key];
  console.log(`  ${key.padEnd(6)} median: ${median(rs.map((r) => r.refusals / (r.ms / 1000))).toFixed(0)} refusals/s, server thread ${median(rs.map((r) => (100 * r.serverCpuMs) / r.ms)).toFixed(1)} % of a CPU (${median(rs.map((r) => (1000 * r.serverCpuMs) / Math.max(1, r.refusals))).toFixed(0)} µs/refusal), flood client ${median(rs.map((r) => (100 * r.clientCpuMs) / r.ms)).toFixed(1)} %`);
}
console.log(`  admitted after the phases' ends (the flood's stragglers): ${admitted}`);
await new Promise<void>((resolve) => server.close(() => resolve()));
