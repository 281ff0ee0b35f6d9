/**
 * Commit-ahead transactions (TransactionOptions.commitAhead, src/db/postgres-driver.ts): on PostgreSQL
 * BEGIN + scope, the statements and COMMIT leave in one write. What must hold on both databases, as the
 * application role under row-level security: a transaction whose statements all succeed is kept; one whose
 * statement fails keeps nothing, not even the statements before the failure; bulkhead_refuse (migration
 * 0041) fails a statement with SQLSTATE BH001 (isRefusal) and so undoes the whole transaction; and a query
 * issued after the transaction's first await is refused rather than run after the COMMIT. A transaction
 * whose fn swallowed a failed statement is reported rolled back (TransactionRolledBack), unless a
 * ROLLBACK TO SAVEPOINT recovered it. Write combining (src/db/combine.ts): concurrent units of one tenant
 * share transactions, issued in their lock order, each answered only after its transaction committed; a
 * failing unit fails alone and the others are kept; two tenants never share a transaction.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TransactionRolledBack, isRefusal, withSystem, withTenant, withTenantCombined } from '../src/db/index.ts';
import type { DbKind } from '../src/db/index.ts';
import { writeBatchStatement } from '../src/tracking/tracking-queries.ts';
import { createTestDatabase } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';

for (const kind of ['postgres', 'pglite'] as DbKind[]) {
  describe(`commit-ahead transactions on ${kind}`, () => {
    let database: TestDatabase;
    const tenantId = randomUUID();
    const otherTenant = randomUUID();
    const keys = async (tenant: string): Promise<string[]> =>
      (await withTenant(database.db, tenant, (tx) => tx.query<{ key: string }>('SELECT key FROM experiment_tags ORDER BY key'))).rows.map((r) => r.key);
    const tag = (key: string) => `INSERT INTO experiment_tags (tenant_id, experiment_id, key, value) VALUES ($1::uuid, 1, '${key}', 'v')`;

    before(async () => {
      database = await createTestDatabase(kind);
      await withSystem(database.owner, async (tx) => {
        for (const [i, id] of [tenantId, otherTenant].entries()) {
          await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'c', 'sandbox', 'active')`, [id, `commit-ahead-${i}`]);
          await tx.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
                          VALUES ($1, 1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)`, [id]);
        }
      });
    });
    after(async () => database?.drop());

    test('statements that all succeed are committed, with their answers returned', async () => {
      const answer = await withTenant(database.db, tenantId, (tx) => {
        const first = tx.query(tag('kept-1'), [tenantId]);
        const second = tx.query(`${tag('kept-2')} RETURNING key`, [tenantId]);
        return Promise.all([first, second]).then(([, b]) => b.rows);
      }, { commitAhead: true });
      assert.deepEqual(answer, [{ key: 'kept-2' }]);
      assert.deepEqual(await keys(tenantId), ['kept-1', 'kept-2']);
    });

    test('a failing statement keeps nothing of its transaction, not even the statements before it', async () => {
      await assert.rejects(withTenant(database.db, tenantId, (tx) => Promise.all([
        tx.query(tag('lost-1'), [tenantId]),
        tx.query(tag('kept-1'), [tenantId]), // duplicate key: fails
        tx.query(tag('lost-2'), [tenantId]),
      ]), { commitAhead: true }), (error: { code?: string }) => error.code === '23505');
      assert.deepEqual(await keys(tenantId), ['kept-1', 'kept-2']);
    });

    test('bulkhead_refuse fails its statement with BH001 and undoes the whole transaction', async () => {
      const refused = await withTenant(database.db, tenantId, (tx) => Promise.all([
        tx.query(tag('lost-3'), [tenantId]),
        tx.query(`SELECT bulkhead_refuse(count(*) > 0, 'test') FROM experiment_tags WHERE key = 'kept-1'`),
      ]), { commitAhead: true }).then(() => undefined, (error: unknown) => error);
      assert.ok(isRefusal(refused), `expected a refusal, got ${String(refused)}`);
      assert.doesNotMatch(String((refused as Error).message), /kept-1|lost-3/);
      // false passes: the same statement with nothing to refuse answers true and the transaction commits.
      const passed = await withTenant(database.db, tenantId, (tx) =>
        tx.query<{ ok: boolean }>(`SELECT bulkhead_refuse(count(*) > 0, 'test') AS ok FROM experiment_tags WHERE key = 'absent'`), { commitAhead: true });
      assert.deepEqual(passed.rows, [{ ok: true }]);
      assert.deepEqual(await keys(tenantId), ['kept-1', 'kept-2']);
    });

    test('a query issued after the first await is refused, not run after the COMMIT', { skip: kind === 'pglite' ? 'PGlite commits after fn, as without the option' : false }, async () => {
      await assert.rejects(withTenant(database.db, tenantId, async (tx) => {
        await tx.query('SELECT 1');
        await tx.query(tag('late'), [tenantId]);
      }, { commitAhead: true }), /issued a query after its COMMIT was sent/);
      assert.deepEqual(await keys(tenantId), ['kept-1', 'kept-2']);
    });

    test('a swallowed statement failure is reported as a rollback, and a savepoint recovers the transaction', async () => {
      for (const commitAhead of [false, true]) {
        await assert.rejects(withTenant(database.db, tenantId, (tx) => Promise.all([
          tx.query(tag(`swallowed-${commitAhead}`), [tenantId]),
          tx.query(tag('kept-1'), [tenantId]).catch(() => 'swallowed'),
        ]), { commitAhead }), TransactionRolledBack);
      }
      await withTenant(database.db, tenantId, async (tx) => {
        await tx.query('SAVEPOINT s');
        await tx.query(tag('kept-1'), [tenantId]).catch(() => undefined);
        await tx.query('ROLLBACK TO SAVEPOINT s');
        await tx.query(tag('after-savepoint'), [tenantId]);
      });
      assert.deepEqual(await keys(tenantId), ['after-savepoint', 'kept-1', 'kept-2']);
    });

    test('write combining: concurrent units share transactions and each is answered once committed', async () => {
      const unit = (key: string) => (tx: Parameters<Parameters<typeof withTenant>[2]>[0]) => {
        const xid = tx.query<{ x: string }>('SELECT txid_current()::text AS x');
        const row = tx.query(`${tag(key)} RETURNING key`, [tenantId]);
        return Promise.all([xid, row]).then(([x, r]) => ({ xid: x.rows[0]!.x, key: (r.rows[0] as { key: string }).key }));
      };
      const names = Array.from({ length: 20 }, (_, i) => `combined-${String(i).padStart(2, '0')}`);
      const answers = await Promise.all(names.map(async (key) => {
        const answer = await withTenantCombined(database.db, tenantId, key, unit(key));
        // Answered means committed: a new transaction sees it.
        const seen = await withTenant(database.db, tenantId, (tx) => tx.query('SELECT 1 FROM experiment_tags WHERE key = $1', [key]));
        assert.equal(seen.rows.length, 1, key);
        return answer;
      }));
      assert.deepEqual(answers.map((a) => a.key), names);
      const transactions = new Set(answers.map((a) => a.xid)).size;
      assert.ok(transactions < names.length / 2, `20 concurrent units in ${transactions} transactions`);
    });

    test('write combining: a shared transaction issues its units in their order (the lock order), each answered with its own result', async () => {
      const issued: string[] = [];
      const unit = (order: string) => withTenantCombined(database.db, tenantId, order, (tx) => {
        issued.push(order);
        return tx.query<{ k: string }>('SELECT $1::text AS k', [order]).then((r) => r.rows[0]!.k);
      });
      // The first two start at once (two lanes); the four after them queue and go together, in order.
      const answers = await Promise.all(['f', 'e', 'd', 'c', 'b', 'a'].map(unit));
      assert.deepEqual(answers, ['f', 'e', 'd', 'c', 'b', 'a']);
      assert.deepEqual(issued, ['f', 'e', 'a', 'b', 'c', 'd']);
    });

    test('write combining: a failing unit fails alone (its own error), the others are kept', async () => {
      const results = await Promise.allSettled([
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(tag('alone-1'), [tenantId])),
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(tag('alone-2'), [tenantId])),
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(tag('alone-3'), [tenantId])),
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(tag('kept-1'), [tenantId])), // duplicate
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(`SELECT bulkhead_refuse(true, 'test')`)),
        withTenantCombined(database.db, tenantId, 'o', (tx) => tx.query(tag('alone-4'), [tenantId])),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
      assert.equal(((results[3] as PromiseRejectedResult).reason as { code?: string }).code, '23505');
      assert.ok(isRefusal((results[4] as PromiseRejectedResult).reason));
      const now = await keys(tenantId);
      for (const key of ['alone-1', 'alone-2', 'alone-3', 'alone-4']) assert.ok(now.includes(key), key);
    });

    test('write combining: two tenants never share a transaction, and each sees only its own rows', async () => {
      const probe = (tenant: string, key: string) => withTenantCombined(database.db, tenant, key, (tx) => {
        const xid = tx.query<{ x: string }>('SELECT txid_current()::text AS x');
        const visible = tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id::text FROM experiment_tags');
        const row = tx.query(tag(key), [tenant]);
        return Promise.all([xid, visible, row]).then(([x, v]) => ({ tenant, xid: x.rows[0]!.x, visible: v.rows.map((r) => r.tenant_id) }));
      });
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => probe(i % 2 === 0 ? tenantId : otherTenant, `two-${i}`)));
      for (const answer of answers) assert.deepEqual(answer.visible.filter((t) => t !== answer.tenant), [], 'another tenant\'s rows were visible');
      const xidsOf = (tenant: string) => new Set(answers.filter((a) => a.tenant === tenant).map((a) => a.xid));
      for (const xid of xidsOf(tenantId)) assert.ok(!xidsOf(otherTenant).has(xid), 'two tenants shared a transaction');
    });

    test('the one-statement log-batch: new params and the same values again pass, a changed value refuses it all', async () => {
      const runId = randomUUID().replaceAll('-', '');
      await withTenant(database.db, tenantId, (tx) => tx.query(
        `INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
         VALUES ($1, $2, 1, 'r', 'u', 'RUNNING', 1, 'active', 'mlflow-artifacts:/1/r')`, [runId, tenantId]));
      const metric = (step: number) => ({ key: 'm', value: step, isNan: false, timestamp: step, step });
      const log = (step: number, params: Array<{ key: string; value: string }>) =>
        withTenant(database.db, tenantId, (tx) => writeBatchStatement(tx, tenantId, runId, { metrics: [metric(step)], params, tags: [{ key: 't', value: `v${step}` }] }), { commitAhead: true });
      assert.deepEqual(await log(1, [{ key: 'a', value: '1' }, { key: 'b', value: '2' }]), { stage: 'active' });
      assert.deepEqual(await log(2, [{ key: 'a', value: '1' }, { key: 'c', value: '3' }]), { stage: 'active' });
      await assert.rejects(log(3, [{ key: 'b', value: 'changed' }, { key: 'd', value: '4' }]), (error: unknown) => isRefusal(error));
      const read = (sql: string) => withTenant(database.db, tenantId, async (tx) => (await tx.query(sql, [runId])).rows);
      assert.deepEqual(await read('SELECT key, value FROM run_params WHERE run_id = $1 ORDER BY key'), [{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }]);
      // Nothing of the refused batch: not its metric point, not its tag value.
      assert.deepEqual(await read('SELECT step FROM run_metrics WHERE run_id = $1 ORDER BY step'), [{ step: 1 }, { step: 2 }]);
      assert.deepEqual(await read('SELECT value FROM run_tags WHERE run_id = $1'), [{ value: 'v2' }]);
      // Another tenant's run, a missing run: no such run, nothing written.
      assert.deepEqual(await withTenant(database.db, otherTenant, (tx) => writeBatchStatement(tx, otherTenant, runId, { metrics: [metric(9)], params: [], tags: [] }), { commitAhead: true }), { stage: undefined });
      assert.deepEqual(await read('SELECT step FROM run_metrics WHERE run_id = $1 ORDER BY step'), [{ step: 1 }, { step: 2 }]);
    });

    test('migration 0042: with the tenant references gone, a run, param or tag still cannot name a tenant its experiment or run is not in', async () => {
      // As the schema owner, past row-level security: only the keys stand in the way.
      const runId = randomUUID().replaceAll('-', '');
      await database.owner.queryAsOwner(`INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
         VALUES ($1, $2, 1, 'r', 'u', 'RUNNING', 1, 'active', 'mlflow-artifacts:/1/r')`, [runId, tenantId]);
      const foreignKey = (error: { code?: string }) => error.code === '23503';
      const strayRun = randomUUID().replaceAll('-', '');
      // A tenant that does not exist has no experiment 1, so no run.
      await assert.rejects(database.owner.queryAsOwner(`INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
         VALUES ($1, $2, 1, 'r', 'u', 'RUNNING', 1, 'active', 'x')`, [strayRun, randomUUID()]), foreignKey);
      // A param or tag under another tenant (existing or not) than its run's has no run.
      for (const tenant of [randomUUID(), otherTenant]) {
        for (const table of ['run_params', 'run_tags']) {
          await assert.rejects(database.owner.queryAsOwner(`INSERT INTO ${table} (tenant_id, run_id, key, value, run_experiment_id, run_start_time) VALUES ($1, $2, 'k', 'v', 1, 1)`, [tenant, runId]), foreignKey, `${table} row under another tenant than its run's`);
        }
      }
      const stray = await database.owner.queryAsOwner<{ n: number }>('SELECT count(*)::int AS n FROM runs WHERE id = $1', [strayRun]);
      assert.equal(stray.rows[0]?.n, 0);
    });

    test('row-level security holds: another tenant sees none of it and cannot write into it', async () => {
      assert.ok((await keys(otherTenant)).every((key) => key.startsWith('two-')));
      await assert.rejects(withTenant(database.db, otherTenant, (tx) => tx.query(tag('forged'), [tenantId]), { commitAhead: true }));
      assert.ok(!(await keys(tenantId)).includes('forged'));
    });
  });
}
