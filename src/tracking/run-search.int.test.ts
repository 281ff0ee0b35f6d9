/**
 * search-runs against a straightforward reference evaluation in TypeScript (property test), on PGlite and
 * on PostgreSQL, through the tracking service as the application role (row-level security applies):
 * random runs (metrics with NaN and ±Infinity or missing, params, tags, attributes with ties, deleted runs,
 * several experiments), random filters of every comparison form, random `order_by` lists and page sizes.
 * Between pages, other runs are inserted concurrently (their own transactions). It checks that the pages
 * together hold every run that existed before the search and matches, exactly once, each returned run
 * matching the filter, in MLflow's order as the reference computes it on the final data; without
 * concurrent inserts, exactly the reference's list. The same search by another tenant through shares of the
 * experiments (with look-alike runs of its own in the same experiment ids), paged on the final data: exactly
 * the reference's list. A second tenant with look-alike runs searches too: neither ever sees the other's runs.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { withTenant } from '../db/index.ts';
import type { Db, QueryOptions, Queryable, TransactionOptions } from '../db/index.ts';
import { createTestDatabase, databaseKinds } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { MlflowError } from './mlflow-errors.ts';
import { validateArtifactLocation } from './mlflow-validation.ts';
import { PGLITE_PAGE_READ_CHUNK, createTrackingService } from './tracking-service.ts';

interface RefRun {
  id: string;
  experimentId: number;
  name: string;
  user: string;
  status: string;
  start: number;
  end: number | null;
  stage: 'active' | 'deleted';
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Dataset inputs, distinct by (name, digest); `context` is the input's mlflow.data.context tag. */
  inputs: { name: string; digest: string; context?: string | undefined }[];
}

// ---------------------------------------------------------------------------------------------
// Generators

const METRIC_VALUES = [Number.NEGATIVE_INFINITY, -1, 0, 0.25, 0.5, 1, Number.NaN, Number.POSITIVE_INFINITY];
// Past the 200 indexed characters too: values that tie on their prefix and differ after it, and a short
// value equal to their prefix (migration 0040's short and long parts of a param or tag order).
const LONG = 'a'.repeat(200);
const TEXT_VALUES = ['a', 'b', 'ab', 'A', 'ba', 'a_b', 'a%b', '', LONG, `${LONG}b`, `${LONG}a`, `${'a'.repeat(199)}b`];

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });

const runArb = fc.record({
  experimentId: fc.constantFrom(1, 1, 2, 3),
  name: fc.constantFrom('r1', 'r10', 'r2', 'R1', 'x'),
  user: fc.constantFrom('u1', 'u2'),
  status: fc.constantFrom('FINISHED', 'FAILED', 'RUNNING'),
  start: fc.integer({ min: 1, max: 6 }),
  end: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }),
  stage: fc.constantFrom<'active' | 'deleted'>('active', 'active', 'active', 'deleted'),
  m0: optional(fc.constantFrom(...METRIC_VALUES)),
  m1: optional(fc.constantFrom(...METRIC_VALUES)),
  p0: optional(fc.constantFrom(...TEXT_VALUES)),
  p1: optional(fc.constantFrom(...TEXT_VALUES)),
  t0: optional(fc.constantFrom(...TEXT_VALUES)),
  // Dataset inputs (the explicit specs further down have none).
  inputs: fc.array(fc.record({ name: fc.constantFrom('train', 'eval', 'Tr_x'), digest: fc.constantFrom('d1', 'd2'), context: optional(fc.constantFrom('training', 'eval')) }), { maxLength: 3 }),
});
type RunSpec = Omit<typeof runArb extends fc.Arbitrary<infer T> ? T : never, 'inputs'> & { inputs?: RefRun['inputs'] };

let idCounter = 0;
const toRun = (spec: RunSpec): RefRun => {
  idCounter += 1;
  const metrics: Record<string, number> = {};
  const params: Record<string, string> = {};
  const tags: Record<string, string> = {};
  if (spec.m0 !== undefined) metrics['m0'] = spec.m0;
  if (spec.m1 !== undefined) metrics['m1'] = spec.m1;
  if (spec.p0 !== undefined) params['p0'] = spec.p0;
  if (spec.p1 !== undefined) params['p1'] = spec.p1;
  if (spec.t0 !== undefined) tags['t0'] = spec.t0;
  return {
    id: randomUUID().replaceAll('-', ''),
    experimentId: spec.experimentId, name: `${spec.name}`, user: spec.user, status: spec.status,
    start: spec.start * 1000 + (idCounter % 2), end: spec.end === null ? null : spec.end * 1000, stage: spec.stage,
    metrics, params, tags,
    inputs: [...new Map((spec.inputs ?? []).map((i) => [`${i.name}/${i.digest}`, i])).values()],
  };
};

