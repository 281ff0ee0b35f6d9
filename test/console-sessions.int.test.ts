/**
 * Web console sessions (issue 11), on PGlite and PostgreSQL through the real app: the cookie's attributes,
 * CSRF on every state-changing request, sign-out revoking server-side (and revoking the token that password
 * sign-in minted), a revoked token or a suspended tenant ending the session, idle and absolute expiry, the
 * stored row holding no usable credential, another tenant's data unreachable with a session cookie, and
 * the console page's security headers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { withSystem } from '../src/db/index.ts';
import { createConsoleSessionStore } from '../src/http/console/console-sessions.ts';

interface Signed { cookie: string; setCookie: string; csrf: string; body: any }

for (const kind of databaseKinds) {
  describe(`console sessions on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    const signIn = async (body: object): Promise<Signed> => {
      const response = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: body });
      assert.equal(response.statusCode, 201, response.body);
      const setCookie = String(response.headers['set-cookie']);
      return { setCookie, cookie: setCookie.split(';')[0]!, csrf: response.json().csrf, body: response.json() };
    };
    const withCookie = (s: Signed, method: string, url: string, options: { csrf?: string; payload?: object; headers?: Record<string, string> } = {}) =>
      p.app.inject({
        method: method as 'GET', url,
        headers: { cookie: s.cookie, ...(options.csrf === undefined ? {} : { 'x-csrf-token': options.csrf }), ...options.headers },
        ...(options.payload === undefined ? {} : { payload: options.payload }),
      });

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('cs-a');
      b = await p.createTenant('cs-b');
      await p.call('POST', '/api/2.0/mlflow/experiments/create', a.tokens.member, { name: 'a-secret-experiment' });
    });
    after(async () => p?.close());

    test('sign-in with a token sets an HttpOnly, SameSite=Strict cookie; the session reads the API', async () => {
      const s = await signIn({ token: a.tokens.member });
      assert.match(s.setCookie, /^bulkhead_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
      assert.equal(s.body.kind, 'tenant');
      assert.equal(s.body.tenant.slug, 'cs-a');
      assert.ok(!JSON.stringify(s.body).includes(a.tokens.member), 'the token is not echoed');
      const tls = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: { token: a.tokens.member }, headers: { 'x-forwarded-proto': 'https' } });
      assert.match(String(tls.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/, 'Secure behind a TLS-terminating proxy');
      const jobs = await withCookie(s, 'GET', '/api/v1/tenants/cs-a/jobs');
      assert.equal(jobs.statusCode, 200, jobs.body);
      const again = await withCookie(s, 'GET', '/ui/api/session');
      assert.equal(again.json().csrf, s.csrf, 'a reloaded page gets the same CSRF token');
      const none = await p.app.inject({ method: 'GET', url: '/ui/api/session' });
      assert.deepEqual(none.json(), { signedIn: false, reason: 'none', message: 'you are not signed in' });
    });

    test('state-changing requests need the CSRF token; reads do not', async () => {
      const s = await signIn({ token: a.tokens.member });
      const none = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/create', { payload: { name: 'csrf-less' } });
      assert.equal(none.statusCode, 403, none.body);
      const wrong = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/create', { payload: { name: 'csrf-wrong' }, csrf: 'x'.repeat(43) });
      assert.equal(wrong.statusCode, 403, wrong.body);
      const right = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/create', { payload: { name: 'csrf-right' }, csrf: s.csrf });
      assert.equal(right.statusCode, 200, right.body);
      const list = await p.call('POST', '/api/2.0/mlflow/experiments/search', a.tokens.member, { max_results: 100 });
      const names = list.body.experiments.map((x: { name: string }) => x.name);
      assert.ok(names.includes('csrf-right') && !names.includes('csrf-less') && !names.includes('csrf-wrong'), names.join(','));
      // Another session's CSRF token is not this session's.
      const other = await signIn({ token: a.tokens.member });
      const crossed = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/create', { payload: { name: 'csrf-crossed' }, csrf: other.csrf });
      assert.equal(crossed.statusCode, 403);
    });

    test("tenant B's session reaches none of tenant A's data, by path or by MLflow workspace", async () => {
      const s = await signIn({ token: b.tokens.owner });
      for (const url of ['/api/v1/tenants/cs-a/jobs', '/api/v1/tenants/cs-a/audit', '/api/v1/tenants/cs-a/deployments', '/api/v1/tenants/cs-a/usage']) {
        const response = await withCookie(s, 'GET', url);
        assert.equal(response.statusCode, 404, `${url}: ${response.body}`);
      }
      const workspace = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/search', { payload: { max_results: 10 }, csrf: s.csrf, headers: { 'x-mlflow-workspace': 'cs-a' } });
      assert.equal(workspace.statusCode, 404, workspace.body);
      const own = await withCookie(s, 'POST', '/api/2.0/mlflow/experiments/search', { payload: { max_results: 10 }, csrf: s.csrf, headers: { 'x-mlflow-workspace': 'cs-b' } });
      assert.equal(own.statusCode, 200, own.body);
      assert.ok(!own.body.includes('a-secret-experiment'));
    });

    test('sign-out revokes the session server-side; a pasted token stays valid', async () => {
      const s = await signIn({ token: a.tokens.viewer });
      const noCsrf = await withCookie(s, 'DELETE', '/ui/api/session');
      assert.equal(noCsrf.statusCode, 403, 'sign-out is CSRF-protected too');
      const out = await withCookie(s, 'DELETE', '/ui/api/session', { csrf: s.csrf });
      assert.equal(out.statusCode, 204, out.body);
      assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
      // The old cookie, replayed: refused, though the browser was told to forget it.
      const replay = await withCookie(s, 'GET', '/api/v1/tenants/cs-a/jobs');
      assert.equal(replay.statusCode, 401);
      assert.match(replay.json().message, /signed out/);
      const state = await withCookie(s, 'GET', '/ui/api/session');
      assert.equal(state.json().signedIn, false);
      assert.equal(state.json().reason, 'revoked');
      assert.equal((await withCookie(s, 'DELETE', '/ui/api/session', { csrf: s.csrf })).statusCode, 204, 'signing out again is a no-op');
      // Both ends of the session are in the tenant's own audit log, neither carries a secret.
      const events = (await p.call('GET', '/api/v1/tenants/cs-a/audit?limit=1000', a.tokens.owner)).body.events as Array<{ action: string; actor: string }>;
      const actions = events.map((e) => e.action);
      assert.ok(actions.includes('console.sign_in') && actions.includes('console.sign_out'), actions.join(','));
      assert.ok(!JSON.stringify(events).includes(a.tokens.viewer) && !JSON.stringify(events).includes(s.cookie.split('=')[1]!));
      const other = (await p.call('GET', '/api/v1/tenants/cs-b/audit?limit=1000', b.tokens.owner)).body.events as Array<{ action: string; target: string }>;
      assert.ok(!other.some((e) => e.action === 'console.sign_out'), "tenant B's log has none of A's sign-outs");
      assert.equal((await p.call('GET', '/api/v1/tenants/cs-a/jobs', a.tokens.viewer)).status, 200);
    });

    test('password sign-in mints a session token that sign-out revokes', async () => {
      assert.equal((await p.call('POST', '/api/v1/users', adminToken, { username: 'cs-alice', password: 'correct horse battery' })).status, 201);
      assert.equal((await p.call('PUT', '/api/v1/tenants/cs-a/members/cs-alice', adminToken, { role: 'member' })).status, 200);
      const bad = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: { username: 'cs-alice', password: 'wrong password!!', tenant: 'cs-a' } });
      assert.equal(bad.statusCode, 401);
      assert.equal(bad.headers['set-cookie'], undefined);
      const s = await signIn({ username: 'cs-alice', password: 'correct horse battery', tenant: 'cs-a' });
      assert.equal(s.body.actor.includes('cs-alice'), true, s.body.actor);
      const tokens = async () => (await p.call('GET', '/api/v1/tenants/cs-a/tokens', adminToken)).body.tokens.filter((t: { kind: string; revokedAt: string | null }) => t.kind === 'session');
      const live = (await tokens()).filter((t: { revokedAt: string | null }) => t.revokedAt === null);
      assert.equal(live.length, 1);
      assert.equal((await withCookie(s, 'DELETE', '/ui/api/session', { csrf: s.csrf })).statusCode, 204);
      const revoked = (await tokens()).find((t: { id: string }) => t.id === live[0].id);
      assert.notEqual(revoked.revokedAt, null);
    });

    test('password sign-in naming no tenant: one tenant signs in to it, several list them to pick from, no session yet', async () => {
      assert.equal((await p.call('POST', '/api/v1/users', adminToken, { username: 'cs-multi', password: 'several tenants pass' })).status, 201);
      assert.equal((await p.call('POST', '/api/v1/users', adminToken, { username: 'cs-single', password: 'only one tenant pass' })).status, 201);
      assert.equal((await p.call('POST', '/api/v1/users', adminToken, { username: 'cs-none', password: 'member of nothing!' })).status, 201);
      for (const [user, slug, role] of [['cs-multi', 'cs-b', 'viewer'], ['cs-multi', 'cs-a', 'member'], ['cs-single', 'cs-b', 'member']] as const) {
        assert.equal((await p.call('PUT', `/api/v1/tenants/${slug}/members/${user}`, adminToken, { role })).status, 200);
      }
      const choose = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: { username: 'cs-multi', password: 'several tenants pass' } });
      assert.equal(choose.statusCode, 200, choose.body);
      assert.equal(choose.headers['set-cookie'], undefined, 'no session before a tenant is picked');
      assert.deepEqual(choose.json().tenants.map((t: { slug: string; role: string }) => `${t.slug}:${t.role}`), ['cs-a:member', 'cs-b:viewer']);
      assert.equal(choose.json().reason, 'choose_tenant');
      // The wrong password lists nothing; neither does an unknown user or a user of no tenant.
      for (const payload of [{ username: 'cs-multi', password: 'wrong password!!' }, { username: 'cs-nobody', password: 'several tenants pass' }, { username: 'cs-none', password: 'member of nothing!' }]) {
        const bad = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload });
        assert.equal(bad.statusCode, 401, bad.body);
        assert.ok(!bad.body.includes('cs-a') && !bad.body.includes('cs-b'), bad.body);
        assert.equal(bad.headers['set-cookie'], undefined);
      }
      const picked = await signIn({ username: 'cs-multi', password: 'several tenants pass', tenant: 'cs-b' });
      assert.equal(picked.body.tenant.slug, 'cs-b');
      assert.equal(picked.body.role, 'viewer');
      assert.equal((await withCookie(picked, 'GET', '/api/v1/tenants/cs-b/jobs')).statusCode, 200);
      assert.equal((await withCookie(picked, 'GET', '/api/v1/tenants/cs-a/jobs')).statusCode, 404, "the picked tenant's session only");
      const single = await signIn({ username: 'cs-single', password: 'only one tenant pass' });
      assert.equal(single.body.tenant.slug, 'cs-b');
      // A tenant the user is not a member of stays bad credentials.
      const stranger = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: { username: 'cs-single', password: 'only one tenant pass', tenant: 'cs-a' } });
      assert.equal(stranger.statusCode, 401);
    });

    test('a revoked token and a suspended tenant end their sessions', async () => {
      const minted = await p.call('POST', '/api/v1/tenants/cs-b/tokens', adminToken, { name: 'to-revoke', role: 'member' });
      const s = await signIn({ token: minted.body.token });
      assert.equal((await withCookie(s, 'GET', '/api/v1/tenants/cs-b/jobs')).statusCode, 200);
      assert.equal((await p.call('DELETE', `/api/v1/tenants/cs-b/tokens/${minted.body.id}`, adminToken)).status, 200);
      assert.equal((await withCookie(s, 'GET', '/api/v1/tenants/cs-b/jobs')).statusCode, 401);

      const c = await p.createTenant('cs-c');
      const sc = await signIn({ token: c.tokens.member });
      assert.equal((await p.call('PATCH', '/api/v1/tenants/cs-c', adminToken, { status: 'suspended' })).status, 200);
      const refused = await withCookie(sc, 'GET', '/api/v1/tenants/cs-c/jobs');
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().code, 'TENANT_SUSPENDED');
      const signInSuspended = await p.app.inject({ method: 'POST', url: '/ui/api/session', payload: { token: c.tokens.member } });
      assert.equal(signInSuspended.statusCode, 403);
    });

    test('idle and absolute expiry; the stored row holds no usable credential', async () => {
      let clock = Date.now();
      const store = createConsoleSessionStore({ db: p.platform.db, idleSeconds: 60, absoluteSeconds: 300, now: () => clock });
      const principal = await p.platform.identity.authenticate(a.tokens.member);
      assert.ok(principal !== undefined);
      const created = await store.create({ token: a.tokens.member, tokenId: principal.tokenId, ownsToken: false });
      const rows = await withSystem(p.platform.db, (tx) => tx.query<Record<string, unknown>>('SELECT * FROM console_sessions'));
      const dump = JSON.stringify(rows.rows);
      assert.ok(!dump.includes(a.tokens.member) && !dump.includes(created.secret) && !dump.includes(created.csrf), 'neither the token, the cookie nor the CSRF token is stored');
      const read = () => store.resolve(created.secret, { stateChanging: false, csrf: undefined });
      clock += 50_000;
      assert.equal((await read()).ok, true);
      clock += 50_000; // 50 s after the last use: within the idle window
      assert.equal((await read()).ok, true);
      clock += 61_000; // idle for 61 s
      assert.deepEqual(await read(), { ok: false, reason: 'expired' });

      clock = Date.now();
      const second = await store.create({ token: a.tokens.member, tokenId: principal.tokenId, ownsToken: false });
      for (let i = 0; i < 6; i += 1) {
        clock += 45_000; // used every 45 s: never idle (270 s after sign-in at the last step)
        assert.equal((await store.resolve(second.secret, { stateChanging: false, csrf: undefined })).ok, true, `step ${i}`);
      }
      clock += 45_000; // 315 s after sign-in: past the absolute limit
      assert.deepEqual(await store.resolve(second.secret, { stateChanging: false, csrf: undefined }), { ok: false, reason: 'expired' });
      // A sign-in two days later sweeps both ended sessions (more than a day past their end).
      const count = async () => Number((await withSystem(p.platform.db, (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM console_sessions WHERE token_id = $1', [principal.tokenId]))).rows[0]!.n);
      const before = await count();
      clock = Date.now() + 2 * 86_400_000;
      await store.create({ token: a.tokens.member, tokenId: principal.tokenId, ownsToken: false });
      assert.ok(before >= 2);
      assert.equal(await count(), 1, 'every session of this token that ended over a day ago is gone');
      // The application role (every tenant-scoped transaction) cannot read the table at all.
      const { withTenant } = await import('../src/db/index.ts');
      await assert.rejects(withTenant(p.platform.db, a.id, (tx) => tx.query('SELECT count(*) FROM console_sessions')), /permission denied/);
    });

    test('the console page: served at /ui/, GET / redirects, strict CSP, nosniff, no framing', async () => {
      const root = await p.app.inject({ method: 'GET', url: '/' });
      assert.equal(root.statusCode, 302);
      assert.equal(root.headers.location, '/ui/');
      for (const url of ['/ui/', '/ui/t/cs-a/experiments/1?filter=x', '/ui/assets/app.js', '/ui/assets/app.css']) {
        const page = await p.app.inject({ method: 'GET', url });
        assert.equal(page.statusCode, 200, url);
        const csp = String(page.headers['content-security-policy']);
        assert.match(csp, /script-src 'self';/);
        assert.match(csp, /frame-ancestors 'none'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
        assert.equal(page.headers['x-content-type-options'], 'nosniff');
      }
      const html = (await p.app.inject({ method: 'GET', url: '/ui/t/cs-a/runs/abc' })).body;
      assert.doesNotMatch(html, /<script>|<script(?![^>]*src=)[^>]*>/, 'no inline script');
      assert.equal((await p.app.inject({ method: 'GET', url: '/ui/assets/nope.js' })).statusCode, 404);
    });
  });
}
