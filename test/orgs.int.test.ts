/**
 * Issue 15 on PGlite and PostgreSQL: organizations of teams and audited, read-only sharing.
 *
 * - The tenant tree: parent by slug, shown on the record, depth ≤ 4, quota validation against the tree
 *   (over-committed children refused, naming the level and the resource), `tree` with usage rolled up.
 * - A parent's admin cannot read its children's runs, experiments or models (no share, no read).
 * - Sharing: team-b reads team-a's shared model version through the MLflow API under `team-a/churn`; every
 *   other object of team-a is RESOURCE_DOES_NOT_EXIST; no write through the share; both audit logs record
 *   each read; revocation is immediate; a share to the organization covers its subtree only; and the
 *   database itself (withSharedRead + the shared_read policies) admits nothing that is not shared.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withSharedRead, withSystem } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { join } from 'node:path';
import { mlflowHttp } from './support/mlflow-http.ts';
import { runCliWith } from './support/cli.ts';
import type { MlflowResponse } from './support/mlflow-http.ts';

const ok = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 200, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

const notFound = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 404, `${what}: expected 404, got ${response.status} ${JSON.stringify(response.body)}`);
  assert.equal(response.body.error_code, 'RESOURCE_DOES_NOT_EXIST', what);
};

/** A tenant under `parent`, with tokens, through the API as a platform admin. */
const createChild = async (p: TestPlatform, slug: string, parent: string): Promise<TestTenant> => {
  const created = await p.call('POST', '/api/v1/tenants', adminToken, { slug, name: `Tenant ${slug}`, tier: 'sandbox', parent });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.parent, parent);
  const tokens = {} as TestTenant['tokens'];
  for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
    const token = await p.call('POST', `/api/v1/tenants/${slug}/tokens`, adminToken, { name: `${role}-token`, role });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    tokens[role] = token.body.token;
  }
  return { id: created.body.id, slug, tokens };
};

