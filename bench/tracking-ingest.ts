/**
 * MLflow log-batch ingestion through HTTP against the real server (`bulkhead up` as a child process, so
 * the load generator does not share its event loop), on PostgreSQL and on PGlite:
 *   - metric points/s with 1 and with 8 concurrent clients, each sending batches of 1,000 metrics
 *     (10 keys x 100 steps) to its own run, one request in flight per client, as the MLflow client does;
 *   - single `runs/log-metric` calls/s with 1 and 8 clients;
 *   - new runs/s with 8 clients, each run a `runs/create` then a `log-batch` of 3 metrics, a param, a tag.
 * Printed next to the MLflow 2.12 reference figures of issue 3 (4 gunicorn workers, PostgreSQL backend,
 * measured on a machine of this kind): ≈ 7,400 points/s (1 client), ≈ 13,000 (8 clients), ≈ 90-250
 * single log-metric calls/s. After each run it checks through the API that every acknowledged point is
 * there. Bounded: each phase lasts --seconds (default 5), then the server is stopped.
 *
 * Usage: node bench/tracking-ingest.ts [--db postgres|pglite|both] [--seconds 5] [--phases batch,single,runs]
 *   [--warmup 3]  (seconds of the runs phase's load before it is measured; 0: none)
 *   [--cpu-prof DIR]  (the server's V8 CPU profile of the whole run, written into DIR on exit)
 *   (BENCH_SERVER_NODE_ARGS: more node flags for the server, e.g. `--perf-basic-prof` for `perf record`)
 */
