/**
 * Leader election, fencing and cache invalidation (issue 16), on PGlite and on PostgreSQL, through the
 * login role that RLS applies to:
 *  - one lease holder at a time; a second replica takes over only once the lease has expired, with a new
 *    fencing token;
 *  - the old leader's writes through the fenced Db are refused once its token is not current (nothing is
 *    written), in tenant-scoped and system transactions alike, while the new leader's go through;
 *  - the replica tables are out of a tenant's reach;
 *  - committed revocations, suspensions and quota changes are announced on `bulkhead_invalidate`;
 *  - two coordinators: one leads; when it stops, the other is elected (no waiting out the lease).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { withSystem, withTenant } from '../src/db/index.ts';
import { createFencedDb, createReplicaCoordinator, heartbeat, listenForInvalidations, listReplicas } from '../src/replicas/index.ts';
import type { Invalidation } from '../src/replicas/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

const quiet = { info: () => {}, error: () => {} };
const replica = (id: string) => ({ replicaId: id, host: 'test', pid: 1, url: undefined });

const createTenant = async (database: TestDatabase): Promise<string> => {
  const tenantId = randomUUID();
  await withSystem(database.db, async (tx) => {
    await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, 'T', 'process', 'active')`, [tenantId, `t-${tenantId.slice(0, 8)}`]);
    await tx.query(
      `INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu, max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight)
       VALUES ($1, 1, 1024, 0, 0, 0, 0, 1, 10, 1000000, 100, 1)`,
      [tenantId],
    );
  });
  return tenantId;
};

for (const kind of databaseKinds) {
  describe(`replica lease and fencing on ${kind}`, () => {
    const databases: TestDatabase[] = [];
    after(async () => {
      for (const database of databases) await database.drop();
    });

    test('one holder; a takeover after expiry gets a new token and fences the old leader out', async () => {
      const database = await createTestDatabase(kind);
      databases.push(database);
      const { db } = database;
      const leaseMs = 400;
      const first = await heartbeat(db, replica('r1'), leaseMs);
      assert.equal(typeof first.token, 'number');
      const second = await heartbeat(db, replica('r2'), leaseMs);
      assert.equal(second.token, undefined, 'the lease is held: r2 must not get it');
      assert.equal(second.leaderId, 'r1');
      assert.equal(second.liveReplicas, 2);
      // Renewal keeps the token.
      assert.equal((await heartbeat(db, replica('r1'), leaseMs)).token, first.token);

      const tenantId = await createTenant(database);
      let oldToken: number | undefined = first.token;
      let refusals = 0;
      const oldLeader = createFencedDb(db, { active: () => true, token: () => oldToken, refused: () => { refusals += 1; } });
      // While current, fenced writes commit, tenant-scoped (bulkhead_app) and system ones.
      await withTenant(oldLeader, tenantId, (tx) => tx.query(`UPDATE tenant_quotas SET weight = 2 WHERE tenant_id = $1`, [tenantId]).then(() => undefined))
        .catch((error: unknown) => {
          // bulkhead_app may not update quotas: what matters is that the fence itself let it through.
          assert.doesNotMatch(String(error), /fenc/);
        });
      await withSystem(oldLeader, (tx) => tx.query(`UPDATE tenants SET name = 'by old leader' WHERE id = $1`, [tenantId]));

      // r1 stops renewing (paused); r2 takes the lease once it has expired, with a new token.
      const taken = await waitFor('r2 to take the expired lease', async () => {
        const result = await heartbeat(db, replica('r2'), leaseMs);
        return result.token ?? false;
      }, 10_000, 50);
      assert.ok(taken > first.token!, 'a new term has a larger fencing token');

      // The paused leader wakes up and writes with its old token: refused, nothing written.
      await assert.rejects(
        withSystem(oldLeader, (tx) => tx.query(`UPDATE tenants SET name = 'late write' WHERE id = $1`, [tenantId])),
        (error: Error & { code?: string }) => error.code === 'UNAVAILABLE' && /fencing/.test(error.message),
      );
      await assert.rejects(withTenant(oldLeader, tenantId, (tx) => tx.query('SELECT 1')), /fencing/);
      assert.equal(refusals, 2);
      const { rows } = await withSystem(db, (tx) => tx.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [tenantId]));
      assert.equal(rows[0]?.name, 'by old leader');

      // Its own heartbeat now finds the lease held by r2.
      const back = await heartbeat(db, replica('r1'), leaseMs);
      assert.equal(back.token, undefined);
      assert.equal(back.leaderId, 'r2');

      // The new leader's fenced writes go through.
      const newLeader = createFencedDb(db, { active: () => true, token: () => taken, refused: () => {} });
      await withSystem(newLeader, (tx) => tx.query(`UPDATE tenants SET name = 'by new leader' WHERE id = $1`, [tenantId]));
      // Without a token (a follower), the write is refused before it is sent.
      oldToken = undefined;
      await assert.rejects(withSystem(oldLeader, (tx) => tx.query('SELECT 1')), /not the leader/);
      // Reads are never fenced.
      assert.equal((await withSystem(oldLeader, (tx) => tx.query('SELECT 1 AS one'), { readOnly: true })).rows.length, 1);
    });

    test('a tenant cannot read or change the replica tables or the lease', async () => {
      const database = await createTestDatabase(kind);
      databases.push(database);
      await heartbeat(database.db, replica('r1'), 5000);
      const tenantId = await createTenant(database);
      await assert.rejects(withTenant(database.db, tenantId, (tx) => tx.query('SELECT * FROM platform_replicas')), /permission denied/);
      await assert.rejects(withTenant(database.db, tenantId, (tx) => tx.query(`UPDATE platform_leader_lease SET holder = 'me'`)), /permission denied/);
      // The fence function only reads: calling it with a guessed token does not take the lease.
      await assert.rejects(withTenant(database.db, tenantId, (tx) => tx.query('SELECT bulkhead_fence(999)')), /fenced/);
      const replicas = await listReplicas(database.db);
      assert.deepEqual(replicas.map((r) => [r.replicaId, r.leader]), [['r1', true]]);
    });

    // PGlite runs in a worker thread and serves one replica: changes there are dropped from the caches in
    // process (the services' own onChange), so its Db has no listen.
    test('revocations, suspensions and quota changes are announced to listeners', { skip: kind === 'pglite' ? 'PGlite: one replica, no LISTEN' : false }, async () => {
      const database = await createTestDatabase(kind);
      databases.push(database);
      const tenantId = await createTenant(database);
      const tokenId = randomUUID();
      await withSystem(database.db, (tx) => tx.query(
        `INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, display_prefix) VALUES ($1, $2, 'x', 'member', $3, 'bh_x')`,
        [tokenId, tenantId, `hash-${tokenId}`],
      ));
      const seen: Invalidation[] = [];
      const unlisten = await listenForInvalidations(database.db, (change) => seen.push(change));
      assert.ok(unlisten !== undefined);
      try {
        // A use of the token (last_used_at) announces nothing; a revocation does.
        await withSystem(database.db, (tx) => tx.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [tokenId]));
        await withSystem(database.db, (tx) => tx.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1', [tokenId]));
        await withSystem(database.db, (tx) => tx.query(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, [tenantId]));
        await withSystem(database.db, (tx) => tx.query('UPDATE tenant_quotas SET requests_per_second = 5 WHERE tenant_id = $1', [tenantId]));
        // A rolled-back change announces nothing.
        await withSystem(database.db, async (tx) => {
          await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1', [tokenId]);
          throw new Error('roll back');
        }).catch(() => {});
        await waitFor('three announcements', () => seen.length >= 3 || undefined, 10_000);
        assert.deepEqual(seen.slice(0, 3), [{ kind: 'token', id: tokenId }, { kind: 'tenant', id: tenantId }, { kind: 'quota', id: tenantId }]);
      } finally {
        await unlisten();
      }
    });

    test('two coordinators: one leads; when it stops the other is elected at once', { skip: kind === 'pglite' ? 'PGlite runs one replica (election single)' : false }, async () => {
      const database = await createTestDatabase(kind);
      databases.push(database);
      const events: string[] = [];
      const make = (id: string) => createReplicaCoordinator({
        db: database.db, replica: replica(id), leaseMs: 2000, heartbeatMs: 100, election: 'lease', log: quiet,
        onElected: async (token) => void events.push(`${id} elected ${token}`),
        onDeposed: async () => void events.push(`${id} deposed`),
      });
      const a = make('a');
      const b = make('b');
      await a.start();
      await b.start();
      assert.equal(a.status().role, 'leader');
      assert.equal(b.status().role, 'follower');
      assert.equal(b.status().leaderId, 'a');
      await waitFor('both replicas to see each other', () => a.status().liveReplicas === 2 && b.status().liveReplicas === 2);
      await a.stop();
      await waitFor('b elected', () => b.status().role === 'leader');
      await b.stop();
      assert.deepEqual(events, ['a elected 1', 'a deposed', 'b elected 2', 'b deposed']);
    });
  });
}
