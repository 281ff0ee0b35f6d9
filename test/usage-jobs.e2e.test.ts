/**
 * Jobs metered from what they used, end to end: the real scheduler runner and local executor (bubblewrap,
 * cgroups), on PGlite and PostgreSQL. A job that burns a known amount of CPU (it reports its own
 * getrusage) is metered within 10 % of it, and of its cgroup's figure (the executor's `usage`); a job
 * cancelled while burning is still metered, from its cgroup at the end; a running job's memory in use is
 * sampled from its cgroup (memoryUsedGiBHours / hours = its average in use); a serving worker's cgroup CPU is
 * metered as it grows, each core-second once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createCgroupSampling, meterEndedJobs } from '../src/monitoring/index.ts';
import { cgroupReader } from '../src/main/cgroup-usage.ts';
import { detectCgroupDriver } from '../src/executors/local/index.ts';
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
      // What the sandbox itself costs in a job's cgroup (bwrap, its init, Python's start-up) on this host,
      // from an empty job of the same shape: the cgroup holds that as well as the job's own CPU time (0.2 s
      // on a slow 2-vCPU VM, against a job that burns 1.5 s: over 10 % by itself).
      const empty = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, { command: ['python3', '-c', 'pass'], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 } });
      assert.equal(empty.status, 201, JSON.stringify(empty.body));
      const emptyEnded = await run(empty.body.id, (s) => terminal.has(s));
      assert.equal(emptyEnded.status, 'succeeded');
      const overhead = emptyEnded.usage.cpuCoreSeconds as number;
      assert.ok(typeof overhead === 'number' && overhead < 1, JSON.stringify(emptyEnded.usage));
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
      // Never less than the job's own CPU time; more by at most 10 % plus the sandbox's own start-up.
      assert.ok(metered >= 0.99 * reported && metered - reported <= 0.1 * reported + overhead, `metered ${String(metered)} vs the job's own ${String(reported)} (sandbox start-up ${String(overhead)})`);
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
      const intervalMs = 60_000;
      const sample = createCgroupSampling({ db: p.platform.db, instanceId: `test-${randomBytes(4).toString('hex')}`, intervalMs, read: cgroupReader(p.config.cgroupPrefix) });
      const now = Date.now();
      // Three slots sampled (one of them twice: the second adds nothing).
      for (const at of [now, now + intervalMs, now + intervalMs, now + 2 * intervalMs]) await sample(at);
      const { rows } = await p.database.owner.queryAsOwner<{ q: number; n: number }>(
        "SELECT sum(quantity)::float8 AS q, count(*)::int AS n FROM usage_ledger WHERE resource = 'memoryUsedGiBHours' AND source LIKE $1", [`memsample:${String(created.body.id)}:%`]);
      assert.equal(rows[0]!.n, 3);
      const averageBytes = (rows[0]!.q / (3 * intervalMs / 3_600_000)) * 1024 ** 3;
      assert.ok(averageBytes > 150 * 1024 * 1024 && averageBytes < 300 * 1024 * 1024, `average in use ${String(Math.round(averageBytes / 1024 / 1024))} MiB`);
      assert.equal((await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${created.body.id}/cancel`, t.tokens.member)).status, 200);
      const ended = await run(created.body.id, (s) => terminal.has(s));
      assert.ok((ended.usage.memoryPeakBytes as number) >= 150 * 1024 * 1024, JSON.stringify(ended.usage));
    });

    test("a serving worker's CPU is metered from its cgroup as it grows, each core-second once", async () => {
      const cgroups = await detectCgroupDriver('/sys/fs/cgroup', p.config.cgroupPrefix);
      assert.ok(cgroups !== undefined && cgroups.controllers.has('cpuacct'), 'a writable cgroup hierarchy with cpuacct (the e2e tests run as root)');
      // A real cgroup named as the worker supervisor names a replica's, with a real process burning in it.
      const worker = await cgroups.createJob(t.id, 'srv-testreplica-1', { cpu: 1, memoryMiB: 256 }, { cpu: 1, memoryMiB: 256, pids: 32 });
      const burnIn = (microseconds: number) => new Promise<void>((resolve, reject) => {
        const joins = worker.procsFiles.map((file) => `echo $$ > ${file}`).join('; ');
        const child = spawn('sh', ['-c', `${joins}; exec "${process.execPath}" -e 'const t = process.cpuUsage(); while (process.cpuUsage(t).user < ${String(microseconds)}) {}'`], { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${String(code)}`))));
      });
      try {
        const sample = createCgroupSampling({ db: p.platform.db, instanceId: `test-${randomBytes(4).toString('hex')}`, intervalMs: 60_000, read: cgroupReader(p.config.cgroupPrefix) });
        const metered = async () => (await p.database.owner.queryAsOwner<{ q: number | null }>(
          "SELECT sum(quantity)::float8 AS q FROM usage_ledger WHERE resource = 'cpuCoreSeconds' AND source LIKE 'worker:%:srv-testreplica-1:%'")).rows[0]?.q ?? 0;
        await burnIn(300_000);
        await sample();
        const first = (await worker.usage()).cpuCoreSeconds!;
        assert.ok(Math.abs(await metered() - first) < 1e-9, `${String(await metered())} vs cgroup ${String(first)}`);
        await burnIn(300_000);
        await sample();
        await sample();
        const second = (await worker.usage()).cpuCoreSeconds!;
        assert.ok(second > first + 0.25);
        assert.ok(Math.abs(await metered() - second) < 1e-9, `${String(await metered())} vs cgroup ${String(second)}: counted once`);
      } finally {
        await worker.remove();
      }
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
