/**
 * OIDC machine clients and group mapping (issue 14), on PGlite and PostgreSQL, against two real OpenID
 * Providers (panva's oidc-provider, in-process): an IdP-issued JWT access token acts as a Bearer token with
 * the role its groups map to, in the mapped tenant only; tokens of another issuer, with the wrong audience,
 * expired, `alg: none`, HS256 signed with the provider's public key, or tampered are refused with 401 and a
 * reason naming the cause (never the token); removing the client from its group removes its access and its
 * membership; custom roles and scoped tokens hold exactly their permissions; no one defines a role above
 * their own permissions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestIdp } from './support/oidc-provider.ts';
import type { TestIdp } from './support/oidc-provider.ts';
import { mlflowHttp } from './support/mlflow-http.ts';
import { waitFor } from './support/wait.ts';
import { runCliWith } from './support/cli.ts';

const machineClients = ['ci-a', 'ci-multi', 'ci-logger', 'ci-none', 'ci-ops', 'ci-short', 'ci-people', 'ci-race'];

const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

for (const kind of databaseKinds) {
  describe(`OIDC bearer tokens and roles on ${kind}`, () => {
    let idp: TestIdp;
    let other: TestIdp;
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    const refused = async (token: string, reason: string, url = '/api/v1/tenants/sso-a/quota') => {
      const response = await p.call('GET', url, token);
      assert.equal(response.status, 401, JSON.stringify(response.body));
      assert.equal(response.body.code, 'UNAUTHENTICATED');
      assert.equal(response.body.details?.reason, reason, JSON.stringify(response.body));
      assert.ok(!JSON.stringify(response.body).includes(token.split('.')[2] || token), 'the refusal must not echo the token');
      return response;
    };

    before(async () => {
      idp = await startTestIdp({ machineClients });
      other = await startTestIdp({ machineClients: ['ci-a'] });
      p = await createTestPlatform(kind, {
        oidc: {
          issuer: idp.issuer, clientId: idp.clientId, audience: idp.audience, clockSkewSeconds: 0,
          roleMappings: [
            { group: 'acme-eng', tenant: 'sso-a', role: 'member' },
            { group: 'acme-view', tenant: 'sso-a', role: 'viewer' },
            { group: 'globex-eng', tenant: 'sso-b', role: 'member' },
            { group: 'acme-loggers', tenant: 'sso-a', role: 'metrics-logger' },
            { group: 'acme-people', tenant: 'sso-a', role: 'people-admin' },
          ],
          platformAdminGroups: ['platform-ops'],
        },
      });
      a = await p.createTenant('sso-a');
      b = await p.createTenant('sso-b');
      idp.groups.set('ci-a', ['acme-eng', 'unrelated-group']);
      other.groups.set('ci-a', ['acme-eng']);
      idp.groups.set('ci-multi', ['acme-view', 'globex-eng']);
      idp.groups.set('ci-logger', ['acme-loggers']);
      idp.groups.set('ci-none', ['nobody-maps-this']);
      idp.groups.set('ci-ops', ['platform-ops']);
      idp.groups.set('ci-short', ['acme-eng']);
      idp.groups.set('ci-people', ['acme-people']);
      idp.groups.set('ci-race', ['acme-eng']);
    });
    after(async () => {
      await p?.close();
      await idp?.close();
      await other?.close();
    });

    test('a mapped JWT acts in its tenant with its role; another tenant is NOT_FOUND; the user is made just in time without a password', async () => {
      const token = await idp.machineToken('ci-a');
      const me = await p.call('GET', '/api/v1/me', token);
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.role, 'member');
      assert.equal(me.body.actor, 'user:ci-a');
      const created = await mlflowHttp(p, token).post('experiments/create', { name: 'sso-exp' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      // Visible to the tenant's own tokens: it was made in sso-a.
      const listed = await mlflowHttp(p, a.tokens.viewer).get('experiments/get-by-name', { experiment_name: 'sso-exp' });
      assert.equal(listed.status, 200);
      // A member may not write members; another tenant is not found, exactly as a missing one.
      assert.equal((await p.call('PUT', '/api/v1/tenants/sso-a/members/ci-a', token, { role: 'admin' })).status, 403);
      const foreign = await p.call('GET', '/api/v1/tenants/sso-b/quota', token);
      const missing = await p.call('GET', '/api/v1/tenants/no-such-tenant/quota', token);
      assert.equal(foreign.status, 404);
      assert.deepEqual({ ...foreign.body, requestId: 0, message: 0 }, { ...missing.body, requestId: 0, message: 0 });
      const members = await p.call('GET', '/api/v1/tenants/sso-a/members', adminToken);
      const row = members.body.members.find((m: any) => m.user.username === 'ci-a');
      assert.equal(row?.role, 'member');
      // No password: password sign-in as that user is refused.
      assert.equal((await p.call('POST', '/api/v1/auth/login', undefined, { username: 'ci-a', password: 'anything-at-all-1', tenant: 'sso-a' })).status, 401);
      const audit = await p.call('GET', '/api/v1/tenants/sso-a/audit?limit=100', adminToken);
      assert.ok(audit.body.events.some((e: any) => e.action === 'member.sso_set' && e.target === 'user:ci-a'), 'the mapped membership is audited');
    });

    test('refused with 401 and the cause: other issuer, wrong audience, alg none, HS256 with the public key, tampered, unknown group', async () => {
      await refused(await other.machineToken('ci-a'), 'wrong_issuer');
      await refused(await idp.machineToken('ci-a', 'urn:other'), 'wrong_audience');
      const good = await idp.machineToken('ci-a');
      const [, payload] = good.split('.');
      await refused(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'alg_not_allowed');
      // The classic key-confusion attack: the provider's public key (PEM) used as an HMAC secret.
      const pem = createPublicKey({ key: idp.publicJwk as never, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
      const hs = await new SignJWT(decodeJwt(good)).setProtectedHeader({ alg: 'HS256', kid: 'test-key-1' }).sign(new TextEncoder().encode(pem));
      await refused(hs, 'alg_not_allowed');
      // Same header and signature, a claim changed: the signature no longer verifies.
      const [header, , signature] = good.split('.');
      await refused(`${header}.${b64({ ...decodeJwt(good), groups: ['platform-ops'] })}.${signature}`, 'bad_signature');
      await refused(await idp.machineToken('ci-none'), 'no_mapped_group');
      // Each refusal is audited in the platform's chain with its reason.
      const audit = await p.call('GET', '/api/v1/platform/audit?limit=200', adminToken);
      const reasons = new Set(audit.body.events.filter((e: any) => e.action === 'auth.failure').map((e: any) => e.details?.reason));
      for (const reason of ['oidc_wrong_issuer', 'oidc_wrong_audience', 'oidc_alg_not_allowed', 'oidc_bad_signature', 'oidc_no_mapped_group']) assert.ok(reasons.has(reason), `audited ${reason}`);
      assert.ok(!JSON.stringify(audit.body).includes(good), 'no token in the audit log');
    });

    test('an expired token is refused as expired', async () => {
      idp.accessTokenTtl.seconds = 1;
      const token = await idp.machineToken('ci-short');
      idp.accessTokenTtl.seconds = 600;
      const exp = decodeJwt(token).exp!;
      await waitFor('the token to expire', () => Date.now() / 1000 > exp + 0.5);
      await refused(token, 'token_expired');
    });

    test('removing the client from its group removes its access and its membership at its next token', async () => {
      idp.groups.set('ci-short', ['acme-eng']);
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-a/quota', await idp.machineToken('ci-short'))).status, 200);
      idp.groups.set('ci-short', []);
      await refused(await idp.machineToken('ci-short'), 'no_mapped_group');
      const gone = await p.call('GET', '/api/v1/tenants/sso-a/members', adminToken);
      assert.ok(!gone.body.members.some((m: any) => m.user.username === 'ci-short'), 'out of every group: out of the tenant at once');
      idp.groups.set('ci-short', ['acme-view']);
      const demoted = await idp.machineToken('ci-short');
      assert.equal((await mlflowHttp(p, demoted).post('experiments/create', { name: 'demoted' })).status, 403);
      idp.groups.set('ci-short', ['globex-eng']);
      const moved = await idp.machineToken('ci-short');
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-a/quota', moved)).status, 404);
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-b/quota', moved)).status, 200);
      const members = await p.call('GET', '/api/v1/tenants/sso-a/members', adminToken);
      assert.ok(!members.body.members.some((m: any) => m.user.username === 'ci-short'), 'the SSO membership of sso-a is gone');
      const audit = await p.call('GET', '/api/v1/tenants/sso-a/audit?limit=200', adminToken);
      assert.ok(audit.body.events.some((e: any) => e.action === 'member.sso_remove' && e.target === 'user:ci-short'));
    });

    test('several tenants: the path picks one; MLflow routes need X-Bulkhead-Tenant naming a mapped tenant', async () => {
      const token = await idp.machineToken('ci-multi');
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-a/quota', token)).status, 200);
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-b/quota', token)).status, 200);
      const api = mlflowHttp(p, token);
      const ambiguous = await api.post('experiments/create', { name: 'multi' });
      assert.equal(ambiguous.status, 400);
      const inB = await api.post('experiments/create', { name: 'multi' }, { 'x-bulkhead-tenant': 'sso-b' });
      assert.equal(inB.status, 200, JSON.stringify(inB.body));
      assert.equal((await mlflowHttp(p, b.tokens.viewer).get('experiments/get-by-name', { experiment_name: 'multi' })).status, 200);
      // Viewer in sso-a: may read there, not write.
      assert.equal((await api.post('experiments/create', { name: 'multi' }, { 'x-bulkhead-tenant': 'sso-a' })).status, 403);
      const unmapped = await p.createTenant('sso-c');
      assert.equal((await api.post('experiments/create', { name: 'x' }, { 'x-bulkhead-tenant': unmapped.slug })).status, 404);
    });

    test('a new person\'s first requests arriving at once all succeed and make one user', async () => {
      const token = await idp.machineToken('ci-race');
      const statuses = await Promise.all(Array.from({ length: 6 }, () => p.call('GET', '/api/v1/tenants/sso-a/quota', token).then((r) => r.status)));
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
      const users = await p.call('GET', '/api/v1/users', adminToken);
      assert.equal(users.body.users.filter((u: any) => u.username === 'ci-race').length, 1);
    });

    test('a platform-admin group makes a platform admin', async () => {
      const token = await idp.machineToken('ci-ops');
      assert.equal((await p.call('GET', '/api/v1/users', token)).status, 200);
      assert.equal((await p.call('GET', '/api/v1/users', await idp.machineToken('ci-a'))).status, 403);
    });

    test('the permission catalogue is readable by any principal and holds no platform permission', async () => {
      const catalogue = await p.call('GET', '/api/v1/permissions', a.tokens.viewer);
      assert.equal(catalogue.status, 200);
      const names = catalogue.body.permissions.map((e: any) => e.name);
      assert.ok(names.includes('artifacts:read') && names.includes('tracking:write'));
      assert.ok(!names.some((n: string) => n.startsWith('platform')));
      assert.equal((await p.call('GET', '/api/v1/permissions', undefined)).status, 401);
    });

    test('a custom role without artifacts:read logs metrics but cannot download an artifact (mapped group and API token alike)', async () => {
      const role = await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.admin, { name: 'metrics-logger', permissions: ['tracking:read', 'tracking:write'] });
      assert.equal(role.status, 201, JSON.stringify(role.body));
      const member = mlflowHttp(p, a.tokens.member);
      const { experiment_id: experimentId } = (await member.post('experiments/create', { name: 'logger-exp' })).body;
      const put = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/r/artifacts/model.txt`, headers: { authorization: `Bearer ${a.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from('weights') });
      assert.equal(put.statusCode, 200, put.body);
      const apiToken = await p.call('POST', '/api/v1/tenants/sso-a/tokens', a.tokens.admin, { name: 'logger-token', role: 'metrics-logger' });
      assert.equal(apiToken.status, 201, JSON.stringify(apiToken.body));
      for (const token of [await idp.machineToken('ci-logger'), apiToken.body.token as string]) {
        assert.equal((await p.call('GET', '/api/v1/me', token)).body.role, 'metrics-logger');
        const api = mlflowHttp(p, token);
        const run = await api.post('runs/create', { experiment_id: experimentId, start_time: Date.now() });
        assert.equal(run.status, 200, JSON.stringify(run.body));
        const runId = run.body.run.info.run_id;
        assert.equal((await api.post('runs/log-metric', { run_id: runId, key: 'loss', value: 0.5, timestamp: 1, step: 0 })).status, 200);
        const download = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/r/artifacts/model.txt`, headers: { authorization: `Bearer ${token}` } });
        assert.equal(download.statusCode, 403, download.body);
        const upload = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/r/artifacts/x.txt`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from('x') });
        assert.equal(upload.statusCode, 403);
      }
      // The member's own download still works: built-in roles are unchanged.
      const own = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/r/artifacts/model.txt`, headers: { authorization: `Bearer ${a.tokens.member}` } });
      assert.equal(own.statusCode, 200);
      // A role in use cannot be deleted; the role is invisible to another tenant.
      assert.equal((await p.call('DELETE', '/api/v1/tenants/sso-a/roles/metrics-logger', a.tokens.admin)).status, 409);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-b/tokens', b.tokens.admin, { name: 'x', role: 'metrics-logger' })).status, 400);
      const audit = await p.call('GET', '/api/v1/tenants/sso-a/audit?limit=200', adminToken);
      assert.ok(audit.body.events.some((e: any) => e.action === 'role.create' && e.target === 'role:metrics-logger'));
    });

    test('no escalation: a role above its creator, a platform permission, a grant above one\'s own are refused', async () => {
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.member, { name: 'sneaky', permissions: ['tracking:read'] })).status, 403);
      const platform = await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.owner, { name: 'sneaky', permissions: ['platform:tenants.read'] });
      assert.equal(platform.status, 403);
      assert.match(platform.body.message, /platform-level/);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.owner, { name: 'bogus', permissions: ['runs:fly'] })).status, 400);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.owner, { name: 'member', permissions: ['tracking:read'] })).status, 409);
      // A tenant admin by custom role: may manage members but holds no artifact permission.
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/roles', a.tokens.admin, { name: 'people-admin', permissions: ['members:read', 'members:write', 'tracking:read'] })).status, 201);
      const admin = await idp.machineToken('ci-people');
      const above = await p.call('POST', '/api/v1/tenants/sso-a/roles', admin, { name: 'downloader', permissions: ['tracking:read', 'artifacts:read'] });
      assert.equal(above.status, 403, JSON.stringify(above.body));
      assert.match(above.body.message, /artifacts:read/);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/roles', admin, { name: 'reader', permissions: ['tracking:read'] })).status, 201);
      // Nor may it grant a built-in role holding what it lacks, or a custom role above it.
      assert.equal((await p.call('PUT', '/api/v1/tenants/sso-a/members/ci-a', admin, { role: 'viewer' })).status, 403);
      assert.equal((await p.call('PUT', '/api/v1/tenants/sso-a/members/ci-a', admin, { role: 'metrics-logger' })).status, 403);
      const audit = await p.call('GET', '/api/v1/tenants/sso-a/audit?limit=200', adminToken);
      assert.ok(!audit.body.events.some((e: any) => e.action === 'role.create' && e.target === 'role:downloader'), 'nothing half-written');
    });

    test('a scoped token holds only its scope', async () => {
      const scoped = await p.call('POST', '/api/v1/tenants/sso-a/tokens', a.tokens.admin, { name: 'read-only-ci', role: 'member', scope: ['tracking:read'] });
      assert.equal(scoped.status, 201, JSON.stringify(scoped.body));
      assert.deepEqual(scoped.body.scope, ['tracking:read']);
      const api = mlflowHttp(p, scoped.body.token);
      assert.equal((await api.get('experiments/get-by-name', { experiment_name: 'sso-exp' })).status, 200);
      assert.equal((await api.post('experiments/create', { name: 'nope' })).status, 403);
      // A scope beyond the role is refused whole.
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/tokens', a.tokens.admin, { name: 'x', role: 'viewer', scope: ['tracking:write'] })).status, 400);
    });

    test('a token narrowed to an experiment: other experiments, their runs and artifacts, and the rest of the tenant are NOT_FOUND', async () => {
      const member = mlflowHttp(p, a.tokens.member);
      const churn = (await member.post('experiments/create', { name: 'churn' })).body.experiment_id as string;
      const other = (await member.post('experiments/create', { name: 'fraud' })).body.experiment_id as string;
      const otherRun = (await member.post('runs/create', { experiment_id: other, start_time: 1 })).body.run.info.run_id as string;
      // The issue's own command line: bulkhead token create --expires 30d --scope runs:write --experiment churn.
      const url = await p.listen().catch(() => `http://127.0.0.1:${(p.app.server.address() as { port: number }).port}`);
      const cli = await runCliWith(['--json', 'token', 'create', '--tenant', 'sso-a', '--name', 'churn-ci', '--role', 'member', '--expires', '30d', '--scope', 'tracking:read,tracking:write,artifacts:read', '--experiment', 'churn'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: a.tokens.admin });
      assert.equal(cli.code, 0, cli.err);
      const made = JSON.parse(cli.out);
      assert.deepEqual(made.experiments, [churn]);
      const api = mlflowHttp(p, made.token);
      const run = await api.post('runs/create', { experiment_id: churn, start_time: 1 });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      const runId = run.body.run.info.run_id as string;
      assert.equal((await api.post('runs/log-metric', { run_id: runId, key: 'auc', value: 0.9, timestamp: 1, step: 0 })).status, 200);
      assert.equal((await api.get('runs/get', { run_id: runId })).status, 200);
      assert.equal((await api.get('experiments/get-by-name', { experiment_name: 'churn' })).status, 200);
      const outside = [
        await api.post('runs/log-metric', { run_id: otherRun, key: 'auc', value: 0.1, timestamp: 1, step: 0 }),
        await api.get('runs/get', { run_id: otherRun }),
        await api.get('experiments/get', { experiment_id: other }),
        await api.get('experiments/get-by-name', { experiment_name: 'fraud' }),
        await api.post('runs/create', { experiment_id: other, start_time: 1 }),
        await api.post('runs/search', { experiment_ids: [churn, other] }),
        await api.post('experiments/create', { name: 'new-one' }),
      ];
      assert.deepEqual(outside.map((r) => r.status), [404, 404, 404, 404, 404, 404, 404], JSON.stringify(outside.map((r) => r.body)));
      const artifact = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${other}/${otherRun}/artifacts/x.txt`, headers: { authorization: `Bearer ${made.token}` } });
      assert.equal(artifact.statusCode, 404);
      // Within its permissions but not about its experiment: not found; outside its permissions: refused first (403).
      assert.equal((await api.post('experiments/search', { max_results: 10 })).status, 404);
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-a/quota', made.token)).status, 403);
      // The other experiment's run got nothing.
      const untouched = await member.get('runs/get', { run_id: otherRun });
      assert.deepEqual(untouched.body.run.data.metrics ?? [], []);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/tokens', a.tokens.admin, { name: 'x', role: 'member', experiments: ['no-such-experiment'] })).status, 400);
    });

    test('service accounts: no password, always-expiring tokens capped by the operator, scoped, gone with the account', async () => {
      const created = await p.call('POST', '/api/v1/tenants/sso-a/service-accounts', a.tokens.admin, { name: 'ci-bot', description: 'CI' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/service-accounts', a.tokens.admin, { name: 'ci-bot' })).status, 409);
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-a/service-accounts', a.tokens.member, { name: 'other' })).status, 403);
      const token = await p.call('POST', '/api/v1/tenants/sso-a/service-accounts/ci-bot/tokens', a.tokens.admin, { name: 'deploy', role: 'member', scope: ['tracking:read', 'tracking:write'] });
      assert.equal(token.status, 201, JSON.stringify(token.body));
      // The operator's default lifetime (30 days) applies when none is asked for.
      const lifetime = Date.parse(token.body.expiresAt) - Date.parse(token.body.createdAt);
      assert.ok(Math.abs(lifetime - 30 * 86_400_000) < 60_000, `lifetime ${lifetime}`);
      const tooLong = await p.call('POST', '/api/v1/tenants/sso-a/service-accounts/ci-bot/tokens', a.tokens.admin, { name: 'forever', role: 'member', expiresInSeconds: 2 * 365 * 86_400 });
      assert.equal(tooLong.status, 400);
      const me = await p.call('GET', '/api/v1/me', token.body.token);
      assert.equal(me.body.actor, 'service-account:ci-bot');
      const api = mlflowHttp(p, token.body.token);
      assert.equal((await api.post('experiments/create', { name: 'by-bot' })).status, 200);
      assert.equal((await p.app.inject({ method: 'GET', url: '/api/2.0/mlflow-artifacts/artifacts/1/x', headers: { authorization: `Bearer ${token.body.token}` } })).statusCode, 403, 'outside its scope');
      // Another tenant's admin sees no such account.
      assert.equal((await p.call('POST', '/api/v1/tenants/sso-b/service-accounts/ci-bot/tokens', b.tokens.admin, { name: 'x', role: 'viewer' })).status, 404);
      assert.equal((await p.call('GET', '/api/v1/tenants/sso-b/service-accounts', b.tokens.admin)).body.serviceAccounts.length, 0);
      // The CLI: `bulkhead token create --service-account ci-bot --expires 7d --scope tracking:read`.
      const url = await p.listen().catch(() => `http://127.0.0.1:${(p.app.server.address() as { port: number }).port}`);
      const cli = await runCliWith(['--json', 'token', 'create', '--tenant', 'sso-a', '--service-account', 'ci-bot', '--name', 'cli-made', '--role', 'viewer', '--expires', '7d', '--scope', 'tracking:read'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: a.tokens.admin });
      assert.equal(cli.code, 0, cli.err);
      const made = JSON.parse(cli.out);
      assert.deepEqual(made.scope, ['tracking:read']);
      assert.ok(Math.abs(Date.parse(made.expiresAt) - Date.parse(made.createdAt) - 7 * 86_400_000) < 60_000);
      assert.equal((await p.call('DELETE', '/api/v1/tenants/sso-a/service-accounts/ci-bot', a.tokens.admin)).status, 204);
      assert.equal((await p.call('GET', '/api/v1/me', token.body.token)).status, 401, 'its tokens went with it');
      const audit = await p.call('GET', '/api/v1/tenants/sso-a/audit?limit=200', adminToken);
      const actions = audit.body.events.map((e: any) => e.action);
      assert.ok(actions.includes('service_account.create') && actions.includes('service_account.delete') && actions.includes('token.create'));
      const tokenEvent = audit.body.events.find((e: any) => e.action === 'token.create' && e.details?.name === 'deploy');
      assert.deepEqual(tokenEvent?.details?.scope, ['tracking:read', 'tracking:write']);
    });
  });
}
