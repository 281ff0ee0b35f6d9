/**
 * experiments/search, registered-models/search and model-versions/search as keyset pages, and
 * metrics/get-history pages and get-history-bulk-interval sampling (issue 20 item 2), against a
 * straightforward reference in TypeScript (property tests), on PGlite and on PostgreSQL, through the
 * services as the application role (row-level security applies).
 *
 * Random objects (ties in every time column, deleted experiments, tags present or not), random filters of
 * the forms each search takes, random `order_by` lists and page sizes; between pages other objects are
 * inserted in their own transactions. The pages together must hold every object that existed before the
 * search and matches, exactly once, each one matching, in the reference's order; without concurrent
 * inserts exactly the reference's list. A second tenant with look-alike objects never sees the first's.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { withTenant } from '../db/index.ts';
import { createTestDatabase, databaseKinds } from '../../test/support/databases.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { createRegistryService } from './registry-service.ts';
import { createTrackingService } from './tracking-service.ts';

// A fixed seed (BULKHEAD_PROPERTY_SEED to explore others): the coverage floors asserted after each property
// (searches that found something, took several pages, saw inserts) then cannot fail by the draw alone.
const propertySeed = Number(process.env.BULKHEAD_PROPERTY_SEED ?? 20261206);

type Entity = 'experiment' | 'model' | 'version';

interface Obj {
  /** What the search returns to identify it: experiment id, model name, `name/version`. */
  id: string;
  name: string;
  num: number;
  creation: number;
  updated: number;
  deleted: boolean;
  runId: string;
  tags: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Reference

const likeRegex = (pattern: string, flags: string): RegExp => {
  let out = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      i += 1;
      out += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (ch === '%') out += '[\\s\\S]*';
    else if (ch === '_') out += '[\\s\\S]';
    else out += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, flags);
};

interface Comparison { text: string; test: (o: Obj) => boolean }

const stringTest = (value: string | undefined, op: string, operand: string): boolean => {
  if (value === undefined) return false;
  switch (op) {
    case '=': return value === operand;
    case '!=': return value !== operand;
    case 'LIKE': return likeRegex(operand, '').test(value);
    case 'ILIKE': return likeRegex(operand, 'i').test(value);
    default: throw new Error(op);
  }
};

const numberTest = (value: number, op: string, operand: number): boolean =>
  op === '=' ? value === operand : op === '!=' ? value !== operand : op === '<' ? value < operand : op === '<=' ? value <= operand : op === '>' ? value > operand : value >= operand;

const NAME_PATTERNS = ['a%', 'ab%', 'A%', '%1', 'b_%', '%'];
// Two values longer than the 200 characters the tag index holds (migration 0036), equal in those 200.
const LONG_A = `${'x'.repeat(210)}a`;
const LONG_B = `${'x'.repeat(210)}b`;
const TAG_VALUES = ['x', 'y', 'xy', 'X', LONG_A, LONG_B];

const comparisons = (entity: Entity): Comparison[] => {
  const out: Comparison[] = [];
  for (const op of ['LIKE', 'ILIKE']) for (const p of NAME_PATTERNS) out.push({ text: `name ${op} '${p}'`, test: (o) => stringTest(o.name, op, p) });
  for (const op of ['=', '!=', 'LIKE', 'ILIKE']) {
    for (const v of ['x', 'x%', 'X%', LONG_A, `${'x'.repeat(205)}%`, `${'x'.repeat(210)}b%`]) {
      if ((op === '=' || op === '!=') && v.includes('%')) continue;
      const key = entity === 'version' ? 'ok' : 'team';
      out.push({ text: `tags.${key} ${op} '${v}'`, test: (o) => stringTest(o.tags[key], op, v) });
    }
  }
  if (entity === 'experiment') {
    for (const op of ['=', '<', '>=', '!=']) {
      for (const v of [2, 4]) {
        out.push({ text: `creation_time ${op} ${v}`, test: (o) => numberTest(o.creation, op, v) });
        out.push({ text: `last_update_time ${op} ${v}`, test: (o) => numberTest(o.updated, op, v) });
      }
    }
  }
  if (entity === 'version') {
    for (const m of ['a1', 'b2']) out.push({ text: `name = '${m}'`, test: (o) => o.name === m });
    for (const op of ['>', '<=', '=']) out.push({ text: `version_number ${op} 3`, test: (o) => numberTest(o.num, op, 3) });
    out.push({ text: "run_id = 'r1'", test: (o) => o.runId === 'r1' });
    out.push({ text: "run_id IN ('r1', 'r3')", test: (o) => o.runId === 'r1' || o.runId === 'r3' });
  }
  return out;
};

const ORDER_KEYS: Record<Entity, readonly string[]> = {
  experiment: ['name', 'experiment_id', 'creation_time', 'last_update_time'],
  model: ['name', 'last_updated_timestamp', 'creation_timestamp'],
  version: ['name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'],
};

