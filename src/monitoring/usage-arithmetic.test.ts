import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { attemptEntries } from './job-metering.ts';
import { HOUR_MS, hourOf, spreadOverHours } from './usage-ledger.ts';
import { periodRange, usageRange } from './usage-service.ts';

describe('spreadOverHours', () => {
  it('parts lie in consecutive hour buckets covering the interval, and add up to the quantity', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2_000_000_000_000 }), fc.integer({ min: 0, max: 30 * HOUR_MS }), fc.double({ min: 0, max: 1e9, noNaN: true }),
      (start, length, quantity) => {
        const parts = spreadOverHours(start, start + length, quantity);
        const sum = parts.reduce((s, p) => s + p.quantity, 0);
        assert.ok(Math.abs(sum - quantity) <= 1e-9 * Math.max(1, quantity));
        assert.equal(parts[0]!.bucketMs, hourOf(length === 0 ? start + length : start));
        for (let i = 1; i < parts.length; i += 1) assert.equal(parts[i]!.bucketMs - parts[i - 1]!.bucketMs, HOUR_MS);
        for (const part of parts) assert.ok(part.quantity >= 0 && part.bucketMs % HOUR_MS === 0);
        assert.ok(parts.at(-1)!.bucketMs < start + length || length === 0);
      }));
  });
  it('splits in proportion to the time spent in each hour', () => {
    const start = 10 * HOUR_MS + HOUR_MS / 2;
    assert.deepEqual(spreadOverHours(start, start + 2 * HOUR_MS, 4), [
      { bucketMs: 10 * HOUR_MS, quantity: 1 }, { bucketMs: 11 * HOUR_MS, quantity: 2 }, { bucketMs: 12 * HOUR_MS, quantity: 1 },
    ]);
  });
});

describe('attemptEntries', () => {
  it('one source per attempt; CPU always written (the attempt is then known as metered); reserved resources × wall time', () => {
    const entries = attemptEntries({ tenantId: 't', jobId: 'j', attempt: 2, memoryMiB: 512, gpu: 2, startMs: 0, endMs: HOUR_MS, usage: { cpuMs: 1500 } });
    assert.ok(entries.every((e) => e.source === 'job:j:2'));
    const by = (r: string) => entries.filter((e) => e.resource === r).reduce((s, e) => s + e.quantity, 0);
    assert.equal(by('cpuCoreSeconds'), 1.5, 'cpuMs of older rows');
    assert.equal(by('memoryGiBHours'), 0.5);
    assert.equal(by('gpuSeconds'), 7200);
    const idle = attemptEntries({ tenantId: 't', jobId: 'k', attempt: 1, memoryMiB: 64, gpu: 0, startMs: 5, endMs: 5, usage: {} });
    assert.deepEqual(idle.map((e) => [e.resource, e.quantity]), [['cpuCoreSeconds', 0]]);
    const measured = attemptEntries({ tenantId: 't', jobId: 'm', attempt: 1, memoryMiB: 64, gpu: 1, startMs: 0, endMs: 1000, usage: { cpuCoreSeconds: 0.25, cpuMs: 999, gpuSeconds: 0.5, memoryPeakBytes: 42 } });
    assert.equal(measured.find((e) => e.resource === 'cpuCoreSeconds')?.quantity, 0.25, 'the full-resolution figure wins');
    assert.equal(measured.find((e) => e.resource === 'gpuSeconds')?.quantity, 0.5, "the executor's GPU figure wins over allocation × time");
    assert.equal(measured.find((e) => e.resource === 'memoryPeakBytes')?.quantity, 42);
  });
  it('GPU metering from nvidia-smi: busy GPU-seconds = GPU-seconds × mean utilization; the GPU memory peak as a high-water mark', () => {
    const metered = attemptEntries({ tenantId: 't', jobId: 'g', attempt: 1, memoryMiB: 64, gpu: 0.5, startMs: 0, endMs: 10_000, usage: { gpuSeconds: 5, gpuUtilizationMeanPercent: 40, gpuMemoryPeakBytes: 2 ** 30 } });
    assert.equal(metered.find((e) => e.resource === 'gpuBusySeconds')?.quantity, 2);
    assert.equal(metered.find((e) => e.resource === 'gpuMemoryPeakBytes')?.quantity, 2 ** 30);
    const unmetered = attemptEntries({ tenantId: 't', jobId: 'h', attempt: 1, memoryMiB: 64, gpu: 1, startMs: 0, endMs: 1000, usage: { gpuSeconds: 1 } });
    assert.deepEqual(unmetered.filter((e) => e.resource.startsWith('gpuBusy') || e.resource === 'gpuMemoryPeakBytes'), [], 'no nvidia-smi: no made-up figures');
  });
});

describe('ranges', () => {
  it('periods are calendar months in UTC', () => {
    assert.deepEqual(periodRange('2026-11'), { fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 11, 1) });
    assert.deepEqual(periodRange('2026-12'), { fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2027, 0, 1) });
  });
  it('usage ranges default to the last 24 hours and refuse reversed or over-long ones', () => {
    assert.deepEqual(usageRange({}, 100 * HOUR_MS), { fromMs: 76 * HOUR_MS, toMs: 100 * HOUR_MS });
    assert.throws(() => usageRange({ from: '2026-11-02', to: '2026-11-01' }), /from must be before to/);
    assert.throws(() => usageRange({ from: '2020-01-01', to: '2026-01-01' }), /at most 400 days/);
  });
});
