/**
 * Database time under a noisy neighbour (issue #25, the database half). Two tenants on one platform,
 * served over real HTTP on loopback (the platform in this process, as `bulkhead up` runs it):
 *   V  (victim)  three clients, each back to back: MLflow `runs/get`, `runs/log-batch` (10 metrics), `/healthz`;
 *   N  (noisy)   owns `--runs` runs (3 params, 2 tags, 1 metric each, seeded by SQL, not ANALYZEd: the
 *                expensive plans) and, during the flood phases, `--flood-clients` clients issuing its most
 *                expensive search forms back to back: `params.` and `tags.` filters ordered by a metric.
 *                N's clients run in a worker thread (bench/db-time-flood.ts) by default, so that reading and
 *                parsing N's search responses is not done on the platform's event loop, as it would not be
 *                with N on another machine; `--flood-client inline` puts them back on the platform's thread
 *                (the figures before 2026-12-06 evening were taken that way).
 * V's clients run on the platform's thread by default, as before (their own client work and the loop's work
 * of serving N then both show in V's latencies); `--victim-client thread` runs them in a worker thread
 * (bench/db-time-victim.ts) — one more busy thread on the 2 cores, but not on the event loop.
 * Phases of `--seconds` each, alternating V alone / V + flood, `--rounds` times; per operation prints V's
 * p50/p99 alone and with the flood and the p99 ratio, plus what N got back (200s, 429s and others).
 * N runs under its tenant quota (default: statement timeout 10 s, 8 concurrent operations; change with
 * `--noisy-timeout-ms`, `--noisy-max-concurrent`).
 *
 *   node_modules/.bin/node bench/db-time.ts [--db pglite|postgres] [--runs 100000] [--seconds 10]
 *     [--rounds 2] [--flood-clients 2] [--noisy-timeout-ms 10000] [--noisy-max-concurrent 8] [--noisy-db-time-ms-per-second 0]
 *     [--flood-client thread|inline] [--victim-client thread|inline] [--fair-slots N (default: the host's CPUs; 0 = off)]
 */
// First: runs this process's platform with the server's node flags, as `bulkhead up` runs it.
import './support/server-runtime.ts';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { adminToken, createTestPlatform } from '../test/support/platform.ts';
import { startSearchFlood } from './support/search-flood.ts';
import type { DbKind } from '../src/db/index.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'pglite' },
    runs: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    'flood-clients': { type: 'string', default: '2' },
    'noisy-timeout-ms': { type: 'string', default: '10000' },
    'noisy-max-concurrent': { type: 'string', default: '8' },
    // N's database time per second (quota dbTimeMsPerSecond); default 0: unlimited, as a new tenant's.
    'noisy-db-time-ms-per-second': { type: 'string', default: '0' },
    'flood-client': { type: 'string', default: 'thread' },
    'victim-client': { type: 'string', default: 'inline' },
    'fair-slots': { type: 'string' },
  },
});
const kind = values.db as DbKind;
if (kind !== 'postgres' && kind !== 'pglite') throw new Error('--db must be postgres or pglite');
const runCount = Number(values.runs);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const floodClients = Number(values['flood-clients']);
const noisyTimeoutMs = Number(values['noisy-timeout-ms']);
const noisyMaxConcurrent = Number(values['noisy-max-concurrent']);
const noisyDbTimeMsPerSecond = Number(values['noisy-db-time-ms-per-second']);
const floodClientPlace = values['flood-client'];
if (floodClientPlace !== 'thread' && floodClientPlace !== 'inline') throw new Error('--flood-client must be thread or inline');
const victimClientPlace = values['victim-client'];
if (victimClientPlace !== 'thread' && victimClientPlace !== 'inline') throw new Error('--victim-client must be thread or inline');

