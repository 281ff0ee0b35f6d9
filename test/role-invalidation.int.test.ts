/**
 * Custom-role edits reach other replicas at once (issue 14), through LISTEN/NOTIFY (migration 0028's trigger
 * on tenant_roles, migration 0020's channel). On PostgreSQL two platform instances — two replicas, each
 * with its own auth cache held for five minutes — share one database: a token's principal cached on
 * replica B loses a permission the moment an admin removes it from the role through replica A, and gets it
 * back when it is restored. A control with the trigger disabled shows B's cache really would have kept the
 * stale permission. On PGlite (one replica, no LISTEN) the edit applies at once in the one process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { buildPlatformApp, createPlatform } from '../src/main/platform.ts';
import type { Platform } from '../src/main/platform.ts';

const FIVE_MINUTES = 300_000;

for (const kind of databaseKinds) {
  describe(`custom-role edits across replicas on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let replicaB: { platform: Platform; app: FastifyInstance } | undefined;
    let token: string;
    let n = 0;

    /** Creates an experiment (needs tracking:write) through `app`; returns the status. */
    const write = async (app: FastifyInstance): Promise<number> =>
      (await app.inject({ method: 'POST', url: '/api/2.0/mlflow/experiments/create', headers: { authorization: `Bearer ${token}` }, payload: { name: `e-${kind}-${n++}` } })).statusCode;
    const read = async (app: FastifyInstance): Promise<number> =>
      (await app.inject({ method: 'GET', url: '/api/2.0/mlflow/experiments/search?max_results=1', headers: { authorization: `Bearer ${token}` } })).statusCode;
    const setPermissions = async (permissions: string[]) => {
      const updated = await p.call('PUT', '/api/v1/tenants/ri-a/roles/loggers', a.tokens.admin, { permissions });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
    };

    before(async () => {
      p = await createTestPlatform(kind, { authCacheTtlMs: FIVE_MINUTES });
      a = await p.createTenant('ri-a');
      assert.equal((await p.call('POST', '/api/v1/tenants/ri-a/roles', a.tokens.admin, { name: 'loggers', permissions: ['tracking:read', 'tracking:write'] })).status, 201);
      const made = await p.call('POST', '/api/v1/tenants/ri-a/tokens', a.tokens.admin, { name: 'logger', role: 'loggers' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      token = made.body.token;
      if (kind === 'postgres') {
        // A second replica: its own process-level caches over the same database and home (as `bulkhead up`
        // on a second host with the same configuration).
        const platform = await createPlatform(p.config, { db: p.database.db });
        replicaB = { platform, app: await buildPlatformApp(platform, { logger: false }) };
        await replicaB.app.ready();
      }
    });
    after(async () => {
      await replicaB?.app.close();
      await replicaB?.platform.close();
      await p?.close();
    });

    test('a permission removed from a custom role is gone at once; restored, it is back', async () => {
      const app = replicaB?.app ?? p.app;
      assert.equal(await write(app), 200, 'the role grants tracking:write');
      await setPermissions(['tracking:read']);
      await waitFor('the edit to reach the replica', async () => (await write(app)) === 403, 10_000);
      assert.equal(await read(app), 200, 'what the role still holds still works');
      await setPermissions(['tracking:read', 'tracking:write']);
      await waitFor('the restored permission to reach the replica', async () => (await write(app)) === 200, 10_000);
    });

    test('control: without the notification, the other replica would keep the stale permission for its cache TTL', { skip: kind === 'pglite' ? 'PGlite: one replica, no LISTEN' : false }, async () => {
      const b = replicaB!;
      assert.equal(await write(b.app), 200);
      await p.database.owner.queryAsOwner('ALTER TABLE tenant_roles DISABLE TRIGGER tenant_roles_invalidate');
      try {
        await setPermissions(['tracking:read']);
        // Replica A dropped its own cache (the edit went through it); B was not told.
        assert.equal(await write(p.app), 403);
        assert.equal(await write(b.app), 200, 'B still serves its cached principal: the trigger is what tells it');
      } finally {
        await p.database.owner.queryAsOwner('ALTER TABLE tenant_roles ENABLE TRIGGER tenant_roles_invalidate');
      }
      // With the trigger back, the next edit reaches B (whatever it had cached).
      await setPermissions(['tracking:read', 'artifacts:read']);
      await waitFor('the next edit to reach B', async () => (await write(b.app)) === 403, 10_000);
    });
  });
}
