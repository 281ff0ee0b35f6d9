/**
 * GPU sharing through the whole platform, on fake nodes this test makes (`mknod` in a folder of its own,
 * configured as the inventory): one whole GPU `nvidia0` and two MIG instances (capability nodes
 * `nvidia-caps/nvidia-cap1`, `nvidia-cap2`, each configured as a `mig-3g`).
 *
 * - Fractions: two `gpu: 0.5` jobs of tenant A time-slice nvidia0 together (`jobs get` says
 *   `time-sliced`); a `gpu: 0.5` job of tenant B never joins them — it waits (explain says why) and the
 *   database refuses a forced grant — and gets the device once A's slices have ended.
 * - MIG: a `mig-3g` job of each tenant gets its own instance, sees only that capability node, counts 3 GPU
 *   units; cross-tenant sharing of the physical GPU is only by instance.
 * - Two tenants' slices racing through the store for one free device: exactly one is admitted.
 * - Metering: with no nvidia-smi (or no UUIDs for fake nodes) the job's usage says why it has no GPU
 *   memory or utilization figures; a half bills half its wall time in GPU-seconds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { createFakeGpuDir, gpuProbe } from './support/fake-gpus.ts';
import { readAsTenant } from '../src/db/index.ts';

const probe = gpuProbe({ listCaps: true });
const probed = ['/dev/nvidia0', '/dev/nvidia-caps/nvidia-cap1', '/dev/nvidia-caps/nvidia-cap2'];

for (const kind of databaseKinds) {
  describe(`GPU sharing on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let devDir: string;
    const prefix = `bhgpus-${randomBytes(4).toString('hex')}`;

    before(async () => {
      devDir = await createFakeGpuDir({ gpus: 1, caps: [1, 2] });
      p = await createTestPlatform(kind, {
        cgroupPrefix: prefix, relayPort: 18793, capacityCpu: 2, capacityMemoryMiB: 4096, gpuDevDir: devDir,
        gpuDevices: 'nvidia0,nvidia-caps/nvidia-cap1,nvidia-caps/nvidia-cap2',
        gpuMigProfiles: 'nvidia-caps/nvidia-cap1=mig-3g.40gb,nvidia-caps/nvidia-cap2=mig-3g.40gb',
      });
      a = await p.createTenant('gshara');
      b = await p.createTenant('gsharb');
      for (const t of [a, b]) await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 1, memoryMiB: 2048, gpu: 4, maxConcurrentJobs: 8 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
      await rm(devDir, { recursive: true, force: true });
    });

    const submit = async (t: TestTenant, name: string, resources: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
        name, command: ['python3', '-c', probe, ...probed], resources: { cpu: 0.1, memoryMiB: 64, timeoutSeconds: 300, ...resources }, ...extra,
      });
    const submitOk = async (t: TestTenant, name: string, resources: Record<string, unknown>) => {
      const created = await submit(t, name, resources);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const get = async (t: TestTenant, id: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.viewer)).body;
    const logs = async (t: TestTenant, id: string) => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${t.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;
    const cancel = async (t: TestTenant, id: string) => {
      await p.call('POST', `/api/v1/tenants/${t.slug}/jobs/${id}/cancel`, t.tokens.member);
      p.platform.jobs.runner.cancel(id);
    };

    test('the capacity counts MIG instances by their compute slices; bad GPU requests are refused with a reason', async () => {
      assert.equal(p.platform.jobs.runner.capacity().gpu, 7, 'nvidia0 (1) + two mig-3g instances (3 each)');
      for (const [resources, extra, pattern] of [
        [{ gpu: 1.5 }, {}, /whole number of GPUs, or a fraction below 1/],
        [{ gpu: 0.333 }, {}, /hundredths/],
        [{ gpu: 0.5 }, { workers: 2 }, /gang cannot time-slice/],
        [{ migProfile: 'mig-3g' }, { workers: 2 }, /gang cannot run on a MIG instance/],
        [{ migProfile: 'mig-3g', gpu: 1 }, {}, /counts 3 GPU unit/],
        [{ migProfile: 'mig-9g' }, {}, /MIG profile/],
      ] as const) {
        const refused = await submit(a, 'bad', resources, extra);
        assert.equal(refused.status, 400, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'VALIDATION_FAILED');
        assert.match(JSON.stringify(refused.body), pattern);
      }
    });

    let a1: string;
    let a2: string;
    let b1: string;
    test('two 0.5 jobs of one tenant time-slice one GPU; another tenant\'s 0.5 job never joins them', async () => {
      a1 = await submitOk(a, 'a-half-1', { gpu: 0.5 });
      a2 = await submitOk(a, 'a-half-2', { gpu: 0.5 });
      await p.platform.jobs.runner.tick();
      await waitFor('both halves print their view', async () => (await logs(a, a1)).includes('CUDA') && (await logs(a, a2)).includes('CUDA'));
      for (const id of [a1, a2]) {
        const job = await get(a, id);
        assert.equal(job.status, 'running');
        assert.deepEqual(job.gpuDevices, ['nvidia0']);
        assert.equal(job.gpuSharing, 'time-sliced');
        assert.equal(job.resources.gpu, 0.5);
        const text = await logs(a, id);
        assert.match(text, /DEV nvidia0 nvidiactl CAPS -/, text);
        assert.match(text, /OPEN \/dev\/nvidia0 ENXIO/, text); // the node is there (a fake one has no driver)
        assert.match(text, /OPEN \/dev\/nvidia-caps\/nvidia-cap1 ENOENT/, text);
        assert.match(text, /CUDA 0\b/);
      }
      // One holder row for the device (shared by A, both halves), one share row per job.
      const grants = await p.platform.jobs.store.gpuGrants();
      assert.deepEqual(grants.map((g) => ({ d: g.deviceId, t: g.tenantId, m: g.mode, u: g.unitsUsed, j: g.jobId })), [{ d: 'nvidia0', t: a.id, m: 'shared', u: 100, j: null }]);
      const shares = await readAsTenant<{ job_id: string; units: number }>(p.database.db, a.id, 'SELECT job_id, units FROM gpu_shares ORDER BY job_id');
      assert.deepEqual(shares.rows.map((r) => r.job_id).sort(), [a1, a2].sort());
      assert.deepEqual(await readAsTenant(p.database.db, b.id, 'SELECT * FROM gpu_shares').then((r) => r.rows), [], 'B sees none of A\'s shares');

      // B's half: the scheduler counts 1 of 7 units in use, but the only whole GPU holds A's slices.
      b1 = await submitOk(b, 'b-half', { gpu: 0.5 });
      await p.platform.jobs.runner.tick();
      assert.equal((await get(b, b1)).status, 'queued');
      assert.equal((await get(b, b1)).gpuSharing, 'time-sliced');
      const explained = await p.call('GET', `/api/v1/tenants/${b.slug}/jobs/${b1}/explain`, b.tokens.viewer);
      assert.equal(explained.status, 200, JSON.stringify(explained.body));
      assert.match(explained.body.summary, /time-sliced: shares one GPU with other jobs of this tenant only, with NO memory or fault isolation/);
      assert.match(explained.body.summary, /never one holding another tenant's job/);
    });

    test('the database refuses another tenant\'s slice of a time-sliced device, and a third slice past one GPU', async () => {
      const ctx = { actor: 'test', requestId: 'test' };
      await assert.rejects(p.platform.jobs.store.transition(ctx, b.id, b1, 'admit', { gpuDevices: ['nvidia0'], gpuShareUnits: 50 }));
      await assert.rejects(p.platform.jobs.store.transition(ctx, b.id, b1, 'admit', { gpuDevices: ['nvidia0'] }), 'nor the whole device');
      assert.equal((await get(b, b1)).status, 'queued', 'nothing half-written');
      const a3 = await submitOk(a, 'a-third', { gpu: 0.25 });
      await assert.rejects(p.platform.jobs.store.transition(ctx, a.id, a3, 'admit', { gpuDevices: ['nvidia0'], gpuShareUnits: 25 }), 'A\'s slices already fill it');
      assert.equal((await get(a, a3)).status, 'queued');
      assert.equal((await p.platform.jobs.store.gpuGrants())[0]?.unitsUsed, 100);
      await cancel(a, a3);
    });

    test('a slice no device can take does not hold back jobs a device can take', async () => {
      // b1 cannot be placed while A time-slices nvidia0. Counted by the scheduler, its 0.5 unit would
      // leave 7 - 1 - 0.5 = 5.5 units, too few for two mig-3g instances; left out of the decision (no
      // device can take it), both MIG jobs run in the same tick.
      const ja = await submitOk(a, 'a-mig-now', { migProfile: 'mig-3g' });
      const jb = await submitOk(b, 'b-mig-now', { migProfile: 'mig-3g' });
      await p.platform.jobs.runner.tick();
      await waitFor('both MIG jobs run beside the waiting slice', async () => (await get(a, ja)).status === 'running' && (await get(b, jb)).status === 'running');
      assert.equal((await get(b, b1)).status, 'queued');
      for (const [t, id] of [[a, ja], [b, jb]] as const) await cancel(t, id);
      await waitFor('they end, their instances free', async () => !(await p.platform.jobs.store.gpuGrants()).some((g) => g.deviceId.startsWith('nvidia-caps/')));
    });

    test('once the tenant\'s slices end, the device is free; the other tenant\'s slice then gets it', async () => {
      for (const id of [a1, a2]) await cancel(a, id);
      await waitFor('A\'s halves end', async () => (await get(a, a1)).status === 'cancelled' && (await get(a, a2)).status === 'cancelled');
      // Free of A (the runner may hand it to B's waiting slice at once, so "no row at all" may never be seen).
      await waitFor('A holds nvidia0 no more', async () => !(await p.platform.jobs.store.gpuGrants()).some((g) => g.deviceId === 'nvidia0' && g.tenantId === a.id));
      assert.deepEqual(await readAsTenant(p.database.db, a.id, 'SELECT * FROM gpu_shares').then((r) => r.rows), []);
      const usage = (await get(a, a1)).usage as { gpuSeconds?: number; wallMs?: number };
      assert.ok((usage.gpuSeconds ?? 0) > 0 && Math.abs((usage.gpuSeconds ?? 0) - (usage.wallMs ?? 0) / 2000) < 0.01, `a half bills half: ${JSON.stringify(usage)}`);
      // GPU metering: fake nodes have no UUIDs, and this host may have no nvidia-smi at all: the usage says why.
      const metering = (usage as { gpuMetering?: string }).gpuMetering ?? '';
      assert.match(metering, /^skipped: (nvidia-smi not found on this host|the granted devices' UUIDs are unknown)/, JSON.stringify(usage));
      await p.platform.jobs.runner.tick();
      await waitFor('B\'s half runs', async () => (await get(b, b1)).status === 'running');
      assert.deepEqual((await get(b, b1)).gpuDevices, ['nvidia0']);
      await cancel(b, b1);
      await waitFor('all end', async () => (await p.platform.jobs.store.gpuGrants()).length === 0);
    });

    let ma: string;
    let mb: string;
    test('a MIG job of each tenant gets its own instance and sees only its capability node', async () => {
      ma = await submitOk(a, 'a-mig', { migProfile: 'mig-3g' });
      mb = await submitOk(b, 'b-mig', { migProfile: 'mig-3g' });
      await p.platform.jobs.runner.tick();
      await waitFor('both MIG jobs print their view', async () => (await logs(a, ma)).includes('CUDA') && (await logs(b, mb)).includes('CUDA'))
        .catch(async (error: unknown) => {
          throw new Error(`${String(error)}: ${JSON.stringify([await get(a, ma), await logs(a, ma), await get(b, mb), await logs(b, mb)])}`);
        });
      const [ja, jb] = [await get(a, ma), await get(b, mb)];
      assert.equal(ja.gpuSharing, 'mig');
      assert.equal(ja.gpuMigProfile, 'mig-3g');
      assert.equal(ja.resources.gpu, 3, 'a mig-3g counts 3 GPU units');
      assert.notEqual(ja.gpuDevices[0], jb.gpuDevices[0], 'never one instance to two tenants');
      for (const [t, id, device] of [[a, ma, ja.gpuDevices[0]], [b, mb, jb.gpuDevices[0]]] as const) {
        const own = (device as string).split('/')[1] as string;
        const other = own === 'nvidia-cap1' ? 'nvidia-cap2' : 'nvidia-cap1';
        const text = await logs(t, id);
        assert.match(text, new RegExp(`CAPS ${own}\\n`), text);
        assert.match(text, /OPEN \/dev\/nvidia0 ENOENT/, text);
        assert.match(text, new RegExp(`OPEN /dev/nvidia-caps/${own} (ENXIO|EACCES)`), text); // 0444 node: write-open refused by mode, or no driver
        assert.match(text, new RegExp(`OPEN /dev/nvidia-caps/${other} ENOENT`), text);
      }
      for (const [t, id] of [[a, ma], [b, mb]] as const) await cancel(t, id);
      await waitFor('both end, their instances free', async () => !(await p.platform.jobs.store.gpuGrants()).some((g) => g.deviceId.startsWith('nvidia-caps/')));
      assert.ok(((await get(a, ma)).usage as { gpuSeconds: number }).gpuSeconds > 0, 'a MIG job bills its units × wall time');
    });

    test('racing admissions of two tenants\' slices for one free device: exactly one wins, across connections', async () => {
      // Straight through the store (as two replicas' runners would write), concurrently: on PostgreSQL two
      // transactions on two connections race for the device's row; the loser's admission fails whole.
      const ctx = { actor: 'test', requestId: 'test' };
      // The platform's own runner would admit these by itself (it schedules when a job ends): stopped first.
      await p.platform.jobs.runner.stop();
      const xa = await submitOk(a, 'race-a', { gpu: 0.5 });
      const xb = await submitOk(b, 'race-b', { gpu: 0.5 });
      const results = await Promise.allSettled([
        p.platform.jobs.store.transition(ctx, a.id, xa, 'admit', { gpuDevices: ['nvidia0'], gpuShareUnits: 50 }),
        p.platform.jobs.store.transition(ctx, b.id, xb, 'admit', { gpuDevices: ['nvidia0'], gpuShareUnits: 50 }),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))));
      const grants = (await p.platform.jobs.store.gpuGrants()).filter((g) => g.deviceId === 'nvidia0');
      assert.equal(grants.length, 1);
      const [winner, winnerJob, loser, loserJob] = grants[0]?.tenantId === a.id ? [a, xa, b, xb] : [b, xb, a, xa];
      assert.deepEqual(grants.map((g) => [g.mode, g.unitsUsed]), [['shared', 50]]);
      assert.equal((await get(loser, loserJob)).status, 'queued', 'the loser is untouched');
      assert.deepEqual(await readAsTenant(p.database.db, loser.id, 'SELECT * FROM gpu_shares').then((r) => r.rows), []);
      for (const [t, id] of [[winner, winnerJob], [loser, loserJob]] as const) await p.platform.jobs.store.transition(ctx, t.id, id, 'cancel');
      assert.deepEqual(await p.platform.jobs.store.gpuGrants(), [], 'cancelling the admitted slice gives the device back');
    });
  });
}
