/**
 * Issue 15 on PGlite and PostgreSQL, the rest of experiment sharing: tenant `sx-a` shares experiment E1
 * (not E2) with `sx-b`. sx-b finds E1 in experiments/search and reads it with experiments/get and
 * get-by-name as `sx-a/{id}` / `sx-a/churn`, and lists and downloads the artifacts of E1's run by run id
 * (artifacts/list, get-artifact) — read-only, audited in both chains, gone at revocation. E2, its run's
 * artifacts, any other file of sx-a (even one whose path names E1's run), path traversal, writes and an
 * outsider all answer as for a missing object. The database decides (shared_read policies of 0034).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withSharedRead } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { expectNotFound, expectOk, mlflowHttp } from './support/mlflow-http.ts';


for (const kind of databaseKinds) {
  describe(`sharing an experiment's listing and run artifacts on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let outsider: TestTenant;
    let e1 = '';
    let e2 = '';
    let run1 = '';
    let run2 = '';
    let shareId = '';

    const put = async (token: string, path: string, text: string) => {
      const r = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(text) });
      assert.equal(r.statusCode, 200, r.body);
    };
    const download = (token: string, runId: string, path: string, url = '/get-artifact') =>
      p.app.inject({ method: 'GET', url: `${url}?run_id=${runId}&path=${encodeURIComponent(path)}`, headers: { authorization: `Bearer ${token}` } });
    /** The shared reads in a tenant's audit log made through `via` (one of the MLflow calls). */
    const sharedReads = async (tenant: TestTenant, via: RegExp) => {
      const page = await p.call('GET', `/api/v1/tenants/${tenant.slug}/audit?limit=500`, tenant.tokens.admin);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      return (page.body.events as Array<{ action: string; target: string; details?: Record<string, unknown> }>)
        .filter((e) => e.action === 'share.read' && via.test(String(e.details?.['via'])));
    };
    const experimentWithRun = async (tenant: TestTenant, name: string) => {
      const m = mlflowHttp(p, tenant.tokens.member);
      const experimentId = expectOk(await m.post('experiments/create', { name, tags: [{ key: 'team', value: name }] }), 'experiment').experiment_id as string;
      const run = expectOk(await m.post('runs/create', { experiment_id: experimentId, start_time: 1 }), 'run').run;
      return { experimentId, runId: run.info.run_id as string, root: String(run.info.artifact_uri).replace('mlflow-artifacts:/', '') };
    };

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('sx-a');
      b = await p.createTenant('sx-b');
      outsider = await p.createTenant('sx-out');
      const first = await experimentWithRun(a, 'churn');
      const second = await experimentWithRun(a, 'secret');
      ({ experimentId: e1, runId: run1 } = first);
      ({ experimentId: e2, runId: run2 } = second);
      await put(a.tokens.member, `${first.root}/model/weights.bin`, 'weights-1');
      await put(a.tokens.member, `${first.root}/notes.txt`, 'notes');
      await put(a.tokens.member, `${second.root}/secret.txt`, 'top secret');
      // A file of E2's run whose path names E1's run as a segment: still not under E1's run's root.
      await put(a.tokens.member, `${second.root}/${run1}/artifacts/decoy.txt`, 'decoy');
      await put(a.tokens.member, 'models/churn/v1/model.onnx', 'not a run artifact');
      // sx-b's own experiment has E1's numeric id (ids are per tenant).
      const own = await experimentWithRun(b, 'mine');
      assert.equal(own.experimentId, e1);
    });
    after(async () => {
      await p.close();
    });

    test('the grantee finds and reads the shared experiment as sx-a/…, nothing else; audited; revocation is immediate', async () => {
      const bm = mlflowHttp(p, b.tokens.member);
      const names = async () => {
        // Walks every page (one experiment a page) so the shared pages' tokens are exercised too.
        const seen: string[] = [];
        let token: string | undefined;
        for (let i = 0; i < 20; i += 1) {
          const page = expectOk(await bm.post('experiments/search', { max_results: 1, ...(token === undefined ? {} : { page_token: token }) }), 'search page');
          seen.push(...(page.experiments ?? []).map((e: any) => `${e.experiment_id}:${e.name}`));
          token = page.next_page_token;
          if (token === undefined) break;
        }
        return seen;
      };
      expectNotFound(await bm.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'before the share');
      expectNotFound(await bm.get('experiments/get-by-name', { experiment_name: 'sx-a/churn' }), 'by name before the share');
      const ownOnly = await names();
      assert.ok(!ownOnly.some((n) => n.startsWith('sx-a/')), JSON.stringify(ownOnly));

      const created = await p.call('POST', '/api/v1/tenants/sx-a/shares', a.tokens.admin, { resource: `experiment:${e1}`, grantee: b.id });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      shareId = created.body.id;

      const got = expectOk(await bm.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'experiments/get').experiment;
      assert.equal(got.experiment_id, `sx-a/${e1}`);
      assert.equal(got.name, 'sx-a/churn');
      assert.deepEqual(got.tags, [{ key: 'team', value: 'churn' }], "the shared experiment's tags come with it");
      assert.equal(expectOk(await bm.get('experiments/get-by-name', { experiment_name: 'sx-a/churn' }), 'get-by-name').experiment.experiment_id, `sx-a/${e1}`);
      assert.equal(expectOk(await bm.get('experiments/get', { experiment_id: e1 }), 'own').experiment.name, 'mine', 'an unqualified id is the caller\'s own');
      const all = await names();
      assert.deepEqual(all, [...ownOnly, `sx-a/${e1}:sx-a/churn`], 'the shared experiment follows the own ones, once');
      const filtered = expectOk(await bm.post('experiments/search', { filter: "name = 'churn'" }), 'filtered').experiments;
      assert.deepEqual(filtered.map((e: any) => e.name), ['sx-a/churn'], "the filter sees the owner's name");

      // Nothing else of sx-a, and nothing writable.
      expectNotFound(await bm.get('experiments/get', { experiment_id: `sx-a/${e2}` }), 'the unshared experiment');
      expectNotFound(await bm.get('experiments/get-by-name', { experiment_name: 'sx-a/secret' }), 'the unshared experiment by name');
      expectNotFound(await bm.get('experiments/get', { experiment_id: `sx-out/${e1}` }), 'another owner');
      expectNotFound(await bm.post('experiments/update', { experiment_id: `sx-a/${e1}`, new_name: 'x' }), 'rename');
      expectNotFound(await bm.post('experiments/delete', { experiment_id: `sx-a/${e1}` }), 'delete');
      expectNotFound(await bm.post('experiments/set-experiment-tag', { experiment_id: `sx-a/${e1}`, key: 'k', value: 'v' }), 'tag');
      expectNotFound(await bm.post('runs/create', { experiment_id: `sx-a/${e1}` }), 'a run in it');
      const om = mlflowHttp(p, outsider.tokens.owner);
      expectNotFound(await om.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'outsider');
      assert.ok(!(expectOk(await om.post('experiments/search', {}), 'outsider search').experiments ?? []).some((e: any) => e.name.startsWith('sx-a/')));
      assert.equal(expectOk(await mlflowHttp(p, a.tokens.member).get('experiments/get', { experiment_id: e1 }), 'owner').experiment.name, 'churn');

      // Audited in both chains: get, get-by-name and the search pages that carried it (two walks: 1 + filtered 1).
      for (const tenant of [a, b]) {
        const reads = await sharedReads(tenant, /^experiments\//);
        assert.deepEqual(reads.map((e) => e.details?.['via']).sort(), ['experiments/get', 'experiments/get', 'experiments/search', 'experiments/search'], tenant.slug);
        for (const event of reads) assert.equal(event.target, `experiment:sx-a/${e1}`);
      }

      assert.equal((await p.call('DELETE', `/api/v1/tenants/sx-a/shares/${shareId}`, a.tokens.admin)).status, 200);
      expectNotFound(await bm.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'after revocation');
      expectNotFound(await bm.get('experiments/get-by-name', { experiment_name: 'sx-a/churn' }), 'by name after revocation');
      assert.deepEqual(await names(), ownOnly);
    });

    test("the grantee lists and downloads the shared run's artifacts, no other file of the owner; the database decides; audited; revocation is immediate", async () => {
      const bm = mlflowHttp(p, b.tokens.member);
      expectNotFound(await bm.get('artifacts/list', { run_id: run1 }), 'before the share');
      assert.equal((await download(b.tokens.member, run1, 'notes.txt')).statusCode, 404);

      const created = await p.call('POST', '/api/v1/tenants/sx-a/shares', a.tokens.admin, { resource: `experiment:${e1}`, grantee: b.id });
      assert.equal(created.status, 201, JSON.stringify(created.body));

      const root = expectOk(await bm.get('artifacts/list', { run_id: run1 }), 'list root');
      assert.match(root.root_uri, new RegExp(`^mlflow-artifacts:/${e1}/${run1}/artifacts$`));
      assert.deepEqual(root.files, [{ path: 'model', is_dir: true }, { path: 'notes.txt', is_dir: false, file_size: 5 }]);
      assert.deepEqual(expectOk(await bm.get('artifacts/list', { run_uuid: run1, path: 'model' }), 'list model').files, [{ path: 'model/weights.bin', is_dir: false, file_size: 9 }]);
      const weights = await download(b.tokens.member, run1, 'model/weights.bin');
      assert.equal(weights.statusCode, 200, weights.body);
      assert.equal(weights.body, 'weights-1', "decrypted with the owner's key");
      assert.equal((await download(b.tokens.member, run1, 'notes.txt', '/api/2.0/mlflow/get-artifact')).body, 'notes');

      // Another experiment's run, traversal out of the run's root, a missing file: nothing comes back.
      expectNotFound(await bm.get('artifacts/list', { run_id: run2 }), "the unshared run's artifacts");
      assert.equal((await download(b.tokens.member, run2, 'secret.txt')).statusCode, 404);
      for (const path of [`../../${e2}/${run2}/artifacts/secret.txt`, `model/../../../${e2}/${run2}/artifacts/secret.txt`, '/models/churn/v1/model.onnx', '..']) {
        const r = await download(b.tokens.member, run1, path);
        assert.ok(r.statusCode === 400 || r.statusCode === 404, `${path}: ${r.statusCode}`);
        assert.ok(!r.body.includes('top secret') && !r.body.includes('not a run artifact'), path);
        assert.equal((await bm.get('artifacts/list', { run_id: run1, path })).status >= 400, true, `list ${path}`);
      }
      assert.equal((await download(b.tokens.member, run1, 'missing.txt')).statusCode, 404);
      // The grantee's own artifact namespace never reaches the owner's store.
      const proxied = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${e1}/${run1}/artifacts/notes.txt`, headers: { authorization: `Bearer ${b.tokens.member}` } });
      assert.equal(proxied.statusCode, 404);
      // Read-only: the grantee cannot delete or overwrite the shared files (its writes land in its own namespace).
      const deleted = await p.app.inject({ method: 'DELETE', url: `/api/2.0/mlflow-artifacts/artifacts/${e1}/${run1}/artifacts/notes.txt`, headers: { authorization: `Bearer ${b.tokens.member}` } });
      assert.equal(deleted.statusCode, 404);
      assert.equal((await download(a.tokens.member, run1, 'notes.txt')).body, 'notes', 'the owner still reads its file');
      // An outsider: nothing.
      expectNotFound(await mlflowHttp(p, outsider.tokens.owner).get('artifacts/list', { run_id: run1 }), 'outsider');
      assert.equal((await download(outsider.tokens.owner, run1, 'notes.txt')).statusCode, 404);

      // The database decides: in sx-b's shared-read scope naming sx-a, exactly E1's run's files are visible.
      const visible = (tenantId: string) => withSharedRead(p.platform.db, tenantId, a.id, async (tx) =>
        (await tx.query<{ path: string }>('SELECT path FROM artifact_files WHERE tenant_id = $1 ORDER BY path', [a.id])).rows.map((r) => r.path));
      assert.deepEqual(await visible(b.id), [`${e1}/${run1}/artifacts/model/weights.bin`, `${e1}/${run1}/artifacts/notes.txt`]);
      assert.deepEqual(await visible(outsider.id), []);

      // Audited in both chains: 2 lists + 2 downloads.
      for (const tenant of [a, b]) {
        const reads = await sharedReads(tenant, /artifact/);
        assert.deepEqual(reads.map((e) => `${String(e.details?.['via'])} ${String(e.details?.['path'])}`).sort(),
          ['artifacts/list ', 'artifacts/list model', 'get-artifact model/weights.bin', 'get-artifact notes.txt'], tenant.slug);
        for (const event of reads) assert.equal(event.target, `experiment:sx-a/${e1}`);
      }

      assert.equal((await p.call('DELETE', `/api/v1/tenants/sx-a/shares/${created.body.id}`, a.tokens.admin)).status, 200);
      expectNotFound(await bm.get('artifacts/list', { run_id: run1 }), 'after revocation');
      assert.equal((await download(b.tokens.member, run1, 'notes.txt')).statusCode, 404);
      assert.deepEqual(await visible(b.id), []);
      // The owner's own run-artifact reads are unchanged.
      assert.deepEqual(expectOk(await mlflowHttp(p, a.tokens.member).get('artifacts/list', { run_id: run2 }), 'owner list').files.map((f: any) => f.path), [run1, 'secret.txt']);
    });

    test('an expired share closes the experiment and its run artifacts at once, like a revoked one', async () => {
      const bm = mlflowHttp(p, b.tokens.member);
      const created = await p.call('POST', '/api/v1/tenants/sx-a/shares', a.tokens.admin, { resource: `experiment:${e1}`, grantee: b.id, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      expectOk(await bm.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'while live');
      expectOk(await bm.get('artifacts/list', { run_id: run1 }), 'artifacts while live');
      // Time passes (set as the schema owner: the API refuses an expiry in the past).
      await p.database.owner.queryAsOwner(`UPDATE tenant_shares SET expires_at = now() - interval '1 second' WHERE id = $1`, [created.body.id]);
      expectNotFound(await bm.get('experiments/get', { experiment_id: `sx-a/${e1}` }), 'after expiry');
      assert.ok(!(expectOk(await bm.post('experiments/search', {}), 'search after expiry').experiments ?? []).some((e: any) => String(e.name).startsWith('sx-a/')));
      expectNotFound(await bm.get('artifacts/list', { run_id: run1 }), 'artifacts after expiry');
      assert.equal((await download(b.tokens.member, run1, 'notes.txt')).statusCode, 404);
    });
  });
}