type Comparison =
  | { kind: 'metric'; key: string; op: string; value: number }
  | { kind: 'param' | 'tag'; key: string; op: string; value: string }
  | { kind: 'attr'; key: 'status' | 'user_id' | 'run_name' | 'artifact_uri'; op: string; value: string }
  | { kind: 'time'; key: 'start_time' | 'end_time'; op: string; value: number }
  | { kind: 'ids'; not: boolean; positions: number[] }
  | { kind: 'dataset'; key: 'name' | 'digest' | 'context'; op: string; value: string | string[] };

const NUMERIC_OPS = ['=', '!=', '<', '<=', '>', '>='];
const STRING_OPS = ['=', '!=', 'LIKE', 'ILIKE'];
const PATTERNS = ['a', 'A', 'ab', 'a%', '%b', '_b', 'a\\_b', 'a\\%b', '%', 'b%'];

const comparisonArb: fc.Arbitrary<Comparison> = fc.oneof(
  fc.record({ kind: fc.constant('metric' as const), key: fc.constantFrom('m0', 'm1'), op: fc.constantFrom(...NUMERIC_OPS), value: fc.constantFrom(-1, 0, 0.25, 0.5, 1, 2) }),
  fc.record({ kind: fc.constantFrom('param' as const, 'tag' as const), key: fc.constantFrom('p0', 'p1', 't0'), op: fc.constantFrom(...STRING_OPS), value: fc.constantFrom(...PATTERNS) }),
  fc.record({ kind: fc.constant('attr' as const), key: fc.constantFrom('status' as const, 'user_id' as const, 'run_name' as const), op: fc.constantFrom(...STRING_OPS), value: fc.constantFrom('FINISHED', 'u1', 'r1', 'r1%', 'R%', 'f%') }),
  fc.record({ kind: fc.constant('time' as const), key: fc.constantFrom('start_time' as const, 'end_time' as const), op: fc.constantFrom(...NUMERIC_OPS), value: fc.constantFrom(2000, 3000, 4001) }),
  fc.record({ kind: fc.constant('ids' as const), not: fc.boolean(), positions: fc.uniqueArray(fc.nat(40), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('dataset' as const), key: fc.constantFrom('name' as const, 'digest' as const, 'context' as const), op: fc.constantFrom(...STRING_OPS), value: fc.constantFrom('train', 'd1', 'training', 'tr%', 'TR%', 'Tr\\_x', '%a%') }),
  fc.record({ kind: fc.constant('dataset' as const), key: fc.constantFrom('name' as const, 'digest' as const, 'context' as const), op: fc.constantFrom('IN', 'NOT IN'), value: fc.uniqueArray(fc.constantFrom('train', 'eval', 'd2', 'training'), { minLength: 1, maxLength: 2 }) }),
);

const ORDER_KEYS = ['metrics.m0', 'metrics.m1', 'params.p0', 'tags.t0', 'start_time', 'end_time', 'run_name', 'status', 'user_id', 'run_id', 'attributes.created'];
// Half of the orders are one key alone: each first key has its own segments and index walks then (a status
// segment per status, a param or tag order index, a metric's value order with MLflow's tail, the windowed walk of
// an index's other direction), which a longer order does not reach.
const orderArb = fc.oneof(
  fc
    .uniqueArray(fc.constantFrom(...ORDER_KEYS), { maxLength: 3, selector: (k) => (k === 'attributes.created' ? 'start_time' : k) })
    .chain((keys) => fc.tuple(...keys.map((k) => fc.constantFrom(k, `${k} ASC`, `${k} DESC`)))),
  fc.constantFrom(...ORDER_KEYS).chain((k) => fc.constantFrom([k], [`${k} ASC`], [`${k} DESC`])),
);

// ---------------------------------------------------------------------------------------------
// The reference: MLflow's semantics, written plainly.

const likeToRegExp = (pattern: string, insensitive: boolean): RegExp => {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] as string;
    if (c === '\\') {
      i += 1;
      source += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') source += '.*';
    else if (c === '_') source += '.';
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, insensitive ? 'is' : 's');
};

const compareString = (actual: string, op: string, value: string): boolean => {
  switch (op) {
    case '=': return actual === value;
    case '!=': return actual !== value;
    case 'LIKE': return likeToRegExp(value, false).test(actual);
    case 'ILIKE': return likeToRegExp(value, true).test(actual);
    default: throw new Error(op);
  }
};

const compareNumber = (actual: number, op: string, value: number): boolean => {
  switch (op) {
    case '=': return actual === value;
    case '!=': return actual !== value;
    case '<': return actual < value;
    case '<=': return actual <= value;
    case '>': return actual > value;
    case '>=': return actual >= value;
    default: throw new Error(op);
  }
};

