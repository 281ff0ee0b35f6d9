/**
 * Property-based fuzzing of every route the running app has (its route catalog, filled by an onRoute
 * hook: a route added tomorrow is fuzzed tomorrow), on PGlite and PostgreSQL, with a tenant owner's token
 * and a platform admin's. Requests are generated from the routes' own schemas (the OpenAPI document that
 * @fastify/swagger builds from the zod schemas; MLflow routes, which parse their input by hand, from the
 * proto field names they read) and from hostile classes: malformed JSON, wrong types, 100,000-character
 * strings, NUL, lone surrogates, 1e309, negative and huge numbers, injection-shaped filters and ids.
 *
 * Asserted for every request: no 5xx; an error body has the route's documented shape; a refused write
 * leaves no row (counted in every tenant table) and no file (under the platform's home).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { errorCodes } from '../src/core/errors.ts';
import { tenantDataTables } from '../src/db/index.ts';
import { mlflowErrorCodes } from '../src/tracking/mlflow-errors.ts';
import { mlflowCodes } from '../src/http/error-handler.ts';
import type { RouteEntry } from '../src/http/app.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

/** Runs per route and database; 190 routes × this ≈ the requests sent per database. */
const runsPerRoute = Number(process.env['BULKHEAD_FUZZ_RUNS_PER_ROUTE'] ?? 12);
const seed = Number(process.env['BULKHEAD_FUZZ_SEED'] ?? 21);

// JSON.stringify cannot write 1e309; these strings are replaced in the request text by the raw numbers.
const POS_OVERFLOW = '\u0001overflow+';
const NEG_OVERFLOW = '\u0001overflow-';
const toJsonText = (value: unknown): string =>
  JSON.stringify(value).replaceAll(JSON.stringify(POS_OVERFLOW), '1e309').replaceAll(JSON.stringify(NEG_OVERFLOW), '-1e309');

