/**
 * Query plans of experiments/search, registered-models/search, model-versions/search, get-history and
 * get-history-bulk-interval at scale on PostgreSQL (issue 20 item 2): 100k experiments, 100k registered
 * models, 100k model versions (1,000 models × 100) and one 1M-point series of one tenant, 1,000 of each
 * and a 10k-point series of another, seeded with bulk SQL as the schema owner
 * (test/support/registry-seed.ts). For every indexed form — default and explicit orders, first and
 * keyset pages, `name` equality and prefix, tags, `run_id`, a history page deep in the series, the
 * sampled interval — the plan PostgreSQL picks as the application role (row-level security in force,
 * share policies included) has no sequential scan of the searched tables. Planner statistics: the
 * platform's keeper for the tables it keeps; run_metrics is not among them and needs none here (its
 * plans are by run id).
 *
 * PostgreSQL only: PGlite's planner is the same code; its timings are in bench/search-registry.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTenant } from '../db/index.ts';
import { createTestDatabase } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { seedExperiments, seedModels, seedSeries } from '../../test/support/registry-seed.ts';
import type { KeysetStatement } from './keyset-page.ts';
import { keysetPage } from './keyset-page.ts';
import { modelSearchStatement, versionSearchStatement } from './registry-service.ts';
import { createStatisticsKeeper } from './search-statistics.ts';
import { bulkIntervalSql, experimentSearchStatement, historySql } from './tracking-service.ts';
import { pointsAtStepsSql, sampleSummarizedSteps, stepSummarySql, summariesOf } from './step-sampling.ts';
import type { StepSummaryRow } from './step-sampling.ts';
import { walkPlan } from '../../test/support/query-plans.ts';
import type { PlanNode } from '../../test/support/query-plans.ts';

const OBJECTS = 100_000;
const POINTS = 1_000_000;
const TENANT = '7a0e0000-0000-4000-8000-0000000000a1';
const OTHER = '7a0e0000-0000-4000-8000-0000000000b2';
const RUN = 'a'.repeat(32);
const WATCHED = new Set(['experiments', 'experiment_tags', 'registered_models', 'registered_model_tags', 'model_versions', 'model_version_tags', 'run_metrics']);



describe('experiment, registry and metric history plans at 100k objects / 1M points (PostgreSQL)', () => {
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase('postgres');
    for (const [tenant, slug, count, points] of [[TENANT, 'plans-a', OBJECTS, POINTS], [OTHER, 'plans-b', 1_000, 10_000]] as const) {
      await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'plans', 'sandbox', 'active')`, [tenant, slug]);
      await seedExperiments(database.owner, tenant, 1, count);
      await seedModels(database.owner, tenant, { from: 1, count, versionedModels: count / 100, versionsPerModel: 100 });
      await seedSeries(database.owner, { tenantId: tenant, experimentId: 1, runId: tenant === TENANT ? RUN : 'b'.repeat(32), key: 'loss', points });
    }
    const analyzed = await createStatisticsKeeper(database.db).refreshNow();
    for (const table of ['experiments', 'registered_models', 'model_versions']) assert.ok(analyzed.includes(table), `${table} analyzed (${analyzed.join(', ')})`);
  });

  after(async () => {
    await database?.drop();
  });

  /** The plan of one statement as the tenant; returns the scans of the watched tables. */
  const scans = async (sql: string, params: readonly unknown[]): Promise<string[]> =>
    withTenant(database.db, TENANT, async (tx) => {
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const found: string[] = [];
      const plan = rows[0]?.['QUERY PLAN'][0].Plan;
      assert.ok(plan !== undefined);
      walkPlan(plan, (n) => {
        if (n['Relation Name'] !== undefined && WATCHED.has(n['Relation Name'])) found.push(`${n['Node Type']} on ${n['Relation Name']}${n['Index Name'] === undefined ? '' : ` using ${n['Index Name']}`}`);
        // A bitmap heap scan's index is on its child, which names no relation.
        if (n['Node Type'] === 'Bitmap Index Scan' && n['Index Name'] !== undefined) found.push(`Bitmap Index Scan using ${n['Index Name']}`);
      });
      return found;
    }, { readOnly: true });

  /** The token after the first page of the statement's search. */
  const tokenOf = async (statement: KeysetStatement): Promise<string | undefined> =>
    withTenant(database.db, TENANT, async (tx) => keysetPage(statement, (await tx.query(statement.sql, statement.params)).rows).nextPageToken, { readOnly: true });

  /**
   * No sequential scan of a watched table on the first page and on a keyset page. `tagIndex`: the form
   * must read that tag index, and may hash-join a sequential scan of the objects (`objects`) with it —
   * the planner's cost-based choice when a tenth to a hundredth of 100k objects match (1,000+ probes by
   * primary key cost more than one pass); never a sequential scan of the tag table.
   */
  const check = async (label: string, build: (pageToken: string | undefined) => KeysetStatement, tagForm?: { tagIndex: string; objects: string }): Promise<void> => {
    const first = build(undefined);
    const token = await tokenOf(first);
    assert.ok(token !== undefined, `${label}: more than one page`);
    for (const [page, statement] of [['first page', first], ['keyset page', build(token)]] as const) {
      const found = await scans(statement.sql, statement.params);
      assert.ok(found.length > 0, `${label} (${page}): reads a searched table`);
      const allowed = tagForm === undefined ? '' : `Seq Scan on ${tagForm.objects}`;
      assert.deepEqual(found.filter((s) => s.startsWith('Seq Scan') && s !== allowed), [], `${label} (${page}): ${found.join('; ')}`);
      if (tagForm !== undefined && found.includes(allowed)) {
        assert.ok(found.some((s) => s.endsWith(`using ${tagForm.tagIndex}`)), `${label} (${page}): the tag index: ${found.join('; ')}`);
      }
    }
  };

  it('experiments/search: every order and indexed filter without a sequential scan', async () => {
    for (const [filter, orderBy] of [
      ['', []], ['', ['name']], ['', ['name DESC']], ['', ['last_update_time DESC']], ['', ['creation_time ASC']], ['', ['experiment_id DESC']],
      ["name LIKE 'exp-1%'", []], ['creation_time > 0', ['name']],
    ] as const) {
      await check(`experiments ${filter} ${orderBy.join(',')}`, (pageToken) =>
        experimentSearchStatement(TENANT, { filter, orderBy: [...orderBy], maxResults: 150, pageToken, viewType: 'ALL' }));
    }
    // Tag values through the value-prefix index (migration 0036): 1 experiment in 100, 11 in 100.
    for (const [filter, orderBy] of [["tags.team = 'team7'", []], ["tags.team LIKE 'team7%'", ['name']]] as const) {
      await check(`experiments ${filter} ${orderBy.join(',')}`, (pageToken) =>
        experimentSearchStatement(TENANT, { filter, orderBy: [...orderBy], maxResults: 150, pageToken, viewType: 'ALL' }),
      { tagIndex: 'experiment_tags_search_idx', objects: 'experiments' });
    }
  });

  it('registered-models/search: every order and indexed filter without a sequential scan', async () => {
    for (const [filter, orderBy] of [
      ['', []], ['', ['name DESC']], ['', ['last_updated_timestamp DESC']], ['', ['creation_timestamp']], ['', ['timestamp ASC']],
      ["name LIKE 'model-1%'", []], ["tags.team = 'team7'", []], ["tags.team LIKE 'team1%'", ['name DESC']], ["name ILIKE '%-12%'", ['last_updated_timestamp DESC']],
    ] as const) {
      await check(`models ${filter} ${orderBy.join(',')}`, (pageToken) => modelSearchStatement(TENANT, { filter, orderBy: [...orderBy], maxResults: 150, pageToken }));
    }
  });

  it('model-versions/search: every order and indexed filter without a sequential scan', async () => {
    for (const [filter, orderBy] of [
      ['', []], ['', ['creation_timestamp DESC']], ['', ['name', 'version_number DESC']], ['', ['last_updated_timestamp ASC']],
      ["name = 'model-42'", []], ["tags.ok = '1'", []], ["tags.ok LIKE '0%'", ['creation_timestamp DESC']], ['version_number > 50', []],
    ] as const) {
      // model-42 has 100 versions: pages of 40.
      await check(`versions ${filter} ${orderBy.join(',')}`, (pageToken) => versionSearchStatement(TENANT, { filter, orderBy: [...orderBy], maxResults: filter.startsWith('name') ? 40 : 150, pageToken }));
    }
    // A run's registered versions (MLflow's client asks `run_id = '…'`): one page, from the run index.
    const byRun = versionSearchStatement(TENANT, { filter: `run_id = '${'0'.repeat(32)}'`, maxResults: 150 });
    const found = await scans(byRun.sql, byRun.params);
    assert.ok(found.some((s) => s.includes('model_versions_run_idx')), found.join('; '));
  });

  it('get-history pages and the bulk interval read the series from its index', async () => {
    for (const [label, sql, params] of [
      ['history, first page', historySql(false, true), [RUN, 'loss', 1001]],
      ['history, deep page', historySql(true, true), [RUN, 'loss', '500000', '1700000500000', '0.5', 1001]],
      ['history, whole', historySql(false, false), [RUN, 'loss']],
      ['bulk interval, whole series', bulkIntervalSql(true), [TENANT, [RUN], 'loss', null, null, 320]],
      ['bulk interval, two runs', bulkIntervalSql(false), [TENANT, [RUN, 'b'.repeat(32)], 'loss', null, null, 320]],
      ['bulk interval, steps 400k–600k', bulkIntervalSql(true), [TENANT, [RUN], 'loss', 400_000, 600_000, 2500]],
    ] as const) {
      const found = await scans(sql, params);
      assert.ok(found.length > 0 && found.every((s) => s.includes('run_metrics_step_idx')), `${label}: ${found.join('; ')}`);
    }
  });

  it('the bulk interval of a summarised series reads the summary and probes only the chosen steps', async () => {
    // The seeded series carries the step summary log-batch keeps (0 … 999,999, stride 1).
    const summaryScans = await scans(stepSummarySql, [TENANT, [RUN, 'b'.repeat(32)], 'loss']);
    assert.ok(summaryScans.some((s) => s.includes('run_metrics_unsummarized_idx')) && summaryScans.every((s) => !s.startsWith('Seq Scan')), summaryScans.join('; '));
    const summaries = await withTenant(database.db, TENANT, async (tx) => summariesOf((await tx.query<StepSummaryRow>(stepSummarySql, [TENANT, [RUN], 'loss'])).rows), { readOnly: true });
    for (const maxResults of [320, 1000, 2500]) {
      const chosen = sampleSummarizedSteps(summaries ?? [], maxResults) ?? [];
      assert.equal(chosen.length, maxResults + 1, 'sampled from the summary');
      const found = await scans(pointsAtStepsSql, [TENANT, [RUN], 'loss', chosen.map(String)]);
      assert.ok(found.length > 0 && found.every((s) => s.includes('run_metrics_step_idx') && !s.startsWith('Bitmap')), found.join('; '));
      // Executed: the index gives the chosen points and nothing else (the seeded series has one point per step).
      const { rows } = await withTenant(database.db, TENANT, (tx) => tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${pointsAtStepsSql}`, [TENANT, [RUN], 'loss', chosen.map(String)]), { readOnly: true });
      let read = 0;
      walkPlan((rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan, (n) => {
        if (n['Relation Name'] === 'run_metrics') read += (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1);
      });
      assert.equal(read, maxResults + 1, `max_results ${maxResults}`);
    }
  });
});