const matches = (run: RefRun, c: Comparison, idPool: readonly string[]): boolean => {
  switch (c.kind) {
    case 'metric': {
      const v = run.metrics[c.key];
      if (v === undefined) return false;
      return Number.isNaN(v) ? c.op === '!=' : compareNumber(v, c.op, c.value);
    }
    case 'param':
    case 'tag': {
      const v = (c.kind === 'param' ? run.params : run.tags)[c.key];
      return v !== undefined && compareString(v, c.op, c.value);
    }
    case 'attr': {
      const v = c.key === 'status' ? run.status : c.key === 'user_id' ? run.user : c.key === 'run_name' ? run.name : '';
      return compareString(v, c.op, c.value);
    }
    case 'time': {
      const v = c.key === 'start_time' ? run.start : run.end;
      return v !== null && compareNumber(v, c.op, c.value);
    }
    case 'ids': {
      const ids = c.positions.map((p) => idPool[p % idPool.length] as string);
      return ids.includes(run.id) !== c.not;
    }
    case 'dataset':
      // MLflow: some input of the run satisfies the comparison (each comparison on its own).
      return run.inputs.some((input) => {
        const v = input[c.key];
        if (v === undefined) return false;
        if (Array.isArray(c.value)) return c.value.includes(v) !== (c.op === 'NOT IN');
        return compareString(v, c.op, c.value);
      });
  }
};

const filterText = (c: Comparison, idPool: readonly string[]): string => {
  const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
  switch (c.kind) {
    case 'metric': return `metrics.${c.key} ${c.op} ${c.value}`;
    case 'param': return `params.${c.key} ${c.op} ${quote(c.value)}`;
    case 'tag': return `tags.${c.key} ${c.op} ${quote(c.value)}`;
    case 'attr': return `attributes.${c.key} ${c.op} ${quote(c.value)}`;
    case 'time': return `${c.key} ${c.op} ${c.value}`;
    case 'ids': return `run_id ${c.not ? 'NOT IN' : 'IN'} (${c.positions.map((p) => quote(idPool[p % idPool.length] as string)).join(', ')})`;
    case 'dataset': return `datasets.${c.key} ${c.op} ${Array.isArray(c.value) ? `(${c.value.map(quote).join(', ')})` : quote(c.value)}`;
  }
};

type Key = number | string | null;

/** Compares two keys with nulls last in both directions. */
const compareKey = (a: Key, b: Key, ascending: boolean): number => {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const c = a < b ? -1 : a > b ? 1 : 0;
  return ascending ? c : -c;
};

/** The sort keys of a run for an `order_by` list, MLflow's rules (see compileRunOrderBy). */
const sortKeys = (run: RefRun, orderBy: readonly string[]): [Key, boolean][] => {
  const keys: [Key, boolean][] = [];
  let startOrdered = false;
  let idOrdered = false;
  for (const clause of orderBy) {
    const [field = '', dir] = clause.split(' ');
    const ascending = dir !== 'DESC';
    if (field.startsWith('metrics.')) {
      const v = run.metrics[field.slice(8)];
      keys.push([v === undefined ? 2 : Number.isNaN(v) ? 1 : 0, true]);
      keys.push([v === undefined || Number.isNaN(v) ? null : v, ascending]);
    } else if (field.startsWith('params.')) keys.push([run.params[field.slice(7)] ?? null, ascending]);
    else if (field.startsWith('tags.')) keys.push([run.tags[field.slice(5)] ?? null, ascending]);
    else {
      const name = field === 'attributes.created' ? 'start_time' : field;
      if (name === 'start_time') startOrdered = true;
      if (name === 'run_id') idOrdered = true;
      const value: Key = { start_time: run.start, end_time: run.end, run_name: run.name, status: run.status, user_id: run.user, run_id: run.id }[name] ?? null;
      keys.push([value, ascending]);
    }
  }
  if (!startOrdered) keys.push([run.start, false]);
  if (!idOrdered) keys.push([run.id, true]);
  return keys;
};

const compareRuns = (orderBy: readonly string[]) => (a: RefRun, b: RefRun): number => {
  const ka = sortKeys(a, orderBy);
  const kb = sortKeys(b, orderBy);
  for (let i = 0; i < ka.length; i += 1) {
    const [x, ascending] = ka[i] as [Key, boolean];
    const c = compareKey(x, (kb[i] as [Key, boolean])[0], ascending);
    if (c !== 0) return c;
  }
  return 0;
};

// ---------------------------------------------------------------------------------------------
// Writing runs as the tenant (application role, RLS in force)

