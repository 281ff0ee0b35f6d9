/**
 * The other MLflow searches at scale (issue 20 item 2), through the real MLflow REST API over HTTP
 * against the real server (`bulkhead up` as a child process), on PostgreSQL or PGlite:
 * `experiments/search` over N experiments, `registered-models/search` over N models,
 * `model-versions/search` over N versions (N / 100 models × 100 versions), `metrics/get-history` and
 * `metrics/get-history-bulk-interval` on one series of P points.
 *
 * Data is seeded with bulk SQL (`INSERT ... SELECT generate_series`) as the schema owner
 * (test/support/registry-seed.ts), on PGlite between two starts of the server; then one search per table
 * lets the server's statistics keeper analyze what it keeps (experiments, models, versions and their tags).
 * Every request goes through HTTP as the tenant's token, row-level security in force.
 *
 * For each form, at 100 and 1,000 rows: `--samples` requests one after another (after 3 warm-ups), p50 and
 * p99 in ms. "deep page" forms time the page reached by following next_page_token (experiments, models,
 * versions: the 50th page; get-history: the page after 500,000 points, reached in 25,000-point pages).
 *
 * The bulk interval is timed on two series of the same P points: one with the step summary log-batch keeps
 * (migration 0038: sampled from it, one index probe per chosen step) and one without (its steps scanned).
 *
 * Usage: node bench/search-registry.ts [--db postgres|pglite] [--objects 100000] [--points 1000000] [--samples 20] [--series-only]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/db/index.ts';
import { seedExperiments, seedModels, seedSeries } from '../test/support/registry-seed.ts';
import { createBenchClient } from './support/http-client.ts';
import type { BenchClient, BenchTenant } from './support/http-client.ts';
import { startSeededServer } from './support/seeded-server.ts';
import { timeSequential } from './support/timing.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    objects: { type: 'string', default: '100000' },
    points: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '20' },
    'series-only': { type: 'boolean', default: false },
  },
});
const kind = values.db === 'pglite' ? 'pglite' : 'postgres';
const OBJECTS = Number(values.objects);
const POINTS = Number(values.points);
const SAMPLES = Number(values.samples);
const VERSIONS_PER_MODEL = 100;
const SERIES_RUN = 'f'.repeat(32);
// The same series without a step summary (as for steps that are not a progression): the bulk interval
// scans its steps — the baseline of the summarised series' figures, side by side.
const SCAN_RUN = 'e'.repeat(32);
const SERIES_ONLY = values['series-only'] === true;
const adminToken = `bh_bench-admin-${'y'.repeat(40)}`;


const seed = async (owner: Db, a: BenchTenant): Promise<void> => {
  const chunk = 100_000;
  if (!SERIES_ONLY) {
    for (let from = 0; from < OBJECTS; from += chunk) {
      const count = Math.min(chunk, OBJECTS - from);
      await seedExperiments(owner, a.id, 100 + from, count);
    }
    await seedModels(owner, a.id, { from: 1, count: OBJECTS, versionedModels: Math.ceil(OBJECTS / VERSIONS_PER_MODEL), versionsPerModel: VERSIONS_PER_MODEL });
  }
  await seedSeries(owner, { tenantId: a.id, experimentId: Number(a.experimentId), runId: SERIES_RUN, key: 'loss', points: POINTS });
  await seedSeries(owner, { tenantId: a.id, experimentId: Number(a.experimentId), runId: SCAN_RUN, key: 'loss', points: POINTS, summary: false });
};


interface Endpoint { method: 'GET' | 'POST'; path: string; list: string }

const ENDPOINTS = {
  experiments: { method: 'POST', path: 'experiments/search', list: 'experiments' },
  models: { method: 'GET', path: 'registered-models/search', list: 'registered_models' },
  versions: { method: 'GET', path: 'model-versions/search', list: 'model_versions' },
  history: { method: 'GET', path: 'metrics/get-history', list: 'metrics' },
  bulk: { method: 'GET', path: 'metrics/get-history-bulk-interval', list: 'metrics' },
} as const satisfies Record<string, Endpoint>;

const call = async (client: BenchClient, e: Endpoint, body: Record<string, unknown>): Promise<{ ms: number; rows: number; token: string | undefined }> => {
  let path = `/api/2.0/mlflow/${e.path}`;
  let payload: string | undefined;
  if (e.method === 'GET') {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) {
      if (Array.isArray(v)) for (const x of v) q.append(k, String(x));
      else if (v !== undefined) q.append(k, String(v));
    }
    path += `?${q.toString()}`;
  } else {
    payload = JSON.stringify(body);
  }
  const t = performance.now();
  const response = await client.request(e.method, path, payload);
  const ms = performance.now() - t;
  if (response.status !== 200) throw new Error(`${e.path} → ${response.status} ${response.body.slice(0, 300)}`);
  const parsed = JSON.parse(response.body) as Record<string, unknown>;
  const list = parsed[e.list];
  return { ms, rows: Array.isArray(list) ? list.length : 0, token: typeof parsed['next_page_token'] === 'string' ? parsed['next_page_token'] : undefined };
};

/** The token of the page after `pages` pages of `size` rows. */
const walk = async (client: BenchClient, e: Endpoint, body: Record<string, unknown>, size: number, pages: number): Promise<string> => {
  let token: string | undefined;
  for (let i = 0; i < pages; i += 1) {
    const r = await call(client, e, { ...body, max_results: size, ...(token === undefined ? {} : { page_token: token }) });
    if (r.token === undefined) throw new Error(`${e.path}: no page after ${i + 1} pages`);
    token = r.token;
  }
  return token as string;
};

