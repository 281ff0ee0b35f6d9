/**
 * metrics/get-history pages (keyset) and metrics/get-history-bulk-interval sampling (issue 20 item 2)
 * against a straightforward reference in TypeScript (property tests), on PGlite and on PostgreSQL,
 * through the tracking service as the application role (row-level security applies).
 *
 * get-history: random points (repeated steps, timestamps and values, NaN and ±Infinity, identical
 * points logged twice), random page sizes, other points appended between pages; the pages together hold
 * every point that existed, once, in (step, timestamp, value) order, exactly the reference's list without
 * appends. Bulk interval: random runs with sparse, repeated steps; the reference is MLflow's handler
 * (the sorted distinct steps of all the runs, positions floor(k · n / max_results) within the interval
 * plus its last step, plus each run's first and last step inside it, then every point at those steps).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { withTenant } from '../db/index.ts';
import { createTestDatabase, databaseKinds } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { jsonDouble } from './mlflow-entities.ts';
import { createTrackingService } from './tracking-service.ts';
import { insertMetrics } from './tracking-queries.ts';

// A fixed seed (BULKHEAD_PROPERTY_SEED to explore others): the coverage floors asserted after each property
// (searches that found something, took several pages, saw inserts) then cannot fail by the draw alone.
const propertySeed = Number(process.env.BULKHEAD_PROPERTY_SEED ?? 20261206);

interface Point { step: number; timestamp: number; value: number }

const VALUES = [Number.NEGATIVE_INFINITY, -1, 0, 0.5, 1e-300, 1 / 3, Number.NaN, Number.POSITIVE_INFINITY];
const pointArb = (maxStep: number) => fc.record({ step: fc.integer({ min: 0, max: maxStep }), timestamp: fc.integer({ min: 0, max: 3 }), value: fc.constantFrom(...VALUES) });

// PostgreSQL's float8 order: NaN above everything, equal to itself.
const valueOrder = (a: number, b: number): number => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : a < b ? -1 : a > b ? 1 : 0);
const pointOrder = (a: Point, b: Point): number => a.step - b.step || a.timestamp - b.timestamp || valueOrder(a.value, b.value);
const distinctSorted = (points: readonly Point[]): Point[] => {
  const sorted = [...points].sort(pointOrder);
  return sorted.filter((p, i) => i === 0 || pointOrder(sorted[i - 1] as Point, p) !== 0);
};
const show = (p: Point) => `${p.step}/${p.timestamp}/${String(jsonDouble(p.value))}`;

const createTenant = async (database: TestDatabase): Promise<string> => {
  const id = randomUUID();
  await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'history', 'sandbox', 'active')`, [id, `h-${id.slice(0, 8)}`]);
  await withTenant(database.db, id, async (tx) => {
    await tx.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
                    VALUES ($1::uuid, 1, 'e1', 'mlflow-artifacts:/1', 'active', 0, 0)`, [id]);
  });
  return id;
};

const createRun = async (database: TestDatabase, tenantId: string): Promise<string> => {
  const runId = randomUUID().replaceAll('-', '');
  await withTenant(database.db, tenantId, async (tx) => {
    await tx.query(`INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
                    VALUES ($1, $2::uuid, 1, 'r', 'u', 'RUNNING', 0, 'active', 'mlflow-artifacts:/1/' || $1 || '/artifacts')`, [runId, tenantId]);
  });
  return runId;
};

const insertPoints = async (database: TestDatabase, tenantId: string, runId: string, key: string, points: readonly Point[]): Promise<void> => {
  if (points.length === 0) return;
  await withTenant(database.db, tenantId, async (tx) => {
    await tx.query(
      `INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan)
       SELECT $1::uuid, $2, $3, x.step, x.ts, x.v::float8, x.v = 'NaN' FROM json_to_recordset($4::json) AS x(step bigint, ts bigint, v text)`,
      [tenantId, runId, key, JSON.stringify(points.map((p) => ({ step: p.step, ts: p.timestamp, v: String(p.value) })))],
    );
  });
};

/** Points written as the platform writes them (log-batch's statement: history, latest value, step summary). */
const logPoints = async (database: TestDatabase, tenantId: string, runId: string, key: string, points: readonly Point[]): Promise<void> => {
  if (points.length === 0) return;
  await withTenant(database.db, tenantId, (tx) =>
    insertMetrics(tx, tenantId, runId, points.map((p) => ({ key, value: p.value, isNan: Number.isNaN(p.value), timestamp: p.timestamp, step: p.step }))));
};

