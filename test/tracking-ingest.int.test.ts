/**
 * The ingest path of issue 20 item 4, on PGlite and PostgreSQL, as the application role:
 *   - runs/create in one round trip (run + tags in one statement, the audit event pipelined) answers
 *     exactly what runs/get reads back, and writes nothing at all — no run, no tag, no audit event — when
 *     the experiment is deleted, missing or another tenant's;
 *   - statements kept prepared on a pooled connection (QueryOptions.prepare) stay confined by row-level
 *     security when the same connection serves another tenant next;
 *   - statements pipelined into one socket write still fail their transaction as a whole.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresDb, withSystem, withTenant } from '../src/db/index.ts';
import type { Db } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp, MlflowResponse } from './support/mlflow-http.ts';

const ok = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 200, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

for (const kind of databaseKinds) {
  describe(`tracking ingest path on ${kind}`, () => {
    let p: TestPlatform;
    let alpha: TestTenant;
    let beta: TestTenant;
    let a: MlflowHttp;
    let b: MlflowHttp;

    /** What tenant `tenantId` has in the tables runs/create writes, read past row-level security. */
    const written = (tenantId: string) => withSystem(p.database.owner, async (tx) => ({
      runs: Number((await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM runs WHERE tenant_id = $1', [tenantId])).rows[0]?.n),
      tags: Number((await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM run_tags WHERE tenant_id = $1', [tenantId])).rows[0]?.n),
      creates: Number((await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1 AND action = 'tracking.run.create'`, [tenantId])).rows[0]?.n),
    }));

    before(async () => {
      p = await createTestPlatform(kind);
      alpha = await p.createTenant('alpha');
      beta = await p.createTenant('beta');
      a = mlflowHttp(p, alpha.tokens.member);
      b = mlflowHttp(p, beta.tokens.member);
    });
    after(async () => {
      await p.close();
    });

    test('runs/create answers what runs/get reads back: tags by key, duplicates last-wins, the run name, the artifact URI', async () => {
      const experimentId = ok(await a.post('experiments/create', { name: 'ingest', artifact_location: 'mlflow-artifacts:/custom/place/' }), 'create experiment').experiment_id;
      const created = ok(await a.post('runs/create', {
        experiment_id: experimentId, start_time: 1_700_000_000_000, user_id: 'ana', run_name: 'first',
        tags: [{ key: 'zeta', value: '1' }, { key: 'Alpha', value: 'a' }, { key: 'zeta', value: '2' }, { key: 'beta', value: 'b' }],
      }), 'create run').run;
      const read = ok(await a.get('runs/get', { run_id: created.info.run_id }), 'get run').run;
      assert.deepEqual(created, read);
      assert.equal(created.info.artifact_uri, `mlflow-artifacts:/custom/place/${created.info.run_id}/artifacts`);
      assert.equal(created.info.run_name, 'first');
      assert.equal(created.info.user_id, 'ana');
      assert.equal(created.info.status, 'RUNNING');
      const tags = Object.fromEntries(created.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]));
      assert.deepEqual(tags, { zeta: '2', Alpha: 'a', beta: 'b', 'mlflow.runName': 'first' });
      assert.deepEqual(created.data.metrics, []);
      assert.deepEqual(created.data.params, []);

      // The Default experiment (id 0) of a tenant that has never used tracking is created on the way.
      const inDefault = ok(await b.post('runs/create', {}), 'create run in Default').run;
      assert.equal(inDefault.info.experiment_id, '0');
      assert.deepEqual(inDefault, ok(await b.get('runs/get', { run_id: inDefault.info.run_id }), 'get run').run);
    });

    test('runs/create under a deleted, missing or foreign experiment writes nothing: no run, no tag, no audit event', async () => {
      const experimentId = ok(await a.post('experiments/create', { name: 'soon-deleted' }), 'create experiment').experiment_id;
      // Experiment ids count per tenant: beta's last id is one alpha does not have.
      let betaExperiment = '';
      for (let i = 0; i < 6; i += 1) betaExperiment = ok(await b.post('experiments/create', { name: `beta-only-${i}` }), 'create experiment').experiment_id;
      assert.equal((await a.get('experiments/get', { experiment_id: betaExperiment })).status, 404, 'alpha must not have this id');
      ok(await a.post('experiments/delete', { experiment_id: experimentId }), 'delete experiment');
      const alphaBefore = await written(alpha.id);
      const betaBefore = await written(beta.id);

      const deleted = await a.post('runs/create', { experiment_id: experimentId, tags: [{ key: 't', value: 'v' }] });
      assert.equal(deleted.status, 400, JSON.stringify(deleted.body));
      assert.equal(deleted.body.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(deleted.body.message, /must be in the 'active' state/);

      const missing = await a.post('runs/create', { experiment_id: '987654' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error_code, 'RESOURCE_DOES_NOT_EXIST');

      // Beta's experiment id, used by alpha: exactly a missing experiment, and beta's data is untouched.
      const foreign = await a.post('runs/create', { experiment_id: betaExperiment, tags: [{ key: 't', value: 'v' }] });
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(foreign.body.message, missing.body.message.replace('987654', String(betaExperiment)));

      assert.deepEqual(await written(alpha.id), alphaBefore);
      assert.deepEqual(await written(beta.id), betaBefore);
    });

    test('a statement kept prepared on a connection stays confined to the tenant of each transaction', async () => {
      const alphaRun = ok(await a.post('runs/create', {}), 'create run').run.info.run_id as string;
      // One connection, so the second tenant's transactions reuse the statement (and its cached plan) the
      // first tenant prepared; past five executions PostgreSQL may switch to a generic plan.
      const single: Db = kind === 'postgres' ? createPostgresDb({ connectionString: p.database.appUrl ?? '', maxConnections: 1 }) : p.database.db;
      const findRun = (tenantId: string) => withTenant(single, tenantId, async (tx) =>
        (await tx.query<{ id: string }>('SELECT r.id FROM runs r WHERE r.id = $1', [alphaRun], { prepare: true })).rows.map((r) => r.id));
      try {
        for (let i = 0; i < 8; i += 1) {
          assert.deepEqual(await findRun(alpha.id), [alphaRun], `alpha, execution ${i}`);
          assert.deepEqual(await findRun(beta.id), [], `beta, execution ${i}`);
        }
        // And a write: beta cannot attach a tag to alpha's run through the prepared tag upsert.
        const betaTag = withTenant(single, beta.id, (tx) => tx.query(
          'INSERT INTO run_tags (tenant_id, run_id, key, value) VALUES ($1::uuid, $2, $3, $4)', [alpha.id, alphaRun, 'x', 'y'], { prepare: true }));
        await assert.rejects(betaTag, /row-level security/);
      } finally {
        if (single !== p.database.db) await single.close();
      }
    });

    test('statements pipelined into one write still fail their transaction as a whole', async () => {
      const run = ok(await a.post('runs/create', {}), 'create run').run.info.run_id as string;
      const attempt = withTenant(p.database.db, alpha.id, async (tx) => {
        const first = tx.query('INSERT INTO run_tags (tenant_id, run_id, key, value) VALUES ($1::uuid, $2, $3, $4)', [alpha.id, run, 'one', '1'], { prepare: true });
        // No such run: the foreign key fails this one, and the transaction with it.
        const second = tx.query('INSERT INTO run_tags (tenant_id, run_id, key, value) VALUES ($1::uuid, $2, $3, $4)', [alpha.id, 'f'.repeat(32), 'two', '2'], { prepare: true });
        const third = tx.query('INSERT INTO run_tags (tenant_id, run_id, key, value) VALUES ($1::uuid, $2, $3, $4)', [alpha.id, run, 'three', '3']);
        const results = await Promise.allSettled([first, second, third]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      });
      await assert.rejects(attempt, /foreign key/);
      const tags = ok(await a.get('runs/get', { run_id: run }), 'get run').run.data.tags.map((t: { key: string }) => t.key);
      assert.deepEqual(tags, ['mlflow.runName']);
      // The connection is usable afterwards (the pool gets it back clean).
      for (let i = 0; i < 3; i += 1) ok(await a.post('runs/log-batch', { run_id: run, tags: [{ key: `k${i}`, value: 'v' }] }), 'log-batch');
      assert.equal(ok(await a.get('runs/get', { run_id: run }), 'get run').run.data.tags.length, 4);
    });
  });
}
