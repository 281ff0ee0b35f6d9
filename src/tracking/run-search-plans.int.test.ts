/**
 * Query plans of search-runs at scale (issue 20): for every indexed form — no filter,
 * metric comparisons, param and tag `=` / LIKE-prefix, their combinations, `order_by` on a metric, a param,
 * a tag or the default order, first pages and keyset pages — the plan PostgreSQL picks, as the application
 * role (row-level security in force), contains no sequential scan of `runs`, `run_latest_metrics`,
 * `run_params` or `run_tags`, with the settings the service runs searches with (RUN_SEARCH_SETTINGS). Data:
 * 100k runs (10k on PGlite) of one tenant in one experiment (plus a small one), 10k runs
 * of another tenant, seeded with bulk SQL as the schema owner (test/support/tracking-seed.ts); the
 * planner statistics come from the platform's own keeper (search-statistics.ts), not from a manual ANALYZE.
 *
 * Every index read of those tables must also start from the searched tenant (an index condition
 * `tenant_id = <the tenant>` or `= r.tenant_id`, not only the row-level-security settings):
 * the share policies of migration 0022 are ORed with tenant_isolation, so RLS alone no longer gives the
 * planner a tenant range, and the statements name the tenant themselves (run-search.ts). Checked in the
 * tenant's own scope and in a shared read of the same experiment by another tenant (withSharedRead).
 *
 * No plan has a Materialize node either (the quadratic join-filter shape, see RUN_SEARCH_SETTINGS).
 *
 * On PostgreSQL at 100k runs and on PGlite (a newer PostgreSQL's planner, single process) at 10k; the
 * timings are in bench/search-runs.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withSharedRead, withTenant } from '../db/index.ts';
import type { Queryable } from '../db/index.ts';
import { createTestDatabase, databaseKinds } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { seedRuns } from '../../test/support/tracking-seed.ts';
import { RUN_SEARCH_SETTINGS, planRunSearch, planWalksBackward } from './run-search.ts';
import type { PageQuery, RunCursor } from './run-search.ts';
import { createStatisticsKeeper } from './search-statistics.ts';
import { RUN_SELECT } from './tracking-queries.ts';
import { walkPlan } from '../../test/support/query-plans.ts';
import type { PlanNode } from '../../test/support/query-plans.ts';

/** Runs of the big experiment: 100k on PostgreSQL; 10k on PGlite, whose seeding and planning are slower. */
const RUNS_OF = { postgres: 100_000, pglite: 10_000 } as const;
const TENANT = '7a0e0000-0000-4000-8000-000000000001';
const OTHER = '7a0e0000-0000-4000-8000-000000000002';
const WATCHED = new Set(['runs', 'run_latest_metrics', 'run_params', 'run_tags']);


/** A page's statement and, when it has one, its windowed walk (PageQuery.walk): both must meet the rules. */
const withWalk = (q: PageQuery): PageQuery[] => (q.walk === undefined ? [q] : [q, q.walk]);

/** The watched table an index belongs to (index names start with their table's: `run_tags_search_idx`). */
const tableOfIndex = (index: string | undefined): string | undefined =>
  index === undefined ? undefined : [...WATCHED].find((t) => index.startsWith(`${t}_`));


