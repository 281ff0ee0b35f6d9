/**
 * The embedded database in its worker thread (src/db/pglite-driver.ts): the event loop runs while a query
 * runs; the statement-timeout watchdog ends the worker, and every transaction whose COMMIT was answered
 * is still there afterwards (and after a reopen); close() and interrupt() do not wait for a runaway query;
 * concurrent tenant transactions never see each other's rows while the watchdog replaces workers under them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDbTimeQuotaGate, createPgliteDb, migrate, withSystem, withTenant, withTenantGate } from '../src/db/index.ts';
import type { Db } from '../src/db/index.ts';
import { isAppError } from '../src/core/errors.ts';

const endlessQuery = 'SELECT sum(x) AS total FROM (SELECT generate_series(1, 4000000000::bigint) AS x) s';

const seedTenants = async (db: Db, ids: readonly string[], rowsEach: number): Promise<void> => {
  await withSystem(db, async (tx) => {
    for (const [i, id] of ids.entries()) {
      await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'w', 'process', 'active')`, [id, `worker-${i}-${id.slice(0, 8)}`]);
      await tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) SELECT $1, 'seed', 'seed', 'success' FROM generate_series(1, $2::int)`, [id, rowsEach]);
    }
  });
};

describe('PGlite in a worker thread', () => {
  let dir: string;
  let db: Db;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulkhead-worker-test-'));
    db = await createPgliteDb({ dataDir: join(dir, 'db'), closeGraceMs: 200 });
    await migrate(db);
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('prepared statements answer exactly as unprepared ones: values, errors, a failed parse, the transaction after an error', async () => {
    const sql = 'SELECT $1::int8 AS a, $2::float8 AS b, $3::float8 AS c, $4::text[] AS d, $5::jsonb AS e, $6::uuid AS f, $7::bool AS g, $8::text AS h, $9::bytea AS i';
    const params = ['9007199254740993', Number.NaN, Number.NEGATIVE_INFINITY, ['x', 'y,"z"', ''], { k: [1, 'two'] }, randomUUID(), true, null, Buffer.from([0, 1, 255])];
    const plain = await db.transaction('SELECT 1;', (tx) => tx.query(sql, params));
    for (let i = 0; i < 3; i += 1) {
      const prepared = await db.transaction('SELECT 1;', (tx) => tx.query(sql, params, { prepare: true }));
      assert.deepEqual(prepared, plain, `call ${i}: the cached statement answers as a parsed one`);
    }
    const kept = await db.transaction('SELECT 1;', (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [sql]));
    assert.deepEqual(kept.rows, [{ n: 1 }], 'parsed once, kept in the session');
    // Writes report the rows they touched; a constraint violation keeps its SQLSTATE and the next
    // transaction on the same prepared statement works.
    const tenant = randomUUID();
    await seedTenants(db, [tenant], 0);
    const insert = `INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'p', 'process', 'active')`;
    const written = await withSystem(db, (tx) => tx.query(insert, [randomUUID(), `prep-${tenant.slice(0, 8)}`], { prepare: true }));
    assert.equal(written.rowCount, 1);
    await assert.rejects(withSystem(db, (tx) => tx.query(insert, [randomUUID(), `prep-${tenant.slice(0, 8)}`], { prepare: true })), (error: Error & { code?: string }) => error.code === '23505');
    assert.equal((await withSystem(db, (tx) => tx.query(insert, [randomUUID(), `prep2-${tenant.slice(0, 8)}`], { prepare: true }))).rowCount, 1);
    // A statement that does not parse is refused with its SQLSTATE and not remembered.
    for (let i = 0; i < 2; i += 1) {
      await assert.rejects(db.transaction('SELECT 1;', (tx) => tx.query('SELEC $1::int', [1], { prepare: true })), (error: Error & { code?: string }) => error.code === '42601');
    }
    assert.deepEqual((await db.transaction('SELECT 1;', (tx) => tx.query<{ x: number }>('SELECT $1::int + 1 AS x', [41], { prepare: true }))).rows, [{ x: 42 }]);
  });

  test('a prepared statement run for several tenants, concurrently, returns each only its own rows', async () => {
    const tenants = [randomUUID(), randomUUID(), randomUUID()];
    await seedTenants(db, tenants, 5);
    const sql = 'SELECT tenant_id::text AS tenant_id, count(*)::int AS n FROM audit_events GROUP BY tenant_id';
    // Well past the five custom plans after which PostgreSQL may switch a prepared statement to a generic plan.
    const reads = Array.from({ length: 60 }, (_, i) => tenants[i % tenants.length] as string).map(async (tenant) => {
      const { rows } = await withTenant(db, tenant, (tx) => tx.query<{ tenant_id: string; n: number }>(sql, [], { prepare: true }), { readOnly: true });
      assert.deepEqual(rows, [{ tenant_id: tenant, n: 5 }]);
    });
    await Promise.all(reads);
  });

  test('the event loop keeps running while a query runs', async () => {
    let ticks = 0;
    const ticker = setInterval(() => { ticks += 1; }, 1);
    let settled = false;
    const running = db.transaction('SELECT 1;', (tx) => tx.query(endlessQuery), { limits: { owner: 'a', statementTimeoutMs: 60_000 } }).then(
      () => { settled = true; },
      (error: unknown) => { settled = true; return error; },
    );
    // Timers fire again and again while the query is still running: nothing blocks this thread.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (ticks >= 20) { clearInterval(check); resolve(); }
      }, 1);
    });
    clearInterval(ticker);
    assert.equal(settled, false, 'the query was still running');
    await db.interrupt!();
    const error = await running;
    assert.equal((error as { code?: string }).code, '57P01');
  });

  test('the watchdog ends a statement over its timeout with SQLSTATE 57014; acknowledged writes survive it and a reopen', async () => {
    const tenant = randomUUID();
    await seedTenants(db, [tenant], 0);
    const written: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      await withTenant(db, tenant, (tx) => tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'w', $2, 'success')`, [tenant, `ack-${i}`]));
      written.push(i);
    }
    // A write in the transaction that the watchdog ends is not acknowledged and must not appear.
    await assert.rejects(
      db.transaction(`SELECT set_config('bulkhead.tenant_id','${tenant}',true);`, async (tx) => {
        await tx.query(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'w', 'lost', 'success')`, [tenant]);
        return tx.query(endlessQuery);
      }, { limits: { owner: tenant, statementTimeoutMs: 200 } }),
      (error: Error & { code?: string }) => error.code === '57014' && /statement timeout/.test(error.message),
    );
    const count = async (target: Db) => (await withTenant(target, tenant, (tx) => tx.query<{ action: string }>('SELECT action FROM audit_events ORDER BY action'))).rows.map((row) => row.action);
    const expected = written.map((i) => `ack-${i}`).sort();
    assert.deepEqual(await count(db), expected);
    // And after closing and opening the directory again (a restart of the platform).
    await db.close();
    db = await createPgliteDb({ dataDir: join(dir, 'db'), closeGraceMs: 200 });
    assert.deepEqual(await count(db), expected);
  });

  test('close() does not wait for a runaway query: the worker is ended after the grace period', async () => {
    const other = await createPgliteDb({ dataDir: join(dir, 'other'), closeGraceMs: 100 });
    const runaway = other.queryAsOwner(endlessQuery).catch((error: unknown) => error);
    // The query takes minutes; close() returning at all shows it did not wait for it.
    await other.close();
    const error = await runaway;
    assert.equal((error as { code?: string }).code, '57P01');
    await assert.rejects(other.queryAsOwner('SELECT 1'), /closed/);
  });

  test('200 concurrent tenant transactions never see each other while the watchdog replaces the worker under them', async () => {
    const ids = Array.from({ length: 10 }, () => randomUUID());
    await seedTenants(db, ids, 5);
    const runaway = randomUUID();
    await seedTenants(db, [runaway], 0);
    await withSystem(db, (tx) => tx.query(`INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu, max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight, db_statement_timeout_ms, db_max_concurrent_operations)
      VALUES ($1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 150, 4)`, [runaway]));
    const gate = createDbTimeQuotaGate({
      loadLimits: async (tenantId) => (tenantId === runaway ? { statementTimeoutMs: 150, maxConcurrentOperations: 4, timeMsPerSecond: 0 } : { statementTimeoutMs: 60_000, maxConcurrentOperations: 1000, timeMsPerSecond: 0 }),
    });
    const gated = withTenantGate(db, gate);
    let leaks = 0;
    let timeouts = 0;
    await Promise.all([
      ...Array.from({ length: 200 }, async (_, i) => {
        const id = ids[i % ids.length]!;
        const rows = await withTenant(gated, id, async (tx) => {
          const { rows: first } = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM audit_events');
          const { rows: setting } = await tx.query<{ t: string }>(`SELECT current_setting('bulkhead.tenant_id', true) AS t`);
          if (setting[0]?.t !== id) leaks += 1;
          return first;
        });
        if (rows.length !== 5 || rows.some((row) => row.tenant_id !== id)) leaks += 1;
      }),
      ...Array.from({ length: 3 }, async () => {
        try {
          await withTenant(gated, runaway, (tx) => tx.query(endlessQuery));
        } catch (error) {
          if (isAppError(error) && error.code === 'DB_STATEMENT_TIMEOUT') timeouts += 1;
          else throw error;
        }
      }),
    ]);
    assert.equal(leaks, 0);
    assert.equal(timeouts, 3);
    const usage = gate.usage().find((u) => u.tenantId === runaway)!;
    assert.equal(usage.statementTimeouts, 3);
    assert.equal(usage.active, 0);
  });
});
