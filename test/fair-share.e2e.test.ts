/**
 * Fair share with real jobs on the local executor: a greedy tenant borrows the whole machine, a second
 * tenant submits within its nominal quota, and within one scheduling pass plus the preemption grace the
 * second tenant runs — the borrower's most recent job is preempted (SIGTERM, then SIGKILL) and requeued.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor as eventually } from './support/wait.ts';

for (const kind of databaseKinds) {
  describe(`fair share on ${kind}`, () => {
    let p: TestPlatform;
    let greedy: TestTenant;
    let fair: TestTenant;
    const graceMs = 500;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhfair-${randomBytes(4).toString('hex')}`, relayPort: 18767, capacityCpu: 2, capacityMemoryMiB: 4096, preemptGraceMs: graceMs });
      greedy = await p.createTenant('greedy');
      fair = await p.createTenant('fair');
      await p.call('PUT', '/api/v1/tenants/greedy/quota', adminToken, { cpu: 1, memoryMiB: 2048, borrowingLimit: { cpu: 1, memoryMiB: 2048 }, maxConcurrentJobs: 10 });
      await p.call('PUT', '/api/v1/tenants/fair/quota', adminToken, { cpu: 1, memoryMiB: 2048, borrowingLimit: { cpu: 0, memoryMiB: 0 }, maxConcurrentJobs: 10 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    const jobs = async (t: TestTenant) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs?limit=100`, t.tokens.viewer)).body.jobs as Array<{ id: string; status: string; preemptions: number; createdAt: string }>;

    test('a borrower is preempted so an owner within its nominal quota runs', async () => {
      const sleeper = { command: ['sh', '-c', 'trap "echo got-sigterm; exit 143" TERM; echo ready; sleep 120 & wait'], resources: { cpu: 0.5, memoryMiB: 64, timeoutSeconds: 300 } };
      for (let i = 0; i < 4; i += 1) {
        const created = await p.call('POST', '/api/v1/tenants/greedy/jobs', greedy.tokens.member, { ...sleeper, name: `greedy-${i}` });
        assert.equal(created.status, 201);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await p.platform.jobs.runner.tick();
      const running = async (t: TestTenant) => (await jobs(t)).filter((j) => j.status === 'running' || j.status === 'admitted');
      await eventually('four greedy jobs running', async () => (await running(greedy)).length >= 4);
      assert.equal((await running(greedy)).length, 4, 'the greedy tenant borrows the idle half of the machine');
      const logsOf = async (id: string) => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/greedy/jobs/${id}/logs`, headers: { authorization: `Bearer ${greedy.tokens.viewer}` } })).body;
      for (const job of await jobs(greedy)) {
        await eventually('"ready" in the log', async () => (await logsOf(job.id)).includes('ready'));
      }

      const submitted = Date.now();
      const mine = await p.call('POST', '/api/v1/tenants/fair/jobs', fair.tokens.member, { ...sleeper, name: 'fair-0' });
      await p.platform.jobs.runner.tick();
      let fairRunning = false;
      while (Date.now() - submitted < graceMs + 5000) {
        await p.platform.jobs.runner.tick();
        if ((await running(fair)).length === 1) {
          fairRunning = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const elapsed = Date.now() - submitted;
      assert.ok(fairRunning, 'the owner runs');
      assert.ok(elapsed < graceMs + 3000, `took ${elapsed} ms`);
      const after = await jobs(greedy);
      const preempted = after.filter((j) => j.preemptions > 0);
      assert.equal(preempted.length, 1, JSON.stringify(after));
      // The most recently started borrower went, and it is back in the queue, not lost.
      const newest = [...after].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!;
      assert.equal(preempted[0]!.id, newest.id);
      assert.equal(preempted[0]!.status, 'queued');
      const logs = await logsOf(newest.id);
      assert.match(logs, /got-sigterm/);
      assert.match(logs, /preempted/);
      assert.equal((await running(greedy)).length, 3);
      const explain = await p.call('GET', `/api/v1/tenants/greedy/jobs/${newest.id}/explain`, greedy.tokens.viewer);
      assert.equal(explain.body.waiting, true);
      assert.ok(explain.body.blockers.length > 0, JSON.stringify(explain.body));
      for (const t of [greedy, fair]) for (const job of await jobs(t)) await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${job.id}/cancel`, t.tokens.member);
      void mine;
    });
  });
}
