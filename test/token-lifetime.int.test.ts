/**
 * The operator's token lifetime (issue 14), on PGlite and PostgreSQL through the real app: the default and
 * maximum apply to every token issued to people and service accounts — tenant and platform API tokens get
 * the default when none is asked for and are refused over the maximum (nothing is written), password
 * sessions are shortened to the maximum — while job tokens and the bootstrap token keep theirs, and a
 * token issued before a lower maximum keeps its expiry and keeps working.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { createIdentityService, tokenLifetimeSeconds } from '../src/identity/identity-service.ts';

const DEFAULT = 600;
const MAX = 3600;

const lifetimeOf = (record: { createdAt: string; expiresAt: string | null }): number | null =>
  record.expiresAt === null ? null : Math.round((Date.parse(record.expiresAt) - Date.parse(record.createdAt)) / 1000);

test('the lifetime rule: default for API tokens, refusal over the maximum, sessions shortened, platform-bound tokens untouched', () => {
  const lifetime = { defaultSeconds: DEFAULT, maxSeconds: MAX };
  assert.equal(tokenLifetimeSeconds({}, lifetime), DEFAULT);
  assert.equal(tokenLifetimeSeconds({ kind: 'api', expiresInSeconds: 120 }, lifetime), 120);
  assert.throws(() => tokenLifetimeSeconds({ kind: 'api', expiresInSeconds: MAX + 1 }, lifetime), { code: 'VALIDATION_FAILED' });
  assert.equal(tokenLifetimeSeconds({ kind: 'session', expiresInSeconds: 12 * 3600 }, lifetime), MAX);
  assert.equal(tokenLifetimeSeconds({ kind: 'session' }, lifetime), DEFAULT);
  assert.equal(tokenLifetimeSeconds({ kind: 'job', expiresInSeconds: 7 * 86_400 }, lifetime), 7 * 86_400);
  assert.equal(tokenLifetimeSeconds({ kind: 'endpoint' }, lifetime), undefined);
  assert.equal(tokenLifetimeSeconds({ kind: 'api', presetToken: 'bh_x' }, lifetime), undefined);
  assert.equal(tokenLifetimeSeconds({ kind: 'api' }, undefined), undefined);
});

for (const kind of databaseKinds) {
  describe(`the operator's token lifetime on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let earlier: { token: string; expiresAt: string | null };

    before(async () => {
      p = await createTestPlatform(kind, { serviceTokenDefaultTtlSeconds: DEFAULT, serviceTokenMaxTtlSeconds: MAX });
      a = await p.createTenant('life-a');
    });
    after(async () => p?.close());

    test('tenant and platform API tokens: the default when none is asked for, 400 over the maximum and nothing written', async () => {
      const plain = await p.call('POST', '/api/v1/tenants/life-a/tokens', a.tokens.admin, { name: 'plain', role: 'member' });
      assert.equal(plain.status, 201, JSON.stringify(plain.body));
      assert.equal(lifetimeOf(plain.body), DEFAULT);
      earlier = plain.body;
      const asked = await p.call('POST', '/api/v1/tenants/life-a/tokens', a.tokens.admin, { name: 'asked', role: 'member', expiresInSeconds: MAX });
      assert.equal(lifetimeOf(asked.body), MAX);
      const tooLong = await p.call('POST', '/api/v1/tenants/life-a/tokens', a.tokens.admin, { name: 'too-long', role: 'member', expiresInSeconds: MAX + 60 });
      assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body));
      assert.equal(tooLong.body.code, 'VALIDATION_FAILED');
      assert.equal(tooLong.body.details.maxSeconds, MAX);
      const names = (await p.call('GET', '/api/v1/tenants/life-a/tokens', a.tokens.admin)).body.tokens.map((t: { name: string }) => t.name);
      assert.ok(!names.includes('too-long'), 'nothing half-written');
      const platform = await p.call('POST', '/api/v1/platform/tokens', adminToken, { name: 'ops' });
      assert.equal(platform.status, 201, JSON.stringify(platform.body));
      assert.equal(lifetimeOf(platform.body), DEFAULT);
      assert.equal((await p.call('POST', '/api/v1/platform/tokens', adminToken, { name: 'ops-forever', expiresInSeconds: 10 * 365 * 86_400 })).status, 400);
      // Service-account tokens: the same default and maximum.
      assert.equal((await p.call('POST', '/api/v1/tenants/life-a/service-accounts', a.tokens.admin, { name: 'bot' })).status, 201);
      const sa = await p.call('POST', '/api/v1/tenants/life-a/service-accounts/bot/tokens', a.tokens.admin, { name: 't', role: 'viewer' });
      assert.equal(lifetimeOf(sa.body), DEFAULT);
      assert.equal((await p.call('POST', '/api/v1/tenants/life-a/service-accounts/bot/tokens', a.tokens.admin, { name: 't2', role: 'viewer', expiresInSeconds: MAX + 60 })).status, 400);
    });

    test('password sessions are shortened to the maximum', async () => {
      assert.equal((await p.call('POST', '/api/v1/users', adminToken, { username: 'lena', password: 'correct horse battery' })).status, 201);
      assert.equal((await p.call('PUT', '/api/v1/tenants/life-a/members/lena', adminToken, { role: 'member' })).status, 200);
      const session = await p.call('POST', '/api/v1/auth/login', undefined, { username: 'lena', password: 'correct horse battery', tenant: 'life-a' });
      assert.equal(session.status, 201, JSON.stringify(session.body));
      assert.equal(session.body.kind, 'session');
      assert.equal(lifetimeOf(session.body), MAX, 'the 12 h session is cut to the operator maximum');
      assert.equal((await p.call('GET', '/api/v1/me', session.body.token)).status, 200);
    });

    test('tokens issued earlier are unaffected: the bootstrap token has no expiry and a token keeps the expiry it was issued with', async () => {
      assert.equal((await p.call('GET', '/api/v1/me', adminToken)).status, 200);
      const platformTokens = (await p.call('GET', '/api/v1/platform/tokens', adminToken)).body.tokens;
      assert.equal(platformTokens.find((t: { name: string }) => t.name === 'bootstrap').expiresAt, null);
      // An identity service with a far lower maximum over the same database (as after the operator lowers it
      // and restarts): the earlier token is still honoured with its own expiry — the maximum is checked when
      // a token is issued, never when one is used.
      const stricter = createIdentityService({ db: p.platform.db, cacheTtlMs: 0, tokenLifetime: { defaultSeconds: 60, maxSeconds: 120 } });
      const principal = await stricter.authenticate(earlier.token);
      assert.equal(principal?.kind, 'tenant');
      const row = (await stricter.listTokens(a.id)).find((t) => t.name === 'plain');
      assert.equal(row?.expiresAt, earlier.expiresAt);
      assert.equal(lifetimeOf(row!), DEFAULT);
    });
  });
}
