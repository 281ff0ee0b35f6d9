/**
 * Spawn latency and CPU throughput of one workload under each isolation tier, side by side:
 *   bare     child_process.spawn of the program itself
 *   unshare  `unshare` of the same namespaces as bwrap --unshare-all (the floor for namespace creation)
 *   process  local executor, tier process (root bwrap: network + PID + IPC namespaces, setpriv, prlimit, cgroups)
 *   process+relay  the same with the API relay started inside (latency only)
 *   sandbox  local executor, tier sandbox (cgroups + setpriv + bwrap)
 *   sandbox+relay  the same with the API relay started inside (latency only)
 *   dedicated  local executor, tier dedicated (sandbox + cpuset on CPU 1)
 *   sandbox+image  tier sandbox on an OCI image rootfs (issue 17: the image at `/` instead of the host's
 *            /usr; the image holds the host's sh/echo and their libraries; latency only, no python3 there)
 * Also, once: the first import (verify + unpack) of a ~100 MB image (four 25 MB layers of incompressible
 * files over the shell base), and the unpack alone from the stored blobs (--image-mb=N changes the size).
 * Latency = spawn call → first output line. Throughput = the workload's own timing of a fixed CPU-bound
 * loop (startup excluded), so the ratio isolates the cost of running under the tier.
 * Bounded: fixed iteration counts, ~1 minute on 2 cores. Run as root:
 *   node_modules/.bin/node bench/sandbox-spawn.ts [latencyRuns=40] [cpuRuns=5] [--modes=bare,process,...]
 *       [--baseline=DIR]
 * --modes runs only the listed modes. --baseline=DIR adds `baseline:process` and `baseline:sandbox`: the
 * same jobs through the executor of another checkout (DIR/src/executors/local/index.ts, e.g. an export of
 * the previous commit), interleaved job by job with this one's — the A/B a loaded machine needs.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createLocalExecutor, type IsolationTier, type JobSpec, type LocalExecutor } from '../src/executors/local/index.ts';
import { createImageStore } from '../src/images/index.ts';
import { buildOciArchive, hostBinaryEntries } from '../test/support/oci-images.ts';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flag = (name: string): string | undefined => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
const latencyRuns = Number(positional[0] ?? 40);
const cpuRuns = Number(positional[1] ?? 5);
const baselineDir = flag('baseline');
const prefix = `bulkhead-bench-${process.pid}`;
const base = await mkdtemp(join(tmpdir(), 'bulkhead-bench-'));
await chmod(base, 0o755);
const executor = createLocalExecutor({ cgroupPrefix: prefix, runtimeRoot: join(base, 'run') });
const baseline: LocalExecutor | undefined =
  baselineDir === undefined
    ? undefined
    : ((await import(pathToFileURL(resolve(baselineDir, 'src/executors/local/index.ts')).href)) as { createLocalExecutor: typeof createLocalExecutor })
        .createLocalExecutor({ cgroupPrefix: `${prefix}-base`, runtimeRoot: join(base, 'run-base') });
const probe = await executor.probe();
if (baseline !== undefined) await baseline.probe();
for (const tier of ['process', 'sandbox', 'dedicated'] as const) {
  if (!probe.tiers[tier].available) throw new Error(`tier ${tier} unavailable: ${JSON.stringify(probe.tiers[tier])}`);
}
const socketDir = join(base, 'api');
await mkdir(socketDir, { mode: 0o755 });
const socketPath = join(socketDir, 'api.sock');
const api = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => api.listen(socketPath, r));
await chmod(socketPath, 0o666);

// The image of `sandbox+image`, imported once; its rootfs is what the jobs of that mode run on.
const images = createImageStore(join(base, 'images'));
const shellImage = buildOciArchive([{ entries: hostBinaryEntries(['/bin/sh', '/bin/echo', '/usr/bin/env', '/bin/sleep']) }]);
const imageRootfs = await images.rootfsPath((await images.importArchive(Readable.from(shellImage.archive), { limitBytes: 1 << 30 })).digest);

const ECHO = ['/bin/echo', 'ready'];
// ~0.5 s of pure-Python integer work; prints its own elapsed time in ms.
const CPU = ['/usr/bin/python3', '-c', 'import time\nt=time.perf_counter()\ns=0\nfor i in range(6_000_000): s+=i*i\nprint(round((time.perf_counter()-t)*1000,2))'];
const UNSHARE = ['/usr/bin/unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '--ipc', '--uts', '--net', '--cgroup', '--'];

type Mode = 'bare' | 'unshare' | 'process' | 'process+relay' | 'sandbox' | 'sandbox+relay' | 'dedicated' | 'sandbox+image' | 'baseline:process' | 'baseline:sandbox';

function firstLine(argv: string[]): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let ms = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (ms === 0) ms = performance.now() - t0;
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => resolve({ ms, line: out.split('\n')[0] ?? '' }));
  });
}

let seq = 0;
async function viaExecutor(tier: IsolationTier, argv: string[], relay: boolean, using: LocalExecutor = executor, rootfs?: string): Promise<{ ms: number; line: string }> {
  seq += 1;
  const dir = join(base, `j${seq}`);
  await mkdir(join(dir, 'ws'), { recursive: true });
  await mkdir(join(dir, 'out'), { recursive: true });
  await chmod(dir, 0o755);
  let ms = 0;
  let line = '';
  const t0 = performance.now();
  const spec: JobSpec = {
    jobId: `b${seq}`,
    tenantId: 'bench',
    tier,
    argv,
    env: {},
    workspaceDir: join(dir, 'ws'),
    outputsDir: join(dir, 'out'),
    resources: { cpu: 1, memoryMiB: 512, pids: 64, timeoutSeconds: 60 },
    tenantLimits: { cpu: 2, memoryMiB: 2048 },
    ...(tier === 'dedicated' ? { reservedCpus: '1' } : {}),
    ...(relay ? { apiSocketPath: socketPath } : {}),
    ...(rootfs === undefined ? {} : { rootfs }),
    output: (l) => {
      if (ms === 0) {
        ms = performance.now() - t0;
        line = l.line;
      }
    },
  };
  const outcome = await using.start(spec).wait();
  await rm(dir, { recursive: true, force: true });
  if (outcome.kind !== 'succeeded') throw new Error(`${tier}: ${JSON.stringify(outcome)}`);
  return { ms, line };
}

function run(mode: Mode, argv: string[]): Promise<{ ms: number; line: string }> {
  switch (mode) {
    case 'bare':
      return firstLine(argv);
    case 'unshare':
      return firstLine([...UNSHARE, ...argv]);
    case 'process':
      return viaExecutor('process', argv, false);
    case 'process+relay':
      return viaExecutor('process', argv, true);
    case 'sandbox':
      return viaExecutor('sandbox', argv, false);
    case 'sandbox+relay':
      return viaExecutor('sandbox', argv, true);
    case 'dedicated':
      return viaExecutor('dedicated', argv, false);
    case 'sandbox+image':
      return viaExecutor('sandbox', argv, false, executor, imageRootfs);
    case 'baseline:process':
      return viaExecutor('process', argv, false, baseline);
    case 'baseline:sandbox':
      return viaExecutor('sandbox', argv, false, baseline);
  }
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

const allModes: Mode[] = ['bare', 'unshare', 'process', 'process+relay', 'sandbox', 'sandbox+relay', 'dedicated', 'sandbox+image'];
if (baseline !== undefined) allModes.push('baseline:process', 'baseline:sandbox');
const only = flag('modes')?.split(',');
const modes: Mode[] = only === undefined ? allModes : allModes.filter((m) => only.includes(m));
if (!modes.includes('bare')) modes.unshift('bare'); // the reference every row is compared with
const relayed = (mode: Mode): boolean => mode === 'sandbox+relay' || mode === 'process+relay';
const noCpuLoop = (mode: Mode): boolean => relayed(mode) || mode === 'sandbox+image';
const latency = new Map<Mode, number[]>(modes.map((m) => [m, []]));
let unpackFigures: { mb: number; importMs: number; unpackMs: number } | undefined;
const cpu = new Map<Mode, number[]>(modes.map((m) => [m, []]));
try {
  for (const mode of modes) await run(mode, ECHO); // warm caches once per mode
  // Interleaved rounds so drift (page cache, other load) hits every mode alike.
  for (let i = 0; i < latencyRuns; i += 1) {
    for (const mode of modes) {
      if (relayed(mode) && i >= Math.min(latencyRuns, 15)) continue;
      latency.get(mode)?.push((await run(mode, ECHO)).ms);
    }
  }
  for (let i = 0; i < cpuRuns; i += 1) {
    for (const mode of modes) {
      if (noCpuLoop(mode)) continue;
      cpu.get(mode)?.push(Number((await run(mode, CPU)).line));
    }
  }
  if (flag('image-mb') !== '0') {
    // First run of a ~100 MB image: import (stream, hash, verify, unpack), then the unpack alone again.
    const mb = Number(flag('image-mb') ?? 100);
    const layers = Array.from({ length: 4 }, (_, l) => ({
      entries: Array.from({ length: 25 }, (_, f) => ({ path: `data/l${l}/f${f}.bin`, data: randomBytes((mb * 1024 * 1024) / 100) })),
    }));
    const big = buildOciArchive([{ entries: hostBinaryEntries(['/bin/sh', '/bin/echo']) }, ...layers]);
    const t0 = performance.now();
    const imported = await images.importArchive(Readable.from(big.archive), { limitBytes: 4 * 1024 ** 3 });
    const importMs = performance.now() - t0;
    await rm(join(base, 'images', 'rootfs', imported.digest.slice(7)), { recursive: true });
    const t1 = performance.now();
    await images.rootfsPath(imported.digest);
    unpackFigures = { mb: big.archive.length / 1024 / 1024, importMs, unpackMs: performance.now() - t1 };
  }
} finally {
  api.close();
  await executor.reapOrphans([]);
  await baseline?.reapOrphans([]);
  await rm(base, { recursive: true, force: true });
}

const bareLat = quantile(latency.get('bare') ?? [], 0.5);
const bareCpu = quantile(cpu.get('bare') ?? [], 0.5);
const rows = modes.map((mode) => {
  const l = latency.get(mode) ?? [];
  const c = cpu.get(mode) ?? [];
  const med = quantile(l, 0.5);
  const cmed = quantile(c, 0.5);
  return {
    mode,
    runs: l.length,
    'spawn→first line median ms': med.toFixed(1),
    'p99 ms': quantile(l, 0.99).toFixed(1),
    'overhead vs bare ms': (med - bareLat).toFixed(1),
    'CPU loop median ms': c.length === 0 ? '—' : cmed.toFixed(0),
    'CPU vs bare': c.length === 0 ? '—' : `${(((cmed - bareCpu) / bareCpu) * 100).toFixed(1)}%`,
  };
});
console.log(`sandbox spawn benchmark — ${latencyRuns} latency runs, ${cpuRuns} CPU runs per mode (cgroup ${probe.cgroup?.version})`);
console.table(rows);
const sandbox = rows.find((r) => r.mode === 'sandbox');
const floor = rows.find((r) => r.mode === 'unshare');
console.log(`goal: sandbox overhead < 15 ms median → ${sandbox?.['overhead vs bare ms']} ms (namespace floor ${floor?.['overhead vs bare ms']} ms); CPU < 3% → ${sandbox?.['CPU vs bare']}`);
const image = rows.find((r) => r.mode === 'sandbox+image');
if (image !== undefined && sandbox !== undefined) {
  const extra = Number(image['spawn→first line median ms']) - Number(sandbox['spawn→first line median ms']);
  console.log(`goal: image rootfs ≤ 2 ms more than the host /usr at the median → ${extra.toFixed(1)} ms (sandbox+image vs sandbox)`);
}
if (unpackFigures !== undefined) {
  console.log(`first run of a ${unpackFigures.mb.toFixed(0)} MB image: import (stream + sha256 + verify + unpack) ${unpackFigures.importMs.toFixed(0)} ms; unpack alone from stored blobs ${unpackFigures.unpackMs.toFixed(0)} ms`);
}
