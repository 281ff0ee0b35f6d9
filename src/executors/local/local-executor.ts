/**
 * The local executor: runs one job per `start()` under the requested tier, streams its output, enforces
 * its limits and turns every ending — including our own failures — into an `Outcome`. It never throws.
 *
 * Launch chain, sandbox tiers: `bwrap` is spawned directly as the job's own host uid/gid (allocateJobUid:
 * one per running job) with no supplementary groups (so no capabilities either: a setuid away from root
 * clears them; bwrap is unprivileged and maps that uid to 65534 inside, not root; bwrap sets no_new_privs before anything else and
 * drops every capability in the sandbox with --cap-drop ALL). Its first option is `--args 3`: it blocks
 * reading fd 3 before it parses anything else or forks, while we write its pid into every job
 * `cgroup.procs`; only then do we send all of its options on fd 3 and close it — so the job is inside
 * its cgroups before it exists. If we die before sending them, bwrap gets none and runs nothing (an
 * empty root). → [in-sandbox relay launcher] → the job's argv.
 * Process tier: the same fd-3 start, but bwrap runs as root without a user namespace and unshares only the
 * network (only `lo`), PID and IPC namespaces over the host filesystem (bwrap-args.ts buildProcessTierOptions)
 * → `setpriv` drops to the job's own host uid with no groups and no capabilities → [relay launcher] →
 * `prlimit` → the job's argv. Every tier dies with us: bwrap's --die-with-parent and its PID namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  buildBwrapOptions,
  buildProcessTierOptions,
  sandboxEtcFiles,
  sandboxPaths,
} from './bwrap-args.ts';
import { isSafeCgroupId, type CgroupDriver, type JobCgroup } from './cgroups.ts';
import { createDeviceCgroup, findDevicesHierarchy, gpuDenyList, gpuDeviceAllowList, pruneDeviceCgroups, type DeviceCgroup } from './device-cgroup.ts';
import { gpuBindOptions, gpuEnvironment, gpuHidingOptions } from './gpu-binds.ts';
import { startGpuMeter, type GpuMeter } from './gpu-metering.ts';
import { splitRdev, type CharDevice } from './gpu-inventory.ts';
import { createGangNetwork, findHostTool, type GangNetwork } from './gang-network.ts';
import { detectNodeRuntime, type NodeRuntime } from './image-rootfs.ts';
import { seccompFilterForHost } from './seccomp.ts';
import { openNetnsCounters, type NetnsCounters } from './netns-counters.ts';
import { detectHostEtcFiles, detectSystemLayout, probeHostDetailed, type ProbeResult } from './host-probe.ts';
import type { Outcome, OutputLine, RunningJob, Usage } from '../executor-contract.ts';
import type { HostProbe, JobSpec, ReapedJob } from '../host-executor-contract.ts';

export interface LocalExecutorOptions {
  /** Where cgroup hierarchies are mounted. Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** Directory under each hierarchy that holds `tenant-*`/`job-*`. Default `bulkhead`. */
  cgroupPrefix?: string;
  /** Per-job runtime files (synthesized /etc, relay folders). Default `<tmpdir>/bulkhead-run/<cgroupPrefix>`. */
  runtimeRoot?: string;
  /** Host node binary exposed read-only in the sandbox (jobs and the relay). Default: this process's. */
  nodeBinary?: string;
  /** TCP port of the relay inside each job's network namespace. Default 8765. */
  relayPort?: number;
  /**
   * Native addons node loads inside an image sandbox (serving workers: onnxruntime's binding): their
   * shared libraries are brought in with node's (image-rootfs.ts), so they load whatever the image holds.
   */
  imageRuntimeObjects?: readonly string[];
  /**
   * cpuset for jobs of tiers other than `dedicated` (the host's CPUs minus every reservation), so that
   * no other tenant's job runs on a dedicated tenant's CPUs. Unset: they may run on any CPU.
   */
  sharedCpus?: string;
  /** Longest output line delivered in one piece. Default 64 KiB. */
  maxLineLength?: number;
  /**
   * Every GPU and control node of this host's inventory (host paths). A `process`-tier job granted no
   * GPU gets a device cgroup denying them (it sees the host's /dev). Sandbox tiers never see them.
   */
  gpuNodes?: readonly string[];
  /**
   * GPU metering (gpu-metering.ts): the `nvidia-smi` to sample a GPU job's devices with (default
   * `nvidia-smi` on PATH; where absent, the job's usage says so), and how often. Default every 5 s.
   */
  nvidiaSmi?: string;
  gpuMeterIntervalMs?: number;
  /**
   * false: act as on a host without the cgroup v1 devices controller (cgroup v2), whatever this host has
   * (the tests of the v2 paths use it on a v1 host). Default: use the controller where it exists.
   */
  devicesController?: boolean;
}

export interface LocalExecutor {
  start(spec: JobSpec): RunningJob;
  probe(): Promise<HostProbe>;
  reapOrphans(liveJobIds: Iterable<string>): Promise<ReapedJob[]>;
  /** One private network namespace for a gang's workers (gang-network.ts). */
  createGangNetwork(): Promise<GangNetwork>;
}