const insertRuns = async (database: TestDatabase, tenantId: string, runs: readonly RefRun[]): Promise<void> => {
  if (runs.length === 0) return;
  await withTenant(database.db, tenantId, async (tx) => {
    await tx.query(
      `INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
       SELECT x.id, $1::uuid, x.e, x.name, x.u, x.status, x.st, x.et, x.stage, 'mlflow-artifacts:/' || x.e || '/' || x.id || '/artifacts'
         FROM json_to_recordset($2::json) AS x(id text, e bigint, name text, u text, status text, st bigint, et bigint, stage text)`,
      [tenantId, JSON.stringify(runs.map((r) => ({ id: r.id, e: r.experimentId, name: r.name, u: r.user, status: r.status, st: r.start, et: r.end, stage: r.stage })))],
    );
    const metrics = runs.flatMap((r) => Object.entries(r.metrics).map(([key, v]) => ({ id: r.id, key, v: String(v) })));
    await tx.query(
      `INSERT INTO run_latest_metrics (tenant_id, run_id, key, value, timestamp, step, is_nan)
       SELECT $1::uuid, x.id, x.key, x.v::float8, 0, 0, x.v = 'NaN' FROM json_to_recordset($2::json) AS x(id text, key text, v text)`,
      [tenantId, JSON.stringify(metrics)],
    );
    const inputs = runs.flatMap((r) => r.inputs.map((i) => ({
      // Each input also has a decoy tag whose value is a context value (only mlflow.data.context counts).
      id: r.id, name: i.name, digest: i.digest,
      tags: [{ key: 'decoy', value: i.context === 'training' ? 'eval' : 'training' }, ...(i.context === undefined ? [] : [{ key: 'mlflow.data.context', value: i.context }])],
    })));
    await tx.query(
      `INSERT INTO run_inputs (tenant_id, run_id, name, digest, source_type, source, tags, created_time)
       SELECT $1::uuid, x.id, x.name, x.digest, 'local', 's3://data', x.tags, 0 FROM jsonb_to_recordset($2::jsonb) AS x(id text, name text, digest text, tags jsonb)`,
      [tenantId, JSON.stringify(inputs)],
    );
    for (const [table, pick] of [['run_params', (r: RefRun) => r.params], ['run_tags', (r: RefRun) => r.tags]] as const) {
      const rows = runs.flatMap((r) => Object.entries(pick(r)).map(([key, value]) => ({ id: r.id, key, value })));
      await tx.query(
        `INSERT INTO ${table} (tenant_id, run_id, key, value) SELECT $1::uuid, x.id, x.key, x.value FROM json_to_recordset($2::json) AS x(id text, key text, value text)`,
        [tenantId, JSON.stringify(rows)],
      );
    }
  });
};

const createTenant = async (database: TestDatabase): Promise<string> => {
  const id = randomUUID();
  await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'search', 'sandbox', 'active')`, [id, `s-${id.slice(0, 8)}`]);
  await withTenant(database.db, id, async (tx) => {
    await tx.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
                    SELECT $1::uuid, e, 'e' || e, 'mlflow-artifacts:/' || e, 'active', 0, 0 FROM generate_series(1, 3) AS e`, [id]);
  });
  return id;
};

// ---------------------------------------------------------------------------------------------