for (const kind of databaseKinds) {
  describe(`organizations and sharing on ${kind}`, () => {
    let p: TestPlatform;
    let org: TestTenant;
    let teamA: TestTenant;
    let teamB: TestTenant;
    let outsider: TestTenant;
    let runA: string;

    const auditActions = async (tenant: TestTenant, action: string) => {
      const page = await p.call('GET', `/api/v1/tenants/${tenant.slug}/audit?limit=200`, tenant.tokens.admin);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      return (page.body.events as Array<{ action: string; target: string; details: Record<string, unknown> }>).filter((e) => e.action === action);
    };

    before(async () => {
      p = await createTestPlatform(kind);
      org = await p.createTenant('org-east');
      teamA = await createChild(p, 'team-a', 'org-east');
      teamB = await createChild(p, 'team-b', 'org-east');
      outsider = await p.createTenant('outsider');
      const a = mlflowHttp(p, teamA.tokens.member);
      const exp = ok(await a.post('experiments/create', { name: 'churn-exp' }), 'exp').experiment_id as string;
      runA = ok(await a.post('runs/create', { experiment_id: exp, start_time: 1 }), 'run').run.info.run_id as string;
      ok(await a.post('registered-models/create', { name: 'churn' }), 'model');
      ok(await a.post('model-versions/create', { name: 'churn', source: `runs:/${runA}/model`, run_id: runA, tags: [{ key: 'stage', value: 'candidate' }] }), 'v1');
      ok(await a.post('model-versions/create', { name: 'churn', source: `runs:/${runA}/model`, run_id: runA }), 'v2');
      ok(await a.post('registered-models/create', { name: 'secret-model' }), 'other model');
      ok(await a.post('model-versions/create', { name: 'secret-model', source: `runs:/${runA}/model`, run_id: runA }), 'other v1');
    });
    after(async () => p.close());

    test('the tree: parent on the record, depth at most 4, unknown parent refused', async () => {
      const shown = await p.call('GET', '/api/v1/tenants/team-a', teamA.tokens.viewer);
      assert.equal(shown.body.parent, 'org-east');
      await createChild(p, 'lvl-3', 'team-a');
      await createChild(p, 'lvl-4', 'lvl-3');
      const tooDeep = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'lvl-5', name: 'x', tier: 'sandbox', parent: 'lvl-4' });
      assert.equal(tooDeep.status, 400);
      assert.equal(tooDeep.body.code, 'VALIDATION_FAILED');
      assert.match(tooDeep.body.message, /at most 4 levels/);
      assert.equal((await p.call('GET', '/api/v1/tenants/lvl-5', adminToken)).status, 404, 'nothing half-written');
      const orphan = await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'orphan', name: 'x', tier: 'sandbox', parent: 'no-such-org' });
      assert.equal(orphan.status, 400);
      assert.match(orphan.body.message, /parent tenant 'no-such-org' not found/);
      // A child's nominal quota starts at zero: carved out of its parent's only when given.
      const quota = await p.call('GET', '/api/v1/tenants/lvl-4/quota', adminToken);
      assert.deepEqual([quota.body.cpu, quota.body.memoryMiB, quota.body.gpu], [0, 0, 0]);
    });

    test("a tree whose children's guarantees exceed the parent's is refused, naming the level and the resource", async () => {
      assert.equal((await p.call('PUT', '/api/v1/tenants/org-east/quota', adminToken, { cpu: 8, memoryMiB: 16384 })).status, 200);
      assert.equal((await p.call('PUT', '/api/v1/tenants/team-a/quota', adminToken, { cpu: 5, memoryMiB: 8192 })).status, 200);
      const over = await p.call('PUT', '/api/v1/tenants/team-b/quota', adminToken, { cpu: 4 });
      assert.equal(over.status, 400, JSON.stringify(over.body));
      assert.equal(over.body.code, 'VALIDATION_FAILED');
      assert.match(over.body.message, /level 0 \('org-east'\): its children's cpu guarantees \(9 cores\) exceed its own nominal cpu \(8 cores\)/);
      assert.equal((await p.call('GET', '/api/v1/tenants/team-b/quota', adminToken)).body.cpu, 0, 'the refused change is not written');
      assert.equal((await p.call('PUT', '/api/v1/tenants/team-b/quota', adminToken, { cpu: 3 })).status, 200);
      // Shrinking the parent below its children's sum is refused too (the level is the parent's).
      const shrink = await p.call('PUT', '/api/v1/tenants/org-east/quota', adminToken, { cpu: 7 });
      assert.equal(shrink.status, 400);
      assert.match(shrink.body.message, /level 0 \('org-east'\).*cpu/);
      // One level down: team-a (level 1) over-committed by its child lvl-3.
      const deep = await p.call('PUT', '/api/v1/tenants/lvl-3/quota', adminToken, { memoryMiB: 9000 });
      assert.equal(deep.status, 400);
      assert.match(deep.body.message, /level 1 \('team-a'\): its children's memory guarantees \(9000 MiB\) exceed its own nominal memory \(8192 MiB\)/);
    });

    test('tree view: the subtree with nominal quotas, depth first', async () => {
      const tree = await p.call('GET', '/api/v1/tenants/org-east/tree', org.tokens.viewer);
      assert.equal(tree.status, 200, JSON.stringify(tree.body));
      assert.deepEqual(tree.body.tenants.map((t: any) => [t.slug, t.depth, t.parent]), [
        ['org-east', 0, null], ['team-a', 1, 'org-east'], ['lvl-3', 2, 'team-a'], ['lvl-4', 3, 'lvl-3'], ['team-b', 1, 'org-east'],
      ]);
      assert.equal(tree.body.tenants[0].nominal.cpu, 8);
      // A child's tree does not show its parent or siblings.
      const sub = await p.call('GET', '/api/v1/tenants/team-b/tree', teamB.tokens.viewer);
      assert.deepEqual(sub.body.tenants.map((t: any) => t.slug), ['team-b']);
    });

    test("a parent's admin cannot read its children's runs, experiments or models without a share", async () => {
      const parentAdmin = mlflowHttp(p, org.tokens.admin);
      notFound(await parentAdmin.get('runs/get', { run_id: runA }), 'runs/get');
      notFound(await parentAdmin.get('model-versions/get', { name: 'churn', version: '1' }), 'own-name version');
      notFound(await parentAdmin.get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'qualified version, no share');
      assert.deepEqual(ok(await parentAdmin.post('experiments/search', { view_type: 'ALL' }), 'search').experiments.map((e: any) => e.name), ['Default']);
      // The child's tenant routes are hidden from the parent's tokens: 404 as for a missing tenant.
      const routes = await p.call('GET', '/api/v1/tenants/team-a/audit', org.tokens.owner);
      assert.equal(routes.status, 404);
    });

    test("team-b reads team-a's shared model version via the MLflow API, nothing else, and both audit logs show each read", async () => {
      const b = mlflowHttp(p, teamB.tokens.member);
      notFound(await b.get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'before the share');
      const created = await p.call('POST', '/api/v1/tenants/team-a/shares', teamA.tokens.admin, { resource: 'model:churn/1', grantee: teamB.id });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.owner, 'team-a');
      assert.equal(created.body.grantee, 'team-b');
      assert.equal(created.body.active, true);
      // A member cannot share; a grantee cannot re-share (the object is not its own).
      assert.equal((await p.call('POST', '/api/v1/tenants/team-a/shares', teamA.tokens.member, { resource: 'model:churn/1', grantee: teamB.id })).status, 403);
      const reshare = await p.call('POST', '/api/v1/tenants/team-b/shares', teamB.tokens.admin, { resource: 'model:team-a/churn/1', grantee: outsider.id });
      assert.equal(reshare.status, 404, JSON.stringify(reshare.body));

      const version = ok(await b.get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'shared read').model_version;
      assert.equal(version.name, 'team-a/churn');
      assert.equal(version.version, '1');
      assert.equal(version.source, `runs:/${runA}/model`);
      assert.deepEqual(version.tags, [{ key: 'stage', value: 'candidate' }]);

      // Everything else of team-a: as missing.
      notFound(await b.get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'unshared version');
      notFound(await b.get('model-versions/get', { name: 'team-a/secret-model', version: '1' }), 'unshared model');
      notFound(await b.get('model-versions/get', { name: 'churn', version: '1' }), 'unqualified name');
      notFound(await b.get('registered-models/get', { name: 'team-a/churn' }), 'registered model');
      notFound(await b.get('runs/get', { run_id: runA }), 'the run behind the version');
      // Read-only: no write reaches the shared version.
      notFound(await b.patch('model-versions/update', { name: 'team-a/churn', version: '1', description: 'x' }), 'update');
      notFound(await b.post('model-versions/set-tag', { name: 'team-a/churn', version: '1', key: 'k', value: 'v' }), 'set-tag');
      notFound(await b.delete('model-versions/delete', { name: 'team-a/churn', version: '1' }), 'delete');
      // Siblings' parent and strangers see nothing.
      notFound(await mlflowHttp(p, outsider.tokens.owner).get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'outsider');
      notFound(await mlflowHttp(p, org.tokens.owner).get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'the parent');

      ok(await b.get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'second read');
      const ownerReads = await auditActions(teamA, 'share.read');
      const granteeReads = await auditActions(teamB, 'share.read');
      assert.equal(ownerReads.length, 2, 'each read in the owner log');
      assert.equal(granteeReads.length, 2, 'each read in the grantee log');
      assert.equal(ownerReads[0]?.target, 'model:team-a/churn/1');
      assert.equal(ownerReads[0]?.details['grantee'], teamB.id);
      assert.equal(granteeReads[0]?.details['owner'], teamA.id);
      assert.equal((await auditActions(teamA, 'share.create')).length, 1);
      assert.equal((await auditActions(teamB, 'share.create')).length, 1);

      // Both sides list the share; the grantee cannot revoke it (404), the owner can, at once.
      const listed = await p.call('GET', '/api/v1/tenants/team-b/shares', teamB.tokens.admin);
      assert.deepEqual(listed.body.shares.map((s: any) => [s.direction, s.resource]), [['received', 'model:churn/1']]);
      assert.equal((await p.call('GET', '/api/v1/tenants/outsider/shares', outsider.tokens.admin)).body.shares.length, 0);
      assert.equal((await p.call('DELETE', `/api/v1/tenants/team-b/shares/${created.body.id}`, teamB.tokens.admin)).status, 404);
      const revoked = await p.call('DELETE', `/api/v1/tenants/team-a/shares/${created.body.id}`, teamA.tokens.admin);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.active, false);
      notFound(await b.get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'after revocation');
      assert.equal((await auditActions(teamB, 'share.revoke')).length, 1);
      assert.equal((await auditActions(teamA, 'share.read')).length, 2, 'a refused read is no shared read');
    });

    test('a share to the organization reaches its subtree only; the database admits nothing unshared', async () => {
      const created = await p.call('POST', '/api/v1/tenants/team-a/shares', teamA.tokens.owner, { resource: 'model:churn/2', grantee: 'org-east' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ok(await mlflowHttp(p, teamB.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'sibling under the org');
      ok(await mlflowHttp(p, org.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'the org itself');
      notFound(await mlflowHttp(p, outsider.tokens.owner).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'outside the org');
      notFound(await mlflowHttp(p, teamB.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '1' }), 'the revoked one');

      // Straight at the database, as team-b naming team-a as the owner: only the shared row is visible, and
      // no write reaches it.
      const seen = await withSharedRead(p.database.db, teamB.id, teamA.id, async (tx) =>
        (await tx.query<{ name: string; version: number }>('SELECT name, version FROM model_versions ORDER BY tenant_id, name, version')).rows);
      assert.deepEqual(seen.map((r) => `${r.name}/${r.version}`), ['churn/2']);
      const asOutsider = await withSharedRead(p.database.db, outsider.id, teamA.id, async (tx) =>
        (await tx.query('SELECT 1 FROM model_versions')).rows.length);
      assert.equal(asOutsider, 0);
      // The shared owner set in an ordinary transaction (as bulkhead_app, the role of every tenant
      // transaction): no shared_read policy applies to that role, so nothing of team-a is visible.
      const asApp = `SELECT set_config('role','bulkhead_app',true),set_config('bulkhead.tenant_id','${teamB.id}',true),set_config('bulkhead.shared_owner','${teamA.id}',true);`;
      assert.equal(await p.database.db.transaction(asApp, async (tx) => (await tx.query('SELECT 1 FROM model_versions')).rows.length), 0);
      // The shared-read scope (bulkhead_share_reader) in a writable transaction: the shared row is visible,
      // yet no UPDATE or DELETE reaches it.
      const scope = `SELECT set_config('role','bulkhead_share_reader',true),set_config('bulkhead.tenant_id','${teamB.id}',true),set_config('bulkhead.shared_owner','${teamA.id}',true);`;
      const written = await p.database.db.transaction(scope, async (tx) => {
        const visible = (await tx.query('SELECT 1 FROM model_versions')).rows.length;
        const updated = (await tx.query("UPDATE model_versions SET description = 'x' RETURNING 1")).rows.length;
        const deleted = (await tx.query('DELETE FROM model_version_tags RETURNING 1')).rows.length;
        return { visible, updated, deleted };
      });
      assert.deepEqual(written, { visible: 1, updated: 0, deleted: 0 });
      const untouched = await withSystem(p.database.db, async (tx) =>
        (await tx.query<{ d: string }>("SELECT string_agg(description, ',') AS d FROM model_versions WHERE tenant_id = $1", [teamA.id])).rows[0]?.d);
      assert.equal(untouched, ',,');
      // An expired share is dead at once.
      await withSystem(p.database.db, (tx) => tx.query("UPDATE tenant_shares SET expires_at = now() - interval '1 second' WHERE id = $1", [created.body.id]));
      notFound(await mlflowHttp(p, teamB.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'expired');
    });

    test('bad share requests: clear errors, nothing written', async () => {
      const bad = async (body: unknown, status: number, pattern: RegExp) => {
        const response = await p.call('POST', '/api/v1/tenants/team-a/shares', teamA.tokens.admin, body);
        assert.equal(response.status, status, JSON.stringify(response.body));
        assert.match(response.body.message, pattern);
      };
      await bad({ resource: 'churn/1', grantee: teamB.id }, 400, /is not one of model:/);
      await bad({ resource: 'dataset:d/1', grantee: teamB.id }, 404, /dataset version d\/1 not found/);
      await bad({ resource: 'model:churn/9', grantee: teamB.id }, 404, /model version churn\/9 not found/);
      await bad({ resource: 'model:churn/1', grantee: teamA.id }, 400, /cannot share with itself/);
      await bad({ resource: 'model:churn/1', grantee: 'nobody-here' }, 400, /grantee tenant 'nobody-here' not found/);
      await bad({ resource: 'model:churn/1', grantee: teamB.id, expiresAt: '2001-01-01T00:00:00Z' }, 400, /in the future/);
      const count = await withSystem(p.database.db, async (tx) => (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_shares')).rows[0]?.n);
      assert.equal(count, 2);
    });

    test('bulkhead tenant tree and bulkhead share create|list|revoke', async () => {
      const url = await p.listen();
      const run = (token: string, args: string[]) => runCliWith(args, { BULKHEAD_URL: url, BULKHEAD_TOKEN: token, BULKHEAD_CLI_CONFIG: join(p.home, 'cli.json') });
      const tree = await run(org.tokens.viewer, ['tenant', 'tree']);
      assert.equal(tree.code, 0, tree.err);
      assert.match(tree.out, /org-east[\s\S]*└ team-a[\s\S]*└ lvl-3[\s\S]*└ team-b/);
      const created = await run(teamA.tokens.admin, ['--json', 'share', 'create', 'model:churn/2', '--grantee', 'team-b']);
      assert.equal(created.code, 0, created.err);
      const id = JSON.parse(created.out).id as string;
      ok(await mlflowHttp(p, teamB.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'read after the CLI share');
      const listed = await run(teamB.tokens.admin, ['share', 'list']);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, new RegExp(`${id}\\s+received\\s+team-a\\s+team-b\\s+model:churn/2`));
      const byGrantee = await run(teamB.tokens.admin, ['share', 'revoke', id]);
      assert.notEqual(byGrantee.code, 0, 'the grantee cannot revoke');
      const revoked = await run(teamA.tokens.admin, ['share', 'revoke', id]);
      assert.equal(revoked.code, 0, revoked.err);
      assert.match(revoked.out, /revoked share/);
      notFound(await mlflowHttp(p, teamB.tokens.viewer).get('model-versions/get', { name: 'team-a/churn', version: '2' }), 'after the CLI revoke');
    });

    test("an organization's admins create children and set their descendants' quotas; nothing outside their subtree", async () => {
      const child = await p.call('POST', '/api/v1/tenants/org-east/children', org.tokens.admin, { slug: 'team-c', name: 'Team C' });
      assert.equal(child.status, 201, JSON.stringify(child.body));
      assert.equal(child.body.parent, 'org-east');
      assert.equal(child.body.tier, 'sandbox', "the organization's tier");
      assert.equal((await p.call('POST', '/api/v1/tenants/org-east/children', org.tokens.member, { slug: 'team-x', name: 'x' })).status, 403);
      assert.equal((await p.call('POST', '/api/v1/tenants/org-east/children', teamB.tokens.admin, { slug: 'team-x', name: 'x' })).status, 404);

      const set = (token: string, url: string, body: unknown) => p.call('PUT', url, token, body);
      const over = await set(org.tokens.admin, '/api/v1/tenants/org-east/children/team-c/quota', { cpu: 1 });
      assert.equal(over.status, 400, JSON.stringify(over.body));
      assert.match(over.body.message, /level 0 \('org-east'\): its children's cpu guarantees \(9 cores\)/);
      const fine = await set(org.tokens.admin, '/api/v1/tenants/org-east/children/team-c/quota', { memoryMiB: 1024, weight: 2 });
      assert.equal(fine.status, 200, JSON.stringify(fine.body));
      assert.equal(fine.body.memoryMiB, 1024);
      // Lending limits too: at most the child's own nominal (team-c has 0 cores, so 0), null lends all again.
      const lendTooMuch = await set(org.tokens.admin, '/api/v1/tenants/org-east/children/team-c/quota', { lendingLimit: { cpu: 1 } });
      assert.equal(lendTooMuch.status, 400, JSON.stringify(lendTooMuch.body));
      assert.match(lendTooMuch.body.message, /level 1 \('team-c'\): its cpu lending limit \(1 cores\) exceeds its own nominal cpu \(0 cores\)/);
      const lend = await set(org.tokens.admin, '/api/v1/tenants/org-east/children/team-c/quota', { lendingLimit: { memoryMiB: 512, gpu: null } });
      assert.equal(lend.status, 200, JSON.stringify(lend.body));
      assert.deepEqual(lend.body.lendingLimit, { cpu: null, memoryMiB: 512, gpu: null });
      // A grandchild is in the subtree too.
      assert.equal((await set(org.tokens.owner, '/api/v1/tenants/org-east/children/lvl-3/quota', { cpu: 1 })).status, 200);
      // Fields outside the tree's amounts are the platform admin's.
      assert.equal((await set(org.tokens.admin, '/api/v1/tenants/org-east/children/team-c/quota', { storageBytes: 1 })).status, 400);
      // Not below the caller's tenant: 404 as for a missing tenant (sibling, ancestor, itself, stranger).
      for (const [token, url] of [
        [teamA.tokens.admin, '/api/v1/tenants/team-a/children/team-b/quota'],
        [teamA.tokens.admin, '/api/v1/tenants/team-a/children/org-east/quota'],
        [org.tokens.admin, '/api/v1/tenants/org-east/children/org-east/quota'],
        [org.tokens.admin, '/api/v1/tenants/org-east/children/outsider/quota'],
        [outsider.tokens.admin, '/api/v1/tenants/outsider/children/team-a/quota'],
      ] as const) {
        const refused = await set(token, url, { cpu: 0 });
        assert.equal(refused.status, 404, `${url}: ${JSON.stringify(refused.body)}`);
        assert.match(refused.body.message, /^no tenant '.*' below this organization$/);
      }
      assert.equal((await p.call('GET', '/api/v1/tenants/team-b/quota', adminToken)).body.cpu, 3, 'unchanged');
    });

    test('an organization node is deleted only after its children; a deleted grantee takes its received shares along', async () => {
      assert.equal((await p.call('PATCH', '/api/v1/tenants/lvl-3', adminToken, { status: 'suspended' })).status, 200);
      const refused = await p.call('DELETE', '/api/v1/tenants/lvl-3?confirm=lvl-3', adminToken);
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.match(refused.body.message, /has child tenants \(lvl-4\); delete them first/);
      assert.equal((await p.call('GET', '/api/v1/tenants/lvl-3', adminToken)).status, 200, 'nothing deleted');
      assert.equal((await p.call('POST', '/api/v1/tenants/team-a/shares', teamA.tokens.admin, { resource: 'model:churn/1', grantee: 'lvl-4' })).status, 201);
      assert.equal((await p.call('PATCH', '/api/v1/tenants/lvl-4', adminToken, { status: 'suspended' })).status, 200);
      const deleted = await p.call('DELETE', '/api/v1/tenants/lvl-4?confirm=lvl-4', adminToken);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal((await p.call('DELETE', '/api/v1/tenants/lvl-3?confirm=lvl-3', adminToken)).status, 200);
      const left = await p.call('GET', '/api/v1/tenants/team-a/shares', teamA.tokens.admin);
      assert.deepEqual(left.body.shares.map((s: any) => s.grantee).sort(), ['org-east', 'team-b', 'team-b']);
    });
  });
}
