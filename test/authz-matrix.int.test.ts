/**
 * Every route × every caller (platform admin, each tenant role) × own/other tenant, checked against the
 * declared expectation below — the security spec written out by hand, not derived from the code under
 * test. A new route without a row here fails the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { authorize } from '../src/authz/index.ts';
import type { Action } from '../src/authz/index.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

type Caller = 'platform_admin' | 'owner' | 'admin' | 'member' | 'viewer';
const callers: readonly Caller[] = ['platform_admin', 'owner', 'admin', 'member', 'viewer'];
const allRoles = new Set<Caller>(callers);
const adminsAndUp = new Set<Caller>(['platform_admin', 'owner', 'admin']);
const membersAndUp = new Set<Caller>(['platform_admin', 'owner', 'admin', 'member']);
const platformOnly = new Set<Caller>(['platform_admin']);

/** Who may perform each access level on their own tenant. Other tenants are always hidden. */
const expectation: Record<string, ReadonlySet<Caller>> = {
  public: allRoles,
  authenticated: allRoles,
  'tenant.read': allRoles,
  'members.read': allRoles,
  'quota.read': allRoles,
  'usage.read': allRoles,
  'tracking.read': allRoles,
  'artifacts.read': allRoles,
  'datasets.read': allRoles,
  'models.read': allRoles,
  'jobs.read': allRoles,
  'deployments.read': allRoles,
  'images.read': allRoles,
  'tracking.write': membersAndUp,
  'artifacts.write': membersAndUp,
  'datasets.write': membersAndUp,
  'models.write': membersAndUp,
  'jobs.write': membersAndUp,
  'deployments.write': membersAndUp,
  'inference.invoke': membersAndUp,
  'images.write': membersAndUp,
  'platform.kubernetes.read': platformOnly,
  'platform.images.write': platformOnly,
  'members.write': adminsAndUp,
  'tokens.read': adminsAndUp,
  'tokens.write': adminsAndUp,
  'audit.read': adminsAndUp,
  'platform.tenants.read': platformOnly,
  'platform.tenants.write': platformOnly,
  'platform.tenants.delete': platformOnly,
  'platform.quota.write': platformOnly,
  'platform.users.read': platformOnly,
  'platform.users.write': platformOnly,
  'platform.audit.read': platformOnly,
  'alerts.read': adminsAndUp,
  'alerts.write': adminsAndUp,
  'shares.read': adminsAndUp,
  'shares.write': adminsAndUp,
  'subtree.write': adminsAndUp,
};

/**
 * Routes declared `authenticated` whose handler serves two audiences on one path and checks the action
 * itself (security alerts: platform admins all, tenant admins their own): who may use them.
 */
const handlerChecked: Record<string, ReadonlySet<Caller>> = {
  'GET /api/v1/alerts': expectation['alerts.read']!,
  'POST /api/v1/alerts/:id/false-positive': expectation['alerts.write']!,
};

type Verdict = 'allowed' | 'forbidden' | 'hidden' | 'unauthenticated';