const field = (o: Obj, key: string): string | number => {
  switch (key) {
    case 'name': return o.name;
    case 'experiment_id': case 'version_number': return o.num;
    case 'creation_time': case 'creation_timestamp': return o.creation;
    default: return o.updated;
  }
};

/** MLflow's order for the entity, with the tie-breakers the search compiler appends. */
const referenceOrder = (entity: Entity, orderBy: readonly string[]): [string, boolean][] => {
  const terms: [string, boolean][] = orderBy.map((c) => [c.split(' ')[0] as string, !c.endsWith(' DESC')]);
  const has = (k: string) => terms.some(([t]) => t === k);
  if (entity === 'experiment') {
    if (terms.length === 0) return [['creation_time', false], ['experiment_id', true]];
    if (!has('experiment_id')) terms.push(['experiment_id', false]);
  } else if (entity === 'model') {
    if (!has('name')) terms.push(['name', true]);
  } else {
    if (terms.length === 0) terms.push(['last_updated_timestamp', false]);
    if (!has('name')) terms.push(['name', true]);
    if (!has('version_number')) terms.push(['version_number', false]);
  }
  return terms;
};

const comparator = (terms: readonly [string, boolean][]) => (a: Obj, b: Obj): number => {
  for (const [key, ascending] of terms) {
    const x = field(a, key);
    const y = field(b, key);
    if (x !== y) return (x < y ? -1 : 1) * (ascending ? 1 : -1);
  }
  return 0;
};

// ---------------------------------------------------------------------------------------------
// Data

const specArb = fc.record({
  prefix: fc.constantFrom('a', 'ab', 'b', 'ba', 'c'),
  model: fc.constantFrom('a1', 'b2', 'c3'),
  creation: fc.integer({ min: 1, max: 5 }),
  updated: fc.integer({ min: 1, max: 5 }),
  deleted: fc.boolean(),
  runId: fc.constantFrom('r1', 'r2', 'r3'),
  tag: fc.option(fc.constantFrom(...TAG_VALUES), { nil: undefined }),
});
type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

interface TenantState { id: string; counter: number; versions: Map<string, number> }

/** A tenant; with `parents`, the registered models a1, b2 and c3 that random versions belong to. */
const createTenant = async (database: TestDatabase, parents: boolean): Promise<TenantState> => {
  const id = randomUUID();
  await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'search', 'sandbox', 'active')`, [id, `r-${id.slice(0, 8)}`]);
  await withTenant(database.db, id, async (tx) => {
    // The counter exists, so experiments/search creates no "Default" experiment beside the test's own.
    await tx.query('INSERT INTO tracking_counters (tenant_id, next_experiment_id) VALUES ($1::uuid, 1000000)', [id]);
    if (parents) {
      await tx.query(`INSERT INTO registered_models (tenant_id, name, creation_time, last_updated_time, next_version)
                      SELECT $1::uuid, n, 0, 0, 1 FROM unnest(ARRAY['a1', 'b2', 'c3']) AS n`, [id]);
    }
  });
  return { id, counter: 0, versions: new Map() };
};

const toObj = (entity: Entity, tenant: TenantState, spec: Spec): Obj => {
  tenant.counter += 1;
  const n = tenant.counter;
  const tags: Record<string, string> = spec.tag === undefined ? {} : { [entity === 'version' ? 'ok' : 'team']: spec.tag };
  if (entity === 'version') {
    const version = (tenant.versions.get(spec.model) ?? 0) + 1;
    tenant.versions.set(spec.model, version);
    return { id: `${spec.model}/${version}`, name: spec.model, num: version, creation: spec.creation, updated: spec.updated, deleted: false, runId: spec.runId, tags };
  }
  const name = `${spec.prefix}${n}`;
  return { id: entity === 'experiment' ? String(n) : name, name, num: n, creation: spec.creation, updated: spec.updated, deleted: entity === 'experiment' && spec.deleted, runId: '', tags };
};

const insertObjects = async (database: TestDatabase, entity: Entity, tenantId: string, objects: readonly Obj[]): Promise<void> => {
  if (objects.length === 0) return;
  const json = JSON.stringify(objects);
  await withTenant(database.db, tenantId, async (tx) => {
    const rows = `json_to_recordset($2::json) AS x(id text, name text, num bigint, creation bigint, updated bigint, deleted boolean, "runId" text, tags json)`;
    const tagRows = `${rows}, json_each_text(x.tags) AS t(key, value)`;
    if (entity === 'experiment') {
      await tx.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
                      SELECT $1::uuid, x.num, x.name, 'mlflow-artifacts:/' || x.num, CASE WHEN x.deleted THEN 'deleted' ELSE 'active' END, x.creation, x.updated FROM ${rows}`, [tenantId, json]);
      await tx.query(`INSERT INTO experiment_tags (tenant_id, experiment_id, key, value) SELECT $1::uuid, x.num, t.key, t.value FROM ${tagRows}`, [tenantId, json]);
    } else if (entity === 'model') {
      await tx.query(`INSERT INTO registered_models (tenant_id, name, creation_time, last_updated_time) SELECT $1::uuid, x.name, x.creation, x.updated FROM ${rows}`, [tenantId, json]);
      await tx.query(`INSERT INTO registered_model_tags (tenant_id, name, key, value) SELECT $1::uuid, x.name, t.key, t.value FROM ${tagRows}`, [tenantId, json]);
    } else {
      await tx.query(`INSERT INTO model_versions (tenant_id, name, version, creation_time, last_updated_time, source, run_id)
                      SELECT $1::uuid, x.name, x.num, x.creation, x.updated, 'runs:/' || x."runId" || '/m', x."runId" FROM ${rows}`, [tenantId, json]);
      await tx.query(`INSERT INTO model_version_tags (tenant_id, name, version, key, value) SELECT $1::uuid, x.name, x.num, t.key, t.value FROM ${tagRows}`, [tenantId, json]);
    }
  });
};

