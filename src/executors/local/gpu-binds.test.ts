/** What a GPU job's bwrap options put in (and hide from) its /dev (pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuBindOptions, gpuEnvironment, gpuHidingOptions } from './gpu-binds.ts';

test('binds exactly the granted nodes (MIG capability nodes at their nested name) and the control nodes', () => {
  assert.deepEqual(gpuBindOptions({ devices: [{ id: 'nvidia-caps/nvidia-cap21', path: '/x/nvidia-caps/nvidia-cap21' }], controlNodes: ['/x/nvidiactl'] }, true), [
    '--dev', '/dev', '--dev-bind', '/x/nvidia-caps/nvidia-cap21', '/dev/nvidia-caps/nvidia-cap21', '--dev-bind', '/x/nvidiactl', '/dev/nvidiactl',
  ]);
  assert.deepEqual(gpuEnvironment(2), { CUDA_VISIBLE_DEVICES: '0,1', NVIDIA_VISIBLE_DEVICES: '0,1' });
});

test('hiding the host\'s GPU nodes (cgroup v2, process tier): a fresh /dev, a tmpfs over the outermost other folder', () => {
  assert.deepEqual(gpuHidingOptions(['/dev/nvidia0', '/dev/nvidiactl', '/dev/nvidia-caps/nvidia-cap1']), ['--dev', '/dev']);
  assert.deepEqual(gpuHidingOptions(['/tmp/f/nvidia0', '/tmp/f/nvidia-caps/nvidia-cap1', '/tmp/f/nvidiactl']), ['--tmpfs', '/tmp/f']);
  assert.deepEqual(gpuHidingOptions(['/dev/nvidia0', '/srv/gpus/nvidia1']), ['--dev', '/dev', '--tmpfs', '/srv/gpus']);
  assert.deepEqual(gpuHidingOptions([]), []);
});
