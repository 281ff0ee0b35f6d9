/**
 * GPU jobs through the whole platform, on fake NVIDIA nodes this test makes (`mknod` char 195,N in a
 * folder of its own, configured as the inventory): two tenants' concurrent 1-GPU jobs get disjoint
 * devices, each sees exactly its one node (numbered 0 inside) and cannot open the other; the grant is in
 * `jobs get` and in the database, a fresh runner over the same database (a restarted or second replica)
 * grants only what nobody holds, the database refuses a device that is held, and ending a job gives its
 * device back. Where the host has NVIDIA GPUs, one more test runs `nvidia-smi` in a 1-GPU job (skipped
 * here, saying why).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { createFakeGpuDir, gpuProbe } from './support/fake-gpus.ts';
import { createLocalExecutor, readGpuInventory } from '../src/executors/local/index.ts';
import { createJobRunner, createLocalJobBackend } from '../src/jobs/index.ts';
import { readAsTenant } from '../src/db/index.ts';
import { adminOperations } from '../src/main/admin-operations.ts';

const probe = gpuProbe({ listCaps: false });

for (const kind of databaseKinds) {
  describe(`GPU jobs on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let devDir: string;
    const prefix = `bhgpu-${randomBytes(4).toString('hex')}`;

    before(async () => {
      devDir = await createFakeGpuDir({ gpus: 3 });
      // The platform may grant nvidia0 and nvidia1; nvidia2 is reserved (the second runner below uses it).
      p = await createTestPlatform(kind, { cgroupPrefix: prefix, relayPort: 18791, capacityCpu: 2, capacityMemoryMiB: 4096, gpuDevDir: devDir, gpuDevices: 'nvidia0,nvidia1' });
      a = await p.createTenant('gpua');
      b = await p.createTenant('gpub');
      await p.call('PUT', '/api/v1/tenants/gpua/quota', adminToken, { cpu: 1, memoryMiB: 1024, gpu: 2, maxConcurrentJobs: 4 });
      await p.call('PUT', '/api/v1/tenants/gpub/quota', adminToken, { cpu: 1, memoryMiB: 1024, gpu: 1, maxConcurrentJobs: 4 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
      await rm(devDir, { recursive: true, force: true });
    });

    const submit = async (t: TestTenant, name: string) => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
        name, command: ['python3', '-c', probe, '/dev/nvidia0', '/dev/nvidia1', join(devDir, 'nvidia0'), join(devDir, 'nvidia1')],
        resources: { cpu: 0.25, memoryMiB: 128, gpu: 1, timeoutSeconds: 300 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const get = async (t: TestTenant, id: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.viewer)).body;
    const logs = async (t: TestTenant, id: string) => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${t.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;

    test('doctor lists the inventory; the capacity is derived from it', async () => {
      assert.deepEqual(readGpuInventory({ devDir, devices: ['nvidia0', 'nvidia1'] }).devices.map((d) => d.id), ['nvidia0', 'nvidia1']);
      assert.equal(p.platform.jobs.runner.capacity().gpu, 2);
      const report = await adminOperations.doctor({ ...p.config, capacityGpu: 5 }, { server: { url: undefined, token: undefined } });
      assert.match(report, new RegExp(`GPU inventory \\(configured, ${devDir}\\): 2 device\\(s\\), 2 unit\\(s\\)`), report);
      assert.match(report, /  nvidia0: gpu 195:0\n  nvidia1: gpu 195:1\n/);
      assert.match(report, /control nodes: .*nvidiactl/);
      assert.match(report, /BULKHEAD_CAPACITY_GPU=5 is ignored for local jobs: the inventory has 2 unit\(s\)/);
    });

    let jobA: string;
    let jobB: string;
    test('two tenants\' concurrent 1-GPU jobs get disjoint devices, each sees only its own', async () => {
      jobA = await submit(a, 'a-gpu');
      jobB = await submit(b, 'b-gpu');
      await p.platform.jobs.runner.tick();
      await waitFor('both GPU jobs print their view', async () => (await logs(a, jobA)).includes('CUDA') && (await logs(b, jobB)).includes('CUDA'));
      const [ja, jb] = [await get(a, jobA), await get(b, jobB)];
      assert.equal(ja.status, 'running');
      assert.equal(jb.status, 'running');
      assert.equal(ja.gpuDevices.length, 1);
      assert.equal(jb.gpuDevices.length, 1);
      assert.notEqual(ja.gpuDevices[0], jb.gpuDevices[0], 'never the same device to two tenants');
      for (const [t, id, device] of [[a, jobA, ja.gpuDevices[0]], [b, jobB, jb.gpuDevices[0]]] as const) {
        const text = await logs(t, id);
        const other = device === 'nvidia0' ? 'nvidia1' : 'nvidia0';
        assert.match(text, new RegExp(`DEV ${device} nvidiactl`), text);
        assert.match(text, /CUDA 0\b/);
        assert.match(text, new RegExp(`OPEN /dev/${device} ENXIO`), text); // passes every check; a fake node has no driver
        assert.match(text, new RegExp(`OPEN /dev/${other} ENOENT`), text);
        assert.match(text, new RegExp(`OPEN ${join(devDir, other)} ENOENT`), text);
      }
      // The grants are rows of their tenants: each tenant sees only its own.
      const seen = await readAsTenant<{ device_id: string }>(p.database.db, a.id, 'SELECT device_id FROM gpu_grants');
      assert.deepEqual(seen.rows.map((r) => r.device_id), ja.gpuDevices);
      assert.deepEqual((await p.platform.jobs.store.gpuGrants()).map((g) => g.deviceId).sort(), [...ja.gpuDevices, ...jb.gpuDevices].sort());
    });

    test('the database refuses a device that is held, whoever asks', async () => {
      const extra = await submit(b, 'b-extra');
      const held = (await get(a, jobA)).gpuDevices[0] as string;
      await assert.rejects(p.platform.jobs.store.transition({ actor: 'test', requestId: 'test' }, b.id, extra, 'admit', { gpuDevices: [held] }));
      assert.equal((await get(b, extra)).status, 'queued', 'nothing half-written');
      await p.call('POST', `/api/v1/tenants/gpub/jobs/${extra}/cancel`, b.tokens.member);
    });

    test('a fresh runner over the same database grants only devices nobody holds', async () => {
      // A second runner (a restarted or second replica) that may also use the reserved nvidia2: it must
      // take nvidia2, never a device the first one granted.
      const inventory = readGpuInventory({ devDir });
      const executor = createLocalExecutor({ cgroupPrefix: `${prefix}-2`, runtimeRoot: join(p.home, 'run2') });
      const backend = createLocalJobBackend({ executor, identity: p.platform.identity, relays: p.platform.jobs.relays, jobsDir: p.platform.jobs.jobsDir, relayPort: 18791, preemptGraceMs: 200 });
      const second = createJobRunner({
        store: p.platform.jobs.store, tenants: p.platform.tenants, backend, capacity: { cpu: 2, memoryMiB: 4096, gpu: 3, cpuIds: [0, 1] },
        gpus: inventory, tickIntervalMs: 1000, preemptGraceMs: 200, log: { info: () => {}, error: () => {} },
      });
      const third = await submit(a, 'a-third');
      await second.tick();
      await waitFor('the third job runs', async () => (await get(a, third)).status === 'running');
      assert.deepEqual((await get(a, third)).gpuDevices, ['nvidia2']);
      await waitFor('it prints its view', async () => (await logs(a, third)).includes('CUDA'));
      assert.match(await logs(a, third), /DEV nvidia2 nvidiactl/);
      await p.call('POST', `/api/v1/tenants/gpua/jobs/${third}/cancel`, a.tokens.member);
      second.cancel(third);
      await waitFor('the third job ends', async () => (await get(a, third)).status === 'cancelled');
      await waitFor('its device is free again', async () => !(await p.platform.jobs.store.gpuGrants()).some((g) => g.deviceId === 'nvidia2'));
      await second.stop();
    });

    test('ending a job gives its device back; its record keeps what it ran on', async () => {
      for (const [t, id] of [[a, jobA], [b, jobB]] as const) await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${id}/cancel`, t.tokens.member);
      for (const id of [jobA, jobB]) p.platform.jobs.runner.cancel(id);
      await waitFor('both end', async () => (await get(a, jobA)).status === 'cancelled' && (await get(b, jobB)).status === 'cancelled');
      assert.deepEqual(await p.platform.jobs.store.gpuGrants(), []);
      assert.equal((await get(a, jobA)).gpuDevices.length, 1);
      const usage = (await get(a, jobA)).usage as { gpuSeconds?: number };
      assert.ok((usage.gpuSeconds ?? 0) > 0, JSON.stringify(usage));
    });

    test('a 2-worker gang of 1 GPU each: every rank sees exactly its own device', async () => {
      const created = await p.call('POST', '/api/v1/tenants/gpua/jobs', a.tokens.member, {
        name: 'gpu-gang', workers: 2,
        command: ['python3', '-c', 'import os; print("DEV", " ".join(sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))), "CUDA", os.environ["CUDA_VISIBLE_DEVICES"], "RANK", os.environ["RANK"])'],
        resources: { cpu: 0.25, memoryMiB: 128, gpu: 1, timeoutSeconds: 60 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await p.platform.jobs.runner.tick();
      await waitFor('the gang ends', async () => ['succeeded', 'failed', 'refused'].includes((await get(a, created.body.id)).status), 60_000);
      const job = await get(a, created.body.id);
      const text = await logs(a, created.body.id);
      assert.equal(job.status, 'succeeded', text);
      assert.deepEqual(job.gpuDevices, ['nvidia0', 'nvidia1']);
      assert.match(text, /\[rank 0\] DEV nvidia0 nvidiactl CUDA 0 RANK 0/);
      assert.match(text, /\[rank 1\] DEV nvidia1 nvidiactl CUDA 0 RANK 1/);
      assert.deepEqual(await p.platform.jobs.store.gpuGrants(), []);
    });

    test('on real NVIDIA GPUs: a 1-GPU job sees one GPU in nvidia-smi', { skip: existsSync('/dev/nvidia0') && existsSync('/dev/nvidiactl') ? false : 'no NVIDIA device on this host (/dev/nvidia0, /dev/nvidiactl)' }, async () => {
      const real = await createTestPlatform(kind, { cgroupPrefix: `${prefix}-real`, relayPort: 18792, capacityCpu: 2, capacityMemoryMiB: 4096 });
      try {
        const t = await real.createTenant('realgpu');
        await real.call('PUT', '/api/v1/tenants/realgpu/quota', adminToken, { cpu: 1, memoryMiB: 2048, gpu: 1, maxConcurrentJobs: 1 });
        const created = await real.call('POST', '/api/v1/tenants/realgpu/jobs', t.tokens.member, { command: ['nvidia-smi', '-L'], resources: { cpu: 1, memoryMiB: 1024, gpu: 1, timeoutSeconds: 120 } });
        await real.platform.jobs.runner.tick();
        const job = async () => (await real.call('GET', `/api/v1/tenants/realgpu/jobs/${created.body.id}`, t.tokens.viewer)).body;
        await waitFor('the job ends', async () => ['succeeded', 'failed', 'refused'].includes((await job()).status), 60_000);
        const text = (await real.app.inject({ method: 'GET', url: `/api/v1/tenants/realgpu/jobs/${created.body.id}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;
        assert.equal((await job()).status, 'succeeded', text);
        assert.equal(text.split('\n').filter((l: string) => l.includes('GPU ')).length, 1, text);
      } finally {
        await real.platform.jobs.runner.stop();
        await real.close();
      }
    });
  });
}
