/**
 * Isolation at the database: a query run as tenant A cannot read, update, delete or insert tenant B's rows,
 * even when the application code forgets its filter. Raw SQL runs through withTenant, so it is the
 * database (row-level security, FORCEd, as the non-owner application role) that refuses — on PGlite and
 * on PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readAsSystem, readAsTenant, withSystem, withTenant } from '../src/db/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';

const tenantTables = ['tenants', 'tenant_quotas', 'memberships', 'api_tokens', 'audit_events', 'audit_checkpoints'] as const;

for (const kind of databaseKinds) {
  describe(`row-level isolation on ${kind}`, () => {
    let t: TestDatabase;
    const a = randomUUID();
    const b = randomUUID();
    const userA = randomUUID();
    const userB = randomUUID();

    before(async () => {
      t = await createTestDatabase(kind);
      await withSystem(t.db, async (tx) => {
        for (const [id, slug, user] of [[a, 'tenant-a', userA], [b, 'tenant-b', userB]] as const) {
          await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, $2, 'sandbox', 'active')`, [id, slug]);
          await tx.query(`INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu, max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight)
                          VALUES ($1, 1, 1024, 0, 0, 0, 0, 1, 10, 1000, 10, 1)`, [id]);
          await tx.query(`INSERT INTO users (id, username) VALUES ($1, $2)`, [user, `user-${slug}`]);
          await tx.query(`INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')`, [id, user]);
          await tx.query(`INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, display_prefix) VALUES ($1, $2, 'tok', 'owner', $3, 'bh_x')`, [randomUUID(), id, `hash-${slug}`]);
          await tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'test', 'seed', 'success')`, [id]);
          await tx.query(`INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature) VALUES ($1, 1, 'h', 's')`, [id]);
        }
      });
    });
    after(async () => t.drop());

    test('an unfiltered SELECT on every tenant table returns only the scoped tenant rows', async () => {
      for (const table of tenantTables) {
        const column = table === 'tenants' ? 'id' : 'tenant_id';
        const rows = await withTenant(t.db, a, async (tx) => (await tx.query<{ owner: string }>(`SELECT ${column} AS owner FROM ${table}`)).rows);
        assert.ok(rows.length > 0, `${table}: tenant A sees its own rows`);
        assert.deepEqual(new Set(rows.map((row) => row.owner)), new Set([a]), `${table}: only tenant A rows`);
      }
    });

    test('the shared users table shows a tenant only its own members', async () => {
      const rows = await withTenant(t.db, a, async (tx) => (await tx.query<{ id: string }>('SELECT id FROM users')).rows);
      assert.deepEqual(rows.map((row) => row.id), [userA]);
    });

    test("UPDATE and DELETE of the other tenant's rows touch nothing", async () => {
      const updated = await withTenant(t.db, a, (tx) => tx.query(`UPDATE memberships SET role = 'viewer' WHERE tenant_id = $1`, [b]));
      assert.equal(updated.rowCount, 0);
      const deleted = await withTenant(t.db, a, (tx) => tx.query(`DELETE FROM api_tokens WHERE tenant_id = $1`, [b]));
      assert.equal(deleted.rowCount, 0);
      const still = await withTenant(t.db, b, async (tx) => (await tx.query<{ role: string }>('SELECT role FROM memberships')).rows);
      assert.deepEqual(still.map((row) => row.role), ['owner']);
      const tokens = await withTenant(t.db, b, async (tx) => (await tx.query('SELECT id FROM api_tokens')).rows);
      assert.equal(tokens.length, 1);
    });

    test("INSERT of a row for the other tenant is refused by the policy's WITH CHECK", async () => {
      await assert.rejects(
        withTenant(t.db, a, (tx) => tx.query(`INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, display_prefix) VALUES ($1, $2, 'evil', 'owner', 'evil-hash', 'bh_e')`, [randomUUID(), b])),
        /row-level security/,
      );
      await assert.rejects(
        withTenant(t.db, a, (tx) => tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'x', 'forged', 'success')`, [b])),
        /row-level security/,
      );
    });

    test("moving an own row into the other tenant is refused", async () => {
      await assert.rejects(
        withTenant(t.db, a, (tx) => tx.query(`UPDATE api_tokens SET tenant_id = $1`, [b])),
        /row-level security/,
      );
    });

    test('the application role cannot rewrite or delete audit events, even its own', async () => {
      await assert.rejects(withTenant(t.db, a, (tx) => tx.query(`UPDATE audit_events SET action = 'edited'`)), /permission denied/);
      await assert.rejects(withTenant(t.db, a, (tx) => tx.query(`DELETE FROM audit_events`)), /permission denied/);
    });

    test('a tenant scope cannot create or change tenants', async () => {
      await assert.rejects(withTenant(t.db, a, (tx) => tx.query(`UPDATE tenants SET status = 'suspended'`)), /permission denied/);
      await assert.rejects(withTenant(t.db, a, (tx) => tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, 'sneaky', 'x', 'sandbox', 'active')`, [randomUUID()])), /permission denied/);
    });

    test('a scope for an unknown tenant sees no rows at all', async () => {
      for (const table of tenantTables) {
        const rows = await withTenant(t.db, randomUUID(), async (tx) => (await tx.query(`SELECT 1 FROM ${table}`)).rows);
        assert.equal(rows.length, 0, table);
      }
    });

    test('the tenant setting does not outlive its transaction', async () => {
      await withTenant(t.db, a, (tx) => tx.query('SELECT 1'));
      const leftover = await withSystem(t.db, async (tx) => (await tx.query<{ v: string | null }>(`SELECT current_setting('bulkhead.tenant_id', true) AS v`)).rows[0]?.v);
      assert.ok(leftover === '' || leftover === null);
    });

    test('the one-round-trip read (readAsTenant) is row-level secured the same way, and leaves nothing behind', async () => {
      const rows = (await readAsTenant<{ tenant_id: string }>(t.db, a, 'SELECT tenant_id FROM api_tokens')).rows;
      assert.deepEqual(rows.map((row) => row.tenant_id), [a]);
      const filtered = (await readAsTenant(t.db, a, 'SELECT 1 FROM api_tokens WHERE tenant_id = $1', [b])).rows;
      assert.equal(filtered.length, 0);
      // A value that tries to break out of its literal is just a value.
      const hostile = (await readAsTenant(t.db, a, 'SELECT $1::text AS v', ["'); SET ROLE postgres; --"])).rows as Array<{ v: string }>;
      assert.equal(hostile[0]?.v, "'); SET ROLE postgres; --");
      await assert.rejects(readAsTenant(t.db, a, 'UPDATE tenants SET status = $1', ['suspended']), /permission denied/);
      const [after] = (await readAsSystem<{ role: string; tenant: string | null }>(t.db, `SELECT current_user AS role, current_setting('bulkhead.tenant_id', true) AS tenant`)).rows;
      assert.equal(after?.role, 'bulkhead_system');
      assert.ok(after?.tenant === '' || after?.tenant === null);
      const all = (await readAsSystem<{ n: number }>(t.db, 'SELECT count(*)::int AS n FROM tenants')).rows;
      assert.ok((all[0]?.n ?? 0) >= 2);
      if (t.kind === 'postgres') await assert.rejects(t.db.queryAsOwner('SELECT * FROM api_tokens'), /permission denied/);
      const concurrent = await Promise.all(Array.from({ length: 50 }, (_, i) => readAsTenant<{ tenant_id: string }>(t.db, i % 2 === 0 ? a : b, 'SELECT tenant_id FROM memberships')));
      concurrent.forEach((result, i) => assert.deepEqual(result.rows.map((row) => row.tenant_id), [i % 2 === 0 ? a : b]));
    });

    test('200 concurrent transactions of 20 tenants never see each other', async () => {
      const ids = Array.from({ length: 20 }, () => randomUUID());
      await withSystem(t.db, async (tx) => {
        for (const [i, id] of ids.entries()) {
          await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'c', 'process', 'active')`, [id, `conc-${i}-x`]);
          await tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) SELECT $1, 'seed', 'seed', 'success' FROM generate_series(1, 5)`, [id]);
        }
      });
      let leaks = 0;
      await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const id = ids[i % ids.length]!;
        const rows = await withTenant(t.db, id, async (tx) => {
          await new Promise((resolve) => setTimeout(resolve, i % 3));
          return (await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM audit_events')).rows;
        });
        if (rows.length !== 5 || rows.some((row) => row.tenant_id !== id)) leaks += 1;
      }));
      assert.equal(leaks, 0);
    });

    if (kind === 'postgres') {
      test('outside any scope the login role can read nothing, and cannot leave its roles', async () => {
        await assert.rejects(t.db.queryAsOwner('SELECT * FROM api_tokens'), /permission denied/);
        await assert.rejects(t.db.queryAsOwner('SET ROLE postgres'), /permission denied/);
        await assert.rejects(t.db.queryAsOwner('ALTER TABLE api_tokens DISABLE ROW LEVEL SECURITY'), /must be owner/);
      });
    }
  });
}
