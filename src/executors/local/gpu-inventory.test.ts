/** The GPU inventory's pure parts, the device-cgroup rules and the binds (no IO but a temp folder). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseAllowedDevices, gpuDenyList, gpuDeviceAllowList } from './device-cgroup.ts';
import { gpuBindOptions, gpuEnvironment } from './gpu-binds.ts';
import { migUnits, parseNvidiaSmiList, readGpuInventory, splitRdev } from './gpu-inventory.ts';

test('nvidia-smi -L lines give index, model and UUID; MIG lines are skipped', () => {
  const text = [
    'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5a1c2b3d-0000-1111-2222-333344445555)',
    '  MIG 3g.40gb     Device  0: (UUID: MIG-aaaa)',
    'GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-ffffffff-0000-1111-2222-333344445555)',
  ].join('\n');
  assert.deepEqual(parseNvidiaSmiList(text), [
    { index: 0, model: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-5a1c2b3d-0000-1111-2222-333344445555' },
    { index: 1, model: 'NVIDIA A100-SXM4-80GB', uuid: 'GPU-ffffffff-0000-1111-2222-333344445555' },
  ]);
});

test('dev_t splits as glibc does', () => {
  assert.deepEqual(splitRdev((195 << 8) | 3), { major: 195, minor: 3 });
  assert.deepEqual(splitRdev((509 << 8) | 255), { major: 509, minor: 255 });
  assert.equal(migUnits('mig-3g'), 3);
  assert.equal(migUnits(undefined), 1);
});

test('configured names that are not GPU nodes, or not character devices, are problems, never devices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-inv-'));
  try {
    writeFileSync(join(dir, 'nvidia0'), 'not a device');
    symlinkSync('/dev/null', join(dir, 'nvidia1'));
    const inventory = readGpuInventory({ devDir: dir, devices: ['nvidia0', 'nvidia1', 'sda'] });
    assert.deepEqual(inventory.devices, []);
    assert.equal(inventory.problems.length, 3, inventory.problems.join('\n'));
    assert.match(inventory.problems[2] ?? '', /not a GPU device name/);
    assert.deepEqual(readGpuInventory({ devDir: dir }).devices, [], 'discovery skips them too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('device cgroup rules: a whitelist for GPU jobs, a denylist of the inventory otherwise', () => {
  const granted = [{ path: '/dev/nvidia1', major: 195, minor: 1 }];
  const control = [{ path: '/dev/nvidiactl', major: 195, minor: 255 }, { path: '/dev/nvidia-uvm', major: 509, minor: 0 }];
  assert.deepEqual(gpuDeviceAllowList(granted, control), [...baseAllowedDevices, 'c 195:1 rw', 'c 195:255 rw', 'c 509:0 rw']);
  assert.ok(!gpuDeviceAllowList(granted, control).some((l) => l.startsWith('c 195:0')), 'never another GPU');
  assert.deepEqual(gpuDenyList([...granted, ...control, ...granted]), ['c 195:1 rwm', 'c 195:255 rwm', 'c 509:0 rwm']);
});

test('binds and environment: the granted nodes at their /dev names, ordinals 0..n-1', () => {
  const plan = { devices: [{ id: 'nvidia3', path: '/x/nvidia3' }, { id: 'nvidia-caps/nvidia-cap21', path: '/x/nvidia-caps/nvidia-cap21' }], controlNodes: ['/x/nvidiactl'] };
  assert.deepEqual(gpuBindOptions(plan, false), ['--dev-bind', '/x/nvidia3', '/dev/nvidia3', '--dev-bind', '/x/nvidia-caps/nvidia-cap21', '/dev/nvidia-caps/nvidia-cap21', '--dev-bind', '/x/nvidiactl', '/dev/nvidiactl']);
  assert.deepEqual(gpuBindOptions(plan, true).slice(0, 2), ['--dev', '/dev']);
  assert.deepEqual(gpuEnvironment(2), { CUDA_VISIBLE_DEVICES: '0,1', NVIDIA_VISIBLE_DEVICES: '0,1' });
});
