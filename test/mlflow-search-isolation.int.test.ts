/**
 * runs/search across tenants through the MLflow REST API (app.inject), on PGlite and PostgreSQL: two
 * tenants with the same experiment ids, metric, param and tag keys and values. Whatever tenant beta asks —
 * alpha's experiment ids (which are also beta's), alpha's run ids by `run_id IN`, every order form, and a
 * page token taken from alpha's search — beta gets its own runs only, and nothing of alpha's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp } from './support/mlflow-http.ts';

const ids = (body: { runs?: { info: { run_id: string } }[] }): string[] => (body.runs ?? []).map((r) => r.info.run_id).sort();

for (const kind of databaseKinds) {
  describe(`runs/search tenant isolation on ${kind}`, () => {
    let p: TestPlatform;
    let a: MlflowHttp;
    let b: MlflowHttp;
    const runsOf: Record<'a' | 'b', string[]> = { a: [], b: [] };
    let experiment: string;

    before(async () => {
      p = await createTestPlatform(kind);
      a = mlflowHttp(p, (await p.createTenant('search-alpha')).tokens.member);
      b = mlflowHttp(p, (await p.createTenant('search-beta')).tokens.member);
      for (const [name, client] of [['a', a], ['b', b]] as const) {
        const created = await client.post('experiments/create', { name: 'sweep' });
        assert.equal(created.status, 200);
        experiment = created.body.experiment_id;
        for (let i = 0; i < 4; i += 1) {
          const run = await client.post('runs/create', { experiment_id: experiment, start_time: 1000 + i });
          const runId = run.body.run.info.run_id as string;
          runsOf[name].push(runId);
          const logged = await client.post('runs/log-batch', {
            run_id: runId,
            metrics: [{ key: 'auc', value: 0.5 + i / 10, timestamp: 1, step: 0 }],
            params: [{ key: 'lr', value: String(i) }],
            tags: [{ key: 'team', value: 'vision' }],
          });
          assert.equal(logged.status, 200);
        }
      }
      // Same per-tenant experiment id for both tenants: the id alone cannot tell them apart.
      assert.equal(experiment, '1');
    });

    after(async () => {
      await p?.close();
    });

    test("beta's searches return beta's runs only, in every form", async () => {
      const forms: { filter?: string; order_by?: string[] }[] = [
        {}, { filter: 'metrics.auc > 0.1' }, { order_by: ['metrics.auc DESC'] }, { filter: "params.lr = '1'" },
        { filter: "tags.team LIKE 'vis%'", order_by: ['tags.team'] }, { order_by: ['params.lr DESC', 'metrics.auc'] },
      ];
      for (const form of forms) {
        const answer = await b.post('runs/search', { experiment_ids: [experiment, '0', '2'], run_view_type: 'ALL', ...form });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const found = ids(answer.body);
        assert.ok(found.every((id) => runsOf.b.includes(id)), `${JSON.stringify(form)}: ${found.join(', ')}`);
        assert.ok(found.length > 0, JSON.stringify(form));
      }
      const byId = await b.post('runs/search', { experiment_ids: [experiment], filter: `run_id IN (${runsOf.a.map((id) => `'${id}'`).join(', ')})` });
      assert.equal(byId.status, 200);
      assert.deepEqual(ids(byId.body), []);
    });

    test("a page token from alpha's search is refused to beta, naming none of alpha's runs", async () => {
      const first = await a.post('runs/search', { experiment_ids: [experiment], order_by: ['metrics.auc DESC'], max_results: 1 });
      assert.equal(first.status, 200);
      assert.ok(typeof first.body.next_page_token === 'string');
      // The token is made for one tenant's search (its hash covers the tenant): another tenant's replay is
      // a different search, refused before any SQL.
      const replay = await b.post('runs/search', { experiment_ids: [experiment], order_by: ['metrics.auc DESC'], max_results: 10, page_token: first.body.next_page_token });
      assert.equal(replay.status, 400);
      assert.equal(replay.body.error_code, 'INVALID_PARAMETER_VALUE');
      assert.ok(runsOf.a.every((id) => !JSON.stringify(replay.body).includes(id)));
      assert.ok(ids(replay.body).every((id) => runsOf.b.includes(id)));
      const forged = await b.post('runs/search', { experiment_ids: [experiment], order_by: ['metrics.auc DESC'], page_token: 'bm90IGEgdG9rZW4=' });
      assert.equal(forged.status, 400);
      assert.equal(forged.body.error_code, 'INVALID_PARAMETER_VALUE');
    });
  });
}
