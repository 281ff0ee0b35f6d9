/**
 * The server's young-generation cap (`--max-semi-space-size=16`, src/main/server-node-flags.ts) against a
 * young generation as large as Node sizes it on a big machine (`--max-semi-space-size=64`: 128 MB of new
 * space, what Node 24 chose on the 24 GB development VM), side by side, alternated: one tenant's 100-row
 * searches (`metrics.m0 > 0.5` ordered by `metrics.m1 DESC`, 10,000 runs) back to back through HTTP, and
 * the server's own scavenges (`--trace-gc`): how long each stopped the thread that serves every tenant,
 * and how often. The later flag wins, so the "large" server runs the production flags plus the override.
 *
 * Usage: node bench/server-young-generation.ts [--db postgres|pglite] [--searches 600] [--rounds 2]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { seedRuns } from '../test/support/tracking-seed.ts';
import { createBenchClient } from './support/http-client.ts';
import type { BenchTenant } from './support/http-client.ts';
import { startSeededServer } from './support/seeded-server.ts';
import { percentile } from './support/timing.ts';

const { values } = parseArgs({ options: { db: { type: 'string', default: 'postgres' }, searches: { type: 'string', default: '600' }, rounds: { type: 'string', default: '2' } } });
const kind = values.db === 'pglite' ? 'pglite' : 'postgres';
const SEARCHES = Number(values.searches);
const adminToken = `bh_bench-admin-${'x'.repeat(40)}`;

interface Outcome { p50: number; p90: number; p99: number; max: number; scavenges: number[]; seconds: number }

const measure = async (extraFlags: readonly string[]): Promise<Outcome> => {
  const seeded = await startSeededServer({
    kind, adminToken, tenants: [['tenant-b', 'sweep']], nodeArgs: ['--trace-gc', ...extraFlags],
    seed: (owner, [b]) => seedRuns(owner, { tenantId: (b as BenchTenant).id, experimentId: Number((b as BenchTenant).experimentId), prefix: 'b', from: 1, count: 10_000 }),
  });
  try {
    const b = seeded.tenants[0] as BenchTenant;
    const client = createBenchClient(seeded.url, b.token);
    const body = JSON.stringify({ experiment_ids: [b.experimentId], filter: 'metrics.m0 > 0.5', order_by: ['metrics.m1 DESC'], max_results: 100 });
    for (let i = 0; i < 10; i += 1) await client.request('POST', '/api/2.0/mlflow/runs/search', body);
    const times: number[] = [];
    const started = performance.now();
    for (let i = 0; i < SEARCHES; i += 1) {
      const t = performance.now();
      const response = await client.request('POST', '/api/2.0/mlflow/runs/search', body);
      if (response.status !== 200) throw new Error(`runs/search → ${response.status} ${response.body.slice(0, 200)}`);
      times.push(performance.now() - t);
    }
    const seconds = (performance.now() - started) / 1000;
    client.close();
    // The serving thread's scavenges among the last lines of the server's output (the launcher keeps the
    // last 20,000 characters, ≈ 100 lines: mostly from the searches); a worker's lines carry another
    // isolate address, the serving thread is the one with the most.
    const lines = seeded.output().split('\n');
    const main = lines.map((l) => /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: Scavenge .*?, ([\d.]+) \/ [\d.]+ ms/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
    const isolates = new Map<string, number>();
    for (const m of main) isolates.set(m[1]!, (isolates.get(m[1]!) ?? 0) + 1);
    const busiest = [...isolates].sort((x, y) => y[1] - x[1])[0]?.[0];
    const scavenges = main.filter((m) => m[1] === busiest).map((m) => Number(m[2]));
    times.sort((x, y) => x - y);
    return { p50: percentile(times, 0.5), p90: percentile(times, 0.9), p99: percentile(times, 0.99), max: times.at(-1) ?? NaN, scavenges, seconds };
  } finally {
    await seeded.close();
  }
};

console.log(`server young generation: ${kind}, ${SEARCHES} searches per server, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const contenders = [['production flags (--max-semi-space-size=16)', []], ['large young generation (--max-semi-space-size=64)', ['--max-semi-space-size=64']]] as const;
const results = new Map<string, Outcome[]>();
for (let round = 0; round < Number(values.rounds); round += 1) {
  for (const [label, flags] of round % 2 === 0 ? contenders : [...contenders].reverse()) {
    const outcome = await measure(flags);
    results.set(label, [...(results.get(label) ?? []), outcome]);
    const scav = [...outcome.scavenges].sort((x, y) => x - y);
    console.log(`${label}: search p50 ${outcome.p50.toFixed(1)} ms, p90 ${outcome.p90.toFixed(1)}, p99 ${outcome.p99.toFixed(1)}, max ${outcome.max.toFixed(1)}; ` +
      `scavenges of the serving thread (the last ones of its log) ${scav.length}, median ${percentile(scav, 0.5).toFixed(1)} ms, longest ${(scav.at(-1) ?? NaN).toFixed(1)} ms`);
  }
}
const median = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 0.5);
const [small, large] = contenders.map(([label]) => results.get(label) ?? []) as [Outcome[], Outcome[]];
console.log(`ratio production / large young generation (medians of the rounds): p50 ×${(median(small.map((o) => o.p50)) / median(large.map((o) => o.p50))).toFixed(2)}, ` +
  `p99 ×${(median(small.map((o) => o.p99)) / median(large.map((o) => o.p99))).toFixed(2)}, ` +
  `median scavenge ×${(median(small.map((o) => median(o.scavenges))) / median(large.map((o) => median(o.scavenges)))).toFixed(2)}`);
