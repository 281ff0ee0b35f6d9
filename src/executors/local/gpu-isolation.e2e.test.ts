/**
 * GPU device isolation on real bubblewrap and the real cgroup v1 devices controller, with fake NVIDIA
 * nodes this test makes (`mknod` char 195,N in a folder of its own, configured as the inventory): a
 * 1-GPU sandbox job sees exactly its node and the control node and cannot open the other GPU; a
 * process-tier job sees the host's paths but the device cgroup refuses the ungranted node (EPERM) while
 * the granted one passes the cgroup (ENXIO: a fake node has no driver behind it). Where the host has real
 * NVIDIA GPUs, the same checks run once more against /dev (skipped here, saying why).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createE2eContext, type E2eContext } from './e2e-support.ts';
import { createLocalExecutor } from './local-executor.ts';
import { findDevicesHierarchy } from './device-cgroup.ts';
import { readGpuInventory, type GpuInventory } from './gpu-inventory.ts';

let ctx: E2eContext;
let devDir: string;
let inventory: GpuInventory;

/** Fake NVIDIA nodes: nvidia0..nvidia{n-1} (195,N) and nvidiactl (195,255), mode 0666 like the real ones. */
export const makeFakeGpus = async (dir: string, count: number): Promise<void> => {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  for (let i = 0; i < count; i += 1) execFileSync('mknod', ['-m', '0666', join(dir, `nvidia${i}`), 'c', '195', String(i)]);
  execFileSync('mknod', ['-m', '0666', join(dir, 'nvidiactl'), 'c', '195', '255']);
};

/** Inside the job: stat and open each path, printing `path <major>:<minor>|- OK|ERRNO`. */
const probeScript = [
  'import os, sys, errno',
  'for p in sys.argv[1:]:',
  '    try:',
  '        st = os.stat(p); dev = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))',
  '    except OSError as e:',
  '        dev = "-"',
  '    try:',
  '        os.close(os.open(p, os.O_RDWR)); r = "OK"',
  '    except OSError as e:',
  '        r = errno.errorcode.get(e.errno, str(e.errno))',
  '    print(p, dev, r)',
  'print("CUDA", os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES"))',
  'print("DEV", " ".join(sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))))',
].join('\n');

const resultOf = (lines: string[], path: string): string => lines.find((l) => l.startsWith(`${path} `))?.slice(path.length + 1) ?? 'missing';

before(async () => {
  ctx = await createE2eContext('gpu');
  devDir = join(ctx.base, 'dev');
  await makeFakeGpus(devDir, 2);
  inventory = readGpuInventory({ devDir });
});
after(async () => {
  await ctx.cleanup();
  assert.deepEqual(await ctx.leftoverCgroups(), []);
});

test('the inventory finds the fake nodes and the control node', () => {
  assert.deepEqual(inventory.devices.map((d) => [d.id, d.major, d.minor]), [['nvidia0', 195, 0], ['nvidia1', 195, 1]]);
  assert.deepEqual(inventory.controlNodes.map((n) => n.path), [join(devDir, 'nvidiactl')]);
});

test('a 1-GPU sandbox job sees exactly its node and cannot open the other', async () => {
  const granted = inventory.devices[1]!;
  const { outcome, lines } = await ctx.run({
    argv: ['python3', '-c', probeScript, '/dev/nvidia1', '/dev/nvidia0', '/dev/nvidiactl', join(devDir, 'nvidia0')],
    gpus: { devices: [{ id: granted.id, path: granted.path }], controlNodes: inventory.controlNodes.map((n) => n.path) },
  });
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  // Its own node is there, with the host's numbers, and passes every permission check: ENXIO only
  // because no driver stands behind a fake node (a real GPU opens).
  assert.equal(resultOf(lines, '/dev/nvidia1'), '195:1 ENXIO', lines.join('\n'));
  assert.equal(resultOf(lines, '/dev/nvidiactl'), '195:255 ENXIO');
  // The other GPU exists neither under /dev nor at its host path.
  assert.equal(resultOf(lines, '/dev/nvidia0'), '- ENOENT');
  assert.equal(resultOf(lines, join(devDir, 'nvidia0')), '- ENOENT');
  assert.ok(lines.includes('CUDA 0 0'), lines.join('\n'));
  assert.ok(lines.includes('DEV nvidia1 nvidiactl'), lines.join('\n'));
  assert.ok((outcome.usage.gpuSeconds ?? 0) > 0, JSON.stringify(outcome.usage));
});

test('a sandbox job cannot mknod the other GPU for itself', async () => {
  const granted = inventory.devices[0]!;
  const { outcome, lines } = await ctx.run({
    argv: ['python3', '-c', 'import os, errno\ntry:\n    os.mknod("/tmp/g", 0o20666, os.makedev(195, 1)); print("MADE")\nexcept OSError as e:\n    print("MKNOD", errno.errorcode[e.errno])'],
    gpus: { devices: [{ id: granted.id, path: granted.path }], controlNodes: [] },
  });
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  assert.ok(lines.includes('MKNOD EPERM'), lines.join('\n'));
});