const hostileStrings = [
  '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', 'x'.repeat(100_000), 'é'.repeat(300), 'x'.repeat(257), 'x'.repeat(5_001), 'x'.repeat(70_000),
  "' OR '1'='1", '1; DROP TABLE runs; --', "name = 'x' OR 1=1", "attributes.status = 'x' OR 1=1 --", "params.`a` = '1' OR tags.`b` LIKE '%'",
  "metrics.m > 1e309", '../../../etc/passwd', '..', '%00', '${jndi:ldap://x}', '<script>alert(1)</script>', '99999999999999999999',
  '-1', '0', '2147483648', '3000000000', '9007199254740993', '0000-01-01T00:00:00Z', 'd:99999999999', '1e309', 'NaN', 'Infinity', '', ' ', '😀', 'latest', 'runs:/../../x', 'file:///etc/passwd', '\\', '\n',
] as const;
const hostileNumbers = [POS_OVERFLOW, NEG_OVERFLOW, -1, 0, 1.5, 2 ** 53 + 2, -(2 ** 63), 2 ** 31, 1e20, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER] as const;
const wrongTypes = [true, false, null, [], {}, [1, 'a'], { $gt: '' }, { key: '\u0000' }, [{ key: '\ud800', value: 'v' }]] as const;

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 2, arbitrary: fc.constantFrom(...hostileNumbers) },
  { weight: 2, arbitrary: fc.constantFrom(...wrongTypes) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

const malformedBodies = [
  '{', '{"name": "a"', 'null', '[]', '"x"', '1e309', '{"name": 1e309}', '{"value": -1e309, "key": "k"}', '\u0000', '{"name":"\\u0000"}',
  '{"name":"\\ud800"}', '{"\\u0000":1}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":'.repeat(2_000),
  `${'['.repeat(50_000)}"\\u0000"${']'.repeat(50_000)}`,
] as const;

/** The fields MLflow's handlers read (mlflow/protos/service.proto, model_registry.proto). */
const mlflowFields = [
  'name', 'new_name', 'experiment_id', 'experiment_ids', 'experiment_name', 'run_id', 'run_uuid', 'run_ids', 'key', 'value', 'timestamp', 'step',
  'metric_key', 'metrics', 'params', 'tags', 'description', 'version', 'stage', 'stages', 'alias', 'source', 'run_link', 'status', 'start_time',
  'end_time', 'user_id', 'run_name', 'artifact_location', 'filter', 'order_by', 'max_results', 'page_token', 'view_type', 'run_view_type',
  'datasets', 'models', 'model_id', 'archive_existing_versions', 'start_step', 'end_step', 'model_type', 'source_run_id', 'path', 'num_parts',
  'upload_id', 'parts',
] as const;

interface Seeded { tenant: TestTenant; other: TestTenant; experimentId: string; runId: string; modelName: string }

type JsonSchema = Record<string, any>;

/** A fast-check arbitrary for (mostly) valid values of a JSON Schema, as @fastify/swagger renders zod. */
const fromSchema = (schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> => {
  if (schema === undefined || depth > 5) return fc.jsonValue({ maxDepth: 1 });
  const alternatives = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((s) => fromSchema(s, depth + 1)));
  if (schema['const'] !== undefined) return fc.constant(schema['const']);
  if (Array.isArray(schema['enum'])) return fc.constantFrom(...(schema['enum'] as unknown[]));
  switch (schema['type']) {
    case 'string': {
      const maxLength = Math.min(Number(schema['maxLength'] ?? 40), 40);
      if (typeof schema['pattern'] === 'string') return fc.stringMatching(new RegExp(schema['pattern'] as string)).filter((s) => s.length <= Number(schema['maxLength'] ?? 1e9));
      if (schema['format'] === 'date-time') return fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString());
      if (schema['format'] === 'uuid') return fc.uuid();
      return fc.string({ minLength: Math.min(Number(schema['minLength'] ?? 0), maxLength), maxLength });
    }
    case 'integer':
      return fc.integer({ min: Math.max(Number(schema['minimum'] ?? -1e6), -(2 ** 31)), max: Math.min(Number(schema['maximum'] ?? 1e6), 2 ** 31) });
    case 'number':
      return fc.double({ min: Number(schema['minimum'] ?? -1e6), max: Number(schema['maximum'] ?? 1e6), noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(fromSchema(schema['items'] as JsonSchema | undefined, depth + 1), {
        minLength: Math.min(Number(schema['minItems'] ?? 0), 3), maxLength: Math.min(Number(schema['maxItems'] ?? 3), 3),
      });
    case 'object': {
      const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
      const extra = schema['additionalProperties'];
      if (Object.keys(properties).length === 0 && typeof extra === 'object') {
        return fc.dictionary(fc.string({ maxLength: 10 }), fromSchema(extra as JsonSchema, depth + 1), { maxKeys: 3 });
      }
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties)) record[key] = fromSchema(value, depth + 1);
      return fc.record(record, { requiredKeys: ((schema['required'] ?? []) as string[]).filter((k) => k in record) });
    }
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
};

/** One schema-shaped value with one field replaced by a hostile value (or an unknown field added). */
const mutated = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.tuple(valid, hostileValue, fc.nat(), fc.boolean()).map(([value, hostile, pick, addField]) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return hostile;
    const copy = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    if (addField || keys.length === 0) copy[hostileStrings[pick % hostileStrings.length]!.slice(0, 300)] = hostile;
    else copy[keys[pick % keys.length]!] = hostile;
    return copy;
  });

/** Percent-encodes text as a client would send it; an unpaired surrogate as its (invalid) 3-byte UTF-8 form. */
const encodePart = (text: string): string => {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
};

const queryString = (query: Record<string, unknown>): string => {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = typeof item === 'string' ? item : toJsonText(item);
      parts.push(`${encodePart(key)}=${encodePart(text.replaceAll(JSON.stringify(POS_OVERFLOW), '1e309'))}`);
    }
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
};

interface FuzzRequest { token: string; path: Record<string, string>; query: Record<string, unknown>; body: { kind: 'none' } | { kind: 'json'; text: string; contentType: string } | { kind: 'raw'; bytes: Uint8Array; contentType: string } }