/** The stored step summary of a series; the distinct steps it claims when it has one. */
const storedSummary = async (database: TestDatabase, tenantId: string, runId: string, key: string): Promise<number[] | undefined> => {
  const { rows } = await database.owner.queryAsOwner<{ step_min: string | null; step_count: string | null; step_stride: string | null }>(
    'SELECT step_min::text, step_count::text, step_stride::text FROM run_latest_metrics WHERE tenant_id = $1::uuid AND run_id = $2 AND key = $3', [tenantId, runId, key]);
  const row = rows[0];
  if (row === undefined || row.step_stride === null) return undefined;
  return Array.from({ length: Number(row.step_count) }, (_, i) => Number(row.step_min) + i * Number(row.step_stride));
};

/** MLflow's get_metric_history_bulk_interval_impl over the reference data. */
const referenceBulk = (runs: readonly { id: string; points: Point[] }[], maxResults: number, interval: [number, number] | undefined) => {
  const allSteps = [...new Set(runs.flatMap((r) => r.points.map((p) => p.step)))].sort((a, b) => a - b);
  const [lo, hi] = interval ?? [0, allSteps.at(-1) ?? 0];
  const ends = new Set<number>();
  for (const r of runs) {
    if (r.points.length === 0) continue;
    const steps = r.points.map((p) => p.step);
    for (const s of [Math.min(...steps), Math.max(...steps)]) if (s >= lo && s <= hi) ends.add(s);
  }
  const inRange = allSteps.filter((s) => s >= lo && s <= hi);
  const sampled = new Set<number>(ends);
  if (inRange.length <= maxResults) for (const s of inRange) sampled.add(s);
  else {
    const interval2 = inRange.length / maxResults;
    for (let i = 0; i < maxResults; i += 1) sampled.add(inRange[Math.floor(i * interval2)] as number);
    sampled.add(inRange.at(-1) as number);
  }
  return runs.flatMap((r) => distinctSorted(r.points.filter((p) => sampled.has(p.step))).map((p) => `${r.id}:${show(p)}`));
};

