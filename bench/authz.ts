/**
 * Authorization and OIDC token verification cost (issue 14). Three parts, each printed with its baseline
 * measured side by side in the same process, alternating rounds:
 *
 * 1. The authorization decision (`authorize`, in-process): a built-in-role principal (baseline) vs a
 *    custom-role principal and a scoped-token principal (their own permission sets). Each call is timed
 *    on its own with process.hrtime.bigint (whose own cost, ~30–60 ns, is included: an upper bound).
 *    Goal: p99 ≤ 50 µs (OPA's budget: 1 ms).
 * 2. JWT access-token verification per request with the JWKS cached (createOidcVerifier against a real
 *    oidc-provider on loopback, warmed up: no fetch in the timed loop) vs jose's bare jwtVerify against
 *    a local key set (the floor): the verifier with its verified-token cache off (every request verifies
 *    RS256) and on (production: a token seen before is reused by its SHA-256 until its exp). Goal: p99 ≤ 100 µs.
 * 3. A whole authenticated request through the app (app.inject GET /api/v1/tenants/{t}/quota, PGlite,
 *    auth cache on as in production: BULKHEAD_AUTH_CACHE_TTL_MS 5000): an IdP JWT vs a Bulkhead opaque
 *    token of the same role.
 *
 *   node_modules/.bin/node bench/authz.ts [--decisions 200000] [--verifies 20000] [--requests 3000] [--rounds 3]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { authorize, parsePermissions } from '../src/authz/index.ts';
import type { Action, Principal } from '../src/authz/index.ts';
import { createOidcVerifier } from '../src/identity/index.ts';
import { startTestIdp } from '../test/support/oidc-provider.ts';
import { createTestPlatform } from '../test/support/platform.ts';

const { values } = parseArgs({
  options: {
    decisions: { type: 'string', default: '200000' },
    verifies: { type: 'string', default: '20000' },
    requests: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
  },
});
const rounds = Number(values.rounds);

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
};
const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
const line = (name: string, s: ReturnType<typeof summary>, base?: ReturnType<typeof summary>) =>
  console.log(`${name.padEnd(44)} n=${String(s.n).padEnd(8)} p50 ${us(s.p50).padEnd(11)} p99 ${us(s.p99).padEnd(11)} max ${us(s.max).padEnd(12)}${base === undefined ? '' : ` p99 ratio ${(s.p99 / base.p99).toFixed(2)}`}`);

const append = (target: number[], source: number[]): void => {
  for (const value of source) target.push(value);
};

const timeEach = async (n: number, fn: (i: number) => unknown): Promise<number[]> => {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i += 1) {
    const start = process.hrtime.bigint();
    const result = fn(i);
    if (result instanceof Promise) await result;
    out[i] = Number(process.hrtime.bigint() - start);
  }
  return out;
};

console.log(`machine: ${os.cpus().length} vCPU (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);

// 1. Decisions.
{
  const tenant = { id: '00000000-0000-4000-8000-0000000000aa', status: 'active' as const };
  const actions: Action[] = ['tracking.read', 'tracking.write', 'artifacts.read', 'artifacts.write', 'members.write', 'jobs.write', 'deployments.read', 'platform.tenants.read'];
  const base = { kind: 'tenant' as const, tokenId: 't', tenantId: tenant.id, userId: undefined, label: 'bench' };
  const builtIn: Principal = { ...base, role: 'member' };
  const custom: Principal = { ...base, role: 'viewer', customRole: 'metrics-logger', permissions: parsePermissions(['tracking:read', 'tracking:write', 'jobs:read', 'models:read']).actions };
  const scoped: Principal = { ...base, role: 'member', permissions: parsePermissions(['tracking:write']).actions };
  const n = Number(values.decisions);
  const all = { builtIn: [] as number[], custom: [] as number[], scoped: [] as number[] };
  let allowed = 0;
  for (let r = 0; r < rounds; r += 1) {
    for (const [name, principal] of [['builtIn', builtIn], ['custom', custom], ['scoped', scoped]] as const) {
      append(all[name], await timeEach(n, (i) => { if (authorize(principal, tenant, actions[i % actions.length]!).allowed) allowed += 1; }));
    }
  }
  console.log(`\n1. authorization decision (in-process), ${rounds} rounds × ${n} calls each, allowed ${allowed}`);
  const b = summary(all.builtIn);
  line('built-in role (baseline)', b);
  line('custom role', summary(all.custom), b);
  line('scoped token', summary(all.scoped), b);
}

// 2. JWT verification with a cached JWKS.
const idp = await startTestIdp({ machineClients: ['bench-ci'] });
idp.groups.set('bench-ci', ['bench-group']);
try {
  const token = await idp.machineToken('bench-ci');
  const verifierOptions = { issuer: idp.issuer, audience: idp.audience, clientId: idp.clientId, algorithms: ['RS256'], clockSkewSeconds: 30, groupsClaim: 'groups', usernameClaim: 'preferred_username' };
  const uncached = createOidcVerifier({ ...verifierOptions, verifiedCacheSize: 0 });
  const verifier = createOidcVerifier(verifierOptions);
  for (const v of [uncached, verifier]) {
    const warm = await v.verifyAccessToken(token);
    if (!warm.ok) throw new Error(`bench token refused: ${warm.reason}`);
  }
  const local = createLocalJWKSet({ keys: [idp.publicJwk as never] });
  const n = Number(values.verifies);
  const all = { bare: [] as number[], uncached: [] as number[], ours: [] as number[] };
  for (let r = 0; r < rounds; r += 1) {
    append(all.bare, await timeEach(n, () => jwtVerify(token, local, { issuer: idp.issuer, audience: idp.audience, algorithms: ['RS256'] })));
    append(all.uncached, await timeEach(n, async () => {
      const result = await uncached.verifyAccessToken(token);
      if (!result.ok) throw new Error(result.reason);
    }));
    append(all.ours, await timeEach(n, async () => {
      const result = await verifier.verifyAccessToken(token);
      if (!result.ok) throw new Error(result.reason);
    }));
  }
  console.log(`\n2. JWT access-token verification (RS256 2048, JWKS cached), ${rounds} rounds × ${n} each`);
  const b = summary(all.bare);
  line('jose jwtVerify, local key set (floor)', b);
  line('verifyAccessToken, token cache off', summary(all.uncached), b);
  line('verifyAccessToken, token cache on (prod)', summary(all.ours), b);

  // 3. Whole requests.
  const p = await createTestPlatform('pglite', {
    authCacheTtlMs: 5000,
    oidc: { issuer: idp.issuer, clientId: idp.clientId, audience: idp.audience, roleMappings: [{ group: 'bench-group', tenant: 'bench-t', role: 'member' }] },
  });
  try {
    const t = await p.createTenant('bench-t');
    const m = Number(values.requests);
    const url = '/api/v1/tenants/bench-t/quota';
    const request = (bearer: string) => async () => {
      const response = await p.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${bearer}` } });
      if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
    };
    await timeEach(200, request(token));
    await timeEach(200, request(t.tokens.member));
    const reqs = { opaque: [] as number[], jwt: [] as number[] };
    for (let r = 0; r < rounds; r += 1) {
      append(reqs.opaque, await timeEach(m, request(t.tokens.member)));
      append(reqs.jwt, await timeEach(m, request(token)));
    }
    console.log(`\n3. GET ${url} through app.inject (PGlite, auth cache 5 s), ${rounds} rounds × ${m} each`);
    const b = summary(reqs.opaque);
    line('opaque bh_ token, member (baseline)', b);
    line('IdP JWT mapped to member', summary(reqs.jwt), b);
  } finally {
    await p.close();
  }
} finally {
  await idp.close();
}
