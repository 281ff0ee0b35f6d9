/**
 * Does another tenant's volume change a tenant's search plans? (issue 20, "a tenant with 1M runs must not
 * slow another tenant's search"; migration 0035.) Side by side in one script, on PostgreSQL or PGlite:
 *   alone      a database holding tenant B's `--b-runs` runs only;
 *   neighbour  a database holding the same runs of B plus tenant A's `--a-runs` runs in the same tables.
 * Both seeded with test/support/tracking-seed.ts (bulk SQL as the owner), statistics from the platform's
 * own keeper. For each search form B runs its first page of 100 (+1) rows as the application role under
 * row-level security (the statement the tracking service runs for the first segment, with
 * RUN_SEARCH_SETTINGS), `--samples` times after 2 warm-ups, no HTTP and no concurrency: this isolates the
 * plan. Prints B's median in each database, the ratio neighbour / alone, and the rows the plan expected
 * at its top scan node against what it read (EXPLAIN ANALYZE of one more run).
 *
 *   node_modules/.bin/node bench/search-neighbour-volume.ts [--db postgres|pglite] [--a-runs 100000]
 *     [--b-runs 10000] [--samples 9]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { withTenant } from '../src/db/index.ts';
import { RUN_SEARCH_SETTINGS, planRunSearch } from '../src/tracking/run-search.ts';
import { createStatisticsKeeper } from '../src/tracking/search-statistics.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import type { TestDatabase } from '../test/support/databases.ts';
import { seedRuns } from '../test/support/tracking-seed.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    'a-runs': { type: 'string', default: '100000' },
    'b-runs': { type: 'string', default: '10000' },
    samples: { type: 'string', default: '9' },
  },
});
const kind = values.db === 'pglite' ? 'pglite' : 'postgres';
const aRuns = Number(values['a-runs']);
const bRuns = Number(values['b-runs']);
const samples = Number(values.samples);
const A = '5eb0a000-0000-4000-8000-00000000000a';
const B = '5eb0a000-0000-4000-8000-00000000000b';

const forms: [string, string[]][] = [
  ['', []],
  ['metrics.m0 > 0.5', []],
  ['metrics.m0 > 0.5', ['metrics.m1 DESC']],
  ["params.a = '3' and tags.t LIKE 'x%'", []],
  ["tags.t = 'x42'", ['params.a', 'metrics.m0 DESC']],
];

const setUp = async (withNeighbour: boolean): Promise<TestDatabase> => {
  const database = await createTestDatabase(kind);
  for (const [tenant, slug] of [[A, 'volume-a'], [B, 'volume-b']] as const) {
    await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'bench', 'sandbox', 'active')`, [tenant, slug]);
    await database.owner.queryAsOwner(
      `INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES ($1, 1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)`,
      [tenant],
    );
  }
  if (withNeighbour) await seedRuns(database.owner, { tenantId: A, experimentId: 1, prefix: 'a', from: 1, count: aRuns });
  await seedRuns(database.owner, { tenantId: B, experimentId: 1, prefix: 'b', from: 1, count: bRuns });
  await createStatisticsKeeper(database.db).refreshNow();
  return database;
};

interface Measured { medianMs: number; expected: number; read: number }

/** The first plan node that scans a table: its estimated and actual rows (actual × loops). */
const topScan = (plan: any): { expected: number; read: number } | undefined => {
  if (typeof plan['Node Type'] === 'string' && /Scan/.test(plan['Node Type']) && plan['Relation Name'] !== undefined) {
    return { expected: plan['Plan Rows'], read: plan['Actual Rows'] * plan['Actual Loops'] };
  }
  for (const child of plan.Plans ?? []) {
    const found = topScan(child);
    if (found !== undefined) return found;
  }
  return undefined;
};

const measure = async (database: TestDatabase, filter: string, orderBy: string[]): Promise<Measured> => {
  const plan = planRunSearch({ filter, orderBy, experimentIds: [1], stages: ['active'], tenantId: B });
  const q = plan.query(0, 101);
  return withTenant(database.db, B, async (tx) => {
    await tx.query(RUN_SEARCH_SETTINGS);
    for (let i = 0; i < 2; i += 1) await tx.query(q.sql, q.params);
    const times: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      const t0 = performance.now();
      await tx.query(q.sql, q.params);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: unknown }] }>(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${q.sql}`, q.params);
    const scan = topScan(rows[0]?.['QUERY PLAN'][0].Plan) ?? { expected: NaN, read: NaN };
    return { medianMs: times[Math.floor(times.length / 2)]!, ...scan };
  }, { readOnly: true });
};

const log = (line: string): void => void process.stdout.write(`${line}\n`);
log(`search-neighbour-volume, ${kind}: tenant B ${bRuns.toLocaleString('en-US')} runs, alone vs next to tenant A's ${aRuns.toLocaleString('en-US')}; ${samples} samples; ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results: Record<'alone' | 'neighbour', Measured[]> = { alone: [], neighbour: [] };
for (const condition of ['alone', 'neighbour'] as const) {
  const database = await setUp(condition === 'neighbour');
  try {
    for (const [filter, orderBy] of forms) results[condition].push(await measure(database, filter, orderBy));
  } finally {
    await database.drop();
  }
}
log('| B\'s search, first 100 rows | alone | next to A | ratio | top scan: expected / read, alone | next to A |');
log('| --- | --- | --- | --- | --- | --- |');
forms.forEach(([filter, orderBy], i) => {
  const alone = results.alone[i]!;
  const neighbour = results.neighbour[i]!;
  log(`| \`${filter || '(no filter)'}\`${orderBy.length === 0 ? '' : ` order_by ${orderBy.join(', ')}`} | ${alone.medianMs.toFixed(1)} ms | ${neighbour.medianMs.toFixed(1)} ms | **${(neighbour.medianMs / alone.medianMs).toFixed(2)}×** | ${alone.expected} / ${alone.read} | ${neighbour.expected} / ${neighbour.read} |`);
});