import os from 'node:os';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { DbKind } from '../src/db/index.ts';
import { createTestDatabase, serverDatabaseEnv } from '../test/support/databases.ts';
import { startServerProcess } from '../test/support/server-process.ts';
import { createBenchClient, must } from './support/http-client.ts';
import { TICK_MS, benchServerNodeArgs, processCpu } from './support/process-cpu.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    seconds: { type: 'string', default: '5' },
    phases: { type: 'string', default: 'batch,single,runs' },
    'cpu-prof': { type: 'string' },
    warmup: { type: 'string', default: '3' },
  },
});
const seconds = Number(values.seconds);
const kinds: DbKind[] = values.db === 'both' ? ['postgres', 'pglite'] : [values.db as DbKind];
const phases = new Set(values.phases.split(','));
const nodeArgs = [
  ...benchServerNodeArgs(),
  ...(values['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`]),
];
const warmupS = Number(values.warmup);
const adminToken = `bh_bench-admin-${'x'.repeat(40)}`;
const BATCH = 1000;
const KEYS = 10;

const reference = { batch1: 7_400, batch8: 13_000, singleLow: 90, singleHigh: 250 };


/** The body of batch number `n` of a run: 10 keys x 100 consecutive steps, built as text (cheap for the generator). */
const batchBody = (runId: string, n: number): string => {
  const parts: string[] = [];
  const t0 = 1_700_000_000_000 + n * 1000;
  for (let i = 0; i < BATCH; i += 1) {
    const step = n * (BATCH / KEYS) + Math.floor(i / KEYS);
    parts.push(`{"key":"metric_${i % KEYS}","value":${(Math.sin(step + i) * 10).toFixed(6)},"timestamp":${t0 + i},"step":${step}}`);
  }
  return `{"run_id":"${runId}","metrics":[${parts.join(',')}]}`;
};

/**
 * CPU time (ms) spent so far by: the whole machine (/proc/stat, all CPUs), the server process, this
 * benchmark process, and the PostgreSQL processes serving database `dbName` (its backends, found by their
 * process title) plus PostgreSQL's shared helpers (WAL writer, checkpointer, background writer). Linux only.
 */
interface CpuSnapshot { machine: number; server: number; bench: number; backends: number; pgHelpers: number }
const procCpu = (pid: number | string): number => {
  const cpu = processCpu(pid);
  return cpu === undefined ? 0 : cpu.user + cpu.system;
};
const cpuSnapshot = (serverPid: number | undefined, dbName: string | undefined): CpuSnapshot => {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const machine = (line.reduce((a, b) => a + b, 0) - (line[3] ?? 0) - (line[4] ?? 0)) * TICK_MS;
  let backends = 0;
  let pgHelpers = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!title.startsWith('postgres: ')) continue;
    if (dbName !== undefined && title.includes(` ${dbName} `)) backends += procCpu(pid);
    else if (/walwriter|checkpointer|background writer|autovacuum launcher/.test(title)) pgHelpers += procCpu(pid);
  }
  const own = process.cpuUsage();
  return { machine, server: serverPid === undefined ? 0 : procCpu(serverPid), bench: (own.user + own.system) / 1000, backends, pgHelpers };
};
const cpuDelta = (a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot => ({
  machine: b.machine - a.machine, server: b.server - a.server, bench: b.bench - a.bench, backends: b.backends - a.backends, pgHelpers: b.pgHelpers - a.pgHelpers,
});

interface Phase { ops: number; seconds: number; errors: number; p50: number; p99: number }

/** Runs `clients` loops, each awaiting its previous request, until the deadline. */
const runPhase = async (clients: number, durationS: number, one: (client: number, n: number) => Promise<boolean>): Promise<Phase> => {
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationS * 1000;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let n = 0; performance.now() < deadline; n += 1) {
      const t = performance.now();
      if (await one(c, n)) ops += 1;
      else errors += 1;
      latencies.push(performance.now() - t);
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { ops, seconds: elapsed, errors, p50: pct(0.5), p99: pct(0.99) };
};

interface KindResult { kind: DbKind; batch1: number; batch8: number; single1: number; single8: number; runs8: number; notes: string[] }

const benchKind = async (kind: DbKind): Promise<KindResult> => {
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-bench-'));
  const database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
  const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_LOG_LEVEL: 'error', BULKHEAD_DATABASE_POOL_SIZE: '20' };
  if (database?.appUrl !== undefined) {
    // Already migrated by createTestDatabase; the server still checks migrations as the schema owner.
    Object.assign(env, serverDatabaseEnv(database));
  }
  const server = await startServerProcess(env, 60_000, nodeArgs);
  const notes: string[] = [];
  try {
    const admin = createBenchClient(server.url, adminToken, 1);
    await must(admin, 'POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', tier: 'sandbox' });
    // The tenant's request-rate quota (default 1,000/s) would otherwise cap the single-call phases.
    await must(admin, 'PUT', '/api/v1/tenants/bench/quota', { requestsPerSecond: 1_000_000 });
    const { token } = await must(admin, 'POST', '/api/v1/tenants/bench/tokens', { name: 'bench', role: 'member' });
    admin.close();
    const client = createBenchClient(server.url, token, 16);
    const api = (path: string) => `/api/2.0/mlflow/${path}`;
    const { experiment_id: experimentId } = await must(client, 'POST', api('experiments/create'), { name: 'ingest' });
    const newRuns = async (n: number): Promise<string[]> =>
      Promise.all(Array.from({ length: n }, async () => (await must(client, 'POST', api('runs/create'), { experiment_id: experimentId, start_time: Date.now() })).run.info.run_id as string));

    const batchPhase = async (clients: number): Promise<{ pointsPerSecond: number; runs: string[]; acked: number[] }> => {
      const runs = await newRuns(clients);
      const acked = new Array<number>(clients).fill(0);
      // Warm-up: one batch per client (connections, prepared plans), not counted.
      await Promise.all(runs.map((runId) => must(client, 'POST', api('runs/log-batch'), JSON.parse(batchBody(runId, 0)))));
      const phase = await runPhase(clients, seconds, async (c, n) => {
        const response = await client.request('POST', api('runs/log-batch'), batchBody(runs[c] as string, n + 1));
        if (response.status !== 200) return false;
        acked[c] = (acked[c] ?? 0) + 1;
        return true;
      });
      if (phase.errors > 0) notes.push(`${kind}: ${phase.errors} failed log-batch calls with ${clients} clients`);
      const pointsPerSecond = (phase.ops * BATCH) / phase.seconds;
      console.log(`  ${kind} log-batch x${clients}: ${phase.ops} batches in ${phase.seconds.toFixed(1)} s → ${Math.round(pointsPerSecond).toLocaleString('en-US')} points/s (p50 ${phase.p50.toFixed(1)} ms, p99 ${phase.p99.toFixed(1)} ms)`);
      return { pointsPerSecond, runs, acked };
    };

    const verify = async (runs: string[], acked: number[]): Promise<void> => {
      // Every acknowledged batch (plus the warm-up) put 100 points under each key.
      for (const [i, runId] of runs.entries()) {
        const history = await must(client, 'GET', `${api('metrics/get-history')}?run_id=${runId}&metric_key=metric_3`);
        const expected = ((acked[i] ?? 0) + 1) * (BATCH / KEYS);
        if (history.metrics.length !== expected) throw new Error(`${kind}: run ${runId} has ${history.metrics.length} points of metric_3, expected ${expected}`);
      }
    };

    const skipped = { pointsPerSecond: NaN, runs: [], acked: [] };
    const one = phases.has('batch') ? await batchPhase(1) : skipped;
    await verify(one.runs, one.acked);
    const eight = phases.has('batch') ? await batchPhase(8) : skipped;
    await verify(eight.runs, eight.acked);

    const singlePhase = async (clients: number): Promise<number> => {
      const runs = await newRuns(clients);
      const phase = await runPhase(clients, seconds, async (c, n) => {
        const body = `{"run_id":"${runs[c]}","key":"loss","value":${Math.random()},"timestamp":${Date.now()},"step":${n}}`;
        return (await client.request('POST', api('runs/log-metric'), body)).status === 200;
      });
      if (phase.errors > 0) notes.push(`${kind}: ${phase.errors} failed log-metric calls with ${clients} clients`);
      const perSecond = phase.ops / phase.seconds;
      console.log(`  ${kind} log-metric x${clients}: ${phase.ops} calls in ${phase.seconds.toFixed(1)} s → ${Math.round(perSecond).toLocaleString('en-US')} calls/s (p50 ${phase.p50.toFixed(2)} ms, p99 ${phase.p99.toFixed(2)} ms)`);
      return perSecond;
    };
    const single1 = phases.has('single') ? await singlePhase(1) : NaN;
    const single8 = phases.has('single') ? await singlePhase(8) : NaN;

    // Issue 20 item 4: new runs, each `runs/create` then one `log-batch` of three metrics, a param and a
    // tag (the shape of issue 20's search data), 8 clients, one request in flight per client.
    const newRun = async (c: number, n: number): Promise<boolean> => {
      const created = await client.request('POST', api('runs/create'), JSON.stringify({ experiment_id: experimentId, start_time: Date.now() }));
      if (created.status !== 200) return false;
      const runId = (JSON.parse(created.body) as { run: { info: { run_id: string } } }).run.info.run_id;
      const t = Date.now();
      const body = `{"run_id":"${runId}","metrics":[{"key":"m0","value":${Math.random()},"timestamp":${t},"step":0},` +
        `{"key":"m1","value":${Math.random()},"timestamp":${t},"step":0},{"key":"m2","value":${Math.random()},"timestamp":${t},"step":0}],` +
        `"params":[{"key":"a","value":"${n % 10}"}],"tags":[{"key":"t","value":"x${c}"}]}`;
      return (await client.request('POST', api('runs/log-batch'), body)).status === 200;
    };
    const runsPhase = async (clients: number): Promise<number> => {
      const dbName = database?.appUrl === undefined ? undefined : new URL(database.appUrl).pathname.slice(1);
      const before = cpuSnapshot(server.child.pid, dbName);
      const phase = await runPhase(clients, seconds, newRun);
      if (phase.errors > 0) notes.push(`${kind}: ${phase.errors} failed runs/create + log-batch with ${clients} clients`);
      const perSecond = phase.ops / phase.seconds;
      const cpu = cpuDelta(before, cpuSnapshot(server.child.pid, dbName));
      const perRun = (ms: number) => `${((ms / Math.max(1, phase.ops)) * 1000).toFixed(0)} µs`;
      console.log(`  ${kind} CPU per run (runs/create + log-batch): server ${perRun(cpu.server)}, PostgreSQL backends ${perRun(cpu.backends)}, ` +
        `PostgreSQL helpers ${perRun(cpu.pgHelpers)}, benchmark client ${perRun(cpu.bench)}, whole machine ${perRun(cpu.machine)} ` +
        `(machine busy ${((cpu.machine / (phase.seconds * 1000 * os.cpus().length)) * 100).toFixed(0)}% of ${os.cpus().length} CPUs; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
      console.log(`  ${kind} runs/create + log-batch x${clients}: ${phase.ops} runs in ${phase.seconds.toFixed(1)} s → ${Math.round(perSecond).toLocaleString('en-US')} runs/s (p50 ${phase.p50.toFixed(1)} ms, p99 ${phase.p99.toFixed(1)} ms)`);
      return perSecond;
    };
    if (phases.has('runs') && warmupS > 0) {
      // Unmeasured: the server's first seconds are spent compiling its hot paths (V8's optimizing compiler
      // ran on a second thread for ≈ 20 % of the server's CPU in a 10 s phase right after start).
      await runPhase(8, warmupS, newRun);
    }
    const runs8 = phases.has('runs') ? await runsPhase(8) : NaN;
    client.close();
    return { kind, batch1: one.pointsPerSecond, batch8: eight.pointsPerSecond, single1, single8, runs8, notes };
  } finally {
    await server.kill('SIGTERM');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  }
};

console.log(`tracking ingest benchmark: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${seconds} s per phase`);
const results: KindResult[] = [];
for (const kind of kinds) results.push(await benchKind(kind));

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log('\n| database | log-batch 1 client (points/s) | log-batch 8 clients (points/s) | log-metric 1 client (calls/s) | log-metric 8 clients (calls/s) |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.kind} | ${fmt(r.batch1)} (${(r.batch1 / reference.batch1).toFixed(1)}× MLflow) | ${fmt(r.batch8)} (${(r.batch8 / reference.batch8).toFixed(1)}× MLflow) | ` +
      `${fmt(r.single1)} (${(r.single1 / reference.singleHigh).toFixed(1)}–${(r.single1 / reference.singleLow).toFixed(1)}× MLflow) | ` +
      `${fmt(r.single8)} (${(r.single8 / reference.singleHigh).toFixed(1)}–${(r.single8 / reference.singleLow).toFixed(1)}× MLflow) |`,
  );
}
console.log(`| MLflow 2.12 reference | ${fmt(reference.batch1)} | ${fmt(reference.batch8)} | ${reference.singleLow}–${reference.singleHigh} | ${reference.singleLow}–${reference.singleHigh} |`);
for (const r of results) console.log(`${r.kind}: runs/create + log-batch (3 metrics, a param, a tag) with 8 clients: ${fmt(r.runs8)} runs/s`);
const pg = results.find((r) => r.kind === 'postgres');
if (pg !== undefined) console.log(`\ngoal (issue 3): ≥ 130,000 points/s with 8 clients on PostgreSQL → ${pg.batch8 >= 130_000 ? 'met' : 'NOT met'} (${fmt(pg.batch8)})`);
if (pg !== undefined) console.log(`goal (issue 20 item 4): ≥ 1,000 runs/s (runs/create + log-batch) with 8 clients on PostgreSQL → ${pg.runs8 >= 1_000 ? 'met' : 'NOT met'} (${fmt(pg.runs8)})`);
for (const r of results) for (const note of r.notes) console.log(`note: ${note}`);
