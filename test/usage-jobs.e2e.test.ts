/**
 * Jobs metered from what they used, end to end: the real scheduler runner and local executor (bubblewrap,
 * cgroups), on PGlite and PostgreSQL. A job that burns a known amount of CPU (it reports its own
 * getrusage) is metered within 10 % of it, and of its cgroup's figure (the executor's `usage`); a job
 * cancelled while burning is still metered, from its cgroup at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { meterEndedJobs } from '../src/monitoring/index.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);
const burn = (seconds: number) => `
import resource, time
start = time.process_time()
while time.process_time() - start < ${String(seconds)}:
    pass
r = resource.getrusage(resource.RUSAGE_SELF)
print("cpu", r.ru_utime + r.ru_stime, flush=True)
`;

for (const kind of databaseKinds) {
  describe(`job metering on ${kind}`, () => {
    let p: TestPlatform;
    let t: TestTenant;
    const job = async (id: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.viewer)).body;
    const run = async (id: string, done: (status: string) => boolean) => waitFor(`job ${id}`, async () => {
      await p.platform.jobs.runner.tick();
      const j = await job(id);
      return done(j.status) ? j : undefined;
    }, 60_000, 100);
    const logs = async (id: string) => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${t.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;
    const cpuOf = async (jobId: string) => (await p.database.owner.queryAsOwner<{ q: number | null }>(
      "SELECT sum(quantity)::float8 AS q FROM usage_ledger WHERE source = $1 AND resource = 'cpuCoreSeconds'", [`job:${jobId}:1`])).rows[0]?.q ?? undefined;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhmeter-${randomBytes(4).toString('hex')}`, relayPort: 18766 });
      t = await p.createTenant('metered');
      await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 4 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('a job burning a known amount of CPU is metered within 10 % of it and of its cgroup', async () => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, { command: ['python3', '-c', burn(1.5)], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const ended = await run(created.body.id, (s) => terminal.has(s));
      const output = await logs(ended.id);
      assert.equal(ended.status, 'succeeded', output);
      const reported = Number(/cpu ([\d.]+)/.exec(output)?.[1]);
      assert.ok(reported >= 1.5, output);
      const cgroup = ended.usage.cpuCoreSeconds as number;
      assert.ok(typeof cgroup === 'number', `the executor measured the cgroup: ${JSON.stringify(ended.usage)}`);
      await meterEndedJobs(p.platform.db);
      const metered = await cpuOf(ended.id);
      assert.ok(metered !== undefined);
      assert.ok(Math.abs(metered - cgroup) <= 0.1 * cgroup, `metered ${String(metered)} vs cgroup ${String(cgroup)}`);
      assert.ok(Math.abs(metered - reported) <= 0.1 * reported, `metered ${String(metered)} vs the job's own ${String(reported)}`);
      const usage = await p.call('GET', `/api/v1/tenants/${t.slug}/usage`, t.tokens.viewer);
      assert.ok(usage.body.totals.cpuCoreSeconds >= metered - 1e-9);
      assert.ok(usage.body.totals.memoryGiBHours > 0);
    });

    test('a job cancelled while it burns is still metered, from its cgroup at the end', async () => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
        command: ['python3', '-c', 'import time\nstart = time.process_time()\nprint("burning", flush=True)\nwhile True:\n    pass'], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 },
      });
      await run(created.body.id, (s) => s === 'running');
      await waitFor('the job to burn', async () => (await logs(created.body.id)).includes('burning'));
      // Until it has run long enough to have burnt a measurable amount (the figure asserted is the executor's
      // reading of the cgroup at the end).
      await waitFor('the job to have run 700 ms', async () => {
        const { rows } = await p.database.owner.queryAsOwner<{ s: string }>('SELECT clock_timestamp() - started_at > interval \'700 milliseconds\' AS s FROM jobs WHERE id = $1', [created.body.id]);
        return rows[0]?.s === 'true' || (rows[0]?.s as unknown) === true;
      });
      assert.equal((await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${created.body.id}/cancel`, t.tokens.member)).status, 200);
      const ended = await run(created.body.id, (s) => terminal.has(s));
      assert.equal(ended.status, 'cancelled');
      const cgroup = ended.usage.cpuCoreSeconds as number;
      assert.ok(cgroup > 0.3, JSON.stringify(ended.usage));
      assert.equal(await meterEndedJobs(p.platform.db) >= 1, true);
      const metered = await cpuOf(ended.id);
      assert.ok(metered !== undefined && Math.abs(metered - cgroup) <= 0.1 * cgroup, `metered ${String(metered)} vs cgroup ${String(cgroup)}`);
      assert.equal(await meterEndedJobs(p.platform.db), 0, 'metered once');
    });
  });
}
