/**
 * Issue 15: the real job runner admits in Fair Tree order on decayed usage, on PGlite and PostgreSQL.
 * As in orgs-quota-tree.int.test.ts, the cluster side is a scripted ClusterExecution without Kueue (no
 * cluster can run here), so Bulkhead itself admits against the configured capacity: 2 cores, room for
 * one 2-core job at a time.
 *
 * `heavy` used 10× its entitled share (it held the whole pool — twice its half — for 5 hours, an hour ago:
 * 5 dominant-share·hours against the 0.5 its half over the same hour would be) and `fresh` used nothing.
 * That history is a fair_share_usage row written as the previous leader would have (system role): the
 * runner restores its ledger from it at its first pass, as after a restart. heavy queues first, fresh
 * second; fresh's job starts, heavy's waits, and explain gives heavy's decayed usage and Fair Tree rank.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../src/executors/executor-contract.ts';
import { withSystem, withTenant } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { waitFor } from './support/wait.ts';
import { scriptedCluster } from './support/scripted-cluster.ts';

const job = { name: 'train', command: ['python3', 'train.py'], resources: { cpu: 2, memoryMiB: 512, timeoutSeconds: 600 } };
const hourMs = 3600 * 1000;

for (const kind of databaseKinds) {
  describe(`fair share on decayed usage in the job runner on ${kind}`, () => {
    let p: TestPlatform;
    let heavy: TestTenant;
    let fresh: TestTenant;
    const cluster = scriptedCluster();

    const submit = async (t: TestTenant) => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, job);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const status = async (t: TestTenant, id: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.member)).body.status as string;
    const usageRows = () => withSystem(p.platform.db, async (tx) =>
      (await tx.query<{ tenant_id: string; dominant: number; rate_cpu: number }>('SELECT tenant_id, dominant, rate_cpu FROM fair_share_usage')).rows, { readOnly: true });

    before(async () => {
      p = await createTestPlatform(kind, { executor: 'kubernetes', capacityCpu: 2, capacityMemoryMiB: 8192, fairShareHalfLifeMs: 7 * 24 * hourMs }, { cluster: { execution: cluster.execution } });
      heavy = await p.createTenant('heavy');
      fresh = await p.createTenant('fresh');
      for (const t of [heavy, fresh]) {
        const quota = await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 4 });
        assert.equal(quota.status, 200, JSON.stringify(quota.body));
      }
      // heavy's history, as the leader before a restart left it: 5 h holding the whole pool, written an hour ago.
      const asOf = new Date(Date.now() - hourMs).toISOString();
      await withSystem(p.platform.db, (tx) => tx.query(
        `INSERT INTO fair_share_usage (tenant_id, dominant, cpu, memory_mib, gpu, rate_dominant, rate_cpu, rate_memory_mib, rate_gpu, as_of)
         VALUES ($1, $2, $3, 0, 0, 0, 0, 0, 0, $4)`,
        [heavy.id, 5 * 3600, 2 * 5 * 3600, asOf],
      ));
    });
    after(async () => {
      for (const s of cluster.submissions) s.end({ kind: 'cancelled' });
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('a tenant that used 10× its share waits behind one that used none; explain gives decayed usage and rank; usage is persisted', async () => {
      const heavyJob = await submit(heavy);
      const freshJob = await submit(fresh);
      await waitFor("fresh's job to reach the cluster", async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.length >= 1;
      });
      await p.platform.jobs.runner.tick();
      // First come would be heavy (queued first; equal quotas, nothing running): fair share puts fresh first.
      assert.deepEqual(cluster.submissions.map((s) => s.jobId), [freshJob]);
      assert.equal(await status(heavy, heavyJob), 'queued');

      const why = (await p.call('GET', `/api/v1/tenants/${heavy.slug}/jobs/${heavyJob}/explain`, heavy.tokens.member)).body;
      assert.equal(why.waiting, true);
      assert.ok(why.fairTree.rank > 1, JSON.stringify(why.fairTree));
      // 5 dominant-share·hours, decayed for one hour with a 7-day half-life.
      assert.ok(Math.abs(why.fairTree.decayedUsage.dominantShareHours - 5 * 0.5 ** (1 / 168)) < 0.01, JSON.stringify(why.fairTree));
      assert.equal(why.fairTree.halfLifeHours, 168);
      assert.match(why.summary, /Fair share: decayed usage 4\.9\d dominant-share·hours \(half-life 168 h\), Fair Tree rank \d+ of \d+ tenants/);
      // fresh's own standing: rank 1 (it used nothing until its job started an instant ago).
      const freshWhy = await p.call('GET', `/api/v1/tenants/${fresh.slug}/jobs/${freshJob}/explain`, fresh.tokens.member);
      assert.equal(freshWhy.body.waiting, false, 'fresh runs');

      // The ledger is written through: fresh now holds the whole pool (2 cores), heavy's row is there.
      const rows = await usageRows();
      assert.equal(rows.find((r) => r.tenant_id === fresh.id)?.rate_cpu, 2);
      assert.ok(rows.some((r) => r.tenant_id === heavy.id));

      // Isolation: a tenant reads only its own fair-share row and cannot write any.
      const seen = await withTenant(p.platform.db, fresh.id, async (tx) => (await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM fair_share_usage')).rows);
      assert.deepEqual(seen.map((r) => r.tenant_id), [fresh.id]);
      await assert.rejects(withTenant(p.platform.db, fresh.id, (tx) => tx.query('UPDATE fair_share_usage SET dominant = 0 WHERE tenant_id = $1', [fresh.id])));

      // No starvation: when fresh's job ends, heavy's starts.
      cluster.submissions[0]!.end({ kind: 'succeeded', exitCode: 0 } as Omit<Outcome, 'usage'>);
      await waitFor("heavy's job to reach the cluster", async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.some((s) => s.jobId === heavyJob);
      });
      await waitFor("fresh's holding to be recorded as ended and heavy's as begun", async () => {
        await p.platform.jobs.runner.tick();
        const now = await usageRows();
        return now.find((r) => r.tenant_id === fresh.id)?.rate_cpu === 0 && now.find((r) => r.tenant_id === heavy.id)?.rate_cpu === 2;
      });
      const after = await usageRows();
      assert.ok(after.find((r) => r.tenant_id === fresh.id)!.dominant > 0, "fresh's run left decayed usage behind");
    });
  });
}