type EndReason = 'cancelled' | 'preempted' | 'timed_out';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CPU_LIST = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

class Refusal {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

const GPU_ID = /^(nvidia[0-9]+|nvidia-caps\/nvidia-cap[0-9]+)$/;

/** The granted GPU nodes and control nodes, each checked to be a character device; a Refusal otherwise. */
async function gpuNodes(gpus: NonNullable<JobSpec['gpus']>): Promise<{ granted: CharDevice[]; control: CharDevice[] }> {
  const node = async (path: string): Promise<CharDevice> => {
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined || !info.isCharacterDevice()) throw new Refusal(`GPU device node ${path} is not a character device`);
    return { path, ...splitRdev(info.rdev) };
  };
  for (const device of gpus.devices) if (!GPU_ID.test(device.id)) throw new Refusal(`invalid GPU device id ${JSON.stringify(device.id)}`);
  return { granted: await Promise.all(gpus.devices.map((d) => node(d.path))), control: await Promise.all(gpus.controlNodes.map(node)) };
}

function validate(spec: JobSpec): string | undefined {
  if (!isSafeCgroupId(spec.jobId)) return 'jobId must match [A-Za-z0-9_-]{1,64}';
  if (!isSafeCgroupId(spec.tenantId)) return 'tenantId must match [A-Za-z0-9_-]{1,64}';
  if (spec.argv.length === 0 || spec.argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    return 'argv must be a non-empty list of strings without NUL';
  }
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name) || value.includes('\0')) return `invalid environment variable ${JSON.stringify(name)}`;
  }
  const r = spec.resources;
  const positive = (n: number): boolean => Number.isFinite(n) && n > 0;
  if (!positive(r.cpu) || !positive(r.memoryMiB) || !positive(r.timeoutSeconds) || !Number.isInteger(r.pids) || r.pids < 1) {
    return 'resources must be positive (cpu, memoryMiB, timeoutSeconds) and pids a positive integer';
  }
  if (!positive(spec.tenantLimits.cpu) || !positive(spec.tenantLimits.memoryMiB)) return 'tenant limits must be positive';
  if (spec.rootfs !== undefined && spec.tier === 'process') return 'an image needs a sandbox tier (the process tier runs on the host filesystem)';
  for (const dir of [spec.workspaceDir, spec.outputsDir, spec.dataDir, spec.codeDir, spec.apiSocketPath, spec.rootfs]) {
    if (dir !== undefined && !isAbsolute(dir)) return 'host paths must be absolute';
  }
  if (spec.network !== undefined && !/^\/proc\/[0-9]+\/ns\/net$/.test(spec.network.netnsPath)) return 'network.netnsPath must be /proc/<pid>/ns/net';
  if (spec.tier === 'dedicated' && (spec.reservedCpus === undefined || !CPU_LIST.test(spec.reservedCpus))) {
    return 'tier dedicated needs reservedCpus (a cpuset list such as "1" or "2-3")';
  }
  return undefined;
}

/** chown -R to the job's host uid without following symlinks (a planted link must not retarget the chown). */
async function chownTree(path: string, uid: number): Promise<void> {
  await lchown(path, uid, uid);
  const info = await lstat(path);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid);
    else await lchown(child, uid, uid);
  }
}

/**
 * Host uids (and gids, the same number) for jobs: every running job of this process gets one of its own,
 * so that jobs — of different tenants or not — never share a host identity: in the `process` tier (no
 * mount namespace) a job cannot read another's 0700 workspace, and in every tier files on the host are
 * owned per job. Inside a sandbox the job still sees itself as 65534 (bwrap maps
 * it). The range sits far above the usual login and container sub-uid ranges; one allocation table per
 * process, shared by every executor in it (jobs and serving workers).
 */
export const JOB_UID_BASE = 2_100_000_000;
export const JOB_UID_COUNT = 1_000_000;
const uidsInUse = new Set<number>();
/** The sandbox tiers' seccomp filter for this host (undefined where none is built: not x86_64). */
const seccompFilter = seccompFilterForHost();
// Per-process salt: two platform (or test) processes on one host draw independently, so equal job ids in
// both must not land on the same uid (a collision would let one job's end-of-job `kill -1` reach the other).
const uidSalt = randomBytes(16);

export const allocateJobUid = (jobId: string): number => {
  const start = createHash('sha256').update(uidSalt).update(jobId).digest().readUInt32BE(0) % JOB_UID_COUNT;
  for (let i = 0; i < JOB_UID_COUNT; i += 1) {
    const uid = JOB_UID_BASE + ((start + i) % JOB_UID_COUNT);
    if (!uidsInUse.has(uid)) {
      uidsInUse.add(uid);
      return uid;
    }
  }
  throw new Error('no free job uid');
};

export const releaseJobUid = (uid: number): void => {
  uidsInUse.delete(uid);
};

