/**
 * The HTTP API end to end through app.inject(), on PGlite and PostgreSQL: tenants, tokens, members,
 * login, cross-tenant requests, bad input, expired and revoked tokens, suspended tenants.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withTenant } from '../src/db/index.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

for (const kind of databaseKinds) {
  describe(`API on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind);
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex', 'process');
    });
    after(async () => p.close());

    test('health and readiness answer without a token', async () => {
      assert.deepEqual((await p.call('GET', '/healthz', undefined)).body, { status: 'ok' });
      const ready = await p.call('GET', '/readyz', undefined);
      assert.equal(ready.status, 200);
      assert.equal(ready.body.database, kind);
      assert.equal(ready.body.rlsMode, kind === 'postgres' ? 'enforced' : 'guarded');
    });

    test('the OpenAPI document lists the contract routes', async () => {
      const doc = await p.call('GET', '/api/v1/openapi.json', undefined);
      assert.equal(doc.status, 200);
      assert.equal(doc.body.openapi, '3.0.3');
      for (const path of ['/api/v1/tenants', '/api/v1/tenants/{tenant}/tokens', '/api/v1/me', '/api/v1/tenants/{tenant}/audit/verify', '/api/v1/tenants/{tenant}/members']) {
        assert.ok(doc.body.paths[path] !== undefined, path);
      }
      assert.ok(doc.body.paths['/api/v1/tenants'].post.requestBody.content['application/json'].schema.properties.slug);
    });

    test('/me describes the token', async () => {
      const me = await p.call('GET', '/api/v1/me', acme.tokens.admin);
      assert.equal(me.status, 200);
      assert.equal(me.body.kind, 'tenant');
      assert.equal(me.body.role, 'admin');
      assert.equal(me.body.tenant.slug, 'acme');
      const admin = await p.call('GET', '/api/v1/me', adminToken);
      assert.equal(admin.body.kind, 'platform_admin');
    });

    test('a token is shown once, stored hashed, prefixed bh_, and never listed', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/tokens', acme.tokens.owner, { name: 'ci', role: 'member' });
      assert.equal(created.status, 201);
      assert.match(created.body.token, /^bh_[A-Za-z0-9_-]{43}$/);
      const listed = await p.call('GET', '/api/v1/tenants/acme/tokens', acme.tokens.owner);
      assert.ok(!JSON.stringify(listed.body).includes(created.body.token));
      const stored = await withTenant(p.platform.db, acme.id, async (tx) => (await tx.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens WHERE id = $1', [created.body.id])).rows[0]);
      assert.ok(stored !== undefined && stored.token_hash !== created.body.token && /^[0-9a-f]{64}$/.test(stored.token_hash));
    });

    test("another tenant's resources are NOT_FOUND with the same body as a missing one", async () => {
      const paths = ['/api/v1/tenants/{t}', '/api/v1/tenants/{t}/tokens', '/api/v1/tenants/{t}/members', '/api/v1/tenants/{t}/audit', '/api/v1/tenants/{t}/quota'];
      for (const template of paths) {
        const other = await p.call('GET', template.replace('{t}', 'globex'), acme.tokens.owner);
        const missing = await p.call('GET', template.replace('{t}', 'no-such-tenant'), acme.tokens.owner);
        assert.equal(other.status, 404, template);
        assert.equal(missing.status, 404, template);
        assert.equal(other.body.code, 'NOT_FOUND');
        const strip = (body: { message: string; requestId: string; code: string }) => ({ code: body.code, message: body.message.replace('globex', 'X').replace('no-such-tenant', 'X') });
        assert.deepEqual(strip(other.body), strip(missing.body), template);
        assert.deepEqual(Object.keys(other.body).sort(), Object.keys(missing.body).sort());
      }
      // The tenant's id works as well as its slug, and is equally hidden.
      assert.equal((await p.call('GET', `/api/v1/tenants/${globex.id}`, acme.tokens.owner)).status, 404);
      // Writes too: creating a token in another tenant is NOT_FOUND and creates nothing.
      const before = await p.call('GET', '/api/v1/tenants/globex/tokens', globex.tokens.owner);
      const attempt = await p.call('POST', '/api/v1/tenants/globex/tokens', acme.tokens.owner, { name: 'evil', role: 'owner' });
      assert.equal(attempt.status, 404);
      const afterList = await p.call('GET', '/api/v1/tenants/globex/tokens', globex.tokens.owner);
      assert.equal(afterList.body.tokens.length, before.body.tokens.length);
    });

    test("revoking another tenant's token by id is NOT_FOUND and the token keeps working", async () => {
      const victim = await p.call('POST', '/api/v1/tenants/globex/tokens', globex.tokens.owner, { name: 'victim', role: 'viewer' });
      const attempt = await p.call('DELETE', `/api/v1/tenants/acme/tokens/${victim.body.id}`, acme.tokens.owner);
      assert.equal(attempt.status, 404);
      assert.equal((await p.call('GET', '/api/v1/me', victim.body.token)).status, 200);
    });

    test('only platform admins create tenants or change quotas', async () => {
      const denied = await p.call('POST', '/api/v1/tenants', acme.tokens.owner, { slug: 'sneaky', name: 'x' });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.code, 'FORBIDDEN');
      const quota = await p.call('PUT', '/api/v1/tenants/acme/quota', acme.tokens.owner, { cpu: 64 });
      assert.equal(quota.status, 403);
      const ok = await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { cpu: 8, borrowingLimit: { cpu: 2 } });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.cpu, 8);
      assert.equal(ok.body.borrowingLimit.cpu, 2);
      assert.equal(ok.body.memoryMiB, 4096);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/quota', acme.tokens.viewer)).body.cpu, 8);
    });

    test('a role cannot mint a token above itself', async () => {
      const attempt = await p.call('POST', '/api/v1/tenants/acme/tokens', acme.tokens.admin, { name: 'escalate', role: 'owner' });
      assert.equal(attempt.status, 403);
      assert.equal(attempt.body.code, 'FORBIDDEN');
      const member = await p.call('POST', '/api/v1/tenants/acme/tokens', acme.tokens.member, { name: 'x', role: 'viewer' });
      assert.equal(member.status, 403);
    });

    test('bad input gets its documented code and leaves no partial state', async () => {
      const count = async () => (await p.call('GET', '/api/v1/tenants', adminToken)).body.tenants.length;
      const before = await count();
      const raw = await p.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, payload: '{"slug": "x",' });
      assert.equal(raw.statusCode, 400);
      assert.equal(JSON.parse(raw.body).code, 'BAD_REQUEST');
      const wrongType = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 42, name: 'x' });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body.code, 'VALIDATION_FAILED');
      assert.ok(Array.isArray(wrongType.body.details.issues));
      const unknownField = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'fine-slug', name: 'x', isAdmin: true });
      assert.equal(unknownField.status, 400);
      assert.equal(unknownField.body.code, 'VALIDATION_FAILED');
      for (const slug of ['A', 'ab', '-abc', 'abc-', 'has space', 'ünï', 'x'.repeat(41), '../etc']) {
        const bad = await p.call('POST', '/api/v1/tenants', adminToken, { slug, name: 'x' });
        assert.equal(bad.status, 400, slug);
        assert.equal(bad.body.code, 'VALIDATION_FAILED', slug);
      }
      const badTier = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'tier-test', name: 'x', tier: 'vm' });
      assert.equal(badTier.body.code, 'VALIDATION_FAILED');
      const big = await p.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, payload: JSON.stringify({ slug: 'big-one', name: 'x'.repeat(2 * 1024 * 1024) }) });
      assert.equal(big.statusCode, 413);
      assert.equal(JSON.parse(big.body).code, 'PAYLOAD_TOO_LARGE');
      const media = await p.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'text/plain' }, payload: 'slug=x' });
      assert.equal(media.statusCode, 415);
      assert.equal(JSON.parse(media.body).code, 'UNSUPPORTED_MEDIA_TYPE');
      const duplicate = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'acme', name: 'again' });
      assert.equal(duplicate.status, 409);
      assert.equal(duplicate.body.code, 'CONFLICT');
      assert.equal(await count(), before);
      const route = await p.call('GET', '/api/v1/nothing-here', adminToken);
      assert.equal(route.status, 404);
      assert.equal(route.body.code, 'NOT_FOUND');
    });

    test('missing, malformed, revoked and expired tokens are UNAUTHENTICATED and audited without the token', async () => {
      assert.equal((await p.call('GET', '/api/v1/me', undefined)).body.code, 'UNAUTHENTICATED');
      assert.equal((await p.call('GET', '/api/v1/me', 'not-a-token')).status, 401);
      const forged = 'bh_' + 'A'.repeat(43);
      assert.equal((await p.call('GET', '/api/v1/me', forged)).status, 401);
      const created = await p.call('POST', '/api/v1/tenants/acme/tokens', acme.tokens.owner, { name: 'short', role: 'viewer' });
      assert.equal((await p.call('GET', '/api/v1/me', created.body.token)).status, 200);
      const revoked = await p.call('DELETE', `/api/v1/tenants/acme/tokens/${created.body.id}`, acme.tokens.owner);
      assert.equal(revoked.status, 200);
      assert.ok(revoked.body.revokedAt !== null);
      assert.equal((await p.call('GET', '/api/v1/me', created.body.token)).status, 401);
      // Expiry: a token made with a clock in the past is already expired.
      const expiring = await p.platform.identity.createToken({ actor: 'test', requestId: 't' }, acme.id, { name: 'old', role: 'viewer', expiresInSeconds: -1 });
      assert.equal((await p.call('GET', '/api/v1/me', expiring.token)).status, 401);
      // Missing, malformed and unknown tokens: the platform's chain, anonymously. A revoked or expired token is
      // known: its use is recorded in its own tenant's chain as that token (by id), for the anomaly detector.
      const platformAudit = await p.call('GET', '/api/v1/platform/audit?limit=1000', adminToken);
      const failures = platformAudit.body.events.filter((e: { action: string }) => e.action === 'auth.failure');
      assert.ok(failures.length >= 3);
      const tenantAudit = await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin);
      const tokenFailures = (tenantAudit.body.events as Array<{ action: string; actor: string }>).filter((e) => e.action === 'auth.failure');
      assert.ok(tokenFailures.some((e) => e.actor === `token:${created.body.id}`), 'the revoked token, by id');
      assert.ok(tokenFailures.some((e) => e.actor === `token:${expiring.record.id}`), 'the expired token, by id');
      const serialized = JSON.stringify(platformAudit.body) + JSON.stringify(tenantAudit.body);
      for (const secret of [forged, created.body.token, expiring.token]) assert.ok(!serialized.includes(secret));
    });

    test('OIP v2 routes answer refusals in the platform error shape {code, message, requestId} (plus OIP\'s error)', async () => {
      const body = { inputs: [{ name: 'input', shape: [1, 1], datatype: 'FP32', data: [1] }] };
      const cases = [
        { token: undefined, status: 401, code: 'UNAUTHENTICATED' },
        { token: 'bh_' + 'x'.repeat(43), status: 401, code: 'UNAUTHENTICATED' },
        { token: adminToken, status: 403, code: 'FORBIDDEN' },
      ] as const;
      for (const { token, status, code } of cases) {
        for (const [method, url] of [['POST', '/v2/models/churn/infer'], ['GET', '/v2/models/churn'], ['GET', '/v2/health/ready']] as const) {
          const refused = await p.call(method, url, token, method === 'POST' ? body : undefined);
          assert.equal(refused.status, status, `${method} ${url}`);
          assert.equal(refused.body.code, code, `${method} ${url}: ${JSON.stringify(refused.body)}`);
          assert.equal(typeof refused.body.message, 'string');
          assert.match(refused.body.requestId, /\S/);
          assert.equal(refused.body.error, refused.body.message, 'OIP clients read `error`');
        }
      }
    });

    test('a token of tenant A used on tenant B is refused and recorded in A\'s chain as a denial', async () => {
      await p.call('GET', '/api/v1/tenants/globex/members', acme.tokens.admin);
      const events = (await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin)).body.events as Array<{ action: string; outcome: string; details: { reason?: string } }>;
      assert.ok(events.some((e) => e.outcome === 'denied' && e.details.reason === 'not_found'));
      const globexEvents = (await p.call('GET', '/api/v1/tenants/globex/audit?limit=1000', globex.tokens.admin)).body.events as Array<{ outcome: string }>;
      assert.ok(!globexEvents.some((e) => e.outcome === 'denied'), 'the probed tenant is not told who probed it');
    });

    test("a suspended tenant's tokens are refused until it is resumed; platform admins may still read it", async () => {
      const t = await p.createTenant('sleepy');
      const suspended = await p.call('PATCH', '/api/v1/tenants/sleepy', adminToken, { status: 'suspended' });
      assert.equal(suspended.body.status, 'suspended');
      const write = await p.call('POST', '/api/v1/tenants/sleepy/tokens', t.tokens.owner, { name: 'x', role: 'viewer' });
      assert.equal(write.status, 403);
      assert.equal(write.body.code, 'TENANT_SUSPENDED');
      const read = await p.call('GET', '/api/v1/tenants/sleepy/tokens', t.tokens.owner);
      assert.equal(read.status, 403);
      assert.equal(read.body.code, 'TENANT_SUSPENDED');
      assert.equal((await p.call('GET', '/api/v1/tenants/sleepy/tokens', adminToken)).status, 200);
      const adminWrite = await p.call('POST', '/api/v1/tenants/sleepy/tokens', adminToken, { name: 'x', role: 'viewer' });
      assert.equal(adminWrite.body.code, 'TENANT_SUSPENDED');
      await p.call('PATCH', '/api/v1/tenants/sleepy', adminToken, { status: 'active' });
      assert.equal((await p.call('POST', '/api/v1/tenants/sleepy/tokens', t.tokens.owner, { name: 'x', role: 'viewer' })).status, 201);
    });

    test('users log in with a password to a tenant they belong to, and nowhere else', async () => {
      const user = await p.call('POST', '/api/v1/users', adminToken, { username: 'alice', password: 'correct horse battery' });
      assert.equal(user.status, 201);
      assert.equal((await p.call('PUT', '/api/v1/tenants/acme/members/alice', acme.tokens.admin, { role: 'member' })).status, 200);
      const login = await p.call('POST', '/api/v1/auth/login', undefined, { username: 'alice', password: 'correct horse battery', tenant: 'acme' });
      assert.equal(login.status, 201);
      const me = await p.call('GET', '/api/v1/me', login.body.token);
      assert.equal(me.body.actor, 'user:alice');
      assert.equal(me.body.role, 'member');
      const wrong = await p.call('POST', '/api/v1/auth/login', undefined, { username: 'alice', password: 'wrong password!', tenant: 'acme' });
      assert.equal(wrong.status, 401);
      const otherTenant = await p.call('POST', '/api/v1/auth/login', undefined, { username: 'alice', password: 'correct horse battery', tenant: 'globex' });
      assert.equal(otherTenant.status, 401);
      assert.equal(otherTenant.body.message, wrong.body.message);
      const nobody = await p.call('POST', '/api/v1/auth/login', undefined, { username: 'nobody', password: 'whatever', tenant: 'acme' });
      assert.equal(nobody.body.message, wrong.body.message);
      const members = await p.call('GET', '/api/v1/tenants/acme/members', acme.tokens.viewer);
      assert.deepEqual(members.body.members.map((m: { user: { username: string } }) => m.user.username), ['alice']);
      assert.deepEqual((await p.call('GET', '/api/v1/tenants/globex/members', globex.tokens.viewer)).body.members, []);
      // Removing the member revokes their session.
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/members/alice', acme.tokens.admin)).status, 204);
      assert.equal((await p.call('GET', '/api/v1/me', login.body.token)).status, 401);
    });

    test('every mutation is in the audit log and the chain verifies', async () => {
      const events = (await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.owner)).body.events as Array<{ action: string }>;
      const actions = new Set(events.map((e) => e.action));
      for (const action of ['tenant.create', 'token.create', 'token.revoke', 'tenant.quota.update', 'member.set', 'member.remove']) assert.ok(actions.has(action), action);
      const verified = await p.call('GET', '/api/v1/tenants/acme/audit/verify', acme.tokens.owner);
      assert.equal(verified.body.ok, true);
      assert.ok(verified.body.eventsChecked >= events.length);
      const platform = await p.call('GET', '/api/v1/platform/audit/verify', adminToken);
      assert.equal(platform.body.ok, true);
      assert.equal((await p.call('GET', '/api/v1/platform/audit/verify', acme.tokens.owner)).status, 403);
    });

    test('a tenant over its request rate gets 429 with Retry-After; other tenants are unaffected', async () => {
      const noisy = await p.createTenant('noisy');
      assert.equal((await p.call('PUT', '/api/v1/tenants/noisy/quota', adminToken, { requestsPerSecond: 5 })).status, 200);
      // No wait: a quota change applies to the next request in the process that made it.
      // All at once: the bucket holds one second of the rate (5), so most of 30 must be refused.
      const results = await Promise.all(Array.from({ length: 30 }, () => p.call('GET', '/api/v1/tenants/noisy/members', noisy.tokens.viewer)));
      const limited = results.filter((r) => r.status === 429);
      assert.ok(limited.length >= 15, `only ${limited.length} of 30 were limited`);
      assert.ok(results.every((r) => r.status === 200 || r.status === 429));
      assert.equal(limited[0]!.body.code, 'RATE_LIMITED');
      assert.ok(Number(limited[0]!.headers['retry-after']) >= 1);
      for (let i = 0; i < 20; i += 1) assert.equal((await p.call('GET', '/api/v1/tenants/acme/members', acme.tokens.viewer)).status, 200);

      // A refused request with a large body is answered and its connection closed, so the body is never
      // read; a small one keeps the connection (draining it costs less than the client's reconnect).
      const post = (bytes: number) => p.app.inject({
        method: 'POST', url: '/api/v1/tenants/noisy/jobs', headers: { authorization: `Bearer ${noisy.tokens.member}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ command: ['true'], env: { PAD: 'x'.repeat(bytes) } }),
      });
      const big = (await Promise.all(Array.from({ length: 10 }, () => post(100_000)))).filter((r) => r.statusCode === 429);
      assert.ok(big.length > 0);
      assert.ok(big.every((r) => r.headers['connection'] === 'close'), JSON.stringify(big.map((r) => r.headers['connection'])));
      const small = (await Promise.all(Array.from({ length: 10 }, () => post(10)))).filter((r) => r.statusCode === 429);
      assert.ok(small.length > 0);
      assert.ok(small.every((r) => r.headers['connection'] !== 'close'));
    });

    test('errors never carry stacks, SQL or tokens', async () => {
      const responses = [
        await p.call('GET', '/api/v1/tenants/globex', acme.tokens.owner),
        await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'acme', name: 'dup' }),
        await p.call('DELETE', '/api/v1/tenants/acme/tokens/not-a-uuid', acme.tokens.owner),
      ];
      for (const response of responses) {
        const text = JSON.stringify(response.body);
        assert.ok(!/at .*\.ts:\d+|SELECT|INSERT|duplicate key|bh_[A-Za-z0-9_-]{20,}/.test(text), text);
        assert.match(response.body.requestId, /^req_[0-9a-f]{16}$/);
        assert.equal(response.headers['x-request-id'], response.body.requestId);
      }
    });
  });
}