const requestArbitrary = (route: RouteEntry, doc: JsonSchema, seeded: Seeded, tenantToken: string): fc.Arbitrary<FuzzRequest> => {
  const openapiPath = route.url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{*}');
  const operation = doc['paths']?.[openapiPath]?.[route.method.toLowerCase()] as JsonSchema | undefined;
  const parameters = (operation?.['parameters'] ?? []) as JsonSchema[];
  const bodySchema = operation?.['requestBody']?.['content']?.['application/json']?.['schema'] as JsonSchema | undefined;
  const isMlflow = route.errorFormat === 'mlflow';

  const validish: fc.Arbitrary<unknown> = fc.constantFrom(seeded.experimentId, seeded.runId, seeded.modelName, '1', 'fuzz', seeded.tenant.slug, 'Default', 'None');
  const mlflowValue = fc.oneof({ weight: 2, arbitrary: validish }, { weight: 3, arbitrary: hostileValue }, { weight: 1, arbitrary: fc.array(fc.record({ key: fc.oneof(validish, hostileValue), value: fc.oneof(validish, hostileValue) }), { maxLength: 2 }) });
  // A request that names things that exist (so handlers get past their lookups), with up to two fields
  // replaced or added; or a bag of fields.
  const base: Record<string, unknown> = {
    name: seeded.modelName, experiment_id: seeded.experimentId, run_id: seeded.runId, key: 'k', value: '1', version: '1', timestamp: 1, step: 0,
    metric_key: 'k', stage: 'Staging', alias: 'champion', source: `runs:/${seeded.runId}/model`,
  };
  const mlflowInput = fc.oneof(
    fc.tuple(fc.subarray(Object.keys(base)), fc.dictionary(fc.constantFrom(...mlflowFields), mlflowValue, { minKeys: 1, maxKeys: 2 }))
      .map(([keys, overrides]) => ({ ...Object.fromEntries(keys.map((k) => [k, base[k]])), ...overrides })),
    fc.dictionary(fc.constantFrom(...mlflowFields), mlflowValue, { maxKeys: 4 }),
  );

  const paramNames = [...route.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!).concat(route.url.endsWith('*') ? ['*'] : []);
  const pathValue = (name: string): fc.Arbitrary<string> => fc.oneof(
    { weight: 3, arbitrary: name === 'tenant' ? fc.constantFrom(seeded.tenant.slug, seeded.other.slug) : fc.constantFrom('1', 'fuzz', seeded.runId, seeded.modelName, 'latest', `${seeded.runId}/artifacts/a.txt`).filter((s) => name === '*' || !s.includes('/')) },
    { weight: 2, arbitrary: fc.constantFrom(...hostileStrings).map((s) => s.slice(0, 1_000)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
    // An empty or dot segment (even percent-encoded) would make the URL another route's, or none: URL
    // parsing resolves dot segments before the router sees them. Only the wildcard takes a '/'.
  ).filter((s) => (name === '*' ? s.split('/') : [s]).every((segment) => segment !== '' && segment !== '.' && segment !== '..'));
  const pathArb = fc.record(Object.fromEntries(paramNames.map((n) => [n, pathValue(n)])) as Record<string, fc.Arbitrary<string>>);

  const querySchema: JsonSchema = { type: 'object', properties: Object.fromEntries(parameters.filter((p) => p['in'] === 'query').map((p) => [p['name'], p['schema']])) };
  const queryArb: fc.Arbitrary<Record<string, unknown>> = route.method === 'GET' || route.method === 'DELETE'
    ? (isMlflow && route.method === 'GET' ? mlflowInput : fc.oneof(fromSchema(querySchema) as fc.Arbitrary<Record<string, unknown>>, mutated(fromSchema(querySchema)) as fc.Arbitrary<Record<string, unknown>>))
    : fc.constant({});

  const json = (value: fc.Arbitrary<unknown>) => value.map((v) => ({ kind: 'json' as const, text: toJsonText(v), contentType: 'application/json' }));
  const bodyArb: fc.Arbitrary<FuzzRequest['body']> = route.method === 'GET'
    ? fc.constant({ kind: 'none' as const })
    : fc.oneof(
      { weight: 3, arbitrary: json(isMlflow ? mlflowInput : fromSchema(bodySchema)) },
      { weight: 3, arbitrary: json(mutated(isMlflow ? mlflowInput : fromSchema(bodySchema))) },
      { weight: 2, arbitrary: fc.constantFrom(...malformedBodies).map((text) => ({ kind: 'json' as const, text, contentType: 'application/json' })) },
      { weight: 1, arbitrary: json(fc.jsonValue({ maxDepth: 2 })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'raw' as const, bytes, contentType: 'application/octet-stream' })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
    );
  // Both tokens on every route, the one the route serves more often (a refusal by role reads no input).
  const adminWeight = route.access.startsWith('platform.') ? 3 : route.tenantFrom === 'token' ? 1 : 2;
  const tenantWeight = route.access.startsWith('platform.') ? 1 : route.tenantFrom === 'token' ? 3 : 2;
  const token = fc.oneof({ weight: tenantWeight, arbitrary: fc.constant(tenantToken) }, { weight: adminWeight, arbitrary: fc.constant(adminToken) });
  return fc.record({ token, path: pathArb, query: queryArb, body: bodyArb });
};

const urlOf = (route: RouteEntry, request: FuzzRequest): string => {
  let url = route.url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => encodePart(request.path[name] ?? ''));
  if (url.endsWith('*')) url = url.slice(0, -1) + (request.path['*'] ?? '').split('/').map(encodePart).join('/');
  return url + queryString(request.query);
};

/** The error body each route documents: the platform's, MLflow's or the Open Inference Protocol's. */
const errorShapeProblem = (route: RouteEntry, status: number, body: unknown): string | undefined => {
  const b = body as Record<string, unknown> | undefined;
  const platformShape = b !== undefined && typeof b === 'object' && Object.hasOwn(errorCodes, String(b['code'])) && typeof b['message'] === 'string' && typeof b['requestId'] === 'string'
    && errorCodes[b['code'] as keyof typeof errorCodes].status === status;
  // A URL that matches no route (e.g. a hostile path parameter the router refuses) gets the platform's 404.
  if (platformShape && (b['message'] === 'no such route' || String(b['message']).startsWith('URL: '))) return undefined;
  switch (route.errorFormat) {
    case 'bulkhead':
      return platformShape ? undefined : 'not { code, message, requestId } with the code\'s status';
    case 'mlflow':
      // MLflow's codes: those MLflow errors carry, and the platform codes' MLflow names (error-handler.ts).
      return b !== undefined && (Object.hasOwn(mlflowErrorCodes, String(b['error_code'])) || Object.values(mlflowCodes).includes(String(b['error_code']))) && typeof b['message'] === 'string' ? undefined : 'not MLflow\'s { error_code, message }';
    case 'oip':
      return (b !== undefined && typeof b['error'] === 'string') || platformShape ? undefined : 'not { error }';
  }
};

/** Files a request can write: blobs, staged uploads and multipart parts all live under `$home/blobs`. */
const countFiles = (dir: string): number => {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  return n;
};

for (const kind of databaseKinds) {
  describe(`input fuzz: every route, hostile input (${kind})`, () => {
    let p: TestPlatform;
    let seeded: Seeded;
    let countRows: () => Promise<Record<string, number>>;

    before(async () => {
      // No job can ever start (every job asks for ≥ 16 MiB): a started job would add rows and files in the
      // background while the fuzz compares counts. Submissions are still validated and refused.
      p = await createTestPlatform(kind, { capacityMemoryMiB: 1 });
      const tenant = await p.createTenant('fuzz-a');
      const other = await p.createTenant('fuzz-b');
      const mlflow = (path: string, body: unknown) => p.call('POST', `/api/2.0/mlflow/${path}`, tenant.tokens.owner, body);
      const experiment = await mlflow('experiments/create', { name: 'fuzz-exp' });
      const run = await mlflow('runs/create', { experiment_id: experiment.body.experiment_id });
      await mlflow('registered-models/create', { name: 'fuzz-model' });
      const version = await mlflow('model-versions/create', { name: 'fuzz-model', source: `runs:/${run.body.run.info.run_id}/model`, run_id: run.body.run.info.run_id });
      assert.equal(version.status, 200, JSON.stringify(version.body));
      // Reads that create rows lazily (the Default experiment, storage accounting) run once before the fuzz.
      await p.call('GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default', tenant.tokens.owner);
      await p.call('GET', `/api/v1/tenants/${tenant.slug}/usage`, tenant.tokens.owner);
      await p.call('GET', `/api/v1/tenants/${other.slug}/usage`, adminToken);
      // A tenant's data key is made on its first encrypted write, whatever that write's outcome.
      for (const t of [tenant, other]) {
        const put = await p.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/warm/up.txt', headers: { authorization: `Bearer ${t.tokens.owner}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from('warm') });
        assert.equal(put.statusCode, 200, put.body);
      }
      seeded = { tenant, other, experimentId: experiment.body.experiment_id, runId: run.body.run.info.run_id, modelName: 'fuzz-model' };
      // Log tables are written by background flushers (a deployment's supervisor every 500 ms), not by requests.
      const tables = [...tenantDataTables.filter((t) => !t.endsWith('_logs')), 'tenants', 'users'];
      const sql = `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t})::int AS ${t}`).join(', ')}`;
      countRows = async () => (await p.database.owner.queryAsOwner<Record<string, number>>(sql)).rows[0]!;
    });
    after(async () => p?.close());

    test('no 5xx, documented error bodies, no partial state for refused writes', async () => {
      const doc = p.app.swagger() as JsonSchema;
      const routes = p.app.routeCatalog;
      assert.ok(routes.length >= 150, `the route catalog has ${routes.length} routes`);
      let sent = 0;
      const statuses = new Map<number, number>();
      for (const [index, route] of routes.entries()) {
        await fc.assert(fc.asyncProperty(requestArbitrary(route, doc, seeded, seeded.tenant.tokens.owner), async (request) => {
          const isWrite = route.method !== 'GET';
          const rowsBefore = isWrite ? await countRows() : undefined;
          const filesBefore = isWrite ? countFiles(join(p.home, 'blobs')) : 0;
          const url = urlOf(route, request);
          const headers: Record<string, string> = { authorization: `Bearer ${request.token}` };
          let payload: string | Buffer | undefined;
          if (request.body.kind !== 'none') {
            headers['content-type'] = request.body.contentType;
            payload = request.body.kind === 'json' ? request.body.text : Buffer.from(request.body.bytes);
          }
          const response = await p.app.inject({ method: route.method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
          sent += 1;
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          const what = `${route.method} ${url.slice(0, 300)} body ${request.body.kind === 'json' ? request.body.text.slice(0, 300) : request.body.kind} → ${response.statusCode} ${response.body.slice(0, 300)}`;
          // The one documented 5xx: OIP server readiness answers 503 { ready: false } while no model serves.
          const notReady = route.url === '/v2/health/ready' && response.statusCode === 503 && response.body === '{"ready":false}';
          assert.ok(response.statusCode < 500 || notReady, `5xx: ${what}`);
          if (response.statusCode >= 400 && !notReady) {
            let body: unknown;
            try {
              body = JSON.parse(response.body);
            } catch {
              assert.fail(`error body is not JSON: ${what}`);
            }
            const problem = errorShapeProblem(route, response.statusCode, body);
            assert.equal(problem, undefined, `${problem}: ${what}`);
            if (isWrite) {
              const rowsAfter = await countRows();
              // Rows may go (blobs of an earlier overwrite are collected in the background); none may come.
              const changed = Object.keys(rowsAfter).filter((t) => rowsAfter[t]! > rowsBefore![t]!).map((t) => `${t} ${rowsBefore![t]} → ${rowsAfter[t]}`);
              assert.deepEqual(changed, [], `a refused write changed rows: ${what}`);
              assert.ok(countFiles(join(p.home, 'blobs')) <= filesBefore, `a refused write left files: ${what}`);
            }
          }
          // Keep both tenants usable for the requests after this one: a platform admin may suspend one or
          // set a quota of zero requests per second, a bandwidth of 1 KiB/s or a 1 ms statement timeout (valid requests, answered 200).
          if (request.token === adminToken && (route.url === '/api/v1/tenants/:tenant' || route.url.endsWith('/quota')) && response.statusCode < 300) {
            for (const slug of [seeded.tenant.slug, seeded.other.slug]) {
              await p.call('PATCH', `/api/v1/tenants/${slug}`, adminToken, { status: 'active' });
              await p.call('PUT', `/api/v1/tenants/${slug}/quota`, adminToken, {
                requestsPerSecond: 1_000_000, storageBytes: 1024 ** 3, maxQueuedJobs: 10_000,
                ingressBytesPerSecond: 10 * 1024 ** 3, ingressBurstBytes: 10 * 1024 ** 3, egressBytesPerSecond: 10 * 1024 ** 3, egressBurstBytes: 10 * 1024 ** 3,
                dbStatementTimeoutMs: 10_000, dbMaxConcurrentOperations: 8, dbTimeMsPerSecond: 0,
              });
            }
          }
        }), { seed: seed + index, numRuns: runsPerRoute, endOnFailure: true });
      }
      const ready = await p.call('GET', '/readyz', undefined);
      assert.equal(ready.status, 200);
      console.log(`input fuzz (${kind}): ${sent} requests to ${routes.length} routes; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
      assert.equal(sent, routes.length * runsPerRoute);
    });
  });
}