describe('authorization matrix (PGlite)', () => {
  let p: TestPlatform;
  let acme: TestTenant;

  before(async () => {
    p = await createTestPlatform('pglite');
    acme = await p.createTenant('acme');
    await p.createTenant('globex');
  });
  after(async () => p.close());

  const tokenOf = (caller: Caller): string => (caller === 'platform_admin' ? adminToken : acme.tokens[caller]);

  const verdictOf = (status: number, body: { code?: string; message?: string } | undefined): Verdict => {
    if (status === 401) return 'unauthenticated';
    // The three error shapes: Bulkhead's { code, message }, MLflow's { error_code, message }, OIP's { error }.
    const shaped = body as { code?: string; error_code?: string; message?: string; error?: string } | undefined;
    const message = shaped?.message ?? shaped?.error ?? '';
    const forbiddenCode = shaped?.code === 'FORBIDDEN' || shaped?.error_code === 'PERMISSION_DENIED' || typeof shaped?.error === 'string';
    if (status === 403 && forbiddenCode && /^(your role may not|this API acts for one tenant)/.test(message)) return 'forbidden';
    if (status === 404 && /^tenant '.*' not found$/.test(body?.message ?? '')) return 'hidden';
    return 'allowed';
  };

  test('every route declares an access level that the expectation table covers', () => {
    assert.ok(p.app.routeCatalog.length >= 20);
    for (const route of p.app.routeCatalog) assert.ok(expectation[route.access] !== undefined, `${route.method} ${route.url}: ${route.access}`);
  });

  test('HTTP verdicts match the declared expectation for every route, caller and tenant', async () => {
    const mismatches: string[] = [];
    let checked = 0;
    for (const route of p.app.routeCatalog) {
      const targets = route.url.includes(':tenant') ? (['own', 'other'] as const) : (['none'] as const);
      for (const target of targets) {
        for (const caller of callers) {
          const url = route.url
            .replace(':tenant', target === 'other' ? 'globex' : 'acme')
            .replace(':username', 'nobody-here')
            .replace(':tokenId', randomUUID())
            .replace(':shareId', randomUUID())
            .replace(':child', 'nobody-here');
          const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? {} : undefined;
          const response = await p.call(route.method, url, route.access === 'public' ? undefined : tokenOf(caller), body);
          const actual = verdictOf(response.status, response.body);
          let wanted: Verdict;
          if (target === 'other' && caller !== 'platform_admin') wanted = 'hidden';
          // Routes whose tenant comes from the token refuse platform-admin tokens: they act for one tenant.
          else if (route.tenantFrom === 'token' && caller === 'platform_admin' && route.access !== 'public') wanted = 'forbidden';
          else wanted = (handlerChecked[`${route.method} ${route.url}`] ?? expectation[route.access]!).has(caller) ? 'allowed' : 'forbidden';
          checked += 1;
          if (actual !== wanted) mismatches.push(`${route.method} ${route.url} as ${caller} on ${target}: got ${actual} (${response.status}), want ${wanted}`);
        }
      }
    }
    assert.deepEqual(mismatches, []);
    assert.ok(checked > 100, `checked ${checked}`);
  });

  test('authorize() agrees with the expectation table for every action', () => {
    const own = { id: 'own', status: 'active' as const };
    const other = { id: 'other', status: 'active' as const };
    for (const action of Object.keys(expectation).filter((a) => a !== 'public' && a !== 'authenticated') as Action[]) {
      for (const caller of callers) {
        const principal = caller === 'platform_admin'
          ? { kind: 'platform_admin' as const, tokenId: 't', userId: undefined, label: 'x' }
          : { kind: 'tenant' as const, tokenId: 't', tenantId: 'own', role: caller, userId: undefined, label: 'x' };
        const onOwn = authorize(principal, action.startsWith('platform.') ? undefined : own, action);
        assert.equal(onOwn.allowed, expectation[action]!.has(caller), `${action} as ${caller}`);
        if (caller !== 'platform_admin' && !action.startsWith('platform.')) {
          assert.deepEqual(authorize(principal, other, action), { allowed: false, reason: 'not_found' });
        }
      }
    }
  });

  test("suspension refuses the tenant's own principals everything, and platform admins every mutating action", () => {
    const suspended = { id: 'own', status: 'suspended' as const };
    const owner = { kind: 'tenant' as const, tokenId: 't', tenantId: 'own', role: 'owner' as const, userId: undefined, label: 'x' };
    const admin = { kind: 'platform_admin' as const, tokenId: 't', userId: undefined, label: 'x' };
    for (const action of ['members.write', 'tokens.write'] as const) {
      assert.deepEqual(authorize(owner, suspended, action), { allowed: false, reason: 'suspended' });
      assert.deepEqual(authorize(admin, suspended, action), { allowed: false, reason: 'suspended' });
    }
    for (const action of ['tenant.read', 'members.read', 'tokens.read', 'audit.read', 'inference.invoke', 'jobs.read'] as const) {
      assert.deepEqual(authorize(owner, suspended, action), { allowed: false, reason: 'suspended' });
    }
    for (const action of ['tenant.read', 'members.read', 'tokens.read', 'audit.read', 'jobs.read'] as const) assert.equal(authorize(admin, suspended, action).allowed, true);
  });
});
