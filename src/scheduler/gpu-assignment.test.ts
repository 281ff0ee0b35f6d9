/** Which devices a GPU job gets (pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseGpus } from './index.ts';

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