for (const kind of databaseKinds) describe(`run search plans at ${RUNS_OF[kind].toLocaleString('en-US')} runs (${kind})`, () => {
  const RUNS = RUNS_OF[kind];
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase(kind);
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
    // A metric with three values and NaN in the big experiment (`tie`: 0, 1 or 2 by start time, NaN for run
    // numbers g % 50 = 3): groups of about 33,000 runs (3,300 at 10k) sharing a value, and 2,000 (200) NaN.
    await database.owner.queryAsOwner(
      `INSERT INTO run_latest_metrics (tenant_id, run_id, key, value, timestamp, step, is_nan, run_experiment_id, run_start_time)
       SELECT tenant_id, id, 'tie', CASE WHEN substr(name, 5)::bigint % 50 = 3 THEN 'NaN'::float8 ELSE (start_time % 3)::float8 END, 0, 0,
              substr(name, 5)::bigint % 50 = 3, experiment_id, start_time
         FROM runs WHERE tenant_id = $1 AND experiment_id = 1`,
      [TENANT],
    );
    // One run in a hundred of the big experiment still running (no end time): the end-time order's second
    // segment (run number g ≥ 100 with g % 100 = 7; not a FAILED one, g % 5 = 2).
    await database.owner.queryAsOwner(
      `UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE tenant_id = $1 AND experiment_id = 1 AND name LIKE 'run-%_07'`,
      [TENANT],
    );
    // TENANT shares experiment 1 (not 2) with OTHER: the shared_read policies are in play.
    await database.owner.queryAsOwner(
      `INSERT INTO tenant_shares (id, tenant_id, grantee_id, resource_kind, resource_name, created_by)
       VALUES ('7a0e0000-0000-4000-8000-0000000000f1', $1, $2, 'experiment', '1', 'test')`,
      [TENANT, OTHER],
    );
    const analyzed = await createStatisticsKeeper(database.db).refreshNow();
    // The keeper, called as the application's login role, found the freshly loaded tables without statistics.
    for (const table of WATCHED) assert.ok(analyzed.includes(table), `${table} analyzed (${analyzed.join(', ')})`);
  });

  after(async () => {
    await database?.drop();
  });

  type Scope = 'own' | 'shared';
  const inScope = <T>(scope: Scope, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    scope === 'own' ? withTenant(database.db, TENANT, fn, { readOnly: true }) : withSharedRead(database.db, OTHER, TENANT, fn);

  /**
   * The plan of one statement as the tenant (or as OTHER reading TENANT's shared experiment); returns the
   * scans of the watched tables, and the index reads of them that do not start from the tenant.
   */
  const scans = async (sql: string, params: readonly unknown[], scope: Scope = 'own', settings = RUN_SEARCH_SETTINGS): Promise<string[]> =>
    inScope(scope, async (tx) => {
      // As the tracking service runs them (searchRuns: the plan's settings).
      await tx.query(settings);
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const found: string[] = [];
      const plan = rows[0]?.['QUERY PLAN'][0].Plan;
      assert.ok(plan !== undefined);
      walkPlan(plan, (n) => {
        // A materialized inner side compared with every outer row by a join filter: quadratic (RUN_SEARCH_SETTINGS).
        if (n['Node Type'] === 'Materialize') found.push('Materialize');
        if (n['Relation Name'] !== undefined && WATCHED.has(n['Relation Name'])) found.push(`${n['Node Type']} on ${n['Relation Name']}${n['Index Name'] === undefined ? '' : ` using ${n['Index Name']}`}`);
        const table = tableOfIndex(n['Index Name']);
        // runs_pkey is the run id alone (globally unique): a probe by id reads one row whoever owns it.
        if (table === undefined || n['Index Name'] === 'runs_pkey') return;
        const cond = n['Index Cond'] ?? '';
        // The first column of every other index of these tables is tenant_id; its range must be the searched
        // tenant as the statement names it (a constant, or the run's tenant_id in a lookup), not only row-level
        // security's ORed settings (a BitmapOr of RLS's arms is fine when each arm also has the tenant).
        if (!cond.includes(`tenant_id = '${TENANT}'::uuid`) && !/tenant_id = \w+\.tenant_id/.test(cond)) {
          found.push(`untenanted ${n['Node Type']} using ${n['Index Name']}: ${cond || 'no index condition'}`);
        }
      });
      return found;
    });

  /** A real cursor: the sort keys of the `at`th row (default 150th) of the form's first segment. */
  const cursorOf = async (plan: ReturnType<typeof planRunSearch>, scope: Scope = 'own', at = 150): Promise<RunCursor | undefined> =>
    inScope(scope, async (tx) => {
      const q = plan.query(0, at);
      const { rows } = await tx.query<{ keys: string }>(q.sql, q.params);
      const last = rows.at(-1);
      return last === undefined ? undefined : { segment: 0, keys: JSON.parse(last.keys) as (string | null)[] };
    });

  /** The scans that break the rules: sequential scans, and index reads that do not start from the tenant. */
  const violations = (found: readonly string[]) => found.filter((s) => s.startsWith('Seq Scan') || s.startsWith('untenanted') || s === 'Materialize');

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
    ["tags.t = 'x42'", ['params.a', 'metrics.m0 DESC']],
    ['', ['params.a', 'metrics.m0 DESC']],
    ['', ['tags.t DESC']],
    ['', ['metrics.m2 ASC', 'start_time ASC']],
    ["attributes.status = 'FAILED' AND metrics.m1 > 0.9", []],
    ['', ['attributes.status']],
    ['metrics.m0 > 0.5', ['attributes.status']],
    ['', ['attributes.status', 'metrics.m0 DESC']],
    ["params.a = '5'", ['attributes.status', 'attributes.run_name DESC']],
    ['', ['attributes.end_time DESC']],
    ['', ['attributes.end_time']],
    ['', ['attributes.run_name']],
    ['', ['attributes.run_name DESC']],
    ['', ['attributes.user_id']],
    ['', ['attributes.user_id DESC']],
    ['', ['metrics.tie']],
    ['metrics.m0 > 0.5', ['metrics.tie']],
    ["params.a = '3'", ['attributes.user_id DESC']],
    ['metrics.m1 < 0.5', ['attributes.end_time']],
  ];

  for (const [filter, orderBy] of forms) {
    for (const maxResults of [100, 1000]) {
      it(`no sequential scan, every index read from the tenant, nothing materialized: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, ${maxResults} rows, first and next page`, async () => {
        const plan = planRunSearch({ filter, orderBy, experimentIds: [1], stages: ['active'], tenantId: TENANT });
        const cursor = await cursorOf(plan);
        assert.ok(cursor !== undefined, 'the form matches runs');
        // The first segment: runs that have the ordered key (all runs when the order starts with an
        // attribute). The later segments of a metric/param/tag order (NaN, key missing) are only asked for
        // once the first is exhausted, i.e. on the last pages; they are not index forms (docs/tracking.md).
        // A filtered order against its index has a second statement, the windowed walk (PageQuery.walk).
        const statements = [plan.query(0, maxResults + 1), plan.query(0, maxResults + 1, cursor)].flatMap(withWalk);
        for (const q of statements) {
          const found = await scans(q.sql, q.params, 'own', plan.settings);
          assert.ok(found.length > 0);
          assert.deepEqual(violations(found), [], `${found.join('; ')}`);
        }
      });
    }
  }

  // Several experiments: each through its own LATERAL subquery over unnest (one experiment is a constant
  // subquery instead, run-search.ts), the same rules.
  for (const [filter, orderBy] of forms) {
    it(`two experiments (unnest): no sequential scan, every index read from the tenant: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, 100 rows, first and next page`, async () => {
      const plan = planRunSearch({ filter, orderBy, experimentIds: [1, 2], stages: ['active'], tenantId: TENANT });
      const cursor = await cursorOf(plan);
      assert.ok(cursor !== undefined, 'the form matches runs');
      for (const q of [plan.query(0, 101), plan.query(0, 101, cursor)].flatMap(withWalk)) {
        assert.match(q.sql, /unnest\(\$1::bigint\[\]\)/);
        const found = await scans(q.sql, q.params, 'own', plan.settings);
        assert.deepEqual(violations(found), [], `${found.join('; ')}`);
      }
    });
  }

  for (const [filter, orderBy] of forms) {
    it(`shared read (another tenant, share of experiment 1): ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)} starts from the owner too`, async () => {
      const plan = planRunSearch({ filter, orderBy, experimentIds: [1], stages: ['active'], tenantId: TENANT });
      const cursor = await cursorOf(plan, 'shared');
      assert.ok(cursor !== undefined, 'the share admits the runs');
      for (const q of [plan.query(0, 101), plan.query(0, 101, cursor)].flatMap(withWalk)) {
        const found = await scans(q.sql, q.params, 'shared', plan.settings);
        assert.deepEqual(violations(found), [], `${found.join('; ')}`);
      }
    });
  }

  // An order by one param or tag (migration 0040): the first page walks the key's order index — value, then
  // start time and run id — instead of reading the whole first group of runs sharing a value (at 100k runs:
  // 10,000 runs per value of `a`, 1,000 per value of `t`) and sorting it. A page that resumes inside such a
  // group reads the rest of the group and the values after it as index ranges (keysetRanges), not the group
  // from its start. Rows read from the key's table, with EXPLAIN ANALYZE, stay within a few times the page.
  const keyRowsRead = async (plan: ReturnType<typeof planRunSearch>, q: { sql: string; params: unknown[] }, tables: readonly string[] = ['run_tags', 'run_params']) =>
    withTenant(database.db, TENANT, async (tx) => {
      await tx.query(plan.settings);
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.sql}`, q.params);
      let total = 0;
      const indexes = new Set<string>();
      walkPlan(rows[0]!['QUERY PLAN'][0].Plan, (n) => {
        if (!tables.includes(n['Relation Name'] ?? '')) return;
        // Rows the scan read: those it returned and those its filter removed.
        total += ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1);
        if (n['Index Name'] !== undefined) indexes.add(n['Index Name']);
      });
      return { total, indexes: [...indexes] };
    }, { readOnly: true });
  /** The sort keys of the first `limit` rows of one segment of a search, in order. */
  const pageKeys = async (plan: ReturnType<typeof planRunSearch>, segment: number, limit: number): Promise<(string | null)[][]> =>
    withTenant(database.db, TENANT, async (tx) => {
      const q = plan.query(segment, limit);
      return (await tx.query<{ keys: string }>(q.sql, q.params)).rows.map((r) => JSON.parse(r.keys) as (string | null)[]);
    }, { readOnly: true });
  /** A segment's first page and its page after `cursor` each read `index` and at most 4 × the page of `tables`' rows. */
  const assertReadsAboutAPage = async (plan: ReturnType<typeof planRunSearch>, cursor: RunCursor, tables: readonly string[], index: string): Promise<void> => {
    for (const q of [plan.query(cursor.segment, 101), plan.query(cursor.segment, 101, cursor)]) {
      const read = await keyRowsRead(plan, q, tables);
      assert.ok(read.indexes.includes(index), `segment ${cursor.segment} reads ${index} (${read.indexes.join(', ')})`);
      assert.ok(read.total <= 4 * 101, `segment ${cursor.segment}: read ${read.total} rows of ${tables.join(', ')} for 101`);
    }
  };
  for (const [filter, orderBy] of [['', ['tags.t DESC']], ['', ['params.a']], ['', ['params.a DESC']], ['metrics.m0 > 0.5', ['tags.t']]] as const) {
    it(`an order by one key reads about a page, not a tie group: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, 100 rows`, async () => {
      const plan = planRunSearch({ filter, orderBy: [...orderBy], experimentIds: [1], stages: ['active'], tenantId: TENANT });
      const read = await keyRowsRead(plan, plan.query(0, 101));
      assert.ok(read.indexes.some((i) => /_order_(asc|desc)_idx$/.test(i)), `reads an order index (${read.indexes.join(', ')})`);
      assert.ok(read.total <= 4 * 101, `read ${read.total} rows of the key's table for 101`);
    });

    it(`a page resuming inside a tie group reads about a page: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, 100 rows`, async () => {
      const plan = planRunSearch({ filter, orderBy: [...orderBy], experimentIds: [1], stages: ['active'], tenantId: TENANT });
      // The cursor: the deepest of the first 400 rows that is still in the first value's group (at 100k runs
      // 10,000 runs share each value of `a`, 1,000 each value of `t`; at 10k a tenth).
      const keys = await pageKeys(plan, 0, 400);
      const inGroup = keys.filter((k) => k[0] === keys[0]![0]);
      const cursor = { segment: 0, keys: inGroup.at(-1)!, depth: inGroup.length };
      assert.ok(cursor.depth >= 40, `the cursor is ${cursor.depth} rows into its group`);
      const read = await keyRowsRead(plan, plan.query(0, 101, cursor));
      // Each range is read up to the page's matches: ≈ page / selectivity rows (the metric filter keeps half).
      const bound = (filter === '' ? 4 : 8) * 101;
      assert.ok(read.total <= bound, `read ${read.total} rows of the key's table for 101 after a cursor ${cursor.depth} rows into its group`);
    });
  }

  // An order by status alone (the console's Status column, migration 0044): each status is a segment walked in
  // runs_status_idx order, so a page reads about a page of runs, also when it resumes deep inside a status
  // (at 100k runs, 20,000 FAILED ones). Before, every run of the experiment was read and sorted.
  for (const orderBy of [['attributes.status'], ['attributes.status DESC']]) {
    it(`an order by status reads about a page of runs: order_by ${JSON.stringify(orderBy)}, 100 rows, first page and 400 rows into a status`, async () => {
      const plan = planRunSearch({ filter: '', orderBy, experimentIds: [1], stages: ['active'], tenantId: TENANT });
      // The first status that has runs (the seed's are FINISHED and FAILED; descending starts with SCHEDULED).
      let cursor: RunCursor | undefined;
      for (let segment = 0; segment < plan.segmentCount && cursor === undefined; segment += 1) {
        const keys = await pageKeys(plan, segment, 400);
        if (keys.length === 400) cursor = { segment, keys: keys.at(-1)! };
      }
      assert.ok(cursor !== undefined, 'a status has 400 runs');
      await assertReadsAboutAPage(plan, cursor, ['runs'], 'runs_status_idx');
    });
  }

  // An order by status and then a metric: each status's runs in the metric's order, the metric's index walked
  // with each run's status tested (FAILED is one run in five). Before, every run of the experiment was sorted.
  it('an order by status and a metric reads about a page per status: order_by ["attributes.status", "metrics.m0 DESC"], 100 rows, first page and 400 rows in', async () => {
    const plan = planRunSearch({ filter: '', orderBy: ['attributes.status', 'metrics.m0 DESC'], experimentIds: [1], stages: ['active'], tenantId: TENANT });
    // Five statuses, each a metric's three segments (its real values, NaN, none); FAILED's real values first.
    assert.equal(plan.segmentCount, 15);
    const keys = await pageKeys(plan, 0, 400);
    assert.equal(keys.length, 400);
    for (const q of [plan.query(0, 101), plan.query(0, 101, { segment: 0, keys: keys.at(-1)! })]) {
      const read = await keyRowsRead(plan, q, ['run_latest_metrics']);
      assert.ok(read.indexes.includes('run_latest_metrics_search_idx'), `reads the metric's index (${read.indexes.join(', ')})`);
      assert.ok(read.total <= 8 * 101, `read ${read.total} rows of run_latest_metrics for 101`);
    }
  });

  // An order by end time, name or user (migrations 0045, 0047): the runs with an end time walked in
  // runs_end_time_idx order, then the running ones in runs_running_idx order; the name in runs_name_idx
  // order, the user in runs_user_idx order. The index's other direction (end time ascending, name and user
  // descending) is read in windows (run-search.ts, groupRows). A page reads about a page of runs, first
  // and after a cursor (for the user, 400 rows into one of 7 users' ≈ 14,000 runs). Before, every run of the
  // experiment was read and sorted. Start time ascending walks the default order's index backwards (ties
  // of a millisecond sorted).
  for (const [orderBy, indexes] of [['attributes.end_time DESC', ['runs_end_time_idx', 'runs_running_idx']], ['attributes.end_time', ['runs_end_time_idx', 'runs_running_idx']], ['attributes.run_name', ['runs_name_idx']], ['attributes.run_name DESC', ['runs_name_idx']], ['attributes.user_id', ['runs_user_idx']], ['attributes.user_id DESC', ['runs_user_idx']], ['attributes.start_time', ['runs_search_idx']], ['attributes.artifact_uri', ['runs_artifact_uri_idx']], ['attributes.artifact_uri DESC', ['runs_artifact_uri_idx']]] as const) {
    it(`an order by end time, name or user reads about a page of runs: order_by ${orderBy}, 100 rows, every segment, first page and after a cursor`, async () => {
      const plan = planRunSearch({ filter: '', orderBy: [orderBy], experimentIds: [1], stages: ['active'], tenantId: TENANT });
      assert.equal(plan.segmentCount, indexes.length);
      for (let segment = 0; segment < plan.segmentCount; segment += 1) {
        // The running runs (segment 1 of end time) are 1 in 100: 999 at 100k runs, 99 at 10k.
        const depth = orderBy.startsWith('attributes.user_id') ? 400 : 40;
        const keys = await pageKeys(plan, segment, depth);
        assert.equal(keys.length, depth, `segment ${segment} has ${depth} runs`);
        assert.ok(depth === 40 || keys.every((k) => k[0] === keys[0]![0]), 'the cursor is inside the first user');
        await assertReadsAboutAPage(plan, { segment, keys: keys.at(-1)! }, ['runs'], indexes[segment]!);
      }
    });
  }

  // An order by one metric whose values tie (migration 0046): the metric index holds the run's start time
  // after the value, so descending real values and the NaN values are walked in MLflow's order (value, then
  // start time descending, then run id), also resuming 400 rows deep inside a group of ≈ 33,000 runs (150
  // into the NaN runs); before, a page read its whole first group and sorted it. Ascending real values are
  // the index's other direction: read in windows (run-search.ts, groupRows).
  for (const [orderBy, segments] of [['metrics.tie DESC', [0, 1]], ['metrics.tie', [0, 1]]] as const) {
    it(`an order by a tie-heavy metric reads about a page: order_by ${orderBy}, 100 rows, segments ${segments.join(', ')}, first page and deep inside a group`, async () => {
      const plan = planRunSearch({ filter: '', orderBy: [orderBy], experimentIds: [1], stages: ['active'], tenantId: TENANT });
      for (const segment of segments) {
        // The NaN runs are 2,000 at 100k runs, 200 at 10k.
        const depth = segment === 0 ? 400 : 150;
        const keys = await pageKeys(plan, segment, depth);
        assert.equal(keys.length, depth, `segment ${segment} has ${depth} runs`);
        assert.ok(segment === 1 || keys.every((k) => k[0] === keys[0]![0]), 'the cursor is inside the first group');
        await assertReadsAboutAPage(plan, { segment, keys: keys.at(-1)! }, ['run_latest_metrics'], 'run_latest_metrics_search_idx');
      }
    });
  }

  // A filter with an order against its index (a metric ascending, a user descending): the plain statement
  // walks the index backwards and sorts each group of equal values, so it reads the whole first group (at 100k
  // runs ≈ 33,000 runs of `tie`, ≈ 14,000 of a user) however few rows the page needs. The planner plans it so
  // (planWalksBackward), and the search then runs the windowed walk (PageQuery.walk): about a page of matches
  // (the filter keeps half), first and after a cursor 400 rows into the group. A filter that keeps one run is
  // planned as reading it first, and the plain statement runs.
  const explainedOf = async (plan: ReturnType<typeof planRunSearch>, q: { sql: string; params: unknown[] }): Promise<unknown> =>
    withTenant(database.db, TENANT, async (tx) => {
      await tx.query(plan.settings);
      return (await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${q.sql}`, q.params)).rows[0]?.['QUERY PLAN'];
    }, { readOnly: true });
  for (const [orderBy, table, index] of [['metrics.tie', 'run_latest_metrics', 'run_latest_metrics_search_idx'], ['attributes.user_id DESC', 'runs', 'runs_user_idx']] as const) {
    it(`a filter and an order against its index: the windows read about a page, not the group: metrics.m0 > 0.5 order_by ${orderBy}, 100 rows, first page and 400 rows into a group`, async () => {
      const plan = planRunSearch({ filter: 'metrics.m0 > 0.5', orderBy: [orderBy], experimentIds: [1], stages: ['active'], tenantId: TENANT });
      const keys = await pageKeys(plan, 0, 400);
      assert.ok(keys.every((k) => k[0] === keys[0]![0]), 'the cursor is inside the first group');
      for (const q of [plan.query(0, 101), plan.query(0, 101, { segment: 0, keys: keys.at(-1)! })]) {
        assert.ok(q.walk !== undefined && q.walk.index === index);
        assert.ok(planWalksBackward(await explainedOf(plan, q), index), 'the planner walks the index backwards');
        const plain = await keyRowsRead(plan, q, [table]);
        const walked = await keyRowsRead(plan, q.walk, [table]);
        assert.ok(walked.indexes.includes(index), `reads ${index} (${walked.indexes.join(', ')})`);
        // After a cursor the rest of its group and the next window are each read up to a page of matches: with
        // the filter keeping half, twice the 4 × 101 of the unfiltered windows, and the metric's filter probes
        // are rows of the same table (measured: 392 rows first, ≈ 910 after the cursor).
        // The metric filter's range is counted first, up to ten pages (1,010 rows): fewer, and its runs would be
        // read and sorted instead (run-search.ts, narrowed).
        assert.ok(walked.total <= 12 * 101 + (table === 'run_latest_metrics' ? 1010 : 0), `the windows read ${walked.total} rows of ${table} for 101`);
        assert.ok(plain.total >= RUNS / 10, `the plain statement reads the group: ${plain.total} rows of ${table}`);
      }
    });
  }
  it('a filter that keeps one run, with an order against its index: the planner reads the match first, and the plain statement runs', async () => {
    const plan = planRunSearch({ filter: "attributes.run_name = 'run-12'", orderBy: ['metrics.tie'], experimentIds: [1], stages: ['active'], tenantId: TENANT });
    const q = plan.query(0, 101);
    assert.ok(q.walk !== undefined);
    assert.equal(planWalksBackward(await explainedOf(plan, q), q.walk.index), false);
  });

  // A metric range few runs reach, which the planner takes for a common one: `tie`'s zeros are a third of the
  // big experiment's metric rows, and the value statistics are every key's together, so `m0 < 0.001` looks
  // like ≈ 8 % of the rows (it is 0.1 %). Walking the order and testing each run read the experiment for a
  // page it never filled (100,000 runs at 100k, 0.6 s); the search counts the range's rows up to ten pages
  // and, fewer, reads its runs and sorts them: first page and after a cursor, every segment's statement.
  for (const orderBy of [[], ['metrics.m1 DESC'], ['metrics.tie']]) {
    it(`a metric range with few runs is read first, whatever the planner estimates: metrics.m0 < 0.001 order_by ${JSON.stringify(orderBy)}, 100 rows`, async () => {
      const plan = planRunSearch({ filter: 'metrics.m0 < 0.001', orderBy, experimentIds: [1], stages: ['active'], tenantId: TENANT });
      const cursor = await cursorOf(plan, 'own', 5);
      assert.ok(cursor !== undefined, 'the range has runs');
      for (const q of [plan.query(0, 101), plan.query(0, 101, cursor)].flatMap(withWalk)) {
        const read = await keyRowsRead(plan, q, ['runs', 'run_latest_metrics']);
        // ≈ RUNS / 1,000 matches (100 at 100k): the count, the range again, each match's run and its filter
        // and order lookups.
        assert.ok(read.total <= 2 * 1010 + 8 * (RUNS / 1000), `read ${read.total} rows of runs and run_latest_metrics`);
      }
    });
  }

  // A search of a small experiment beside a big one (migration 0043): a metric, param or tag walk or range is
  // the small experiment's part of the key's index. Before, it was the tenant's whole key, and a page of
  // experiment 2 (1,000 runs beside 100,000) read the big experiment's rows and dropped them one by one.
  // Bounds on the rows read of the three key tables: a walk of experiment 2's rows of one key with a probe of
  // another per run reads at most 2,000; a filter that keeps ten of its runs, about a page.
  const smallForms: [string, string[], number][] = [
    ['', ['metrics.m0 DESC'], 2_000],
    ["params.a = '3'", ['metrics.m0'], 2_000],
    ['metrics.m1 > 0.5', ['metrics.m0 DESC'], 2_000],
    ['metrics.m1 > 0.9', [], 2_000],
    // With the experiment a constant at planning (run-search.ts), the planner knows it has 1,000 runs and may
    // read them all with the param and both lookups of the later metric term (3 rows per run), then sort; a
    // keyset page's condition looks the metric up again for the runs of the cursor's param value (3,395 read).
    ['', ['params.a', 'metrics.m0 DESC'], 4_000],
    ["tags.t = 'x42'", [], 4 * 101],
    // Not `tags.t = 'x42'` + `order_by params.a, metrics.m0 DESC`: it read 20–50 rows in every run but one,
    // where (under load, with other test files) its keyset page read 865; not understood yet.
  ];
  for (const [filter, orderBy, bound] of smallForms) {
    it(`a search of a small experiment reads that experiment's rows only: ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}, 100 rows, first and next page`, async () => {
      const plan = planRunSearch({ filter, orderBy, experimentIds: [2], stages: ['active'], tenantId: TENANT });
      const cursor = await cursorOf(plan, 'own', 5);
      assert.ok(cursor !== undefined, 'the form matches runs of experiment 2');
      for (const q of [plan.query(0, 101), plan.query(0, 101, cursor)]) {
        const read = await keyRowsRead(plan, q, ['run_latest_metrics', 'run_params', 'run_tags']);
        if (read.total > bound) {
          // The plan, for the failure's report.
          const plan2 = await withTenant(database.db, TENANT, async (tx) => {
            await tx.query(plan.settings);
            return (await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${q.sql}`, q.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
          }, { readOnly: true });
          console.log(`plan of ${JSON.stringify(filter)} order_by ${JSON.stringify(orderBy)}:\n${plan2}`);
        }
        assert.ok(read.total <= bound, `read ${read.total} rows of the key tables (${read.indexes.join(', ')}), bound ${bound}`);
      }
    });
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

  it("naming another tenant in the statement does not pass row-level security: experiment 2 is not shared", async () => {
    // The statement's own tenant predicate is for the planner only; what is visible is RLS's decision.
    const plan = planRunSearch({ filter: 'metrics.m0 >= 0', orderBy: ['metrics.m1 DESC'], experimentIds: [2], stages: ['active'], tenantId: TENANT });
    for (const segment of [0, 1, 2]) {
      const q = plan.query(segment, 5_000);
      const own = await withTenant(database.db, OTHER, async (tx) => (await tx.query(q.sql, q.params)).rows, { readOnly: true });
      const shared = await withSharedRead(database.db, OTHER, TENANT, async (tx) => (await tx.query(q.sql, q.params)).rows);
      assert.deepEqual([own.length, shared.length], [0, 0]);
    }
    const sharedOne = planRunSearch({ filter: '', orderBy: [], experimentIds: [1], stages: ['active'], tenantId: TENANT }).query(0, 10);
    const rows = await withTenant(database.db, OTHER, async (tx) => (await tx.query(sharedOne.sql, sharedOne.params)).rows, { readOnly: true });
    assert.equal(rows.length, 0, 'outside a shared read, the shared experiment is not visible either');
  });
});
