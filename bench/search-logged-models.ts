/**
 * logged-models/search (MLflow 3) at scale (issue 20 item 2), through the real MLflow REST API over HTTP
 * against the real server (`bulkhead up` as a child process), on PostgreSQL or PGlite: N logged models in
 * one experiment of tenant A (test/support/logged-model-seed.ts: 90 % with a metric `acc` on dataset
 * `eval`, names repeating 100 times at 100k), 1,000 of tenant B in an experiment of its own.
 *
 * Data is seeded with bulk SQL as the schema owner, on PGlite between two starts of the server; then one
 * search lets the server's statistics keeper analyze the logged-model tables. Every request goes through
 * HTTP as the tenant's token, row-level security in force.
 *
 * For each form, at 100 and 1,000 rows: `--samples` requests one after another (after 3 warm-ups), p50 and
 * p99 in ms, for the first page and for the 50th page (reached by following next_page_token). The last
 * form is one the indexes do not serve (a metric after another term), for contrast: first page only.
 *
 * Usage: node bench/search-logged-models.ts [--db postgres|pglite] [--models 100000] [--samples 20]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/db/index.ts';
import { seedLoggedModels } from '../test/support/logged-model-seed.ts';
import { T0 } from '../test/support/registry-seed.ts';
import { createBenchClient } from './support/http-client.ts';
import type { BenchClient, BenchTenant } from './support/http-client.ts';
import { startSeededServer } from './support/seeded-server.ts';
import { timeSequential } from './support/timing.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    models: { type: 'string', default: '100000' },
    samples: { type: 'string', default: '20' },
  },
});
const kind = values.db === 'pglite' ? 'pglite' : 'postgres';
const MODELS = Number(values.models);
const SAMPLES = Number(values.samples);
const DEEP_PAGES = 49;
const adminToken = `bh_bench-admin-${'z'.repeat(40)}`;

const seed = async (owner: Db, a: BenchTenant, b: BenchTenant): Promise<void> => {
  await seedLoggedModels(owner, { tenantId: a.id, experimentId: Number(a.experimentId), count: MODELS });
  await seedLoggedModels(owner, { tenantId: b.id, experimentId: Number(b.experimentId), count: 1_000 });
};


const search = async (client: BenchClient, body: Record<string, unknown>): Promise<{ ms: number; rows: number; token: string | undefined }> => {
  const payload = JSON.stringify(body);
  const t = performance.now();
  const response = await client.request('POST', '/api/2.0/mlflow/logged-models/search', payload);
  const ms = performance.now() - t;
  if (response.status !== 200) throw new Error(`logged-models/search → ${response.status} ${response.body.slice(0, 300)}`);
  const parsed = JSON.parse(response.body) as { models?: unknown[]; next_page_token?: string };
  return { ms, rows: parsed.models?.length ?? 0, token: parsed.next_page_token };
};

/** The token of the page after `pages` pages of `size` rows. */
const walk = async (client: BenchClient, body: Record<string, unknown>, size: number, pages: number): Promise<string> => {
  let token: string | undefined;
  for (let i = 0; i < pages; i += 1) {
    const r = await search(client, { ...body, max_results: size, ...(token === undefined ? {} : { page_token: token }) });
    if (r.token === undefined) throw new Error(`only ${i + 1} pages`);
    token = r.token;
  }
  return token as string;
};

const time = (client: BenchClient, body: Record<string, unknown>) => timeSequential(() => search(client, body), SAMPLES);

interface Form {
  name: string;
  body: Record<string, unknown>;
  /** Also time the 50th page. */
  deep: boolean;
}

const late = T0 + Math.floor(MODELS * 0.8) * 10;
const FORMS: Form[] = [
  { name: 'default order (newest first)', body: {}, deep: true },
  { name: '`creation_timestamp` ASC', body: { order_by: [{ field_name: 'creation_timestamp', ascending: true }] }, deep: true },
  { name: '`last_updated_timestamp` DESC', body: { order_by: [{ field_name: 'last_updated_timestamp', ascending: false }] }, deep: true },
  { name: '`name` ASC', body: { order_by: [{ field_name: 'name', ascending: true }] }, deep: true },
  { name: '`name` DESC', body: { order_by: [{ field_name: 'name', ascending: false }] }, deep: true },
  { name: '`model_id` ASC', body: { order_by: [{ field_name: 'model_id', ascending: true }] }, deep: true },
  { name: `\`creation_timestamp < ${String(late)}\`, default order`, body: { filter: `creation_timestamp < ${String(late)}` }, deep: true },
  { name: "`status = 'READY'`, `name` DESC", body: { filter: "status = 'READY'", order_by: [{ field_name: 'name', ascending: false }] }, deep: true },
  { name: '`metrics.acc` DESC', body: { order_by: [{ field_name: 'metrics.acc', ascending: false }] }, deep: true },
  { name: '`metrics.acc` ASC on (eval, d1)', body: { order_by: [{ field_name: 'metrics.acc', ascending: true, dataset_name: 'eval', dataset_digest: 'd1' }] }, deep: true },
  { name: "`metrics.acc` DESC, `status = 'READY'`", body: { filter: "status = 'READY'", order_by: [{ field_name: 'metrics.acc', ascending: false }] }, deep: true },
  { name: 'not index-served: `metrics.acc` DESC after `name` ASC', body: { order_by: [{ field_name: 'name', ascending: true }, { field_name: 'metrics.acc', ascending: false }] }, deep: false },
];

console.log(`logged-model search benchmark: ${kind}, ${MODELS.toLocaleString('en-US')} logged models in one experiment; ` +
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${SAMPLES} samples per form; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

const seeded = await startSeededServer({
  kind, adminToken, tenants: [['tenant-a', 'models'], ['tenant-b', 'models']], seed: (owner, [a, b]) => seed(owner, a as BenchTenant, b as BenchTenant),
});
try {
  const [a, b] = seeded.tenants as [BenchTenant, BenchTenant];
  const seconds = seeded.seedSeconds;
  console.log(`seeded in ${seconds.toFixed(1)} s (bulk SQL as the schema owner)`);
  const client = createBenchClient(seeded.url, a.token);
  const experiment = { experiment_ids: [a.experimentId] };
  const t0 = performance.now();
  await search(client, { ...experiment, max_results: 1 });
  console.log(`first search (statistics refresh): ${(performance.now() - t0).toFixed(0)} ms`);

  console.log(`\n| form (${kind}) | 100 rows, first page | 100 rows, 50th page | 1,000 rows, first page | 1,000 rows, 50th page | load avg |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const form of FORMS) {
    const cells: string[] = [];
    for (const rows of [100, 1000]) {
      for (const deep of [false, true]) {
        if (deep && !form.deep) {
          cells.push('—');
          continue;
        }
        let body: Record<string, unknown> = { ...experiment, ...form.body, max_results: rows };
        const t = await (async () => {
          if (deep) body = { ...body, page_token: await walk(client, { ...experiment, ...form.body }, rows, DEEP_PAGES) };
          return time(client, body);
        })().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
        if (typeof t === 'string') cells.push(t.includes('statement timeout') ? '**> 10 s (statement timeout)**' : t.startsWith('only ') ? `— (${t})` : `error: ${t.slice(0, 80)}`);
        else cells.push(`${t.p50.toFixed(1)} / ${t.p99.toFixed(1)}${t.rows !== rows ? ` (${t.rows} rows)` : ''}`);
      }
    }
    console.log(`| ${form.name} | ${cells.join(' | ')} | ${os.loadavg()[0]?.toFixed(1)} |`);
  }
  client.close();
} finally {
  await seeded.close();
}
