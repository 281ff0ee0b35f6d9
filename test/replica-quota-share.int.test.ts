/**
 * Quotas across replicas (issue 25 item 4), as per-replica shares: with a second live replica in
 * `platform_replicas` (PostgreSQL), this replica enforces half a tenant's bandwidth quota (rate and burst)
 * and, once the replica leaves, the whole quota again; on PGlite (one replica) the quota as it is.
 * The split itself (and that of the database concurrency cap) is unit-tested in
 * src/replicas/replica-invalidation.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

const RATE = 4_000_000;
const BURST = 1_000_000;

for (const kind of databaseKinds) {
  describe(`per-replica bandwidth shares on ${kind}`, () => {
    let p: TestPlatform;
    let tenant: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind, { replicaHeartbeatMs: 100, leaderLeaseMs: 1000 });
      tenant = await p.createTenant('share');
      const quota = await p.call('PUT', `/api/v1/tenants/${tenant.slug}/quota`, adminToken, { ingressBytesPerSecond: RATE, ingressBurstBytes: BURST });
      assert.equal(quota.status, 200, JSON.stringify(quota.body));
      await p.platform.replicas.start();
    });
    after(async () => {
      await p.platform.replicas.stop();
      await p.close();
    });

    /** This replica's ingress limit for the tenant, read afresh (a quota read happens at most once a second). */
    const ingressLimit = async () => {
      p.platform.bandwidth.forget(tenant.id);
      await p.platform.bandwidth.admit(tenant.id, 'ingress', 1);
      return p.platform.bandwidth.currentLimit(tenant.id, 'ingress');
    };

    test('alone: the whole quota', async () => {
      assert.deepEqual(await ingressLimit(), { bytesPerSecond: RATE, burstBytes: BURST });
    });

    if (kind === 'postgres') {
      test('a second live replica halves it; when it is gone, the whole quota again', async () => {
        // Another replica's heartbeat row, as it would write it (fresh for as long as the test needs).
        await p.database.owner.queryAsOwner(`INSERT INTO platform_replicas (replica_id, host, pid, url, heartbeat_at) VALUES ('other:1:x@elsewhere', 'elsewhere', 1, NULL, now() + interval '1 hour')`);
        await waitFor('two live replicas', () => p.platform.replicas.liveReplicas() === 2, 10_000);
        assert.deepEqual(await ingressLimit(), { bytesPerSecond: RATE / 2, burstBytes: BURST / 2 });
        await p.database.owner.queryAsOwner(`DELETE FROM platform_replicas WHERE replica_id = 'other:1:x@elsewhere'`);
        await waitFor('one live replica', () => p.platform.replicas.liveReplicas() === 1, 10_000);
        assert.deepEqual(await ingressLimit(), { bytesPerSecond: RATE, burstBytes: BURST });
      });
    }
  });
}