// ---------------------------------------------------------------------------------------------

for (const kind of databaseKinds) {
  describe(`experiment, registered model and model version search on ${kind}`, () => {
    let database: TestDatabase;
    let tracking: ReturnType<typeof createTrackingService>;
    let registry: ReturnType<typeof createRegistryService>;

    before(async () => {
      database = await createTestDatabase(kind);
      tracking = createTrackingService({ db: database.db });
      registry = createRegistryService({ db: database.db });
    });
    after(async () => {
      await database?.drop();
    });

    const search = async (entity: Entity, tenantId: string, input: { filter: string; orderBy: string[]; maxResults: number; pageToken: string | undefined; viewType?: string }) => {
      const scope = { tenantId, actor: 'test', requestId: 'r' };
      if (entity === 'experiment') {
        const page = await tracking.searchExperiments(scope, input);
        return { ids: page.items.map((e) => e.experiment_id), token: page.nextPageToken };
      }
      if (entity === 'model') {
        const page = await registry.searchRegisteredModels(scope, input);
        return { ids: page.items.map((m) => m.name), token: page.nextPageToken };
      }
      const page = await registry.searchModelVersions(scope, input);
      return { ids: page.items.map((v) => `${v.name}/${v.version}`), token: page.nextPageToken };
    };

    for (const entity of ['experiment', 'model', 'version'] as const) {
      it(`${entity}s: pages through random searches exactly as the reference orders them, with concurrent inserts (property)`, async () => {
        let nonEmpty = 0;
        let multiPage = 0;
        let withInserts = 0;
        const orderArb = fc.shuffledSubarray([...ORDER_KEYS[entity]], { maxLength: 3 })
          .chain((keys) => fc.tuple(...keys.map((k) => fc.constantFrom(`${k} ASC`, `${k} DESC`, k))).map((list) => list as string[]));
        await fc.assert(
          fc.asyncProperty(
            fc.array(specArb, { minLength: 3, maxLength: 30 }),
            fc.array(specArb, { maxLength: 10 }),
            fc.array(fc.constantFrom(...comparisons(entity)), { maxLength: 2 }),
            orderArb,
            fc.integer({ min: 1, max: 7 }),
            fc.constantFrom('ACTIVE_ONLY', 'ALL', 'DELETED_ONLY'),
            fc.array(fc.nat(3), { maxLength: 10 }),
            async (specs, laterSpecs, filters, orderBy, maxResults, viewType, insertsPerPage) => {
              const tenant = await createTenant(database, entity === 'version');
              const initial = specs.map((s) => toObj(entity, tenant, s));
              await insertObjects(database, entity, tenant.id, initial);
              const filter = filters.map((c) => c.text).join(' AND ');
              const stageOk = (o: Obj) => entity !== 'experiment' || (viewType === 'ALL' ? true : viewType === 'ACTIVE_ONLY' ? !o.deleted : o.deleted);
              const inScope = (o: Obj) => stageOk(o) && filters.every((c) => c.test(o));
              const all = [...initial];
              const pending = laterSpecs.map((s) => toObj(entity, tenant, s));
              const returned: string[] = [];
              let token: string | undefined;
              let pages = 0;
              let inserted = 0;
              do {
                const page = await search(entity, tenant.id, { filter, orderBy, maxResults, pageToken: token, viewType });
                assert.ok(page.ids.length <= maxResults);
                assert.ok(page.token === undefined || page.ids.length === maxResults, 'a page before the last is full');
                returned.push(...page.ids);
                token = page.token;
                const batch = pending.splice(0, insertsPerPage[pages] ?? 0);
                await insertObjects(database, entity, tenant.id, batch);
                all.push(...batch);
                inserted += batch.length;
                pages += 1;
                assert.ok(pages <= all.length + 2, 'paging ends');
              } while (token !== undefined);

              const byId = new Map(all.map((o) => [o.id, o]));
              assert.equal(new Set(returned).size, returned.length, 'nothing twice');
              const got = returned.map((id) => {
                const o = byId.get(id);
                assert.ok(o !== undefined, `${id} is not one of this tenant's`);
                assert.ok(inScope(o), `${id} does not match ${JSON.stringify(filter)}`);
                return o;
              });
              const compare = comparator(referenceOrder(entity, orderBy));
              for (let i = 1; i < got.length; i += 1) {
                assert.ok(compare(got[i - 1] as Obj, got[i] as Obj) < 0, `out of order at ${i} for ${JSON.stringify(orderBy)}`);
              }
              const expected = initial.filter(inScope).sort(compare).map((o) => o.id);
              const seen = new Set(returned);
              assert.deepEqual(expected.filter((id) => !seen.has(id)), [], 'everything that existed and matches is returned');
              if (inserted === 0) assert.deepEqual(returned, expected);
              else withInserts += 1;
              if (expected.length > 0) nonEmpty += 1;
              if (pages > 2) multiPage += 1;
            },
          ),
          { numRuns: 60, seed: propertySeed },
        );
        assert.ok(nonEmpty > 15, `only ${nonEmpty} searches found something`);
        assert.ok(multiPage > 8, `only ${multiPage} searches took more than two pages`);
        assert.ok(withInserts > 5, `only ${withInserts} searches had concurrent inserts`);
      });
    }

    it("never returns another tenant's objects, and refuses another tenant's or another search's page token", async () => {
      for (const entity of ['experiment', 'model', 'version'] as const) {
        const a = await createTenant(database, entity === 'version');
        const b = await createTenant(database, entity === 'version');
        const spec: Spec = { prefix: 'a', model: 'a1', creation: 1, updated: 1, deleted: false, runId: 'r1', tag: 'x' };
        const objectsA = Array.from({ length: 4 }, () => toObj(entity, a, spec));
        const objectsB = Array.from({ length: 4 }, () => toObj(entity, b, spec));
        await insertObjects(database, entity, a.id, objectsA);
        await insertObjects(database, entity, b.id, objectsB);
        const ids = async (tenantId: string, filter: string) => {
          const out: string[] = [];
          let token: string | undefined;
          do {
            const page = await search(entity, tenantId, { filter, orderBy: [], maxResults: 3, pageToken: token });
            out.push(...page.ids);
            token = page.token;
            assert.ok(out.length <= 12, 'paging ends');
          } while (token !== undefined);
          return out.sort();
        };
        const tagKey = entity === 'version' ? 'ok' : 'team';
        for (const filter of ['', `tags.${tagKey} = 'x'`, "name LIKE 'a%'"]) {
          assert.deepEqual(await ids(a.id, filter), objectsA.map((o) => o.id).sort());
          assert.deepEqual(await ids(b.id, filter), objectsB.map((o) => o.id).sort());
        }
        // B names A's objects explicitly: only its own look-alikes (names differ for experiments and models).
        const onlyA = objectsA.find((o) => !objectsB.some((x) => x.name === o.name));
        if (onlyA !== undefined) assert.deepEqual(await ids(b.id, `name = '${onlyA.name}'`), []);
        const first = await search(entity, a.id, { filter: '', orderBy: [], maxResults: 1, pageToken: undefined });
        assert.ok(first.token !== undefined);
        const refused = (tenantId: string, input: { filter: string; orderBy: string[]; pageToken: string }) =>
          assert.rejects(search(entity, tenantId, { ...input, maxResults: 1 }), (error: unknown) => (error as { errorCode?: string }).errorCode === 'INVALID_PARAMETER_VALUE');
        await refused(b.id, { filter: '', orderBy: [], pageToken: first.token });
        await refused(a.id, { filter: `tags.${tagKey} = 'x'`, orderBy: [], pageToken: first.token });
        await refused(a.id, { filter: '', orderBy: ['name DESC'], pageToken: first.token });
        const forged = JSON.parse(Buffer.from(first.token, 'base64').toString('utf8')) as { k: unknown[] };
        forged.k[0] = forged.k.length > 1 ? '1; DROP TABLE experiments' : 12;
        await refused(a.id, { filter: '', orderBy: [], pageToken: Buffer.from(JSON.stringify(forged)).toString('base64') });
        await refused(a.id, { filter: '', orderBy: [], pageToken: Buffer.from('{"offset": 1}').toString('base64') });
      }
    });
  });
}