for (const kind of databaseKinds) {
  describe(`metric history pages and bulk-interval sampling on ${kind}`, () => {
    let database: TestDatabase;
    let tracking: ReturnType<typeof createTrackingService>;

    before(async () => {
      database = await createTestDatabase(kind);
      tracking = createTrackingService({ db: database.db });
    });
    after(async () => {
      await database?.drop();
    });

    it('get-history pages hold every point once, in order, with points appended between pages (property)', async () => {
      const tenantId = await createTenant(database);
      let multiPage = 0;
      let withAppends = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(pointArb(6), { minLength: 1, maxLength: 40 }),
          fc.array(pointArb(9), { maxLength: 10 }),
          fc.integer({ min: 1, max: 7 }),
          fc.array(fc.nat(3), { maxLength: 10 }),
          fc.boolean(),
          async (initial, later, maxResults, appendsPerPage, repeat) => {
            const runId = await createRun(database, tenantId);
            // Identical points logged twice are one point.
            await insertPoints(database, tenantId, runId, 'loss', repeat ? [...initial, ...initial.slice(0, 3)] : initial);
            const all = [...initial];
            const pending = [...later];
            const returned: Point[] = [];
            let token: string | undefined;
            let pages = 0;
            let appended = 0;
            do {
              const page = await tracking.getMetricHistory({ tenantId, actor: 't', requestId: 'r' }, runId, 'loss', { maxResults, pageToken: token });
              assert.ok(page.items.length <= maxResults);
              assert.ok(page.nextPageToken === undefined || page.items.length === maxResults);
              returned.push(...page.items.map((m) => ({ step: m.step, timestamp: m.timestamp, value: typeof m.value === 'number' ? m.value : Number(m.value) })));
              token = page.nextPageToken;
              const batch = pending.splice(0, appendsPerPage[pages] ?? 0);
              await insertPoints(database, tenantId, runId, 'loss', batch);
              all.push(...batch);
              appended += batch.length;
              pages += 1;
              assert.ok(pages <= all.length + 2, 'paging ends');
            } while (token !== undefined);
            for (let i = 1; i < returned.length; i += 1) assert.ok(pointOrder(returned[i - 1] as Point, returned[i] as Point) < 0, `out of order or twice at ${i}`);
            const got = new Set(returned.map(show));
            const expected = distinctSorted(initial).map(show);
            assert.deepEqual(expected.filter((p) => !got.has(p)), [], 'every point that existed is returned');
            for (const p of returned) assert.ok(all.some((q) => pointOrder(p, q) === 0), `${show(p)} was never logged`);
            if (appended === 0) assert.deepEqual(returned.map(show), expected);
            else withAppends += 1;
            if (pages > 2) multiPage += 1;
            // Without max_results: the whole history at once.
            const whole = await tracking.getMetricHistory({ tenantId, actor: 't', requestId: 'r' }, runId, 'loss', {});
            assert.equal(whole.nextPageToken, undefined);
            assert.deepEqual(whole.items.map((m) => show({ step: m.step, timestamp: m.timestamp, value: typeof m.value === 'number' ? m.value : Number(m.value) })), distinctSorted(all).map(show));
          },
        ),
        { numRuns: 60, seed: propertySeed },
      );
      assert.ok(multiPage > 15, `only ${multiPage} histories took more than two pages`);
      assert.ok(withAppends > 5, `only ${withAppends} histories had appends`);
    });

    it('get-history-bulk-interval samples the steps as MLflow does (property)', async () => {
      const tenantId = await createTenant(database);
      let sampledSome = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(pointArb(40), { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 1, max: 8 }),
          fc.option(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]), { nil: undefined }),
          async (series, maxResults, interval) => {
            const runs: { id: string; points: Point[] }[] = [];
            for (const points of series) {
              const id = await createRun(database, tenantId);
              await insertPoints(database, tenantId, id, 'acc', points);
              runs.push({ id, points });
            }
            const got = await tracking.getMetricHistoryBulkInterval({ tenantId, actor: 't', requestId: 'r' }, {
              runIds: runs.map((r) => r.id), metricKey: 'acc', maxResults,
              ...(interval === undefined ? {} : { startStep: interval[0], endStep: interval[1] }),
            });
            const expected = referenceBulk(runs, maxResults, interval);
            assert.deepEqual(got.map((m) => `${m.run_id}:${show({ step: m.step, timestamp: m.timestamp, value: typeof m.value === 'number' ? m.value : Number(m.value) })}`), expected);
            const distinct = new Set(runs.flatMap((r) => r.points.map((p) => p.step)));
            if (distinct.size > maxResults + 2) sampledSome += 1;
          },
        ),
        { numRuns: 60, seed: propertySeed },
      );
      assert.ok(sampledSome > 10, `only ${sampledSome} cases had more steps than max_results`);
    });

    it('bulk interval over series logged as step progressions: the summary is exact and the samples are MLflow\'s (property)', async () => {
      const tenantId = await createTenant(database);
      let summarisedAll = 0;
      let sampledSome = 0;
      // A run's series: a progression (first, stride, count), cut into batches logged in a random order,
      // some points logged twice, sometimes one stray step off the progression.
      const seriesArb = fc.record({
        first: fc.integer({ min: -5, max: 20 }),
        stride: fc.constantFrom(1, 1, 2, 3, 10),
        count: fc.integer({ min: 1, max: 40 }),
        cuts: fc.array(fc.nat(40), { maxLength: 4 }),
        shuffle: fc.boolean(),
        repeats: fc.oneof({ arbitrary: fc.constant([] as number[]), weight: 3 }, { arbitrary: fc.array(fc.nat(39), { minLength: 1, maxLength: 3 }), weight: 1 }),
        stray: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: -10, max: 150 }), weight: 1 }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(seriesArb, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          fc.integer({ min: 1, max: 12 }),
          fc.option(fc.tuple(fc.integer({ min: -10, max: 150 }), fc.integer({ min: -10, max: 150 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]), { nil: undefined }),
          async (drawn, oneLattice, maxResults, interval) => {
            // Usually every run logs on one lattice (same stride, congruent first steps): the fast path.
            const base = drawn[0] as (typeof drawn)[number];
            const specs = oneLattice ? drawn.map((d) => ({ ...d, stride: base.stride, first: base.first + base.stride * (Math.abs(d.first) % 5) })) : drawn;
            const runs: { id: string; points: Point[] }[] = [];
            let summarised = 0;
            for (const spec of specs) {
              const id = await createRun(database, tenantId);
              const steps = Array.from({ length: spec.count }, (_, i) => spec.first + i * spec.stride);
              const points: Point[] = steps.map((step, i) => ({ step, timestamp: i % 3, value: (step * 7) % 5 }));
              for (const r of spec.repeats) if (r < points.length) points.push({ ...(points[r] as Point), value: 0.5 });
              if (spec.stray !== undefined) points.push({ step: spec.stray, timestamp: 1, value: 1 });
              const cuts = [...new Set(spec.cuts.filter((c) => c > 0 && c < points.length))].sort((a, b) => a - b);
              const batches = [0, ...cuts].map((from, i) => points.slice(from, cuts[i] ?? points.length));
              if (spec.shuffle) batches.reverse();
              for (const batch of batches) await logPoints(database, tenantId, id, 'acc', batch);
              runs.push({ id, points });
              const claimed = await storedSummary(database, tenantId, id, 'acc');
              const distinct = [...new Set(points.map((p) => p.step))].sort((a, b) => a - b);
              if (claimed !== undefined) {
                assert.deepEqual(claimed, distinct, 'a summary describes exactly the distinct steps');
                summarised += 1;
              } else {
                // In order, without a stray step or a step logged again later, the summary is always kept.
                assert.ok(spec.shuffle || spec.stray !== undefined || spec.repeats.length > 0, `no summary for an in-order progression ${JSON.stringify(spec)}`);
              }
            }
            if (summarised === specs.length) summarisedAll += 1;
            const got = await tracking.getMetricHistoryBulkInterval({ tenantId, actor: 't', requestId: 'r' }, {
              runIds: runs.map((r) => r.id), metricKey: 'acc', maxResults,
              ...(interval === undefined ? {} : { startStep: interval[0], endStep: interval[1] }),
            });
            assert.deepEqual(got.map((m) => `${m.run_id}:${show({ step: m.step, timestamp: m.timestamp, value: typeof m.value === 'number' ? m.value : Number(m.value) })}`), referenceBulk(runs, maxResults, interval));
            if (new Set(runs.flatMap((r) => r.points.map((p) => p.step))).size > maxResults + 2) sampledSome += 1;
          },
        ),
        { numRuns: 60, seed: propertySeed },
      );
      assert.ok(summarisedAll > 15, `only ${summarisedAll} cases had every series summarised`);
      assert.ok(sampledSome > 15, `only ${sampledSome} cases had more steps than max_results`);
    });

    it('a point written without the summary (an older version) sends the bulk interval back to the scan', async () => {
      const tenantId = await createTenant(database);
      const runId = await createRun(database, tenantId);
      const points = Array.from({ length: 50 }, (_, step) => ({ step, timestamp: 0, value: step }));
      await logPoints(database, tenantId, runId, 'loss', points);
      assert.equal((await storedSummary(database, tenantId, runId, 'loss'))?.length, 50);
      // The previous version's insert names no `summarized` column: it gets the default, false.
      await insertPoints(database, tenantId, runId, 'loss', [{ step: 7, timestamp: 5, value: -1 }, { step: 60, timestamp: 5, value: -2 }]);
      const all = [...points, { step: 7, timestamp: 5, value: -1 }, { step: 60, timestamp: 5, value: -2 }];
      const got = await tracking.getMetricHistoryBulkInterval({ tenantId, actor: 't', requestId: 'r' }, { runIds: [runId], metricKey: 'loss', maxResults: 5 });
      assert.deepEqual(got.map((m) => `${m.run_id}:${show({ step: m.step, timestamp: m.timestamp, value: Number(m.value) })}`), referenceBulk([{ id: runId, points: all }], 5, undefined));
      assert.ok(got.some((m) => m.step === 60), 'the older version\'s last step is sampled');
    });

    it('a series logged before the summaries existed keeps no summary when logged to again, and is scanned', async () => {
      const tenantId = await createTenant(database);
      const runId = await createRun(database, tenantId);
      const first = Array.from({ length: 30 }, (_, step) => ({ step, timestamp: 0, value: step }));
      await logPoints(database, tenantId, runId, 'loss', first);
      // What migration 0038 leaves on a latest-metric row written before it: no summary.
      await database.owner.queryAsOwner('UPDATE run_latest_metrics SET step_min = NULL, step_count = NULL, step_stride = NULL WHERE tenant_id = $1::uuid AND run_id = $2', [tenantId, runId]);
      const more = Array.from({ length: 30 }, (_, i) => ({ step: 30 + i, timestamp: 0, value: i }));
      await logPoints(database, tenantId, runId, 'loss', more);
      assert.equal(await storedSummary(database, tenantId, runId, 'loss'), undefined, 'unknown stays unknown');
      const got = await tracking.getMetricHistoryBulkInterval({ tenantId, actor: 't', requestId: 'r' }, { runIds: [runId], metricKey: 'loss', maxResults: 7 });
      assert.deepEqual(got.map((m) => `${m.run_id}:${show({ step: m.step, timestamp: m.timestamp, value: Number(m.value) })}`), referenceBulk([{ id: runId, points: [...first, ...more] }], 7, undefined));
    });

    it("another tenant's run history is RESOURCE_DOES_NOT_EXIST, and a token of another series is refused", async () => {
      const a = await createTenant(database);
      const b = await createTenant(database);
      const runA = await createRun(database, a);
      const runB = await createRun(database, b);
      await insertPoints(database, a, runA, 'loss', [{ step: 0, timestamp: 0, value: 1 }, { step: 1, timestamp: 0, value: 2 }]);
      await insertPoints(database, b, runB, 'loss', [{ step: 0, timestamp: 0, value: 3 }, { step: 1, timestamp: 0, value: 4 }]);
      const code = (error: unknown) => (error as { errorCode?: string }).errorCode;
      await assert.rejects(tracking.getMetricHistory({ tenantId: b, actor: 't', requestId: 'r' }, runA, 'loss', { maxResults: 1 }), (e) => code(e) === 'RESOURCE_DOES_NOT_EXIST');
      await assert.rejects(tracking.getMetricHistoryBulkInterval({ tenantId: b, actor: 't', requestId: 'r' }, { runIds: [runB, runA], metricKey: 'loss' }), (e) => code(e) === 'RESOURCE_DOES_NOT_EXIST');
      const own = await tracking.getMetricHistoryBulkInterval({ tenantId: b, actor: 't', requestId: 'r' }, { runIds: [runB], metricKey: 'loss' });
      assert.deepEqual(own.map((m) => m.value), [3, 4]);
      const first = await tracking.getMetricHistory({ tenantId: a, actor: 't', requestId: 'r' }, runA, 'loss', { maxResults: 1 });
      assert.ok(first.nextPageToken !== undefined);
      const refused = (tenantId: string, runId: string, key: string, pageToken: string) =>
        assert.rejects(tracking.getMetricHistory({ tenantId, actor: 't', requestId: 'r' }, runId, key, { maxResults: 1, pageToken }), (e) => code(e) === 'INVALID_PARAMETER_VALUE');
      await refused(b, runB, 'loss', first.nextPageToken);
      await refused(a, runA, 'acc', first.nextPageToken);
      const forged = JSON.parse(Buffer.from(first.nextPageToken, 'base64').toString('utf8')) as Record<string, unknown>;
      await refused(a, runA, 'loss', Buffer.from(JSON.stringify({ ...forged, v: "0'; DROP TABLE run_metrics; --" })).toString('base64'));
      await refused(a, runA, 'loss', Buffer.from('{"offset": 1}').toString('base64'));
    });
  });
}