/** Attached right after spawn(): an 'error' event without a listener would throw. */
function watchExit(spawned: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    spawned.once('error', (error) => resolve({ code: null, signal: null, error }));
    spawned.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * The synthesized passwd/group/hosts for the sandbox's /etc are the same for every job: written once into
 * `<runtimeRoot>/etc-<hash of their content>` (root-owned, 0755 directory, 0644 files, bound read-only
 * into each sandbox) and reused. An existing directory is only reused if it is a real directory owned by
 * us, not writable by others, holding exactly these files; anything else is replaced.
 */
async function prepareEtcDir(runtimeRoot: string): Promise<string> {
  await mkdir(runtimeRoot, { recursive: true, mode: 0o755 });
  await chmod(runtimeRoot, 0o755); // bwrap runs as 65534 and must traverse it
  const files = sandboxEtcFiles();
  const hash = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
  const dir = join(runtimeRoot, `etc-${hash}`);
  if (await etcDirIntact(dir, files)) return dir;
  const fresh = await mkdtemp(join(runtimeRoot, '.etc-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(fresh, name), text, { mode: 0o644 });
    await chmod(fresh, 0o755);
    await rm(dir, { recursive: true, force: true });
    await rename(fresh, dir).catch(() => undefined); // lost a race with another executor: theirs is fine
  } finally {
    await rm(fresh, { recursive: true, force: true }).catch(() => undefined);
  }
  if (!(await etcDirIntact(dir, files))) throw new Error(`could not prepare ${dir}`);
  return dir;
}

async function etcDirIntact(dir: string, files: Record<string, string>): Promise<boolean> {
  const uid = process.geteuid?.() ?? 0;
  const safe = (info: { uid: number; mode: number }): boolean => info.uid === uid && (info.mode & 0o022) === 0;
  try {
    const info = await lstat(dir);
    if (!info.isDirectory() || !safe(info)) return false;
    const entries = await readdir(dir);
    if (entries.length !== Object.keys(files).length) return false;
    for (const [name, text] of Object.entries(files)) {
      const file = join(dir, name);
      const fileInfo = await lstat(file);
      if (!fileInfo.isFile() || !safe(fileInfo) || (await readFile(file, 'utf8')) !== text) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function signalName(exitCode: number | null): string | undefined {
  // bwrap reports a job killed by signal N as exit status 128 + N.
  if (exitCode === null || exitCode <= 128 || exitCode > 128 + 64) return undefined;
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128);
  return entry?.[0];
}

/** Splits a stream into lines, capping each delivered piece at `max` characters. */
function pipeLines(stream: Readable, name: OutputLine['stream'], max: number, emit: (line: OutputLine) => void): Promise<void> {
  return new Promise((resolve) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1 || buffer.length >= max) {
        const end = newline !== -1 && newline < max ? newline : max;
        emit({ stream: name, line: buffer.slice(0, end) });
        buffer = buffer.slice(end === newline ? end + 1 : end);
        newline = buffer.indexOf('\n');
      }
    });
    const finish = (): void => {
      if (buffer.length > 0) emit({ stream: name, line: buffer });
      buffer = '';
      resolve();
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  });
}

/**
 * Builds the local executor. Probing happens once, lazily, on the first `start()`/`probe()`.
 * Contract: `start()` returns at once; the job's fate arrives through `wait()`, which never rejects.
 * A tier the host cannot provide is `refused` with a reason that says what to install — never run on a
 * weaker tier.
 */
export function createLocalExecutor(options: LocalExecutorOptions = {}): LocalExecutor {
  const prefix = options.cgroupPrefix ?? 'bulkhead';
  // One folder per installation (its cgroup prefix): the orphan sweep below removes `job-*` folders it
  // does not know, so a shared folder would let one platform delete another's live relay folders.
  const runtimeRoot = options.runtimeRoot ?? join(tmpdir(), 'bulkhead-run', prefix);
  const nodeBinary = options.nodeBinary ?? process.execPath;
  const relayPort = options.relayPort ?? 8765;
  const maxLine = options.maxLineLength ?? 64 * 1024;
  let probing: Promise<ProbeResult> | undefined;
  // Host facts that do not change while we run: looked up once, not on every spawn.
  let hostFacts: Promise<[string[], Awaited<ReturnType<typeof detectSystemLayout>>]> | undefined;
  // node's loader and libraries, for jobs on an image (looked up on the first such job).
  let nodeRuntime: Promise<NodeRuntime> | undefined;
  // The sandbox's /etc directory, prepared once; re-checked cheaply per job (a cleaner of the runtime
  // root could have removed it) and prepared again when it is gone.
  let etcDir: Promise<string> | undefined;
  const sandboxEtcDir = async (): Promise<string> => {
    const pending = (etcDir ??= prepareEtcDir(runtimeRoot));
    try {
      const dir = await pending;
      await Promise.all(Object.keys(sandboxEtcFiles()).map((name) => lstat(join(dir, name))));
      return dir;
    } catch {
      if (etcDir === pending) etcDir = undefined;
      return (etcDir ??= prepareEtcDir(runtimeRoot));
    }
  };
  const probe = (): Promise<ProbeResult> => {
    probing ??= probeHostDetailed({
      ...(options.cgroupRoot === undefined ? {} : { cgroupRoot: options.cgroupRoot }),
      cgroupPrefix: prefix,
    });
    return probing;
  };

  function start(spec: JobSpec): RunningJob {
    let reason: EndReason | undefined;
    let child: ChildProcess | undefined;
    let cgroup: JobCgroup | undefined;
    let deviceCgroup: DeviceCgroup | undefined;
    let ended = false;
    const startedAt = performance.now();

    const emit = (line: OutputLine): void => {
      try {
        const out = spec.output;
        if (out === undefined) return;
        if (typeof out === 'function') out(line);
        else out.write(`${line.line}\n`);
      } catch {
        // a failing consumer must not take the job down with it
      }
    };

    // This job's own host uid (see allocateJobUid): released when the job has ended and its processes are gone.
    const hostUid = allocateJobUid(spec.jobId);
    // Process tier with the relay: a directory only the job's uid can write, for the relay's ready file
    // (the sandbox has a private /tmp for it; this tier sees the host's).
    let relayDir: string | undefined;
    // Kill the whole tree: every process in the job cgroup, plus the launcher's process group (all there
    // is without cgroups). Every tier runs in a PID namespace under bwrap's init with --die-with-parent:
    // killing the outer bwrap kills the init, and the kernel then kills everything left in the namespace
    // — also what left the process group (setsid) on a host without cgroups.
    const killTree = async (): Promise<void> => {
      if (child?.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // group already gone
        }
      }
      if (cgroup !== undefined) await cgroup.killAll();
    };

    const end = (why: EndReason): void => {
      if (ended || reason !== undefined) return;
      reason = why;
      if (child !== undefined) void killTree();
    };

    const run = async (): Promise<Outcome> => {
      let driver: CgroupDriver | undefined;
      const gpuCount = spec.gpus?.devices.length ?? 0;
      const gpuUnits = gpuCount === 0 ? 0 : spec.gpus?.units ?? gpuCount;
      let gpuMeter: GpuMeter | undefined;
      // The job's network-namespace counters (see netns-counters.ts), once bwrap has said where they are.
      let counting: Promise<NetnsCounters | undefined> | undefined;
      let countersRead = false;
      // GPU-seconds: granted GPU units (devices, a time-slice's fraction, a MIG instance's slices) × wall
      // time, whatever the job did with them.
      const usage = (): Usage => {
        const wallMs = Math.round(performance.now() - startedAt);
        return gpuCount > 0 ? { wallMs, gpuSeconds: (gpuUnits * wallMs) / 1000 } : { wallMs };
      };
      try {
        const invalid = validate(spec);
        if (invalid !== undefined) throw new Refusal(invalid);
        const { probe: host, driver: hostDriver, tools } = await probe();
        const tier = host.tiers[spec.tier];
        if (!tier.available) {
          throw new Refusal(`this host cannot provide tier ${spec.tier}: ${tier.install}`);
        }
        driver = hostDriver;
        for (const dir of [spec.workspaceDir, spec.outputsDir, spec.dataDir, spec.codeDir, spec.rootfs]) {
          if (dir !== undefined && !(await stat(dir).catch(() => undefined))?.isDirectory()) {
            throw new Refusal(`host directory ${dir} does not exist`);
          }
        }
        if (spec.apiSocketPath !== undefined) {
          if (!(await stat(spec.apiSocketPath).catch(() => undefined))?.isSocket()) {
            throw new Refusal('apiSocketPath is not a Unix socket');
          }
        }
        if (reason !== undefined) return { kind: reason, usage: usage() };

        const sandboxed = spec.tier !== 'process';
        // GPUs: the nodes must be real character devices; the device cgroup whitelists exactly them.
        const gpus = spec.gpus !== undefined && spec.gpus.devices.length > 0 ? spec.gpus : undefined;
        const gpuDevices = gpus === undefined ? undefined : await gpuNodes(gpus);
        const hostGpuNodes = gpus === undefined && !sandboxed && (options.gpuNodes?.length ?? 0) > 0 ? await gpuNodes({ devices: [], controlNodes: options.gpuNodes ?? [] }).catch(() => undefined) : undefined;
        const devicesHierarchy = (gpus === undefined && hostGpuNodes === undefined) || options.devicesController === false ? undefined : findDevicesHierarchy(options.cgroupRoot);
        if (gpus !== undefined && devicesHierarchy === undefined && !sandboxed) {
          throw new Refusal(
            'this host cannot confine a process-tier GPU job: it has no cgroup v1 devices controller, and on cgroup v2 a ' +
              'BPF device program would be needed, which Bulkhead does not load; run GPU jobs in the sandbox tier',
          );
        }
        const env: Record<string, string> = {
          PATH: sandboxed ? `/usr/local/bin:/usr/bin:/bin:${sandboxPaths.node.replace(/\/node$/, '')}` : '/usr/local/bin:/usr/bin:/bin',
          HOME: sandboxed ? sandboxPaths.workspace : spec.workspaceDir,
          ...spec.env,
          BULKHEAD_JOB_ID: spec.jobId,
          BULKHEAD_WORKSPACE: sandboxed ? sandboxPaths.workspace : spec.workspaceDir,
          BULKHEAD_OUTPUTS: sandboxed ? sandboxPaths.outputs : spec.outputsDir,
        };
        if (spec.dataDir !== undefined) env.BULKHEAD_DATA = sandboxed ? sandboxPaths.data : spec.dataDir;
        if (spec.codeDir !== undefined) env.BULKHEAD_CODE = sandboxed ? sandboxPaths.code : spec.codeDir;
        // Every tier has its own network namespace: the relay inside it is the way to the API.
        if (spec.apiSocketPath !== undefined) env.BULKHEAD_API_URL = `http://127.0.0.1:${relayPort}`;
        if (gpus !== undefined) Object.assign(env, gpuEnvironment(gpus.devices.length));

        // The set-up steps are independent: run them side by side. allSettled, so that a failing step
        // never leaves another one (a cgroup being created) running past the cleanup in `finally`.
        const setUpCgroup = async (): Promise<void> => {
          if (driver === undefined) return;
          // Dedicated: the tenant's reserved CPUs. Others: the caller's shared pool (the host's CPUs minus
          // every reservation) when given, so no other tenant's job runs on a dedicated tenant's CPUs.
          const cpus = spec.reservedCpus ?? (spec.tier === 'dedicated' ? undefined : options.sharedCpus);
          try {
            cgroup = await driver.createJob(spec.tenantId, spec.jobId, spec.tenantLimits, {
              cpu: spec.resources.cpu,
              memoryMiB: spec.resources.memoryMiB,
              pids: spec.resources.pids,
              ...(cpus === undefined ? {} : { cpus }),
            });
          } catch (error) {
            cgroup = driver.openJob(spec.tenantId, spec.jobId); // so the finally removes what was made
            throw new Refusal(`could not set up the job's cgroups: ${(error as Error).message}`);
          }
        };
        const makeRelayDir = async (): Promise<void> => {
          await mkdir(runtimeRoot, { recursive: true, mode: 0o755 });
          await chmod(runtimeRoot, 0o755); // the relay runs as the job's uid and must traverse it
          // `job-<id>-XXXXXX`: the name reapOrphans sweeps after a crash.
          relayDir = await mkdtemp(join(runtimeRoot, `job-${spec.jobId}-`));
          await lchown(relayDir, hostUid, hostUid);
          await chmod(relayDir, 0o700);
        };
        const setUpDeviceCgroup = async (): Promise<void> => {
          if (devicesHierarchy === undefined) return;
          const rules = gpuDevices !== undefined
            ? { allowOnly: gpuDeviceAllowList(gpuDevices.granted, gpuDevices.control) }
            : hostGpuNodes !== undefined ? { deny: gpuDenyList(hostGpuNodes.control) } : undefined;
          if (rules === undefined) return;
          try {
            deviceCgroup = await createDeviceCgroup(devicesHierarchy, prefix, spec.tenantId, spec.jobId, rules);
          } catch (error) {
            throw new Refusal(`could not set up the job's device cgroup: ${(error as Error).message}`);
          }
        };
        const setUp = await Promise.allSettled([
          // Writable for the job uid; read-only inputs are left alone (never chown shared data).
          // and private to it: 0700, whatever mode the caller created them with.
          chownTree(spec.workspaceDir, hostUid)
            .then(() => chownTree(spec.outputsDir, hostUid))
            .then(() => Promise.all([chmod(spec.workspaceDir, 0o700), chmod(spec.outputsDir, 0o700)])),
          setUpCgroup(),
          sandboxed ? sandboxEtcDir() : Promise.resolve(undefined),
          sandboxed ? (hostFacts ??= Promise.all([detectHostEtcFiles(), detectSystemLayout()])) : Promise.resolve(undefined),
          !sandboxed && spec.apiSocketPath !== undefined ? makeRelayDir() : Promise.resolve(),
          spec.rootfs !== undefined ? (nodeRuntime ??= detectNodeRuntime(nodeBinary, runtimeRoot, options.imageRuntimeObjects)) : Promise.resolve(undefined),
          setUpDeviceCgroup(),
        ]);
        for (const step of setUp) if (step.status === 'rejected') throw step.reason;
        const etcPath = (setUp[2] as PromiseFulfilledResult<string | undefined>).value;
        const facts = (setUp[3] as PromiseFulfilledResult<Awaited<typeof hostFacts> | undefined>).value;
        const runtimeForImage = (setUp[5] as PromiseFulfilledResult<NodeRuntime | undefined>).value;
        if (reason !== undefined) return { kind: reason, usage: usage() };

        let joined = false;
        const stdinMode: 'ignore' | 'pipe' = spec.stdin === undefined ? 'ignore' : 'pipe';
        const feedStdin = (child: ChildProcess): void => {
          if (spec.stdin === undefined || child.stdin === null) return;
          // EPIPE when the job ends (or is killed) before reading it all: its outcome says why.
          child.stdin.on('error', () => undefined);
          child.stdin.end(spec.stdin);
        };
        // Both kinds of tier start the same way: bwrap blocked on `--args 3` while we join it to the job's
        // cgroups, then its options on fd 3. Sandbox tiers: bwrap as the job's uid with a user namespace and
        // the seccomp filter on fd 4. Process tier: bwrap as root (no user namespace), setpriv inside.
        let launch: { options: string[]; command: string[] };
        const withSeccomp = sandboxed && seccompFilter !== undefined;
        if (sandboxed) {
          if (etcPath === undefined || facts === undefined) throw new Error('sandbox set-up incomplete');
          const [hostEtcFiles, layout] = facts;
          const relay = spec.apiSocketPath === undefined ? undefined : { socketPath: spec.apiSocketPath, port: relayPort };
          launch = buildBwrapOptions({
            argv: spec.argv,
            env,
            workspaceDir: spec.workspaceDir,
            outputsDir: spec.outputsDir,
            ...(spec.dataDir === undefined ? {} : { dataDir: spec.dataDir }),
            ...(spec.codeDir === undefined ? {} : { codeDir: spec.codeDir }),
            etcDir: etcPath,
            hostEtcFiles,
            layout,
            nodeBinary,
            ...(relay === undefined ? {} : { relay }),
            hostname: 'bulkhead-job',
            ...(seccompFilter === undefined ? {} : { seccompFd: 4 }),
            ...(spec.rootfs === undefined
              ? {}
              : { image: { rootfs: spec.rootfs, ...(runtimeForImage === undefined ? {} : { nodeRuntime: runtimeForImage }) } }),
          });
        } else {
          const hasPids = cgroup !== undefined && driver?.controllers.has('pids') === true;
          launch = buildProcessTierOptions({
            argv: spec.argv,
            env,
            cwd: spec.workspaceDir,
            uid: hostUid,
            setpriv: tools.setpriv as string,
            prlimit: tools.prlimit as string,
            limits: { memoryMiB: spec.resources.memoryMiB, nofile: 1024, ...(hasPids ? {} : { nproc: spec.resources.pids }) },
            ...(relayDir === undefined || spec.apiSocketPath === undefined
              ? {}
              : { relay: { nodeBinary, socketPath: spec.apiSocketPath, port: relayPort, readyFile: join(relayDir, 'relay-ready') } }),
          });
        }
        // Exactly the granted nodes and the control nodes in the job's /dev (the process tier gets a fresh
        // minimal /dev instead of the host's for it); appended after the tier's own options.
        if (gpus !== undefined) launch.options.push(...gpuBindOptions(gpus, !sandboxed));
        // A process-tier job granted no GPU where no device cgroup can deny the host's GPU nodes (cgroup
        // v2): they are hidden instead — a fresh minimal /dev, a tmpfs over a device folder elsewhere — so
        // it can neither find nor open them (and without capabilities it cannot mknod them).
        if (hostGpuNodes !== undefined && devicesHierarchy === undefined) launch.options.push(...gpuHidingOptions(options.gpuNodes ?? []));
        // A gang worker: the launcher enters the gang's network namespace (nsenter, as root) and drops to
        // the job's uid with no groups before exec'ing bwrap (sandbox tiers), which keeps that namespace
        // (`--share-net`); the process tier's root bwrap simply no longer unshares the network.
        let program = tools.bwrap as string;
        let programArgs = ['--args', '3', '--', ...launch.command];
        const joinNet = spec.network?.netnsPath;
        if (joinNet !== undefined) {
          const nsenter = await findHostTool('nsenter');
          if (nsenter === undefined) throw new Refusal('gang jobs need nsenter (util-linux) on this host');
          if (!(await stat(joinNet).catch(() => undefined))) throw new Refusal('the gang network namespace is gone');
          if (sandboxed) launch.options.push('--share-net');
          else launch.options = launch.options.filter((o) => o !== '--unshare-net');
          programArgs = [`--net=${joinNet}`, ...(sandboxed ? ['-S', String(hostUid), '-G', String(hostUid)] : []), '--', program, ...programArgs];
          program = nsenter;
        }
        // Two more descriptors after the filter's: bwrap writes the namespace's first pid on the info fd
        // right after creating the namespaces, and its child waits on the block fd before it runs anything
        // of the job — so the network namespace's counters are open before the job's first instruction.
        const infoFd = withSeccomp ? 5 : 4;
        const bwrapOptions = ['--info-fd', String(infoFd), '--block-fd', String(infoFd + 1), ...launch.options];
        // The options travel NUL-separated on fd 3: a NUL inside one would split it into other options.
        if (bwrapOptions.some((o) => o.includes('\0'))) throw new Refusal('host paths must not contain NUL');
        const spawned: ChildProcess = spawn(program, programArgs, {
          // fd 3: bwrap reads its options from it and waits for them before doing anything else.
          // fd 4: the seccomp filter, read when bwrap installs it.
          // fd 0: the job's stdin when the spec has one (a serving worker's model), else nothing.
          // fd 5/6 (4/5 without a filter): bwrap's info fd (the namespace's pid) and the job's block fd.
          stdio: withSeccomp ? [stdinMode, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : [stdinMode, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
          env: { PATH: HOST_PATH }, // bwrap --clearenv: the job's env is the one set with --setenv
          cwd: '/',
          // Sandbox tiers: setgroups(0) + setgid + setuid before exec: no groups, no capabilities.
          ...(sandboxed && joinNet === undefined ? { uid: hostUid, gid: hostUid } : {}),
          detached: true, // own process group: killable as a group, not hit by the server's terminal
        });
        const exited = watchExit(spawned);
        const optionsPipe = spawned.stdio[3] as Readable & { end(data: Buffer): void };
        optionsPipe.on('error', () => undefined);
        if (withSeccomp && seccompFilter !== undefined) {
          // A few hundred bytes: fits the pipe buffer, so bwrap finds it all (and EOF) when it reads.
          const filterPipe = spawned.stdio[4] as Readable & { end(data: Buffer): void };
          filterPipe.on('error', () => undefined);
          filterPipe.end(seccompFilter);
        }
        const stdio = spawned.stdio as unknown as ReadonlyArray<unknown>;
        const infoPipe = stdio[infoFd] as Readable;
        const blockPipe = stdio[infoFd + 1] as Readable & { end(data?: Buffer): void };
        infoPipe.on('error', () => undefined);
        blockPipe.on('error', () => undefined);
        // Resolves once bwrap has said where the namespace is (or has died: the pipe ends) and the job has
        // been let go; never rejects. Undefined: not observed (a failed open is not a reason to refuse).
        counting = (async (): Promise<NetnsCounters | undefined> => {
          try {
            const info = await new Promise<string>((resolve) => {
              let text = '';
              infoPipe.setEncoding('utf8');
              infoPipe.on('data', (chunk: string) => { text += chunk; });
              infoPipe.once('end', () => resolve(text));
              infoPipe.once('close', () => resolve(text));
            });
            const childPid = (JSON.parse(info) as { 'child-pid'?: unknown })['child-pid'];
            if (typeof childPid !== 'number' || !Number.isInteger(childPid) || childPid <= 1) return undefined;
            // Only a namespace of its own: the host's counters would blame the job for the host's traffic.
            const [theirs, ours] = await Promise.all([readlink(`/proc/${String(childPid)}/ns/net`), readlink('/proc/self/ns/net')]);
            if (theirs === ours) return undefined;
            return await openNetnsCounters(childPid);
          } catch {
            return undefined;
          } finally {
            blockPipe.end(Buffer.from('1')); // let the job run (EOF would too)
          }
        })();
        const pid = spawned.pid;
        if (pid !== undefined) {
          // bwrap is blocked on fd 3: nothing of the job exists yet. Synchronous writes (~1 ms for the
          // four v1 hierarchies here, vs ~4 ms through the thread pool): no event-loop turn in between,
          // so the child cannot have been reaped and its pid reused, and no cancel can interleave.
          try {
            for (const file of [...(cgroup?.procsFiles ?? []), ...(deviceCgroup === undefined ? [] : [deviceCgroup.procsFile])]) writeFileSync(file, String(pid));
            joined = true;
          } catch {
            // not joined: kill it below without ever sending the options
          }
          if (joined && reason === undefined) {
            optionsPipe.end(Buffer.from(bwrapOptions.map((o) => `${o}\0`).join('')));
            feedStdin(spawned);
          } else {
            try {
              process.kill(-pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
        child = spawned;
        // GPU metering by the granted devices' UUIDs while the job runs (never fails the job).
        if (spec.gpus !== undefined && gpuCount > 0) {
          gpuMeter = startGpuMeter({
            nvidiaSmi: options.nvidiaSmi ?? 'nvidia-smi', uuids: spec.gpus.uuids, devices: gpuCount,
            mig: spec.gpus.devices.some((d) => d.id.startsWith('nvidia-caps/')), intervalMs: options.gpuMeterIntervalMs ?? 5000,
          });
        }
        const handshake = spawned.stdio[3] as Readable | null;
        handshake?.on('error', () => undefined);
        const streams = Promise.all([
          pipeLines(spawned.stdout as Readable, 'stdout', maxLine, emit),
          pipeLines(spawned.stderr as Readable, 'stderr', maxLine, emit),
        ]);
        const timer = setTimeout(() => end('timed_out'), spec.resources.timeoutSeconds * 1000);
        // A cancel that arrived while we were setting up.
        if (reason !== undefined) void killTree();

        const exit = await exited;
        clearTimeout(timer);
        ended = true;
        // The main process is gone; anything it left behind (daemons in the process tier) goes too.
        await killTree();
        // Output already written is still delivered; a descendant that escaped the cgroup-less process
        // tier could hold the pipes open, so do not wait forever for them.
        await Promise.race([streams, new Promise((r) => setTimeout(r, 1000))]);
        spawned.stdout?.destroy();
        spawned.stderr?.destroy();
        handshake?.destroy();

        const finalUsage = usage();
        if (cgroup !== undefined) Object.assign(finalUsage, await cgroup.usage());
        if (gpuMeter !== undefined) Object.assign(finalUsage, await gpuMeter.stop());
        const counters = await counting;
        countersRead = true;
        if (counters !== undefined) {
          try {
            finalUsage.deniedNetwork = await counters.read();
          } catch {
            // not observed
          } finally {
            await counters.close();
          }
        }
        if (exit.error !== undefined) {
          return { kind: 'refused', reason: `could not start the launcher: ${exit.error.message}`, usage: finalUsage };
        }
        if (reason !== undefined) return { kind: reason, usage: finalUsage };
        if (!joined) {
          return { kind: 'refused', reason: 'the job could not join its cgroups', usage: finalUsage };
        }
        if (exit.code !== 0 && cgroup !== undefined && (await cgroup.oomKills()) > 0) {
          return { kind: 'oom_killed', usage: finalUsage };
        }
        if (exit.code === 0) return { kind: 'succeeded', usage: finalUsage };
        const signal = exit.signal ?? signalName(exit.code);
        return {
          kind: 'failed',
          exitCode: exit.code,
          ...(signal === undefined ? {} : { signal }),
          usage: finalUsage,
        };
      } catch (error) {
        const why = error instanceof Refusal ? error.reason : `executor error: ${(error as Error).message}`;
        if (child !== undefined) await killTree();
        return { kind: 'refused', reason: why, usage: usage() };
      } finally {
        ended = true;
        // An early ending (an executor error after the spawn): do not leak the counters' descriptors.
        if (!countersRead) void counting?.then((counters) => counters?.close());
        if (cgroup !== undefined) await cgroup.remove().catch(() => undefined);
        // Its processes are gone with the other cgroups (killAll above): the device cgroup is empty now.
        if (deviceCgroup !== undefined) await deviceCgroup.remove();
        if (relayDir !== undefined) await rm(relayDir, { recursive: true, force: true }).catch(() => undefined);
        releaseJobUid(hostUid);
      }
    };

    const outcome = run().catch(
      (error: unknown): Outcome => ({
        kind: 'refused',
        reason: `executor error: ${(error as Error).message}`,
        usage: { wallMs: Math.round(performance.now() - startedAt) },
      }),
    );

    return {
      jobId: spec.jobId,
      wait: () => outcome,
      cancel: () => end('cancelled'),
      preempt(graceMs) {
        if (ended || reason !== undefined) return;
        reason = 'preempted';
        const pid = child?.pid;
        if (pid === undefined) return; // not spawned yet: run() sees the reason and never spawns
        void (async () => {
          if (cgroup !== undefined) {
            // Not the outer bwrap: SIGTERM would kill it and, through --die-with-parent, the whole
            // namespace at once — no grace. The job's own processes get the SIGTERM (bwrap's init, PID 1
            // of the namespace, has no handler and ignores it).
            await cgroup.signalAll('SIGTERM', pid);
          } else {
            try {
              process.kill(-pid, 'SIGTERM');
            } catch {
              // already gone
            }
          }
          setTimeout(() => void killTree(), Math.max(0, graceMs)).unref();
        })();
      },
    };
  }

  return {
    start,
    createGangNetwork,
    probe: async () => (await probe()).probe,
    /**
     * After a restart: kills and removes every job cgroup under the prefix whose job id is not in
     * `liveJobIds`, prunes empty tenant cgroups and deletes stale runtime directories. Every tier already
     * died with the executor (bwrap --die-with-parent, PID namespace); this catches what a cgroup still
     * holds (e.g. a platform that was stopped, not killed, mid-start). Jobs on a host without cgroups have
     * no cgroup to find, and need none: their namespace's init died with us.
     */
    async reapOrphans(liveJobIds) {
      const live = new Set(liveJobIds);
      const reaped: ReapedJob[] = [];
      const { driver } = await probe();
      if (driver !== undefined) {
        for (const { tenantId, jobId } of await driver.listJobs()) {
          if (live.has(jobId)) continue;
          const handle = driver.openJob(tenantId, jobId);
          const killedPids = await handle.killAll();
          await handle.remove().catch(() => undefined);
          reaped.push({ tenantId, jobId, killedPids });
        }
        await driver.pruneEmpty();
      }
      const devicesHierarchy = findDevicesHierarchy(options.cgroupRoot);
      if (devicesHierarchy !== undefined) await pruneDeviceCgroups(devicesHierarchy, prefix, live);
      for (const entry of await readdir(runtimeRoot).catch(() => [] as string[])) {
        const match = /^job-(.+)-[A-Za-z0-9]{6}$/.exec(entry);
        if (match?.[1] !== undefined && !live.has(match[1])) {
          await rm(join(runtimeRoot, entry), { recursive: true, force: true }).catch(() => undefined);
        }
      }
      return reaped;
    },
  };
}