const percentile = (sorted: number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

const started = performance.now();
// --fair-slots: the platform's BULKHEAD_DB_FAIR_SLOTS (default: this host's CPUs; 0 = off).
const p = await createTestPlatform(kind, { authCacheTtlMs: 60_000, ...(values['fair-slots'] === undefined ? {} : { dbFairSlots: Number(values['fair-slots']) }) });
try {
  const url = await p.listen();
  const victim = await p.createTenant('victim');
  const noisy = await p.createTenant('noisy');
  await p.call('PUT', `/api/v1/tenants/${noisy.slug}/quota`, adminToken, { dbStatementTimeoutMs: noisyTimeoutMs, dbMaxConcurrentOperations: noisyMaxConcurrent, dbTimeMsPerSecond: noisyDbTimeMsPerSecond, requestsPerSecond: 100_000 });
  await p.call('PUT', `/api/v1/tenants/${victim.slug}/quota`, adminToken, { requestsPerSecond: 100_000 });

  const mlflow = async (token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const response = await fetch(`${url}/api/2.0/mlflow/${path}`, {
      method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
  };

  // V: one experiment, one run.
  const vExp = (await mlflow(victim.tokens.member, 'POST', 'experiments/create', { name: 'victim-exp' })).json.experiment_id as string;
  const vRun = (await mlflow(victim.tokens.member, 'POST', 'runs/create', { experiment_id: vExp, start_time: Date.now() })).json.run.info.run_id as string;

  // N: one experiment, `runCount` runs seeded in bulk as the schema owner.
  const nExp = (await mlflow(noisy.tokens.member, 'POST', 'experiments/create', { name: 'noisy-exp' })).json.experiment_id as string;
  const seedStart = performance.now();
  const owner = p.database.owner;
  const batch = 20_000;
  for (let from = 1; from <= runCount; from += batch) {
    const to = Math.min(runCount, from + batch - 1);
    const runId = `md5('${noisy.id}' || i::text)`;
    await owner.execAsOwner(`
      INSERT INTO runs (id, tenant_id, experiment_id, name, status, start_time, lifecycle_stage, artifact_uri)
        SELECT ${runId}, '${noisy.id}', ${Number(nExp)}, 'run-' || i, 'FINISHED', 1700000000000 + i, 'active', 'mlflow-artifacts:/${nExp}/' || ${runId} || '/artifacts'
        FROM generate_series(${from}, ${to}) i;
      INSERT INTO run_params (tenant_id, run_id, key, value)
        SELECT '${noisy.id}', ${runId}, 'p' || k, ((i * k) % 97)::text FROM generate_series(${from}, ${to}) i, generate_series(1, 3) k;
      INSERT INTO run_tags (tenant_id, run_id, key, value)
        SELECT '${noisy.id}', ${runId}, 't' || k, 'g' || ((i + k) % 50)::text FROM generate_series(${from}, ${to}) i, generate_series(1, 2) k;
      INSERT INTO run_latest_metrics (tenant_id, run_id, key, value, timestamp, step, is_nan)
        SELECT '${noisy.id}', ${runId}, 'loss', (i % 1000) / 1000.0, 1700000000000 + i, 0, false FROM generate_series(${from}, ${to}) i;`);
  }
  log(`seeded ${runCount} runs (3 params, 2 tags, 1 metric each) in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const searchForms = [
    { filter: "params.p1 = '42' and tags.t2 = 'g7'", order_by: ['metrics.loss DESC'] },
    { filter: "tags.t1 LIKE 'g1%'", order_by: ['metrics.loss ASC'] },
    { filter: "params.p2 != '3' and metrics.loss > 0.5", order_by: ['params.p3 DESC'] },
  ];
  // One search alone first: what each costs without contention.
  for (const form of searchForms) {
    const t0 = performance.now();
    const result = await mlflow(noisy.tokens.viewer, 'POST', 'runs/search', { experiment_ids: [nExp], max_results: 100, ...form });
    log(`search alone: ${form.filter} → ${result.status} ${result.status === 200 ? `${result.json.runs?.length ?? 0} runs` : result.json?.error_code} in ${(performance.now() - t0).toFixed(0)} ms`);
  }

  type Op = 'runs/get' | 'log-batch' | '/healthz';
  const ops: Op[] = ['runs/get', 'log-batch', '/healthz'];
  const samples: Record<'alone' | 'flood', Record<Op, number[]>> = {
    alone: { 'runs/get': [], 'log-batch': [], '/healthz': [] },
    flood: { 'runs/get': [], 'log-batch': [], '/healthz': [] },
  };
  const victimErrors = { alone: 0, flood: 0 };
  let step = 0;
  const victimCall = async (op: Op): Promise<number> => {
    switch (op) {
      case 'runs/get':
        return (await mlflow(victim.tokens.viewer, 'GET', `runs/get?run_id=${vRun}`)).status;
      case 'log-batch':
        step += 1;
        return (await mlflow(victim.tokens.member, 'POST', 'runs/log-batch', {
          run_id: vRun, metrics: Array.from({ length: 10 }, (_, i) => ({ key: `m${i}`, value: Math.random(), timestamp: Date.now(), step })),
        })).status;
      case '/healthz':
        return (await fetch(`${url}/healthz`)).status;
    }
  };
  // One client per operation, each back to back: a slow runs/get does not hold back the /healthz samples.
  const victimThread = victimClientPlace === 'thread'
    ? new Worker(new URL('./db-time-victim.ts', import.meta.url), { workerData: { url, viewerToken: victim.tokens.viewer, memberToken: victim.tokens.member, runId: vRun } })
    : undefined;
  const victimPhase = async (condition: 'alone' | 'flood', until: number): Promise<void> => {
    if (victimThread !== undefined) {
      const result = await new Promise<{ latencies: Record<Op, number[]>; errors: number }>((resolve, reject) => {
        victimThread.once('message', resolve);
        victimThread.once('error', reject);
        victimThread.postMessage({ phase: condition, seconds: (until - performance.now()) / 1000 });
      });
      for (const op of ops) samples[condition][op].push(...result.latencies[op]);
      victimErrors[condition] += result.errors;
      return;
    }
    await Promise.all(ops.map(async (op) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        const status = await victimCall(op);
        samples[condition][op].push(performance.now() - t0);
        if (status !== 200) victimErrors[condition] += 1;
      }
    }));
  };
  const noisyOutcomes = new Map<string, number>();
  let noisySearches = 0;
  const floodClient = async (stop: () => boolean, offset: number): Promise<void> => {
    for (let i = offset; !stop(); i += 1) {
      const result = await mlflow(noisy.tokens.viewer, 'POST', 'runs/search', { experiment_ids: [nExp], max_results: 100, ...searchForms[i % searchForms.length]! });
      const key = result.status === 200 ? '200' : `${result.status} ${result.json?.error_code ?? result.json?.code ?? ''}`;
      noisyOutcomes.set(key, (noisyOutcomes.get(key) ?? 0) + 1);
      noisySearches += 1;
    }
  };

  let floodClientCpuMs = 0;
  /** Starts N's flood; the function it returns stops it and waits for every search in flight. */
  const startFlood = async (): Promise<() => Promise<void>> => {
    if (floodClientPlace === 'inline') {
      let stopping = false;
      const flood = Array.from({ length: floodClients }, (_, c) => floodClient(() => stopping, c));
      return async () => {
        stopping = true;
        await Promise.all(flood);
      };
    }
    const bodies = searchForms.map((form) => JSON.stringify({ experiment_ids: [nExp], max_results: 100, ...form }));
    const stop = await startSearchFlood({ url, token: noisy.tokens.viewer, bodies, clients: floodClients });
    return async () => {
      const result = await stop();
      for (const [key, count] of result.outcomes) noisyOutcomes.set(key, (noisyOutcomes.get(key) ?? 0) + count);
      noisySearches += result.searches;
      floodClientCpuMs += result.cpuMs;
    };
  };

  for (let round = 0; round < rounds; round += 1) {
    await victimPhase('alone', performance.now() + seconds * 1000);
    const stopFlood = await startFlood();
    // Let the flood get going (each client's first search in flight) before V measures.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await victimPhase('flood', performance.now() + seconds * 1000);
    await stopFlood();
  }
  await victimThread?.terminate();

  log('');
  log(`db-time bench, ${kind}, ${runCount} runs of N, ${floodClients} flood clients (${floodClientPlace}), V's clients ${victimClientPlace}, N's quota ${noisyTimeoutMs} ms / ${noisyMaxConcurrent} concurrent / ${noisyDbTimeMsPerSecond > 0 ? `${noisyDbTimeMsPerSecond} ms of database time per second` : 'database time unlimited'}, ${seconds} s × ${rounds} rounds per condition; ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  log('| V operation | n alone | p50 alone | p99 alone | n flood | p50 flood | p99 flood | p99 ratio |');
  log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const op of ops) {
    const alone = [...samples.alone[op]].sort((x, y) => x - y);
    const flood = [...samples.flood[op]].sort((x, y) => x - y);
    log(`| ${op} | ${alone.length} | ${percentile(alone, 0.5).toFixed(1)} ms | ${percentile(alone, 0.99).toFixed(1)} ms | ${flood.length} | ${percentile(flood, 0.5).toFixed(1)} ms | ${percentile(flood, 0.99).toFixed(1)} ms | **${(percentile(flood, 0.99) / percentile(alone, 0.99)).toFixed(2)}×** |`);
  }
  log(`V errors: alone ${victimErrors.alone}, flood ${victimErrors.flood}`);
  log(`N searches: ${noisySearches} (${[...noisyOutcomes].map(([k, v]) => `${k}: ${v}`).join(', ')}); N's clients ran ${floodClientPlace === 'thread' ? `in a worker thread (${(floodClientCpuMs / 1000).toFixed(1)} s of CPU)` : 'on the platform\'s thread'}`);
  const usage = p.platform.dbTime.usage();
  for (const [name, tenant] of [['V', victim], ['N', noisy]] as const) {
    const u = usage.find((entry) => entry.tenantId === tenant.id);
    log(`${name} database time: ${u?.dbSeconds.toFixed(1)} s over ${u?.operations} operations, ${u?.statementTimeouts} statement timeouts`);
  }
  log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await p.close();
}
