/**
 * Jobs metered from what they used, end to end: the real scheduler runner and local executor (bubblewrap,
 * cgroups), on PGlite and PostgreSQL. A job that burns a known amount of CPU (it reports its own
 * getrusage) is metered within 10 % of it, and of its cgroup's figure (the executor's `usage`); a job
 * cancelled while burning is still metered, from its cgroup at the end; a running job's memory in use is
 * sampled from its cgroup (memoryUsedGiBHours / hours = its average in use).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { meterEndedJobs, sampleJobMemory } from '../src/monitoring/index.ts';
import { cgroupMemoryReader } from '../src/main/cgroup-usage.ts';
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

    test("a running job's memory in use is sampled from its cgroup, once per slot", async () => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
        command: ['python3', '-c', 'import time\nblock = bytearray(150 * 1024 * 1024)\nfor i in range(0, len(block), 4096):\n    block[i] = 1\nprint("allocated", flush=True)\ntime.sleep(600)'],
        resources: { cpu: 0.5, memoryMiB: 512, timeoutSeconds: 120 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await run(created.body.id, (s) => s === 'running');
      await waitFor('the job to allocate', async () => (await logs(created.body.id)).includes('allocated'));
      const read = cgroupMemoryReader(p.config.cgroupPrefix);
      const intervalMs = 60_000;
      const now = Date.now();
      // Three slots sampled (one of them twice: the second adds nothing).
      for (const at of [now, now + intervalMs, now + intervalMs, now + 2 * intervalMs]) await sampleJobMemory(p.platform.db, read, intervalMs, at);
      const { rows } = await p.database.owner.queryAsOwner<{ q: number; n: number }>(
        "SELECT sum(quantity)::float8 AS q, count(*)::int AS n FROM usage_ledger WHERE resource = 'memoryUsedGiBHours' AND source LIKE $1", [`memsample:${String(created.body.id)}:%`]);
      assert.equal(rows[0]!.n, 3);
      const averageBytes = (rows[0]!.q / (3 * intervalMs / 3_600_000)) * 1024 ** 3;
      assert.ok(averageBytes > 150 * 1024 * 1024 && averageBytes < 300 * 1024 * 1024, `average in use ${String(Math.round(averageBytes / 1024 / 1024))} MiB`);
      assert.equal((await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${created.body.id}/cancel`, t.tokens.member)).status, 200);
      const ended = await run(created.body.id, (s) => terminal.has(s));
      assert.ok((ended.usage.memoryPeakBytes as number) >= 150 * 1024 * 1024, JSON.stringify(ended.usage));
    });

    test('a job cancelled while it burns is still metered, from its cgroup at the end', async () => {
      // It reports each tenth of a second of CPU it has burnt, and never ends by itself.
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
        command: ['python3', '-c', 'import time\nstep = 1\nwhile True:\n    if time.process_time() >= step / 10:\n        print("burnt", step, flush=True)\n        step += 1'],
        resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 },
      });
      await run(created.body.id, (s) => s === 'running');
      await waitFor('half a second of CPU burnt', async () => /burnt 5\b/.test(await logs(created.body.id)));
      assert.equal((await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${created.body.id}/cancel`, t.tokens.member)).status, 200);
      const ended = await run(created.body.id, (s) => terminal.has(s));
      assert.equal(ended.status, 'cancelled');
      const cgroup = ended.usage.cpuCoreSeconds as number;
      assert.ok(cgroup >= 0.5, JSON.stringify(ended.usage));
      assert.equal(await meterEndedJobs(p.platform.db) >= 1, true);
      const metered = await cpuOf(ended.id);
      assert.ok(metered !== undefined && Math.abs(metered - cgroup) <= 0.1 * cgroup, `metered ${String(metered)} vs cgroup ${String(cgroup)}`);
      assert.equal(await meterEndedJobs(p.platform.db), 0, 'metered once');
    });
  });
}
