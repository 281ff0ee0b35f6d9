/**
 * Start overhead of a GPU job, side by side on the same machine, interleaved run by run:
 *   bare            child_process.spawn of `true` (the floor)
 *   sandbox         local executor, tier sandbox, no GPU
 *   sandbox+gpu     the same with 1 granted GPU (binds + the devices cgroup whitelist)
 *   process         local executor, tier process, no GPU
 *   process+gpu     the same with 1 granted GPU (fresh /dev + binds + devices cgroup)
 *   gang-2          a 2-worker gang's network namespace + 2 sandboxes (no GPU), through jobs/gang-execution.ts
 * Latency = start → the job (all workers) ended, for `true`. Without an NVIDIA GPU the nodes are fake
 * (`mknod c 195 N` in a temp folder): this measures Bulkhead's own work (device checks, cgroup, binds), not
 * the driver's context creation. Run as root:
 *   node_modules/.bin/node bench/gpu-start.ts [runs=30]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalExecutor, readGpuInventory, type IsolationTier, type JobSpec } from '../src/executors/local/index.ts';
import { startGang } from '../src/jobs/gang-execution.ts';

const runs = Number(process.argv[2] ?? 30);
const base = await mkdtemp(join(tmpdir(), 'bulkhead-gpu-bench-'));
await chmod(base, 0o755);
const real = existsSync('/dev/nvidia0') && existsSync('/dev/nvidiactl');
const devDir = real ? '/dev' : join(base, 'dev');
if (!real) {
  await mkdir(devDir, { mode: 0o755 });
  await chmod(devDir, 0o755);
  execFileSync('mknod', ['-m', '0666', join(devDir, 'nvidia0'), 'c', '195', '0']);
  execFileSync('mknod', ['-m', '0666', join(devDir, 'nvidiactl'), 'c', '195', '255']);
}
const inventory = readGpuInventory({ devDir });
const gpu = inventory.devices[0];
if (gpu === undefined) throw new Error('no GPU node');
const gpus = { devices: [{ id: gpu.id, path: gpu.path }], controlNodes: inventory.controlNodes.map((n) => n.path) };
const executor = createLocalExecutor({ cgroupPrefix: `bulkhead-gpubench-${process.pid}`, runtimeRoot: join(base, 'run') });

let n = 0;
const dirs = async (): Promise<{ workspaceDir: string; outputsDir: string }> => {
  const root = join(base, `j${n++}`);
  for (const d of ['workspace', 'outputs']) await mkdir(join(root, d), { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  return { workspaceDir: join(root, 'workspace'), outputsDir: join(root, 'outputs') };
};
const spec = async (tier: IsolationTier, withGpu: boolean): Promise<JobSpec> => ({
  jobId: `b${n}`, tenantId: 'bench', tier, argv: ['true'], env: {}, ...(await dirs()),
  resources: { cpu: 1, memoryMiB: 256, pids: 64, timeoutSeconds: 30 }, tenantLimits: { cpu: 2, memoryMiB: 1024 },
  ...(withGpu ? { gpus } : {}),
});

const modes: Record<string, () => Promise<void>> = {
  bare: () => new Promise((resolve) => spawn('true').once('exit', () => resolve())),
  sandbox: async () => void (await executor.start(await spec('sandbox', false)).wait()),
  'sandbox+gpu': async () => void (await executor.start(await spec('sandbox', true)).wait()),
  process: async () => void (await executor.start(await spec('process', false)).wait()),
  'process+gpu': async () => void (await executor.start(await spec('process', true)).wait()),
  'gang-2': async () => {
    const shared = await spec('sandbox', false);
    const specs = [shared, await spec('sandbox', false)];
    const outcome = await startGang(executor, shared.jobId, 2, (rank) => ({ ...(specs[rank] as JobSpec), jobId: `${shared.jobId}-r${rank}` }), () => {}).wait();
    if (outcome.kind !== 'succeeded') throw new Error(`gang: ${outcome.kind}`);
  },
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
for (let i = 0; i < runs; i += 1) {
  for (const [name, run] of Object.entries(modes)) {
    const t0 = performance.now();
    await run();
    (times[name] as number[]).push(performance.now() - t0);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number;
console.log(`gpu-start: node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${real ? 'real NVIDIA nodes' : 'fake nodes (mknod 195,N)'}, ${runs} runs interleaved`);
console.log('| mode | median | p90 | vs bare | vs same tier without GPU |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of Object.keys(modes)) {
  const m = median(times[name] as number[]);
  const plain = name.endsWith('+gpu') ? median(times[name.replace('+gpu', '')] as number[]) : undefined;
  console.log(`| ${name} | ${m.toFixed(1)} ms | ${p90(times[name] as number[]).toFixed(1)} ms | ${(m / median(times['bare'] as number[])).toFixed(1)}× | ${plain === undefined ? '' : `${(m / plain).toFixed(2)}×`} |`);
}
await executor.reapOrphans([]);
await rm(base, { recursive: true, force: true });