const time = (client: BenchClient, e: Endpoint, body: Record<string, unknown>) => timeSequential(() => call(client, e, body), SAMPLES);

interface Form {
  name: string;
  endpoint: Endpoint;
  body: Record<string, unknown>;
  /** Time the page after this many pages (of the timed size), or after `deepPoints` points for get-history. */
  deepPages?: number;
  deepPoints?: number;
}

const forms = (a: BenchTenant): Form[] => [
  { name: 'experiments: no filter (creation_time DESC)', endpoint: ENDPOINTS.experiments, body: {} },
  { name: "experiments: `name LIKE 'exp-1%'`", endpoint: ENDPOINTS.experiments, body: { filter: "name LIKE 'exp-1%'" } },
  { name: "experiments: `tags.team = 'team7'`", endpoint: ENDPOINTS.experiments, body: { filter: "tags.team = 'team7'" } },
  { name: 'experiments: `order_by name`', endpoint: ENDPOINTS.experiments, body: { order_by: ['name ASC'] } },
  { name: 'experiments: `order_by last_update_time DESC`, 50th page', endpoint: ENDPOINTS.experiments, body: { order_by: ['last_update_time DESC'] }, deepPages: 49 },
  { name: 'registered-models: no filter (name)', endpoint: ENDPOINTS.models, body: {} },
  { name: "registered-models: `name LIKE 'model-1%'`", endpoint: ENDPOINTS.models, body: { filter: "name LIKE 'model-1%'" } },
  { name: "registered-models: `name ILIKE '%-12%'`", endpoint: ENDPOINTS.models, body: { filter: "name ILIKE '%-12%'" } },
  { name: "registered-models: `tags.team = 'team7'`", endpoint: ENDPOINTS.models, body: { filter: "tags.team = 'team7'" } },
  { name: 'registered-models: `order_by last_updated_timestamp DESC`, 50th page', endpoint: ENDPOINTS.models, body: { order_by: ['last_updated_timestamp DESC'] }, deepPages: 49 },
  { name: 'model-versions: no filter (last_updated DESC)', endpoint: ENDPOINTS.versions, body: {} },
  { name: "model-versions: `name = 'model-42'`", endpoint: ENDPOINTS.versions, body: { filter: "name = 'model-42'" } },
  { name: "model-versions: `tags.ok = '1'`", endpoint: ENDPOINTS.versions, body: { filter: "tags.ok = '1'" } },
  { name: 'model-versions: `order_by creation_timestamp DESC`, 50th page', endpoint: ENDPOINTS.versions, body: { order_by: ['creation_timestamp DESC'] }, deepPages: 49 },
  { name: 'get-history: first page', endpoint: ENDPOINTS.history, body: { run_id: SERIES_RUN, metric_key: 'loss' } },
  { name: 'get-history: page after 500,000 points', endpoint: ENDPOINTS.history, body: { run_id: SERIES_RUN, metric_key: 'loss' }, deepPoints: 500_000 },
  { name: 'get-history-bulk-interval: whole series (step summary)', endpoint: ENDPOINTS.bulk, body: { run_ids: [SERIES_RUN], metric_key: 'loss' } },
  { name: 'get-history-bulk-interval: whole series (no summary: scan)', endpoint: ENDPOINTS.bulk, body: { run_ids: [SCAN_RUN], metric_key: 'loss' } },
  { name: 'get-history-bulk-interval: steps 400,000–600,000 (step summary)', endpoint: ENDPOINTS.bulk, body: { run_ids: [SERIES_RUN], metric_key: 'loss', start_step: 400_000, end_step: 600_000 } },
  { name: 'get-history-bulk-interval: steps 400,000–600,000 (no summary: scan)', endpoint: ENDPOINTS.bulk, body: { run_ids: [SCAN_RUN], metric_key: 'loss', start_step: 400_000, end_step: 600_000 } },
].map((f) => ({ ...f, body: { ...f.body, ...(f.endpoint === ENDPOINTS.experiments ? { view_type: 'ALL' } : {}) } }))
  .filter((f) => a.id !== '' && (!SERIES_ONLY || f.endpoint === ENDPOINTS.history || f.endpoint === ENDPOINTS.bulk));

