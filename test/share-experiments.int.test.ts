/**
 * Issue 15 on PGlite and PostgreSQL: sharing an experiment, read-only and enforced by the database.
 * Tenant `exp-a` shares experiment E1 (not E2) with `exp-b`. exp-b reads E1's runs through the ordinary
 * MLflow API — runs/get, runs/search with the owner-qualified experiment id `exp-a/{id}`, metrics
 * get-history — and nothing else: E2's runs, writes to a shared run, and everything after revocation
 * answer RESOURCE_DOES_NOT_EXIST like a missing run; an outsider sees nothing; exp-b's own experiment of
 * the same numeric id never mixes in. Every shared read is in both audit logs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { systemContext } from '../src/core/request-context.ts';
import { withSharedRead } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { expectNotFound, expectOk, mlflowHttp } from './support/mlflow-http.ts';


for (const kind of databaseKinds) {
  describe(`sharing an experiment on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let outsider: TestTenant;
    let e1 = '';
    let sharedRun = '';
    let otherRun = '';
    let bOwnRun = '';

    const auditActions = async (tenant: TestTenant, action: string) => {
      const page = await p.call('GET', `/api/v1/tenants/${tenant.slug}/audit?limit=200`, tenant.tokens.admin);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      return (page.body.events as Array<{ action: string; target: string }>).filter((e) => e.action === action);
    };

    const experimentWithRun = async (tenant: TestTenant, name: string, metric: number) => {
      const m = mlflowHttp(p, tenant.tokens.member);
      const experimentId = expectOk(await m.post('experiments/create', { name }), 'experiment').experiment_id as string;
      const runId = expectOk(await m.post('runs/create', { experiment_id: experimentId, start_time: 1 }), 'run').run.info.run_id as string;
      expectOk(await m.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'loss', value: metric, timestamp: 1, step: 0 }, { key: 'loss', value: metric / 2, timestamp: 2, step: 1 }], params: [{ key: 'lr', value: '0.1' }] }), 'log');
      return { experimentId, runId };
    };

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('exp-a');
      b = await p.createTenant('exp-b');
      outsider = await p.createTenant('exp-out');
      const first = await experimentWithRun(a, 'churn', 0.8);
      e1 = first.experimentId;
      sharedRun = first.runId;
      otherRun = (await experimentWithRun(a, 'secret', 0.3)).runId;
      // exp-b's own experiments: one has the same numeric id as E1 (ids are per tenant).
      const own = await experimentWithRun(b, 'mine', 0.5);
      bOwnRun = own.runId;
      assert.equal(own.experimentId, e1, 'per-tenant experiment ids: the same number in both tenants');
    });
    after(async () => {
      await p.close();
    });

    test('the grantee reads the shared experiment through runs/get, runs/search and metric history, nothing else; audited; revocation is immediate', async () => {
      const bm = mlflowHttp(p, b.tokens.member);
      // Before any share: nothing.
      expectNotFound(await bm.get('runs/get', { run_id: sharedRun }), 'before the share');
      assert.deepEqual(expectOk(await bm.post('runs/search', { experiment_ids: [`exp-a/${e1}`] }), 'search before').runs ?? [], []);

      const created = await p.call('POST', '/api/v1/tenants/exp-a/shares', a.tokens.admin, { resource: `experiment:${e1}`, grantee: b.id });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.resource, `experiment:${e1}`);

      const run = expectOk(await bm.get('runs/get', { run_id: sharedRun }), 'runs/get').run;
      assert.equal(run.info.run_id, sharedRun);
      assert.deepEqual(run.data.params, [{ key: 'lr', value: '0.1' }]);
      const found = expectOk(await bm.post('runs/search', { experiment_ids: [`exp-a/${e1}`] }), 'runs/search');
      assert.deepEqual(found.runs.map((r: any) => r.info.run_id), [sharedRun], "only the shared experiment's runs, not exp-b's own of the same id");
      const own = expectOk(await bm.post('runs/search', { experiment_ids: [e1] }), 'own search');
      assert.deepEqual(own.runs.map((r: any) => r.info.run_id), [bOwnRun], 'an unqualified id is still the caller\'s own');
      const history = expectOk(await bm.get('metrics/get-history', { run_id: sharedRun, metric_key: 'loss' }), 'history');
      assert.deepEqual(history.metrics.map((m: any) => m.value), [0.8, 0.4]);

      // Nothing else of exp-a: another experiment's run, any write, mixed owners.
      expectNotFound(await bm.get('runs/get', { run_id: otherRun }), 'an unshared run');
      expectNotFound(await bm.get('metrics/get-history', { run_id: otherRun, metric_key: 'loss' }), 'an unshared history');
      expectNotFound(await bm.post('runs/log-metric', { run_id: sharedRun, key: 'loss', value: 0, timestamp: 3, step: 2 }), 'a write');
      expectNotFound(await bm.post('runs/update', { run_id: sharedRun, status: 'FAILED' }), 'an update');
      expectNotFound(await bm.post('runs/delete', { run_id: sharedRun }), 'a delete');
      assert.equal((await bm.post('runs/search', { experiment_ids: [`exp-a/${e1}`, e1] })).status, 400, 'own and shared ids in one search');
      // The owner's run is unchanged.
      const still = expectOk(await mlflowHttp(p, a.tokens.member).get('runs/get', { run_id: sharedRun }), 'owner read').run;
      assert.equal(still.info.status, 'RUNNING');
      assert.deepEqual(still.data.metrics.map((m: any) => m.value), [0.4]);
      // Nobody else.
      const om = mlflowHttp(p, outsider.tokens.owner);
      expectNotFound(await om.get('runs/get', { run_id: sharedRun }), 'outsider');
      assert.deepEqual(expectOk(await om.post('runs/search', { experiment_ids: [`exp-a/${e1}`] }), 'outsider search').runs ?? [], []);

      // The database decides: in exp-b's shared-read scope naming exp-a, exactly E1's run is visible.
      const visible = () => withSharedRead(p.platform.db, b.id, a.id, async (tx) =>
        (await tx.query<{ id: string }>('SELECT id FROM runs WHERE tenant_id = $1 ORDER BY id', [a.id])).rows.map((r) => r.id));
      assert.deepEqual(await visible(), [sharedRun]);
      assert.deepEqual(await withSharedRead(p.platform.db, outsider.id, a.id, async (tx) => (await tx.query('SELECT id FROM runs WHERE tenant_id = $1', [a.id])).rows), []);

      // Both audit logs: runs/get, search, history = 3 shared reads each.
      const ownerReads = await auditActions(a, 'share.read');
      const granteeReads = await auditActions(b, 'share.read');
      assert.equal(ownerReads.length, 3, JSON.stringify(ownerReads));
      assert.equal(granteeReads.length, 3);
      for (const event of [...ownerReads, ...granteeReads]) assert.equal(event.target, `experiment:exp-a/${e1}`);

      // Revoked: the next read is not found.
      assert.equal((await p.call('DELETE', `/api/v1/tenants/exp-a/shares/${created.body.id}`, a.tokens.admin)).status, 200);
      expectNotFound(await bm.get('runs/get', { run_id: sharedRun }), 'after revocation');
      assert.deepEqual(await visible(), [], 'revocation closes the rows at once');
      expectNotFound(await bm.get('metrics/get-history', { run_id: sharedRun, metric_key: 'loss' }), 'history after revocation');
      assert.deepEqual(expectOk(await bm.post('runs/search', { experiment_ids: [`exp-a/${e1}`] }), 'search after').runs ?? [], []);
      assert.equal((await auditActions(a, 'share.read')).length, 3, 'refused reads are no shared reads');
    });

    test('a share names an existing experiment or dataset version of the owner', async () => {
      const missing = await p.call('POST', '/api/v1/tenants/exp-a/shares', a.tokens.admin, { resource: 'experiment:999', grantee: b.id });
      assert.equal(missing.status, 404, JSON.stringify(missing.body));
      assert.match(missing.body.message, /experiment 999 not found/);
      const dataset = await p.call('POST', '/api/v1/tenants/exp-a/shares', a.tokens.admin, { resource: 'dataset:d/1', grantee: b.id });
      assert.equal(dataset.status, 404);
      assert.match(dataset.body.message, /dataset version d\/1 not found/);
    });

    test('the grantee reads a shared dataset version (metadata and files) as exp-a/name, nothing else; audited; revocation is immediate', async () => {
      const ctx = systemContext();
      const push = (name: string, text: string) => p.platform.datasets.pushVersion(ctx, a.id, name, (async function* () {
        yield { path: 'train.csv', stream: Readable.from([Buffer.from(text)]) };
      })());
      await push('churn', 'v1\n');
      await push('churn', 'v2 secret\n');
      await push('hidden', 'nope\n');
      const url = (name: string, version: string, file = '') => `/api/v1/tenants/exp-b/datasets/${encodeURIComponent(name)}/versions/${version}${file}`;
      const missing = (r: { status: number; body: any }, what: string) => {
        assert.equal(r.status, 404, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.code, 'NOT_FOUND', what);
      };
      missing(await p.call('GET', url('exp-a/churn', '1'), b.tokens.member), 'before the share');

      const created = await p.call('POST', '/api/v1/tenants/exp-a/shares', a.tokens.admin, { resource: 'dataset:churn/1', grantee: b.id });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const readsBefore = (await auditActions(a, 'share.read')).length;

      const version = await p.call('GET', url('exp-a/churn', '1'), b.tokens.member);
      assert.equal(version.status, 200, JSON.stringify(version.body));
      assert.equal(version.body.dataset, 'exp-a/churn');
      assert.deepEqual(version.body.files.map((f: any) => f.path), ['train.csv']);
      const latest = await p.call('GET', url('exp-a/churn', 'latest'), b.tokens.member);
      assert.equal(latest.body.version, 1, "'latest' is the newest shared version, not the owner's newest");
      const file = await p.app.inject({ method: 'GET', url: url('exp-a/churn', '1', '/files/train.csv'), headers: { authorization: `Bearer ${b.tokens.member}` } });
      assert.equal(file.statusCode, 200);
      assert.equal(file.body, 'v1\n');

      missing(await p.call('GET', url('exp-a/churn', '2'), b.tokens.member), 'another version');
      const other = await p.app.inject({ method: 'GET', url: url('exp-a/churn', '2', '/files/train.csv'), headers: { authorization: `Bearer ${b.tokens.member}` } });
      assert.equal(other.statusCode, 404, "another version's file");
      missing(await p.call('GET', url('exp-a/hidden', '1'), b.tokens.member), 'another dataset');
      missing(await p.call('GET', url('exp-a/churn', '1').replace('/exp-b/', '/exp-out/'), outsider.tokens.owner), 'outsider');
      // The grantee's own dataset API does not list or write the owner's dataset.
      assert.deepEqual((await p.call('GET', '/api/v1/tenants/exp-b/datasets', b.tokens.member)).body.datasets, []);

      const reads = (await auditActions(a, 'share.read')).length - readsBefore;
      assert.equal(reads, 3, 'metadata, latest and the file: three shared reads');
      assert.equal((await auditActions(b, 'share.read')).filter((e) => e.target.startsWith('dataset:')).length, 3);

      assert.equal((await p.call('DELETE', `/api/v1/tenants/exp-a/shares/${created.body.id}`, a.tokens.admin)).status, 200);
      missing(await p.call('GET', url('exp-a/churn', '1'), b.tokens.member), 'after revocation');
      const after = await p.app.inject({ method: 'GET', url: url('exp-a/churn', '1', '/files/train.csv'), headers: { authorization: `Bearer ${b.tokens.member}` } });
      assert.equal(after.statusCode, 404, 'file after revocation');
    });
  });
}
