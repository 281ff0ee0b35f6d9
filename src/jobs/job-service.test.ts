import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { TenantQuota } from '../contract/quota.ts';
import { AppError } from '../core/errors.ts';
import { submitJobSchema } from '../contract/job-schemas.ts';
import { checkSubmission, settleGpuRequest } from './job-service.ts';

const quota = (cpu: number, memoryMiB: number, gpu: number, borrow: { cpu: number; memoryMiB: number; gpu: number }): TenantQuota => ({
  cpu, memoryMiB, gpu, borrowingLimit: borrow, lendingLimit: { cpu: null, memoryMiB: null, gpu: null }, maxConcurrentJobs: 4, maxQueuedJobs: 10, storageBytes: 1, requestsPerSecond: 1, weight: 1,
  dbStatementTimeoutMs: 10_000, dbMaxConcurrentOperations: 8, dbTimeMsPerSecond: 0,
  ingressBytesPerSecond: 10 * 1024 ** 3, ingressBurstBytes: 10 * 1024 ** 3, egressBytesPerSecond: 10 * 1024 ** 3, egressBurstBytes: 10 * 1024 ** 3,
});

test('a job fits when every resource is within quota + borrowing limit and the capacity; otherwise the first excess is named', () => {
  const amount = fc.record({ cpu: fc.integer({ min: 0, max: 16 }), memoryMiB: fc.integer({ min: 0, max: 4096 }), gpu: fc.integer({ min: 0, max: 4 }) });
  fc.assert(fc.property(amount, amount, amount, amount, (wanted, nominal, borrow, capacity) => {
    const q = quota(nominal.cpu, nominal.memoryMiB, nominal.gpu, borrow);
    const overQuota = (['cpu', 'memoryMiB', 'gpu'] as const).find((r) => wanted[r] > nominal[r] + borrow[r]);
    const overCapacity = (['cpu', 'memoryMiB', 'gpu'] as const).find((r) => wanted[r] > capacity[r]);
    let thrown: unknown;
    try {
      checkSubmission(wanted, q, capacity);
    } catch (error) {
      thrown = error;
    }
    if (overQuota !== undefined) {
      assert.ok(thrown instanceof AppError && thrown.code === 'QUOTA_EXCEEDED', 'quota is checked first');
      assert.match(thrown.message, new RegExp(` ${overQuota} but the tenant may use at most ${nominal[overQuota] + borrow[overQuota]} `));
    } else if (overCapacity !== undefined) {
      assert.ok(thrown instanceof AppError && thrown.code === 'VALIDATION_FAILED');
      assert.match(thrown.message, new RegExp(` ${overCapacity} but this installation has ${capacity[overCapacity]};`));
    } else {
      assert.equal(thrown, undefined);
    }
  }));
});

test('GPU requests: fractions in hundredths below one, MIG profiles count their slices; neither for gangs nor on Kubernetes', () => {
  const parse = (resources: Record<string, unknown>, workers = 1) => submitJobSchema.safeParse({ command: ['x'], resources, workers });
  assert.equal(parse({ gpu: 0.5 }).success, true);
  assert.equal(parse({ gpu: 0.07 }).success, true);
  assert.equal(parse({ gpu: 2 }).success, true);
  assert.equal(parse({ gpu: 1.5 }).success, false, 'above one only whole GPUs');
  assert.equal(parse({ gpu: 0.005 }).success, false, 'hundredths at most');
  assert.equal(parse({ migProfile: 'mig-3g.40gb' }).success, true);
  assert.equal(parse({ migProfile: 'mig-8g' }).success, false);
  const settled = (resources: Record<string, unknown>, workers = 1, sharing = true) => {
    const parsed = parse(resources, workers);
    assert.ok(parsed.success);
    return settleGpuRequest(parsed.data, sharing);
  };
  assert.equal(settled({ migProfile: 'mig-3g' }).resources.gpu, 3);
  assert.equal(settled({ migProfile: 'mig-7g', gpu: 7 }).resources.gpu, 7);
  assert.throws(() => settled({ migProfile: 'mig-3g', gpu: 1 }), /counts 3 GPU unit/);
  assert.throws(() => settled({ migProfile: 'mig-1g' }, 2), /gang cannot run on a MIG instance/);
  assert.throws(() => settled({ gpu: 0.5 }, 2), /gang cannot time-slice/);
  assert.equal(settled({ gpu: 2 }, 2).resources.gpu, 2);
  assert.throws(() => settled({ gpu: 0.5 }, 1, false), /on Kubernetes ask for whole GPUs/);
  assert.throws(() => settled({ migProfile: 'mig-3g' }, 1, false), /on Kubernetes/);
  assert.equal(settled({ gpu: 1 }, 1, false).resources.gpu, 1);
});