console.log(`registry search benchmark: ${kind}, ${OBJECTS.toLocaleString('en-US')} experiments / models / versions, ${POINTS.toLocaleString('en-US')}-point series; ` +
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${SAMPLES} samples per form; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

const seeded = await startSeededServer({
  kind, adminToken, tenants: [['tenant-a', 'series']], seed: (owner, [a]) => seed(owner, a as BenchTenant),
});
try {
  const [a] = seeded.tenants as [BenchTenant];
  const seconds = seeded.seedSeconds;
  console.log(`seeded in ${seconds.toFixed(1)} s (bulk SQL as the schema owner)`);
  const client = createBenchClient(seeded.url, a.token);
  const t0 = performance.now();
  if (!SERIES_ONLY) for (const e of [ENDPOINTS.experiments, ENDPOINTS.models, ENDPOINTS.versions]) await call(client, e, { max_results: 1 });
  console.log(`first searches (statistics refresh where the server does one): ${(performance.now() - t0).toFixed(0)} ms`);

  console.log(`\n| form (${kind}) | 100 rows p50 / p99 (ms) | 1,000 rows p50 / p99 (ms) | load avg |`);
  console.log('| --- | --- | --- | --- |');
  for (const form of forms(a)) {
    const cells: string[] = [];
    for (const rows of [100, 1000]) {
      let body: Record<string, unknown> = { ...form.body, max_results: rows };
      if (form.deepPages !== undefined) body = { ...body, page_token: await walk(client, form.endpoint, form.body, rows, form.deepPages) };
      if (form.deepPoints !== undefined) body = { ...body, page_token: await walk(client, form.endpoint, form.body, 25_000, form.deepPoints / 25_000) };
      // A request cancelled by the tenant's statement timeout (10 s) is a result too: it is reported as such.
      const t = await time(client, form.endpoint, body).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
      if (typeof t === 'string') cells.push(t.includes('statement timeout') ? '**> 10 s (statement timeout)**' : `error: ${t.slice(0, 80)}`);
      else cells.push(`${t.p50.toFixed(1)} / ${t.p99.toFixed(1)}${t.rows !== rows ? ` (${t.rows} rows)` : ''}`);
    }
    console.log(`| ${form.name} | ${cells.join(' | ')} | ${os.loadavg()[0]?.toFixed(1)} |`);
  }
  client.close();
} finally {
  await seeded.close();
}