test('a process-tier GPU job is confined by the device cgroup', { skip: findDevicesHierarchy() === undefined ? 'no cgroup v1 devices controller on this host (the refusal path is tested instead)' : false }, async () => {
  const granted = inventory.devices[0]!;
  const other = join(devDir, 'nvidia1');
  const { outcome, lines } = await ctx.run({
    tier: 'process',
    argv: ['python3', '-c', probeScript, '/dev/nvidia0', '/dev/nvidia1', other],
    gpus: { devices: [{ id: granted.id, path: granted.path }], controlNodes: inventory.controlNodes.map((n) => n.path) },
  });
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  assert.equal(resultOf(lines, '/dev/nvidia0'), '195:0 ENXIO', lines.join('\n'));
  assert.equal(resultOf(lines, '/dev/nvidia1'), '- ENOENT');
  // The process tier sees the host's filesystem: the other node is reachable by path, and the device
  // cgroup refuses it.
  assert.equal(resultOf(lines, other), '195:1 EPERM');
});

test('a process-tier job granted no GPU cannot open the host\'s GPU nodes', { skip: findDevicesHierarchy() === undefined ? 'no cgroup v1 devices controller on this host' : false }, async () => {
  const executor = createLocalExecutor({ cgroupPrefix: `${ctx.prefix}-nogpu`, runtimeRoot: join(ctx.base, 'run-nogpu'), gpuNodes: [...inventory.devices, ...inventory.controlNodes].map((n) => n.path) });
  const lines: string[] = [];
  const spec = ctx.spec({ ...(await ctx.dirs('nogpu')), tier: 'process', argv: ['python3', '-c', probeScript, join(devDir, 'nvidia0'), join(devDir, 'nvidiactl'), '/dev/null'] });
  const outcome = await executor.start({ ...spec, output: (l) => lines.push(l.line) }).wait();
  await executor.reapOrphans([]);
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  assert.equal(resultOf(lines, join(devDir, 'nvidia0')), '195:0 EPERM', lines.join('\n'));
  assert.equal(resultOf(lines, join(devDir, 'nvidiactl')), '195:255 EPERM');
  assert.equal(resultOf(lines, '/dev/null'), '1:3 OK', 'other devices are left alone');
  assert.ok(lines.includes('CUDA None None'), lines.join('\n'));
});

test('cgroup v2 (no devices controller): a process-tier job granted no GPU finds none of the host\'s GPU nodes', async () => {
  // devicesController: false acts as a cgroup v2 host does (no v1 devices controller), on any host.
  const executor = createLocalExecutor({ cgroupPrefix: `${ctx.prefix}-v2`, runtimeRoot: join(ctx.base, 'run-v2'), devicesController: false, gpuNodes: [...inventory.devices, ...inventory.controlNodes].map((n) => n.path) });
  const lines: string[] = [];
  const spec = ctx.spec({ ...(await ctx.dirs('v2')), tier: 'process', argv: ['python3', '-c', probeScript, join(devDir, 'nvidia0'), join(devDir, 'nvidiactl'), '/dev/null'] });
  const outcome = await executor.start({ ...spec, output: (l) => lines.push(l.line) }).wait();
  await executor.reapOrphans([]);
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  assert.equal(resultOf(lines, join(devDir, 'nvidia0')), '- ENOENT', lines.join('\n'));
  assert.equal(resultOf(lines, join(devDir, 'nvidiactl')), '- ENOENT');
  assert.equal(resultOf(lines, '/dev/null'), '1:3 OK', 'the usual devices are there');
});

test('cgroup v2 (no devices controller): a process-tier GPU job is refused with the reason', async () => {
  const executor = createLocalExecutor({ cgroupPrefix: `${ctx.prefix}-v2g`, runtimeRoot: join(ctx.base, 'run-v2g'), devicesController: false });
  const granted = inventory.devices[0]!;
  const spec = ctx.spec({ ...(await ctx.dirs('v2g')), tier: 'process', argv: ['true'], gpus: { devices: [{ id: granted.id, path: granted.path }], controlNodes: [] } });
  const outcome = await executor.start({ ...spec, output: () => undefined }).wait();
  await executor.reapOrphans([]);
  assert.equal(outcome.kind, 'refused');
  assert.match(outcome.kind === 'refused' ? outcome.reason : '', /cannot confine a process-tier GPU job: .*cgroup v2 .*run GPU jobs in the sandbox tier/);
});

test('a GPU grant naming something that is not a device node is refused', async () => {
  const { outcome } = await ctx.run({ argv: ['true'], gpus: { devices: [{ id: 'nvidia0', path: join(ctx.base, 'missing') }], controlNodes: [] } });
  assert.equal(outcome.kind, 'refused');
  assert.match(outcome.kind === 'refused' ? outcome.reason : '', /not a character device/);
});

const realGpus = existsSync('/dev/nvidia0') && existsSync('/dev/nvidiactl');
test('on real NVIDIA GPUs: one granted GPU is all nvidia-smi sees', { skip: realGpus ? false : 'no NVIDIA device on this host (/dev/nvidia0, /dev/nvidiactl)' }, async () => {
  const real = readGpuInventory();
  const first = real.devices.find((d) => d.kind === 'gpu')!;
  const { outcome, lines } = await ctx.run({
    argv: ['sh', '-c', 'nvidia-smi -L; ls /dev'],
    gpus: { devices: [{ id: first.id, path: first.path }], controlNodes: real.controlNodes.map((n) => n.path) },
  });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  assert.equal(lines.filter((l) => l.startsWith('GPU ')).length, 1, lines.join('\n'));
});
