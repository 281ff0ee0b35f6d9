/** Which devices a GPU job gets (pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chooseGpuShare, chooseGpus, chooseMigInstance, migProfileMatches, shareUnits } from './index.ts';
import type { HeldGpu } from './index.ts';

test('device choice: lowest free whole GPUs, never a held one, never a MIG instance for a whole-GPU request', () => {
  const inventory = [
    { id: 'nvidia0', kind: 'gpu' as const },
    { id: 'nvidia1', kind: 'gpu' as const },
    { id: 'nvidia-caps/nvidia-cap21', kind: 'mig' as const },
    { id: 'nvidia2', kind: 'gpu' as const },
  ];
  assert.deepEqual(chooseGpus(inventory, new Set(['nvidia0']), 2), ['nvidia1', 'nvidia2']);
  assert.equal(chooseGpus(inventory, new Set(['nvidia0', 'nvidia2']), 2), undefined);
  assert.deepEqual(chooseGpus(inventory, new Set(), 0), []);
});

test('time-slices: joins the tenant\'s own shared GPU with room (fullest first), else a free one; never another tenant\'s or a whole grant', () => {
  const inventory = [{ id: 'nvidia0', kind: 'gpu' as const }, { id: 'nvidia1', kind: 'gpu' as const }, { id: 'nvidia2', kind: 'gpu' as const }];
  const held: HeldGpu[] = [
    { deviceId: 'nvidia0', tenantId: 'b', mode: 'shared', unitsUsed: 25 },
    { deviceId: 'nvidia1', tenantId: 'a', mode: 'shared', unitsUsed: 50 },
  ];
  assert.equal(chooseGpuShare(inventory, held, 'a', 50), 'nvidia1', 'the tenant\'s own shared GPU with room');
  assert.equal(chooseGpuShare(inventory, held, 'a', 60), 'nvidia2', 'no room on its own: a free GPU, never b\'s nvidia0');
  assert.equal(chooseGpuShare(inventory, [...held, { deviceId: 'nvidia2', tenantId: 'c', mode: 'whole', unitsUsed: 100 }], 'a', 60), undefined);
  assert.equal(chooseGpuShare(inventory, held, 'b', 75), 'nvidia0');
  assert.equal(chooseGpuShare(inventory, held, 'a', 0), undefined);
  assert.equal(chooseGpuShare(inventory, held, 'a', 100), undefined, 'a time-slice is below one GPU');
  assert.equal(chooseGpuShare([{ id: 'nvidia-caps/nvidia-cap1', kind: 'mig' }], [], 'a', 50), undefined, 'MIG instances are never time-sliced');
  assert.equal(shareUnits(0.5), 50);
  assert.equal(shareUnits(0.29), 29);
});

test('property: over random admit/end traces, a GPU never holds two tenants\' jobs, nor more than one GPU of time-slices', () => {
  const inventory = [0, 1, 2].map((i) => ({ id: `nvidia${i}`, kind: 'gpu' as const }));
  const step = fc.oneof(
    fc.record({ op: fc.constant('admit' as const), tenant: fc.constantFrom('a', 'b', 'c'), gpu: fc.constantFrom(0.25, 0.5, 0.75, 0.1, 1, 2) }),
    fc.record({ op: fc.constant('end' as const), pick: fc.nat() }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 80 }), (trace) => {
    // The database's model: one holder per device; shares add up on a shared device.
    const jobs: Array<{ tenant: string; devices: string[]; units: number; shared: boolean }> = [];
    const heldNow = (): HeldGpu[] => {
      const byDevice = new Map<string, HeldGpu>();
      for (const job of jobs) {
        for (const d of job.devices) {
          const prev = byDevice.get(d);
          byDevice.set(d, { deviceId: d, tenantId: job.tenant, mode: job.shared ? 'shared' : 'whole', unitsUsed: (prev?.unitsUsed ?? 0) + job.units });
        }
      }
      return [...byDevice.values()];
    };
    for (const s of trace) {
      if (s.op === 'end') {
        if (jobs.length > 0) jobs.splice(s.pick % jobs.length, 1);
        continue;
      }
      const held = heldNow();
      if (s.gpu < 1) {
        const device = chooseGpuShare(inventory, held, s.tenant, shareUnits(s.gpu));
        if (device !== undefined) jobs.push({ tenant: s.tenant, devices: [device], units: shareUnits(s.gpu), shared: true });
      } else {
        const devices = chooseGpus(inventory, new Set(held.map((h) => h.deviceId)), s.gpu);
        if (devices !== undefined) jobs.push({ tenant: s.tenant, devices, units: 100, shared: false });
      }
      // Invariants after every admission.
      const perDevice = new Map<string, Array<{ tenant: string; units: number; shared: boolean }>>();
      for (const job of jobs) for (const d of job.devices) perDevice.set(d, [...(perDevice.get(d) ?? []), job]);
      for (const [device, holders] of perDevice) {
        assert.equal(new Set(holders.map((h) => h.tenant)).size, 1, `${device} holds jobs of two tenants`);
        if (holders.some((h) => !h.shared)) assert.equal(holders.length, 1, `${device} is whole and shared`);
        assert.ok(holders.reduce((sum, h) => sum + h.units, 0) <= 100, `${device} is over-committed`);
      }
    }
  }), { numRuns: 300 });
});

test('MIG: a free instance of the profile asked for, granted whole; `mig-3g` matches `mig-3g.40gb`', () => {
  const inventory = [
    { id: 'nvidia0', kind: 'gpu' as const },
    { id: 'nvidia-caps/nvidia-cap12', kind: 'mig' as const, profile: 'mig-1g.10gb' },
    { id: 'nvidia-caps/nvidia-cap21', kind: 'mig' as const, profile: 'mig-3g.40gb' },
    { id: 'nvidia-caps/nvidia-cap30', kind: 'mig' as const, profile: 'mig-3g.40gb' },
  ];
  assert.equal(chooseMigInstance(inventory, new Set(), 'mig-3g'), 'nvidia-caps/nvidia-cap21');
  assert.equal(chooseMigInstance(inventory, new Set(['nvidia-caps/nvidia-cap21']), 'mig-3g.40gb'), 'nvidia-caps/nvidia-cap30');
  assert.equal(chooseMigInstance(inventory, new Set(['nvidia-caps/nvidia-cap21', 'nvidia-caps/nvidia-cap30']), 'mig-3g'), undefined);
  assert.equal(chooseMigInstance(inventory, new Set(), 'mig-7g'), undefined, 'a whole GPU is never handed out as a MIG instance');
  assert.equal(migProfileMatches('mig-3g.40gb', 'mig-3g.20gb'), false);
  assert.equal(migProfileMatches(undefined, 'mig-3g'), false);
});
