/**
 * Query plans of search-runs at 100k runs on PostgreSQL (issue 20): for every indexed form — no filter,
 * metric comparisons, param and tag `=` / LIKE-prefix, their combinations, `order_by` on a metric, a param,
 * a tag or the default order, first pages and keyset pages — the plan PostgreSQL picks, as the application
 * role (row-level security in force), contains no sequential scan of `runs`, `run_latest_metrics`,
 * `run_params` or `run_tags`, with the settings the service runs searches with (RUN_SEARCH_SETTINGS). Data: 100k runs of one tenant in one experiment (plus a small one), 10k runs
 * of another tenant, seeded with bulk SQL as the schema owner (test/support/tracking-seed.ts); the
 * planner statistics come from the platform's own keeper (search-statistics.ts), not from a manual ANALYZE.
 *
 * PostgreSQL only: PGlite's planner is the same code; its timings are in bench/search-runs.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTenant } from '../db/index.ts';
import { createTestDatabase } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { seedRuns } from '../../test/support/tracking-seed.ts';
import { RUN_SEARCH_SETTINGS, planRunSearch } from './run-search.ts';
import type { RunCursor } from './run-search.ts';
import { createStatisticsKeeper } from './search-statistics.ts';
import { RUN_SELECT } from './tracking-queries.ts';

const RUNS = 100_000;
const TENANT = '7a0e0000-0000-4000-8000-000000000001';
const OTHER = '7a0e0000-0000-4000-8000-000000000002';
const WATCHED = new Set(['runs', 'run_latest_metrics', 'run_params', 'run_tags']);

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const walk = (node: PlanNode, visit: (n: PlanNode) => void): void => {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
};

describe('run search plans at 100k runs (PostgreSQL)', () => {
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase('postgres');
    for (const [tenant, slug] of [[TENANT, 'plans-a'], [OTHER, 'plans-b']] as const) {
      await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'plans', 'sandbox', 'active')`, [tenant, slug]);
      await database.owner.queryAsOwner(
        `INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         SELECT $1::uuid, e, 'e' || e, 'mlflow-artifacts:/' || e, 'active', 0, 0 FROM generate_series(1, 2) AS e`,
        [tenant],
      );
    }
    await seedRuns(database.owner, { tenantId: TENANT, experimentId: 1, prefix: 'a1', from: 1, count: RUNS });
    await seedRuns(database.owner, { tenantId: TENANT, experimentId: 2, prefix: 'a2', from: 1, count: 1_000 });
    await seedRuns(database.owner, { tenantId: OTHER, experimentId: 1, prefix: 'b1', from: 1, count: 10_000 });
    const analyzed = await createStatisticsKeeper(database.db).refreshNow();
    // The keeper, called as the application's login role, found the freshly loaded tables without statistics.
    for (const table of WATCHED) assert.ok(analyzed.includes(table), `${table} analyzed (${analyzed.join(', ')})`);
  });

  after(async () => {
    await database?.drop();
  });

  /** The plan of one statement as the tenant; returns the scans of the watched tables. */
  const scans = async (sql: string, params: readonly unknown[]): Promise<string[]> =>
    withTenant(database.db, TENANT, async (tx) => {
      // As the tracking service runs them (searchRuns).
      await tx.query(RUN_SEARCH_SETTINGS);
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const found: string[] = [];
      const plan = rows[0]?.['QUERY PLAN'][0].Plan;
      assert.ok(plan !== undefined);
      walk(plan, (n) => {
        if (n['Relation Name'] !== undefined && WATCHED.has(n['Relation Name'])) found.push(`${n['Node Type']} on ${n['Relation Name']}${n['Index Name'] === undefined ? '' : ` using ${n['Index Name']}`}`);
      });
      return found;
    }, { readOnly: true });

  /** A real cursor: the sort keys of the 150th row of the form's first segment. */
  const cursorOf = async (plan: ReturnType<typeof planRunSearch>): Promise<RunCursor | undefined> =>
    withTenant(database.db, TENANT, async (tx) => {
      const q = plan.query(0, 150);
      const { rows } = await tx.query<{ keys: (string | null)[] }>(q.sql, q.params);
      const last = rows.at(-1);
      return last === undefined ? undefined : { segment: 0, keys: last.keys };
    }, { readOnly: true });

  const forms: [string, string[]][] = [
    ['', []],
    ['metrics.m0 > 0.5', []],
    ['metrics.m0 > 0.5', ['metrics.m1 DESC']],
    ['metrics.m0 < 0.001', []],
    ['metrics.m0 >= 0.2 AND metrics.m2 < 0.3', ['metrics.m1']],
    ["params.a = '3' AND tags.t LIKE 'x%'", []],
    ["params.a = '3'", ['metrics.m0 DESC']],
    ["tags.t = 'x42'", []],
    ["tags.t LIKE 'y1%'", ['tags.t DESC']],
    ['', ['params.a', 'metrics.m0 DESC']],
    ['', ['tags.t DESC']],
    ['', ['metrics.m2 ASC', 'start_time ASC']],
    ["attributes.status = 'FAILED' AND metrics.m1 > 0.9", []],
  ];

  for (const [filter, orderBy] of forms) {
    for (const maxResults of [100, 1000]) {
      it(`no sequential scan: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, ${maxResults} rows, first and next page`, async () => {
        const plan = planRunSearch({ filter, orderBy, experimentIds: [1], stages: ['active'], tenantId: TENANT });
        const cursor = await cursorOf(plan);
        assert.ok(cursor !== undefined, 'the form matches runs');
        // The first segment: runs that have the ordered key (all runs when the order starts with an
        // attribute). The later segments of a metric/param/tag order (NaN, key missing) are only asked for
        // once the first is exhausted, i.e. on the last pages; they are not index forms (docs/tracking.md).
        const statements = [plan.query(0, maxResults + 1), plan.query(0, maxResults + 1, cursor)];
        for (const q of statements) {
          const found = await scans(q.sql, q.params);
          assert.ok(found.length > 0);
          assert.deepEqual(found.filter((s) => s.startsWith('Seq Scan')), [], `${found.join('; ')}`);
        }
      });
    }
  }

  it('reads the page of runs by primary key', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(32, '0'));
    const found = await scans(`${RUN_SELECT} WHERE r.id = ANY($1::text[])`, [ids]);
    assert.deepEqual(found.filter((s) => s.startsWith('Seq Scan')), [], found.join('; '));
  });

  it("a tenant's search sees none of the other tenant's runs", async () => {
    const plan = planRunSearch({ filter: 'metrics.m0 >= 0', orderBy: ['metrics.m1 DESC'], experimentIds: [1, 2], stages: ['active'], tenantId: OTHER });
    const q = plan.query(0, 20_000);
    const rows = await withTenant(database.db, OTHER, async (tx) => (await tx.query<{ run_id: string }>(q.sql, q.params)).rows, { readOnly: true });
    assert.equal(rows.length, 10_000);
    const { rows: owners } = await database.owner.queryAsOwner<{ tenant_id: string; n: number }>(
      'SELECT tenant_id, count(*)::int AS n FROM runs WHERE id = ANY($1::text[]) GROUP BY tenant_id',
      [rows.map((r) => r.run_id)],
    );
    assert.deepEqual(owners, [{ tenant_id: OTHER, n: 10_000 }]);
  });
});
