/**
 * The `api` group: tenant B, with each role, attacks tenant A through every route the running server
 * lists (its OpenAPI document and its route catalog, which adds the MLflow and OIP routes). The rule
 * checked is the one the platform promises: another tenant's resource answers exactly as a missing one
 * (status and body, request ids and the ids themselves aside), and no answer to B contains A's data.
 */
import { randomBytes } from 'node:crypto';
import { tenantRoles } from '../contract/roles.ts';
import type { CheckResult } from './verify-types.ts';
import type { HttpAnswer, HttpCall, VerifyHttp } from './verify-http.ts';
import type { Role, SeedA, VerifyTenant } from './verify-tenants.ts';

export interface CatalogRoute {
  method: string;
  url: string;
  access: string;
  tenantFrom: 'path' | 'token';
  errorFormat: string;
}

/** The routes to attack: the catalog when the server lists it (platform admin), else the OpenAPI paths. */
export const enumerateRoutes = async (http: VerifyHttp, adminToken: string): Promise<{ routes: CatalogRoute[]; openapiPaths: Set<string>; source: string }> => {
  const openapi = await http.call({ method: 'GET', path: '/api/v1/openapi.json' });
  const paths = (openapi.body as { paths?: Record<string, Record<string, unknown>> } | undefined)?.paths ?? {};
  const openapiPaths = new Set(Object.keys(paths));
  const catalog = await http.call({ method: 'GET', path: '/api/v1/platform/routes', token: adminToken });
  if (catalog.status === 200) {
    return { routes: (catalog.body as { routes: CatalogRoute[] }).routes, openapiPaths, source: `route catalog (${openapiPaths.size} OpenAPI paths + MLflow and OIP routes)` };
  }
  // An older server: the OpenAPI document only (MLflow and OIP routes are not in it; reported as a skip).
  const routes: CatalogRoute[] = [];
  for (const [path, operations] of Object.entries(paths)) {
    for (const method of Object.keys(operations)) {
      routes.push({ method: method.toUpperCase(), url: path.replace(/\{([^}]+)\}/g, ':$1'), access: 'unknown', tenantFrom: 'path', errorFormat: 'bulkhead' });
    }
  }
  return { routes, openapiPaths, source: 'OpenAPI document only' };
};

/** The route template as the OpenAPI document spells it (`{tenant}`), the catalog's spelling otherwise. */
export const routeTemplate = (route: CatalogRoute, openapiPaths: Set<string>): string => {
  const spelled = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
  return `${route.method} ${openapiPaths.has(spelled) ? spelled : route.url}`;
};

const paramNames = (url: string): string[] => [...url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1] as string).concat(url.endsWith('*') ? ['*'] : []);

interface Values {
  tenant: string;
  params: Record<string, string>;
  fields: Record<string, unknown>;
}

/** Routes that create a resource in the caller's own tenant: A's names there are the caller's own, not A's. */
const createsInOwnTenant = (route: CatalogRoute): boolean =>
  /\/create$|\/mpu\/|\/logged-models$/.test(route.url) || (route.method === 'PUT' && route.url.includes('/mlflow-artifacts/artifacts/'));

const fillPath = (url: string, values: Values): string =>
  url.replace(/:([A-Za-z_]+)/g, (_, name: string) => encodeURIComponent(name === 'tenant' ? values.tenant : values.params[name] ?? 'verify-none'))
    .replace(/\*$/, values.params['*'] ?? 'verify-none');

const buildCall = (route: CatalogRoute, values: Values, token: string): HttpCall => {
  let path = fillPath(route.url, values);
  const hasBody = route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
  if (route.tenantFrom === 'token' && !hasBody) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(values.fields)) if (!Array.isArray(value)) query.set(key, String(value));
    path += `?${query.toString()}`;
  }
  return { method: route.method, path, token, ...(hasBody ? { body: route.tenantFrom === 'token' ? values.fields : {} } : {}) };
};

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The answer with request ids and the probed ids taken out: what "the same body" compares. */
const normalize = (answer: HttpAnswer, ids: readonly string[]): string => {
  let text = answer.text;
  if (answer.requestId !== undefined) text = text.replaceAll(answer.requestId, '<request>');
  text = text.replace(/"req_[0-9a-f]+"/g, '"<request>"');
  for (const id of [...ids].filter((v) => v.length > 0).sort((x, y) => y.length - x.length)) {
    text = text.replace(new RegExp(`(?<![A-Za-z0-9_-])${escapeRegExp(id)}(?![A-Za-z0-9_-])`, 'g'), '<id>');
  }
  return text;
};

