/**
 * What one refused request costs the platform's thread when the admission layer (admission-server.ts)
 * refuses it, without the rest of the platform: a server from `createAdmissionServerFactory` over a tenant
 * admission whose tenant is over its rate for the whole run, flooded from a worker thread. Two conditions,
 * alternating over `--rounds` phases of `--seconds`: **large** (`--rows` rows, 0.94 MB at 4096: answered
 * with `Connection: close`, the body unread, the connection closed) and **small** (1 row, ≈ 0.6 KB: the
 * body drained, the keep-alive connection kept). Per phase: refusals answered, the server thread's CPU
 * time per refusal, and the flood thread's CPU time (the attacker's client, here on the same machine).
 * CPU time, unlike latency, is little moved by other load on a shared machine; the load average is printed.
 * `--client node`: Node's http client, open loop (bench/noisy-neighbour-flood.ts); `send-first`: 64 closed
 * loops that write the whole body before reading the answer (admission-refusal-client.ts).
 *   node_modules/.bin/node bench/admission-refusal.ts [--seconds 3] [--rounds 4] [--flood-rps 1500] [--rows 4096] [--client node|send-first]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { admissionTokenKey, createAdmissionServerFactory, createTenantAdmission } from '../src/http/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '4' },
    'flood-rps': { type: 'string', default: '1500' },
    'max-outstanding': { type: 'string', default: '256' },
    rows: { type: 'string', default: '4096' },
    client: { type: 'string', default: 'node' },
  },
});
const clientKind = values.client;
if (clientKind !== 'node' && clientKind !== 'send-first') throw new Error('--client must be node or send-first');
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const floodRps = Number(values['flood-rps']);
const maxOutstanding = Number(values['max-outstanding']);
const FEATURES = 64;
const bodyOf = (rows: number): Buffer => Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, FEATURES], datatype: 'FP32', data: Array.from({ length: rows * FEATURES }, (_, i) => (i % 5) / 5) }] }));
const bodies = { large: bodyOf(Number(values.rows)), small: bodyOf(1) };
const token = 'bench-flooding-tenant-token';

const admission = createTenantAdmission({ maxInFlight: 0, maxConnections: 0, tokenTtlMs: 3_600_000 });
let admitted = 0;
const server = createAdmissionServerFactory(admission, undefined)((_req, res) => {
  admitted += 1;
  res.end('{}');
}, {});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

type Condition = keyof typeof bodies;
const phase = async (condition: Condition): Promise<{ refusals: number; serverCpuMs: number; clientCpuMs: number; ms: number }> => {
  // Known, and over its rate for the whole phase (a refusal window far longer than the phase).
  admission.learn(admissionTokenKey(token), 'noisy');
  admission.rateRefused('noisy', 3_600_000);
  const before = admission.stats();
  const body = new Uint8Array(bodies[condition]);
  const path = '/v2/models/scorer/infer';
  const worker = clientKind === 'node'
    ? new Worker(new URL('./noisy-neighbour-flood.ts', import.meta.url), { workerData: { port, path, token, body, floodRps, maxOutstanding } })
    : new Worker(new URL('./admission-refusal-client.ts', import.meta.url), { workerData: { port, path, token, body, connections: 64 } });
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
  // The flood's last requests go through (forgetting ends the refusal window) so the client can stop.
  admission.forgetTenant('noisy');
  const r = await Promise.race([result, new Promise<{ cpuMs: number }>((resolve) => setTimeout(() => resolve({ cpuMs: NaN }), 5000))]);
  await worker.terminate();
  return { refusals: after.rate - before.rate, serverCpuMs: (cpu.user + cpu.system) / 1000, clientCpuMs: r.cpuMs, ms };
};

console.log(`admission-refusal: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; refused bodies large ${(bodies.large.length / 1e6).toFixed(2)} MB / small ${bodies.small.length} B from a worker thread: ${clientKind === 'node' ? `Node's http client, ${floodRps} req/s open loop (64 keep-alive sockets, ≤ ${maxOutstanding} outstanding)` : '64 send-first closed loops'}; ${rounds} rounds × 2 phases × ${seconds} s`);
const results: Record<Condition, Array<Awaited<ReturnType<typeof phase>>>> = { large: [], small: [] };
for (let round = 1; round <= rounds; round += 1) {
  for (const condition of (round % 2 === 1 ? ['large', 'small'] : ['small', 'large']) as Condition[]) {
    const r = await phase(condition);
    results[condition].push(r);
    console.log(`  round ${round} ${condition.padEnd(5)}: ${r.refusals} refusals in ${(r.ms / 1000).toFixed(1)} s; server thread ${r.serverCpuMs.toFixed(0)} ms CPU (${((1000 * r.serverCpuMs) / Math.max(1, r.refusals)).toFixed(0)} µs/refusal, ${((100 * r.serverCpuMs) / r.ms).toFixed(0)} % of a CPU); flood client thread ${r.clientCpuMs.toFixed(0)} ms CPU (${((100 * r.clientCpuMs) / r.ms).toFixed(0)} %); load ${os.loadavg()[0]!.toFixed(2)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};
for (const condition of ['large', 'small'] as const) {
  const rs = results[condition];
  console.log(`  ${condition.padEnd(5)} median: ${median(rs.map((r) => r.refusals / (r.ms / 1000))).toFixed(0)} refusals/s, server thread ${median(rs.map((r) => (100 * r.serverCpuMs) / r.ms)).toFixed(1)} % of a CPU (${median(rs.map((r) => (1000 * r.serverCpuMs) / Math.max(1, r.refusals))).toFixed(0)} µs/refusal), flood client ${median(rs.map((r) => (100 * r.clientCpuMs) / r.ms)).toFixed(1)} %`);
}
console.log(`  admitted after the phases' ends (the flood's stragglers): ${admitted}`);
await new Promise<void>((resolve) => server.close(() => resolve()));
