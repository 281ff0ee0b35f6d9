/**
 * The tenant parent cgroup caps the sum of its jobs, not just each job: two jobs that each fit their own
 * limits exceed their tenant's together. Real cgroups (v1 on this host, v2 in the VM lane: `npm run
 * test:vm`) and real bubblewrap; the tenant's own counters (cpu.stat nr_throttled, the memory OOM) prove
 * that it was the tenant level that held them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { createE2eContext, type E2eContext } from './e2e-support.ts';
import { waitFor } from '../../../test/support/wait.ts';
import type { Outcome } from '../executor-contract.ts';

let ctx: E2eContext;
before(async () => {
  ctx = await createE2eContext('tcap');
  const probe = await ctx.executor.probe();
  assert.ok(probe.tiers.sandbox.available, `sandbox tier unavailable: ${JSON.stringify(probe.tiers.sandbox)}`);
});
after(async () => {
  await ctx.cleanup();
  assert.deepEqual(await ctx.leftoverCgroups(), []);
});

const MiB = 1024 * 1024;
const statValue = (text: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

test('CPU: two jobs of cpu=0.1 each under a tenant of cpu=0.1 share a tenth of a core between them', async () => {
  const tenantId = 'tcap-cpu';
  const burn = 'import os, time\nos.fork()\nprint("burning", flush=True)\nt = time.time()\nwhile time.time() - t < 3: pass';
  const lines: string[][] = [[], []];
  const specs = await Promise.all(
    [0, 1].map(async (i) =>
      ctx.spec({
        tenantId,
        ...(await ctx.dirs(`cpu${i}`)),
        tenantLimits: { cpu: 0.1, memoryMiB: 1024 },
        resources: { cpu: 0.1, memoryMiB: 128, pids: 16, timeoutSeconds: 60 },
        argv: ['python3', '-c', burn],
        output: (l) => lines[i]?.push(l.line),
      }),
    ),
  );
  const jobs = specs.map((spec) => ctx.executor.start(spec));
  const tenantCpuDir = await waitFor('the tenant cgroup', async () => {
    const dir = dirname(ctx.cgroupDir('cpu', tenantId, specs[0]?.jobId ?? ''));
    return (await readFile(join(dir, 'cpu.stat'), 'utf8').catch(() => undefined)) === undefined ? undefined : dir;
  });
  const throttledAtEnd: number[] = [];
  const outcomes: Outcome[] = await Promise.all(
    jobs.map(async (job) => {
      const outcome = await job.wait();
      throttledAtEnd.push(statValue(await readFile(join(tenantCpuDir, 'cpu.stat'), 'utf8'), 'nr_throttled'));
      return outcome;
    }),
  );
  for (const [i, outcome] of outcomes.entries()) assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines: lines[i] }));
  assert.ok(lines.every((l) => l.filter((x) => x === 'burning').length === 2), 'both jobs ran with two processes each');
  const cpuMs = outcomes.reduce((sum, o) => sum + (o.usage.cpuMs ?? 0), 0);
  const wallMs = Math.max(...outcomes.map((o) => o.usage.wallMs));
  const share = cpuMs / wallMs;
  // Each job alone may use a tenth of a core with its two busy processes (so ~0.2 together; cgroup v1
  // refuses a job quota above its tenant's). Small quotas, so that even a host loaded by other work gives
  // four busy processes more than the tenant's cap: its cpu=0.1 holds the sum at 0.1 (+ CFS slack), and
  // its own nr_throttled shows it was the tenant level that did. The floor shows both ran and were measured.
  assert.ok(share > 0.02 && share < 0.16, `combined cpu share ${share.toFixed(2)} (cpu ${cpuMs} ms over ${wallMs} ms)`);
  assert.ok(Math.max(...throttledAtEnd) > 0, `the tenant cgroup throttled its jobs (nr_throttled ${throttledAtEnd.join(', ')})`);
});

test('memory: two jobs that each fit their own limit exceed the tenant together → one is oom_killed', async () => {
  const tenantId = 'tcap-mem';
  const common = {
    tenantId,
    tenantLimits: { cpu: 2, memoryMiB: 120 },
    resources: { cpu: 1, memoryMiB: 100, pids: 16, timeoutSeconds: 60 },
  };
  // 70 MiB each: alone well inside the job's 100 MiB (interpreter included), together above the tenant's 120.
  const hold = 'import time\nb = [bytearray(10 << 20) for _ in range(7)]\nfor x in b: x[::4096] = b"x" * len(x[::4096])\nprint("held", flush=True)\ntime.sleep(30)';
  const linesA: string[] = [];
  const linesB: string[] = [];
  const a = ctx.executor.start(ctx.spec({ ...common, ...(await ctx.dirs('memA')), argv: ['python3', '-c', hold], output: (l) => linesA.push(l.line) }));
  const aDone = a.wait();
  await Promise.race([
    waitFor('job A holds its 70 MiB', () => linesA.includes('held'), 60_000),
    aDone.then((outcome) => assert.fail(`job A ended alone: ${JSON.stringify({ outcome, linesA })}`)),
  ]);
  const b = ctx.executor.start(ctx.spec({ ...common, ...(await ctx.dirs('memB')), argv: ['python3', '-c', hold], output: (l) => linesB.push(l.line) }));
  const bDone = b.wait();
  // Whichever the kernel picked (the larger one in the tenant), once one has ended the other is cancelled.
  await Promise.race([aDone, bDone]);
  a.cancel();
  b.cancel();
  const [aOutcome, bOutcome] = await Promise.all([aDone, bDone]);
  assert.ok([aOutcome.kind, bOutcome.kind].includes('oom_killed'), JSON.stringify({ aOutcome, bOutcome, linesA, linesB }));
  // The tenant's high-water mark: above what one job may use (so both were charged to it), held at its cap.
  const tenantDir = dirname(ctx.cgroupDir('memory', tenantId, 'x'));
  const peakFile = ctx.cgroups.version === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes';
  const tenantPeak = Number((await readFile(join(tenantDir, peakFile), 'utf8')).trim());
  assert.ok(tenantPeak > 100 * MiB && tenantPeak <= 121 * MiB, `tenant peak ${(tenantPeak / MiB).toFixed(1)} MiB`);
});