const short = (answer: HttpAnswer): string => `${answer.status} ${answer.text.replace(/\s+/g, ' ').slice(0, 160)}`;

/** Runs `tasks` with at most `width` at once: bounded load on a production server. */
export const bounded = async <T>(tasks: Array<() => Promise<T>>, width: number): Promise<T[]> => {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next;
      next += 1;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
};

export interface ApiContext {
  http: VerifyHttp;
  adminToken: string;
  a: VerifyTenant;
  b: VerifyTenant;
  seed: SeedA;
}

export const runApiChecks = async (ctx: ApiContext): Promise<CheckResult[]> => {
  const { http, a, b, seed } = ctx;
  const { routes, openapiPaths, source } = await enumerateRoutes(http, ctx.adminToken);
  const results: CheckResult[] = [];
  const missingSlug = `verify-missing-${randomBytes(4).toString('hex')}`;
  const missingNumber = String(900_000_000 + randomBytes(3).readUIntBE(0, 3));
  const missingHex = randomBytes(16).toString('hex');
  const aParams: Record<string, string> = {
    tokenId: a.tokenIds.viewer, id: seed.jobId ?? '00000000-0000-4000-8000-000000000001', name: seed.datasetName ?? seed.modelName, version: '1',
    model_id: seed.loggedModelId ?? 'm-00000000000000000000000000000001', tag_key: 'verify', username: 'verify-nobody', '*': seed.artifactPath,
  };
  const missingParams: Record<string, string> = {
    tokenId: '00000000-0000-4000-8000-00000000dead', id: '00000000-0000-4000-8000-00000000dead', name: `verify-missing-${missingHex.slice(0, 8)}`, version: '1',
    model_id: `m-${missingHex}`, tag_key: 'verify', username: 'verify-nobody', '*': `verify/${missingHex.slice(0, 8)}/secret.txt`,
  };
  const aFields = { experiment_id: seed.experimentId, experiment_ids: [seed.experimentId], run_id: seed.runId, run_uuid: seed.runId, name: seed.modelName, experiment_name: seed.experimentName, model_id: seed.loggedModelId ?? '', version: '1', key: 'verify', metric_key: 'verify', value: 'x', new_name: `verify-renamed-${missingHex.slice(0, 6)}`, alias: 'verify', stage: 'Production', path: 'verify' };
  const missingFields = { ...aFields, experiment_id: missingNumber, experiment_ids: [missingNumber], run_id: missingHex, run_uuid: missingHex, name: `verify-missing-${missingHex.slice(0, 8)}`, experiment_name: `verify-missing-${missingHex.slice(0, 8)}`, model_id: `m-${missingHex}` };
  const aIds = [a.slug, a.id, seed.experimentId, seed.runId, seed.modelName, seed.experimentName, seed.loggedModelId ?? '', seed.artifactPath, seed.datasetName ?? '', a.tokenIds.viewer, seed.jobId ?? '', aParams['id'] as string];
  const missingIds = [missingSlug, missingNumber, missingHex, missingParams['name'] as string, missingParams['model_id'] as string, missingParams['*'] as string, missingParams['id'] as string, missingFields.name];
  const ids = [...aIds, ...missingIds];

  const leaks = (answer: HttpAnswer): boolean => answer.text.includes(seed.secret) || (answer.text.includes(a.id) && answer.status < 300);
  const tasks: Array<() => Promise<CheckResult>> = [];
  const attackable = routes.filter((r) => r.access !== 'public');
  for (const route of routes) {
    if (route.access === 'public') results.push({ group: 'api', check: 'public route', target: routeTemplate(route, openapiPaths), expectation: 'no tenant data without a token', result: 'skip', evidence: 'public by declaration (health, login, OpenAPI, signed upload parts): attacked by no token-bearing check' });
  }

  // 1. Cross-tenant: B's token, each role, A's tenant (path routes) or A's ids (every route), against a missing one.
  for (const route of attackable) {
    if (route.tenantFrom === 'token' && createsInOwnTenant(route)) continue;
    const names = paramNames(route.url);
    const variants: Array<{ label: string; aValues: Values; missingValues: Values }> = [];
    if (names.includes('tenant')) {
      variants.push({ label: "A's tenant", aValues: { tenant: a.slug, params: aParams, fields: aFields }, missingValues: { tenant: missingSlug, params: aParams, fields: aFields } });
      if (names.some((n) => n !== 'tenant')) variants.push({ label: "A's ids under B's tenant", aValues: { tenant: b.slug, params: aParams, fields: aFields }, missingValues: { tenant: b.slug, params: missingParams, fields: missingFields } });
    } else if (route.tenantFrom === 'token') {
      variants.push({ label: "A's ids", aValues: { tenant: b.slug, params: aParams, fields: aFields }, missingValues: { tenant: b.slug, params: missingParams, fields: missingFields } });
    } else if (names.length > 0) {
      variants.push({ label: "A's ids", aValues: { tenant: b.slug, params: aParams, fields: aFields }, missingValues: { tenant: b.slug, params: missingParams, fields: missingFields } });
    }
    for (const variant of variants) {
      for (const role of tenantRoles) {
        tasks.push(async () => {
          const token = b.tokens[role as Role];
          const attack = buildCall(route, variant.aValues, token);
          const control = buildCall(route, variant.missingValues, token);
          // The control first: a route that wrongly acts on A's resource then cannot change the control's answer.
          const controlAnswer = await http.call(control);
          const attackAnswer = await http.call(attack);
          const same = attackAnswer.status === controlAnswer.status && normalize(attackAnswer, ids) === normalize(controlAnswer, ids);
          const leaked = leaks(attackAnswer);
          const crossed = !same || leaked || (variant.label === "A's tenant" && attackAnswer.status < 300);
          return {
            group: 'api', check: `cross-tenant: ${variant.label} (B ${role})`, target: routeTemplate(route, openapiPaths),
            expectation: 'the same answer as a missing id; no data of A', result: crossed ? 'fail' : 'pass',
            evidence: crossed ? `A's: ${short(attackAnswer)} | missing: ${short(controlAnswer)}${leaked ? " | the answer holds tenant A's data" : ''}` : `${attackAnswer.status} for both`,
            reproduce: http.describe(attack),
          } satisfies CheckResult;
        });
      }
    }
  }

  // 2. Role escalation: a viewer writes in its own tenant; a tenant owner/admin calls platform routes.
  for (const route of attackable) {
    const mutating = /\.(write|delete)$/.test(route.access) && !route.access.startsWith('platform.');
    const platform = route.access.startsWith('platform.');
    if (!mutating && !platform) continue;
    if (route.tenantFrom === 'token' && createsInOwnTenant(route) && !mutating) continue;
    const roles: Role[] = platform ? ['owner', 'admin'] : ['viewer'];
    for (const role of roles) {
      tasks.push(async () => {
        const call = buildCall(route, { tenant: b.slug, params: missingParams, fields: missingFields }, b.tokens[role]);
        const answer = await http.call(call);
        const refused = answer.status === 403 || (platform && answer.status === 404);
        return {
          group: 'api', check: platform ? `escalation: tenant ${role} calls a platform route` : 'escalation: viewer writes', target: routeTemplate(route, openapiPaths),
          expectation: platform ? '403 (or 404 for a tenant it may not see)' : '403', result: refused ? 'pass' : 'fail', evidence: short(answer), reproduce: http.describe(call),
        } satisfies CheckResult;
      });
    }
  }

  // 3. Forged tenant and workspace headers: B's token, A named in a header.
  const forged: Array<[string, string]> = [['x-mlflow-workspace', a.slug], ['x-bulkhead-tenant', a.slug], ['x-tenant-id', a.id], ['x-forwarded-tenant', a.slug], ['x-workspace', a.slug]];
  for (const [header, value] of forged) {
    for (const path of [`/api/2.0/mlflow/runs/get?run_id=${seed.runId}`, `/api/2.0/mlflow/experiments/get?experiment_id=${seed.experimentId}`, `/api/2.0/mlflow-artifacts/artifacts/${seed.artifactPath}`, `/api/v1/tenants/${b.slug}/datasets/${encodeURIComponent(seed.datasetName ?? 'none')}`]) {
      tasks.push(async () => {
        const call: HttpCall = { method: 'GET', path, token: b.tokens.owner, headers: { [header]: value } };
        const answer = await http.call(call);
        const crossed = answer.status < 300 || leaks(answer);
        return { group: 'api', check: `forged header ${header}`, target: `GET ${path.split('?')[0]?.replace(b.slug, '{tenant}')}`, expectation: "B still sees only B: 404", result: crossed ? 'fail' : 'pass', evidence: short(answer), reproduce: http.describe(call) } satisfies CheckResult;
      });
    }
  }

  // 4. Tokens in the wrong places: a token in the query string or a cookie must not authenticate.
  for (const [where, build] of [
    ['query ?token=', (t: string): HttpCall => ({ method: 'GET', path: `/api/v1/tenants/${a.slug}?token=${t}` })],
    ['query ?access_token=', (t: string): HttpCall => ({ method: 'GET', path: `/api/v1/tenants/${a.slug}?access_token=${t}` })],
    ['query ?api_key=', (t: string): HttpCall => ({ method: 'GET', path: `/api/v1/tenants/${a.slug}?api_key=${t}` })],
    ['cookie token=', (t: string): HttpCall => ({ method: 'GET', path: `/api/v1/tenants/${a.slug}`, headers: { cookie: `token=${t}; bulkhead_token=${t}` } })],
    ['header x-api-key', (t: string): HttpCall => ({ method: 'GET', path: `/api/v1/tenants/${a.slug}`, headers: { 'x-api-key': t } })],
  ] as const) {
    tasks.push(async () => {
      const call = build(a.tokens.owner);
      const answer = await http.call(call);
      const shown = { ...call, path: call.path.replace(a.tokens.owner, '$TOKEN'), ...(call.headers === undefined ? {} : { headers: Object.fromEntries(Object.entries(call.headers).map(([k, v]) => [k, v.replaceAll(a.tokens.owner, '$TOKEN')])) }) };
      return { group: 'api', check: `token in ${where}`, target: 'GET /api/v1/tenants/{tenant}', expectation: '401: only the Authorization header carries a token', result: answer.status === 401 ? 'pass' : 'fail', evidence: `${answer.status}`, reproduce: http.describe(shown) } satisfies CheckResult;
    });
  }

  // 5. Path traversal in artifact and dataset paths, from B's namespace towards A's files.
  const traversals = ['..%2f', '%2e%2e%2f', '..%5c', '%252e%252e%252f', '....%2f%2f'];
  for (const up of traversals) {
    const candidates = [
      `/api/2.0/mlflow-artifacts/artifacts/${up}${a.id}%2f${seed.artifactPath.replaceAll('/', '%2f')}`,
      `/api/2.0/mlflow-artifacts/artifacts/${up}${up}${up}etc%2fpasswd`,
      `/api/2.0/mlflow-artifacts/artifacts?path=${up}${a.id}`,
      `/api/v1/tenants/${b.slug}/datasets/${encodeURIComponent(seed.datasetName ?? 'none')}/versions/1/files/${up}${up}${a.id}`,
    ];
    for (const path of candidates) {
      tasks.push(async () => {
        const call: HttpCall = { method: 'GET', path, token: b.tokens.owner };
        const answer = await http.call(call);
        const crossed = leaks(answer) || answer.text.includes('root:x:0:0') || (answer.status < 300 && !path.includes('?path='));
        return { group: 'api', check: `path traversal ${decodeURIComponent(up)}`, target: `GET ${path.startsWith('/api/v1') ? '/api/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/*' : path.includes('?') ? '/api/2.0/mlflow-artifacts/artifacts' : '/api/2.0/mlflow-artifacts/artifacts/*'}`, expectation: "4xx, or an empty listing: never A's files or the host's", result: crossed ? 'fail' : 'pass', evidence: short(answer), reproduce: http.describe(call) } satisfies CheckResult;
      });
    }
  }

  const checked = await bounded(tasks, 6);
  results.push({ group: 'api', check: 'route enumeration', target: source, expectation: 'every route listed by the running server is attacked', result: source.startsWith('route catalog') ? 'pass' : 'skip', evidence: `${routes.length} routes, ${attackable.length} need a token` });
  return results.concat(checked);
};