for (const kind of databaseKinds) {
  describe(`run search on ${kind}`, () => {
    let database: TestDatabase;
    let tracking: ReturnType<typeof createTrackingService>;
    // The same service running the statements it would not choose: a filtered search in an order against its
    // index always takes the windowed walk (PageQuery.walk), and a metric range's few runs are never read
    // first (the property's small experiments always have few): the property below checks both.
    let walking: ReturnType<typeof createTrackingService>;

    before(async () => {
      database = await createTestDatabase(kind);
      tracking = createTrackingService({ db: database.db });
      walking = createTrackingService({ db: database.db, searchForms: 'others' });
    });
    after(async () => {
      await database?.drop();
    });

    it('pages through random searches exactly as the reference orders them, with concurrent inserts (property)', async () => {
      // A tenant that every searched tenant shares its experiments with, holding look-alike runs of its own
      // in the same experiment ids (visible in its shared-read scope too, and kept out by the search).
      const grantee = await createTenant(database);
      await insertRuns(database, grantee, Array.from({ length: 30 }, (_, i) => toRun({
        experimentId: ([1, 2, 3] as const)[i % 3] ?? 1, name: 'r1', user: 'u1', status: 'FINISHED', start: 1 + (i % 6), end: null, stage: i % 4 === 0 ? 'deleted' : 'active',
        m0: METRIC_VALUES[i % METRIC_VALUES.length], m1: 0.5, p0: TEXT_VALUES[i % TEXT_VALUES.length], p1: 'a', t0: TEXT_VALUES[(i + 3) % TEXT_VALUES.length],
      })));
      let nonEmpty = 0;
      let multiPage = 0;
      let withInserts = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(runArb, { minLength: 5, maxLength: 40 }),
          fc.array(runArb, { maxLength: 12 }),
          fc.oneof(fc.constant([]), fc.array(comparisonArb, { maxLength: 1 }), fc.array(comparisonArb, { maxLength: 3 })),
          orderArb,
          fc.integer({ min: 1, max: 7 }),
          fc.oneof(fc.constant([1, 2, 3]), fc.subarray([1, 2, 3], { minLength: 1 })),
          fc.constantFrom('ACTIVE_ONLY', 'ALL', 'ALL', 'DELETED_ONLY'),
          fc.array(fc.nat(3), { maxLength: 12 }),
          fc.boolean(),
          async (specs, laterSpecs, comparisons, orderBy, maxResults, experimentIds, viewType, insertsPerPage, walk) => {
            const service = walk ? walking : tracking;
            const tenantId = await createTenant(database);
            const initial = specs.map(toRun);
            await insertRuns(database, tenantId, initial);
            const idPool = initial.length > 0 ? initial.map((r) => r.id) : ['0'.repeat(32)];
            const filter = comparisons.map((c) => filterText(c, idPool)).join(' AND ');
            const stages = viewType === 'ALL' ? ['active', 'deleted'] : viewType === 'ACTIVE_ONLY' ? ['active'] : ['deleted'];
            const inScope = (r: RefRun) => (experimentIds as number[]).includes(r.experimentId) && stages.includes(r.stage) && comparisons.every((c) => matches(r, c, idPool));

            const all = [...initial];
            const pending = laterSpecs.map(toRun);
            const returned: string[] = [];
            let token: string | undefined;
            let pages = 0;
            let inserted = 0;
            do {
              const page = await service.searchRuns(
                { tenantId, actor: 'test', requestId: 'r' },
                { filter, orderBy, maxResults, pageToken: token, viewType, experimentIds: experimentIds.map(String) },
              );
              assert.ok(page.items.length <= maxResults);
              assert.ok(page.nextPageToken === undefined || page.items.length === maxResults, 'a page before the last is full');
              returned.push(...page.items.map((item) => item.info.run_id));
              token = page.nextPageToken;
              // Other writers between two pages.
              const batch = pending.splice(0, insertsPerPage[pages] ?? 0);
              await insertRuns(database, tenantId, batch);
              all.push(...batch);
              inserted += batch.length;
              pages += 1;
              assert.ok(pages <= all.length + 2, 'paging ends');
            } while (token !== undefined);

            const byId = new Map(all.map((r) => [r.id, r]));
            assert.equal(new Set(returned).size, returned.length, 'no run twice');
            const got = returned.map((id) => {
              const run = byId.get(id);
              assert.ok(run !== undefined, `run ${id} is not one of this tenant's`);
              assert.ok(inScope(run), `run ${id} does not match ${JSON.stringify(filter)}`);
              return run;
            });
            const compare = compareRuns(orderBy);
            for (let i = 1; i < got.length; i += 1) {
              assert.ok(compare(got[i - 1] as RefRun, got[i] as RefRun) < 0, `out of order at ${i} for ${JSON.stringify(orderBy)}`);
            }
            const expected = initial.filter(inScope).sort(compare).map((r) => r.id);

            // The same search by another tenant through shares of these experiments (issue 15: the owner's
            // id qualifies each experiment id), paged to the end on the final data: exactly the reference's
            // list, none of the grantee's own look-alike runs in the same experiment ids.
            for (const e of experimentIds) {
              await database.owner.queryAsOwner(
                `INSERT INTO tenant_shares (id, tenant_id, grantee_id, resource_kind, resource_name, created_by) VALUES ($1, $2, $3, 'experiment', $4, 'test')`,
                [randomUUID(), tenantId, grantee, String(e)],
              );
            }
            const sharedReturned: string[] = [];
            let sharedToken: string | undefined;
            do {
              const page = await service.searchRuns(
                { tenantId: grantee, actor: 'test', requestId: 'r' },
                { filter, orderBy, maxResults, pageToken: sharedToken, viewType, experimentIds: experimentIds.map((e) => `s-${tenantId.slice(0, 8)}/${e}`) },
              );
              sharedReturned.push(...page.items.map((item) => item.info.run_id));
              sharedToken = page.nextPageToken;
              assert.ok(sharedReturned.length <= all.length + maxResults, 'shared paging ends');
            } while (sharedToken !== undefined);
            assert.deepEqual(sharedReturned, all.filter(inScope).sort(compare).map((r) => r.id), 'the shared search pages exactly as the reference');

            const returnedSet = new Set(returned);
            assert.deepEqual(expected.filter((id) => !returnedSet.has(id)), [], 'every run that existed and matches is returned');
            if (inserted === 0) assert.deepEqual(returned, expected);
            else withInserts += 1;
            if (expected.length > 0) nonEmpty += 1;
            if (pages > 2) multiPage += 1;
            if (process.env['DEBUG_SEARCH']) console.log(JSON.stringify({ orderBy, maxResults, n: expected.length, r: returned.length, pages, inserted }));
          },
        ),
        { numRuns: 100 },
      );
      // The generators must produce searches that find something, and pages with inserts between them.
      assert.ok(nonEmpty > 30, `only ${nonEmpty} searches found runs`);
      assert.ok(multiPage > 15, `only ${multiPage} searches took more than two pages`);
      assert.ok(withInserts > 5, `only ${withInserts} searches had concurrent inserts`);
    });

    it("never returns another tenant's runs, whatever the filter", async () => {
      const a = await createTenant(database);
      const b = await createTenant(database);
      const runsA = Array.from({ length: 5 }, (_, i) => toRun({ experimentId: 1, name: 'r1', user: 'u1', status: 'FINISHED', start: i + 1, end: null, stage: 'active', m0: 0.5, m1: undefined, p0: 'a', p1: undefined, t0: 'a' }));
      const runsB = Array.from({ length: 5 }, (_, i) => toRun({ experimentId: 1, name: 'r1', user: 'u1', status: 'FINISHED', start: i + 1, end: null, stage: 'active', m0: 0.5, m1: undefined, p0: 'a', p1: undefined, t0: 'a' }));
      await insertRuns(database, a, runsA);
      await insertRuns(database, b, runsB);
      const search = async (tenantId: string, filter: string, orderBy: string[] = []) =>
        (await tracking.searchRuns({ tenantId, actor: 't', requestId: 'r' }, { filter, orderBy, experimentIds: ['1', '2', '3'], viewType: 'ALL' })).items.map((i) => i.info.run_id).sort();
      const idsA = runsA.map((r) => r.id).sort();
      const idsB = runsB.map((r) => r.id).sort();
      for (const [filter, orderBy] of [['', []], ['metrics.m0 = 0.5', ['metrics.m0 DESC']], ["params.p0 = 'a'", ['params.p0']], ["tags.t0 LIKE 'a%'", ['tags.t0 DESC']]] as const) {
        assert.deepEqual(await search(a, filter, [...orderBy]), idsA);
        assert.deepEqual(await search(b, filter, [...orderBy]), idsB);
      }
      // B names A's runs explicitly: nothing.
      assert.deepEqual(await search(b, `run_id IN (${idsA.map((id) => `'${id}'`).join(', ')})`), []);
      // A page token made for tenant A's search, replayed by B, is refused: the search's tenant is part of
      // what the token is made for (it holds sort keys, not rows, so it could not show A's runs anyway).
      const first = await tracking.searchRuns({ tenantId: a, actor: 't', requestId: 'r' }, { maxResults: 2, experimentIds: ['1'] });
      assert.ok(first.nextPageToken !== undefined);
      await assert.rejects(
        tracking.searchRuns({ tenantId: b, actor: 't', requestId: 'r' }, { maxResults: 50, experimentIds: ['1'], pageToken: first.nextPageToken }),
        (e: unknown) => e instanceof MlflowError && e.errorCode === 'INVALID_PARAMETER_VALUE',
      );
    });

    it("orders by one tag or param the runs written through the service (runs/create's one statement, log-batch, set-tag)", async () => {
      // Migration 0040's order indexes read each param and tag row's copy of its run's experiment and start
      // time, which the service's statements write as they insert; rows without them would be missed.
      const tenantId = await createTenant(database);
      const scope = { tenantId, actor: 't', requestId: 'r' };
      const created: { id: string; start: number; t: string; p: string }[] = [];
      for (let i = 0; i < 12; i += 1) {
        const t = ['b', 'a', LONG, `${LONG}b`][i % 4] as string;
        const p = String(i % 3);
        const run = await tracking.createRun(scope, { experiment_id: String(1 + (i % 2)), start_time: 1_000 + (i % 5), tags: i % 2 === 0 ? [{ key: 'k', value: t }] : [] });
        if (i % 2 === 1) await tracking.setTag(scope, run.info.run_id, { key: 'k', value: t });
        await tracking.logBatch(scope, run.info.run_id, { params: [{ key: 'p', value: p }], tags: [{ key: 'other', value: 'x' }] });
        created.push({ id: run.info.run_id, start: 1_000 + (i % 5), t, p });
      }
      const { rows: missing } = await database.owner.queryAsOwner<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT tenant_id, run_id, run_experiment_id, run_start_time FROM run_tags UNION ALL SELECT tenant_id, run_id, run_experiment_id, run_start_time FROM run_params) k
           JOIN runs r ON r.tenant_id = k.tenant_id AND r.id = k.run_id
          WHERE k.tenant_id = $1 AND (k.run_experiment_id IS DISTINCT FROM r.experiment_id OR k.run_start_time IS DISTINCT FROM r.start_time)`,
        [tenantId],
      );
      assert.deepEqual(missing, [{ n: 0 }], "every row carries its run's experiment and start time");
      const byOrder = (key: 't' | 'p', ascending: boolean) => [...created].sort((x, y) =>
        (x[key] < y[key] ? -1 : x[key] > y[key] ? 1 : 0) * (ascending ? 1 : -1) || y.start - x.start || (x.id < y.id ? -1 : 1)).map((r) => r.id);
      // Every page size from 1: each run is some page's last row, so every way of resuming is taken — inside a
      // tie group, after a short value, after a long value with a short value equal to its prefix (LONG).
      for (const [orderBy, expected] of [['tags.k', byOrder('t', true)], ['tags.k DESC', byOrder('t', false)], ['params.p', byOrder('p', true)], ['params.p DESC', byOrder('p', false)]] as const) {
        for (const maxResults of [1, 2, 5]) {
          const ids: string[] = [];
          let pageToken: string | undefined;
          do {
            const page = await tracking.searchRuns(scope, { orderBy: [orderBy], experimentIds: ['1', '2'], maxResults, pageToken });
            ids.push(...page.items.map((run) => run.info.run_id));
            pageToken = page.nextPageToken;
          } while (pageToken !== undefined && ids.length <= expected.length);
          assert.deepEqual(ids, expected, `${orderBy}, pages of ${maxResults}`);
        }
      }
    });

    it("takes a run's name and user up to 500 four-byte characters (the name and user indexes' keys) and refuses longer ones with INVALID_PARAMETER_VALUE", async () => {
      // 2,000 bytes of UTF-8 each: an index entry holds at most 2,704 (migrations 0045, 0047). A 3,000-byte
      // name used to fail runs/create with the database's error.
      const tenantId = await createTenant(database);
      const scope = { tenantId, actor: 't', requestId: 'r' };
      const invalid = (error: unknown) => (error as { errorCode?: string }).errorCode === 'INVALID_PARAMETER_VALUE';
      const long = (c: string) => c.repeat(500);
      const a = await tracking.createRun(scope, { experiment_id: '1', run_name: long('😀'), user_id: long('👤'), start_time: 1 });
      const b = await tracking.createRun(scope, { experiment_id: '1', run_name: 'b', user_id: long('🙂'), start_time: 2 });
      await tracking.updateRun(scope, b.info.run_id, { run_name: long('😃') });
      const c = await tracking.createRun(scope, { experiment_id: '1', run_name: 'c', start_time: 3 });
      // A longer name tag in a log-batch is cut to 500, as long tag values are; runs/update refuses it.
      await tracking.logBatch(scope, c.info.run_id, { tags: [{ key: 'mlflow.runName', value: 'z'.repeat(600) }] });
      await assert.rejects(tracking.createRun(scope, { experiment_id: '1', run_name: 'x'.repeat(501) }), invalid);
      await assert.rejects(tracking.createRun(scope, { experiment_id: '1', run_name: 'x', user_id: 'u'.repeat(501) }), invalid);
      await assert.rejects(tracking.updateRun(scope, a.info.run_id, { run_name: 'x'.repeat(501) }), invalid);
      const names = async (orderBy: string) => (await tracking.searchRuns(scope, { experimentIds: ['1'], orderBy: [orderBy] })).items.map((r) => r.info.run_name);
      // Where emoji sort against letters is the database collation's business: the set of names is checked.
      for (const orderBy of ['attributes.run_name DESC', 'attributes.run_name', 'attributes.user_id DESC', 'attributes.user_id']) {
        assert.deepEqual((await names(orderBy)).sort(), [long('😀'), long('😃'), 'z'.repeat(500)].sort(), orderBy);
      }
    });

    it('orders by artifact URI with the longest artifact location (500 four-byte characters) and refuses a longer one', async () => {
      // The URI is runs_artifact_uri_idx's key (migration 0048): the location's 2,000 bytes, the run id and
      // `/artifacts` fit an index entry (2,704 bytes at most).
      const tenantId = await createTenant(database);
      const scope = { tenantId, actor: 't', requestId: 'r' };
      const prefix = 'mlflow-artifacts:/';
      // Experiment 4, as createExperiment stores it (this file's tenants get experiments 1–3 by SQL, past the
      // service's id counter).
      const location = `${prefix}${'📦'.repeat(500 - prefix.length)}`;
      assert.equal(validateArtifactLocation(location), location);
      await withTenant(database.db, tenantId, (tx) => tx.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
        VALUES ($1::uuid, 4, 'long-location', $2, 'active', 0, 0)`, [tenantId, location]));
      const id = '4';
      const runs = [];
      for (let i = 0; i < 3; i += 1) runs.push((await tracking.createRun(scope, { experiment_id: id, start_time: i })).info);
      const byUri = runs.map((r) => r.artifact_uri).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.ok(runs.every((r) => r.artifact_uri.startsWith(`${prefix}${'📦'.repeat(482)}/`)));
      for (const [orderBy, expected] of [['attributes.artifact_uri', byUri], ['attributes.artifact_uri DESC', [...byUri].reverse()]] as const) {
        const page = await tracking.searchRuns(scope, { experimentIds: [id], orderBy: [orderBy] });
        assert.deepEqual(page.items.map((r) => r.info.artifact_uri), expected, orderBy);
      }
      await assert.rejects(
        tracking.createExperiment(scope, { name: 'longer', artifact_location: `${prefix}${'x'.repeat(501 - prefix.length)}` }),
        (error: unknown) => (error as { errorCode?: string }).errorCode === 'INVALID_PARAMETER_VALUE',
      );
    });

    it('refuses a page token of another search or a forged one, with INVALID_PARAMETER_VALUE', async () => {
      const tenantId = await createTenant(database);
      await insertRuns(database, tenantId, Array.from({ length: 3 }, () => toRun({ experimentId: 1, name: 'r1', user: 'u1', status: 'FINISHED', start: 1, end: null, stage: 'active', m0: 1, m1: undefined, p0: undefined, p1: undefined, t0: undefined })));
      const scope = { tenantId, actor: 't', requestId: 'r' };
      const first = await tracking.searchRuns(scope, { maxResults: 1, experimentIds: ['1'], orderBy: ['metrics.m0'] });
      assert.ok(first.nextPageToken !== undefined);
      const refused = async (input: Parameters<typeof tracking.searchRuns>[1]) =>
        assert.rejects(tracking.searchRuns(scope, input), (error: unknown) => (error as { errorCode?: string }).errorCode === 'INVALID_PARAMETER_VALUE');
      await refused({ maxResults: 1, experimentIds: ['1'], orderBy: ['metrics.m0 DESC'], pageToken: first.nextPageToken });
      const forged = JSON.parse(Buffer.from(first.nextPageToken, 'base64').toString('utf8')) as { k: unknown[] };
      forged.k[0] = "1; DROP TABLE runs";
      await refused({ maxResults: 1, experimentIds: ['1'], orderBy: ['metrics.m0'], pageToken: Buffer.from(JSON.stringify(forged)).toString('base64') });
      await refused({ maxResults: 1, experimentIds: ['1'], orderBy: ['metrics.m0'], pageToken: 'not a token' });
      await refused({ maxResults: 1, experimentIds: ['1'], orderBy: ['metrics.m0'], pageToken: Buffer.from('{"offset": 1}').toString('base64') });
    });

    it("lets another tenant's transaction in between a search's statements (one transaction per statement)", async () => {
      // N's runs: half without metric m0, so a search ordered by it reads every segment, then the page's runs.
      const noisy = await createTenant(database);
      const other = await createTenant(database);
      await insertRuns(database, noisy, Array.from({ length: 6 }, (_, i) => toRun({
        experimentId: 1, name: 'r1', user: 'u1', status: 'FINISHED', start: 1 + i, end: null, stage: 'active', m0: i % 2 === 0 ? 0.5 : undefined, m1: undefined, p0: undefined, p1: undefined, t0: undefined,
      })));
      // A Db whose transactions for N are watched: on N's first search statement, the other tenant starts a
      // transaction of its own (on the embedded database it then waits for the single connection).
      const log: string[] = [];
      let otherDone: Promise<unknown> | undefined;
      const watched = {
        ...database.db,
        transaction: <T>(prelude: string, fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> => {
          if (!prelude.includes(noisy)) return database.db.transaction(prelude, fn, options);
          return database.db.transaction(prelude, (tx) => {
            log.push('N begin');
            return fn({
              query: (sql: string, params?: readonly unknown[], queryOptions?: QueryOptions) => {
                if (otherDone === undefined && sql.includes('LATERAL')) {
                  otherDone = withTenant(database.db, other, (otx) => otx.query('SELECT 1')).then(() => log.push('other done'));
                }
                return tx.query(sql, params, queryOptions);
              },
            } as Queryable);
          }, options).finally(() => log.push('N end'));
        },
      } as Db;
      const service = createTrackingService({ db: watched });
      const page = await service.searchRuns({ tenantId: noisy, actor: 't', requestId: 'r' }, { experimentIds: ['1'], orderBy: ['metrics.m0 DESC'], maxResults: 10 });
      await otherDone;
      assert.equal(page.items.length, 6);
      // Three segments (values, NaN, no value) and the page read: four transactions of N. On the embedded
      // database the other tenant's waited for the first only (with one transaction around the search, for all);
      // on PostgreSQL it has a connection of its own and waits for none.
      assert.deepEqual(log.filter((entry) => entry !== 'other done'), ['N begin', 'N end', 'N begin', 'N end', 'N begin', 'N end', 'N begin', 'N end']);
      if (kind === 'pglite') assert.deepEqual(log, ['N begin', 'N end', 'other done', 'N begin', 'N end', 'N begin', 'N end', 'N begin', 'N end']);
      else assert.ok(log.includes('other done'));
    });

    it('reads a page of runs in chunks on the embedded database and whole on PostgreSQL, every run once, in order', async () => {
      const tenantId = await createTenant(database);
      const count = PGLITE_PAGE_READ_CHUNK * 2 + 10;
      await insertRuns(database, tenantId, Array.from({ length: count }, (_, i) => toRun({
        experimentId: 1, name: 'r1', user: 'u1', status: 'FINISHED', start: 1 + (i % 6), end: null, stage: 'active', m0: undefined, m1: undefined, p0: undefined, p1: undefined, t0: undefined,
      })));
      let transactions = 0;
      const counted = {
        ...database.db,
        transaction: <T>(prelude: string, fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> => {
          if (prelude.includes(tenantId)) transactions += 1;
          return database.db.transaction(prelude, fn, options);
        },
      } as Db;
      const scope = { tenantId, actor: 't', requestId: 'r' };
      const chunked = await createTrackingService({ db: counted }).searchRuns(scope, { experimentIds: ['1'], maxResults: 1000 });
      // The default order is one segment (start_time): one statement, then the page read.
      assert.equal(transactions, 1 + (kind === 'pglite' ? Math.ceil(count / PGLITE_PAGE_READ_CHUNK) : 1));
      // Every run once, in MLflow's default order (start_time DESC, then run id), each with its data.
      const expected = (await database.owner.queryAsOwner<{ id: string }>('SELECT id FROM runs WHERE tenant_id = $1 ORDER BY start_time DESC, id', [tenantId])).rows.map((row) => row.id);
      assert.deepEqual(chunked.items.map((run) => run.info.run_id), expected);
      assert.ok(chunked.items.every((run) => run.info.run_name === 'r1' && run.info.status === 'FINISHED'));
    });
  });
}
