/**
 * Commit-ahead transactions (TransactionOptions.commitAhead, src/db/postgres-driver.ts): on PostgreSQL
 * BEGIN + scope, the statements and COMMIT leave in one write. What must hold on both databases, as the
 * application role under row-level security: a transaction whose statements all succeed is kept; one whose
 * statement fails keeps nothing, not even the statements before the failure; bulkhead_refuse (migration
 * 0041) fails a statement with SQLSTATE BH001 (isRefusal) and so undoes the whole transaction; and a query
 * issued after the transaction's first await is refused rather than run after the COMMIT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isRefusal, withSystem, withTenant } from '../src/db/index.ts';
import type { DbKind } from '../src/db/index.ts';
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

    test('row-level security holds: another tenant sees none of it and cannot write into it', async () => {
      assert.deepEqual(await keys(otherTenant), []);
      await assert.rejects(withTenant(database.db, otherTenant, (tx) => tx.query(tag('forged'), [tenantId]), { commitAhead: true }));
      assert.deepEqual(await keys(tenantId), ['kept-1', 'kept-2']);
    });
  });
}
