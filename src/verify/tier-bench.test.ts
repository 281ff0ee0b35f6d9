import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, renderTierTable, sampleOf } from './tier-bench.ts';

test('median of odd and even counts, and of none', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

test('a sample: start and teardown around the workload, helpers = cgroup minus the workload', () => {
  const job = { startedAt: '2026-12-06T10:00:00.000Z', finishedAt: '2026-12-06T10:00:02.000Z', usage: { cpuMs: 900, peakMemoryBytes: 60 * 1048576 } };
  const at = Date.parse('2026-12-06T10:00:00.000Z');
  const sample = sampleOf(job, { firstMs: at + 150, lastMs: at + 1900, workWallMs: 1500, workCpuMs: 1490, ownCpuMs: 800, ownPeakBytes: 10 * 1048576 });
  assert.deepEqual(sample, { startMs: 150, teardownMs: 100, workWallMs: 1500, extraCpuMs: 100, extraMemoryBytes: 50 * 1048576 });
  // No cgroup figures (a host without cgroups): the overheads are unknown, not zero.
  const bare = sampleOf({ ...job, usage: null }, { firstMs: at + 150, lastMs: at + 1900, workWallMs: 1500, ownCpuMs: 800, ownPeakBytes: 1 });
  assert.equal(bare?.extraCpuMs, undefined);
  assert.equal(bare?.extraMemoryBytes, undefined);
  // A job that never started, or a report without its fields: no sample.
  assert.equal(sampleOf({ ...job, startedAt: null }, { firstMs: at, lastMs: at, workWallMs: 1 }), undefined);
  assert.equal(sampleOf(job, {}), undefined);
});

test('the table renders n/a for what was not measured', () => {
  const rows = renderTierTable([{ tier: 'sandbox', rounds: 3, startMs: 120, teardownMs: 30, workMs: 400, workRatio: null, extraCpuMs: null, extraMemoryBytes: 52428800 }]);
  assert.deepEqual(rows[1], ['sandbox', '120 ms', '30 ms', '400 ms', 'n/a', 'n/a', '50.0 MiB']);
});
