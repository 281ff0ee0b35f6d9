/** GPU metering: parsing recorded nvidia-smi output, summarizing samples (pure), and the absence path (real). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, gpuQueryArgs, parseGpuQuery, startGpuMeter, summarizeGpuSamples } from './gpu-metering.ts';

// Recorded from `nvidia-smi --query-gpu=uuid,memory.used,utilization.gpu --format=csv,noheader,nounits`
// on a two-GPU host (H100 80GB HBM3, driver 550), the second line while a training step ran.
const recorded = [
  'GPU-5a3c1f64-7a8e-2b91-0c4d-6f2e8a9b1c3d, 1, 0',
  'GPU-9b2e4d71-3c5f-4a8b-9e1d-7c6a5b4f3e2d, 61417, 97',
  '',
].join('\n');

test('parses recorded nvidia-smi --query-gpu output; unreadable values are left out, not guessed', () => {
  assert.deepEqual(parseGpuQuery(recorded), [
    { uuid: 'GPU-5a3c1f64-7a8e-2b91-0c4d-6f2e8a9b1c3d', memoryUsedMiB: 1, utilizationPercent: 0 },
    { uuid: 'GPU-9b2e4d71-3c5f-4a8b-9e1d-7c6a5b4f3e2d', memoryUsedMiB: 61417, utilizationPercent: 97 },
  ]);
  assert.deepEqual(parseGpuQuery('GPU-5a3c1f64-7a8e-2b91-0c4d-6f2e8a9b1c3d, [N/A], [Not Supported]\nNo devices were found\n'), []);
  assert.deepEqual(parseGpuQuery('uuid, memory.used [MiB], utilization.gpu [%]\n'), [], 'a header line is not a reading');
  assert.deepEqual(gpuQueryArgs(['GPU-a', 'GPU-b']), ['--query-gpu=uuid,memory.used,utilization.gpu', '--format=csv,noheader,nounits', '--id=GPU-a,GPU-b']);
});

test('summary: peak of the summed memory at one sample, mean of the per-sample mean utilization', () => {
  const a = 'GPU-aaaa';
  const b = 'GPU-bbbb';
  const summary = summarizeGpuSamples([
    [{ uuid: a, memoryUsedMiB: 100, utilizationPercent: 10 }, { uuid: b, memoryUsedMiB: 200, utilizationPercent: 30 }],
    [{ uuid: a, memoryUsedMiB: 1000, utilizationPercent: 90 }, { uuid: b, memoryUsedMiB: 50, utilizationPercent: 70 }],
    [{ uuid: a, memoryUsedMiB: 5000, utilizationPercent: 100 }], // b missing: an incomplete sample is not counted
  ], [a, b]);
  assert.deepEqual(summary, { gpuMemoryPeakBytes: 1050 * 1024 * 1024, gpuUtilizationMeanPercent: 50, gpuMeterSamples: 2 });
  assert.match(JSON.stringify(summarizeGpuSamples([], [a])), /skipped: nvidia-smi gave no reading/);
});

test('absent nvidia-smi (real): the meter does not start and says why', async () => {
  assert.equal(findExecutable('bulkhead-no-such-nvidia-smi'), undefined);
  assert.ok(findExecutable('sh') !== undefined);
  const meter = startGpuMeter({ nvidiaSmi: 'bulkhead-no-such-nvidia-smi', uuids: ['GPU-a'], devices: 1, mig: false, intervalMs: 100 });
  assert.deepEqual(await meter.stop(), { gpuMetering: 'skipped: bulkhead-no-such-nvidia-smi not found on this host (peak GPU memory and utilization need the NVIDIA driver\'s nvidia-smi)' });
  const unknown = startGpuMeter({ nvidiaSmi: 'sh', uuids: undefined, devices: 1, mig: false, intervalMs: 100 });
  assert.match(JSON.stringify(await unknown.stop()), /UUIDs are unknown/);
});

test('a real sampler over a recorded nvidia-smi (a script that prints the recording): figures from its readings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bulkhead-smi-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const smi = join(dir, 'nvidia-smi');
  // Answers only a query by the granted UUID, as nvidia-smi --id does.
  await writeFile(smi, `#!/bin/sh\ncase "$*" in *--id=GPU-9b2e4d71-3c5f-4a8b-9e1d-7c6a5b4f3e2d*) printf '%s\\n' 'GPU-9b2e4d71-3c5f-4a8b-9e1d-7c6a5b4f3e2d, 61417, 97';; *) exit 6;; esac\n`);
  await chmod(smi, 0o755);
  // One sample at the start; the interval is long enough that stop() comes first.
  const meter = startGpuMeter({ nvidiaSmi: smi, uuids: ['GPU-9b2e4d71-3c5f-4a8b-9e1d-7c6a5b4f3e2d'], devices: 1, mig: false, intervalMs: 600_000 });
  assert.deepEqual(await meter.stop(), { gpuMemoryPeakBytes: 61417 * 1024 * 1024, gpuUtilizationMeanPercent: 97, gpuMeterSamples: 1 });
  const other = startGpuMeter({ nvidiaSmi: smi, uuids: ['GPU-0000'], devices: 1, mig: false, intervalMs: 600_000 });
  assert.match(JSON.stringify(await other.stop()), /no reading of the granted devices/, 'a failing nvidia-smi gives no figures, and says so');
});
