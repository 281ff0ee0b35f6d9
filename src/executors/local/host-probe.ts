/**
 * What this host can provide: which isolation tiers, and for each missing one what to install or change.
 * Read-only apart from two throwaway bwrap runs: one proves unprivileged user namespaces work (sandbox
 * tiers), one that root can create the process tier's namespaces.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, lstat } from 'node:fs/promises';
import type { CgroupDriver } from './cgroups.ts';
import { detectCgroupDriver } from './cgroups.ts';
import { SUPERVISOR_LEAF } from './cgroups-v2.ts';
import { buildSetprivArgs, type SystemLayout } from './bwrap-args.ts';
import type { HostProbe, TierAvailability } from '../host-executor-contract.ts';

// A fixed search path: the platform's own PATH is configuration we do not trust to pick security tools.
const toolDirs = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

async function findTool(name: string): Promise<string | undefined> {
  for (const dir of toolDirs) {
    const path = `${dir}/${name}`;
    try {
      await access(path, fsConstants.X_OK);
      return path;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Merged-/usr or not, and whether /lib64 exists: decides symlinks vs binds in the sandbox root. */
export async function detectSystemLayout(): Promise<SystemLayout> {
  return { mergedUsr: await isSymlink('/lib'), lib64: await exists('/lib64') };
}

/** Host /etc files the sandbox gets read-only: the loader cache (speed) and the timezone. Nothing else. */
export async function detectHostEtcFiles(): Promise<string[]> {
  const wanted = ['/etc/ld.so.cache', '/etc/localtime'];
  const present: string[] = [];
  for (const file of wanted) if (await exists(file)) present.push(file);
  return present;
}

function runQuietly(file: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 5000, env: {} }, (error) => resolve(error === null));
  });
}

export interface ProbeOptions {
  cgroupRoot?: string;
  cgroupPrefix?: string;
}

export interface ProbeResult {
  probe: HostProbe;
  driver: CgroupDriver | undefined;
  tools: { bwrap?: string; setpriv?: string; prlimit?: string };
}

const installHints = {
  bwrap: 'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)',
  setpriv: 'install util-linux (provides setpriv)',
  prlimit: 'install util-linux (provides prlimit)',
  root: 'run the platform as root: it drops every job to uid 65534 and writes cgroups',
  userns:
    'allow unprivileged user namespaces (sysctl user.max_user_namespaces=15000; on Debian kernels also ' +
    'kernel.unprivileged_userns_clone=1; on Ubuntu ≥ 23.10 kernel.apparmor_restrict_unprivileged_userns=0 ' +
    'or an AppArmor profile for bwrap)',
  cgroups:
    'give the platform writable cgroups with the memory, cpu and pids controllers (cgroup v2: a delegated ' +
    'subtree with those controllers enabled; cgroup v1: the controllers mounted under /sys/fs/cgroup/<name>)',
  namespaces:
    'let the platform (root) create network, PID and IPC namespaces and mount /proc (in a container: ' +
    'CAP_SYS_ADMIN and no seccomp/AppArmor profile that forbids unshare and mount)',
  cpuset: 'enable the cpuset cgroup controller (v2: +cpuset in cgroup.subtree_control; v1: mount it)',
} as const;

function availability(missing: Array<keyof typeof installHints>): TierAvailability {
  if (missing.length === 0) return { available: true };
  const unique = [...new Set(missing)];
  return { available: false, missing: unique, install: unique.map((m) => installHints[m]).join('; ') };
}

/**
 * Probes the host. Never throws. The sandbox check actually starts bwrap as uid 65534 with every
 * namespace (about 20 ms), because the presence of the binary says nothing about whether the kernel
 * lets an unprivileged process create user namespaces.
 */
export async function probeHostDetailed(options: ProbeOptions = {}): Promise<ProbeResult> {
  const [bwrap, setpriv, prlimit] = await Promise.all([findTool('bwrap'), findTool('setpriv'), findTool('prlimit')]);
  const runningAsRoot = process.getuid?.() === 0;
  let driver: CgroupDriver | undefined;
  try {
    driver = runningAsRoot ? await detectCgroupDriver(options.cgroupRoot, options.cgroupPrefix) : undefined;
  } catch {
    driver = undefined;
  }
  let userNamespaces = false;
  // The process tier: bwrap as root (no user namespace) creating network, PID and IPC namespaces over the
  // host filesystem, as the executor starts it. Run side by side with the sandbox check.
  const rootNamespaces =
    bwrap !== undefined && runningAsRoot
      ? runQuietly(bwrap, [
          '--unshare-net', '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--new-session',
          '--dev-bind', '/', '/', '--proc', '/proc', '--', '/usr/bin/true',
        ])
      : Promise.resolve(false);
  if (bwrap !== undefined && setpriv !== undefined && runningAsRoot) {
    const layout = await detectSystemLayout();
    const rootArgs = layout.mergedUsr
      ? ['--symlink', 'usr/lib', '/lib', ...(layout.lib64 ? ['--symlink', 'usr/lib64', '/lib64'] : [])]
      : ['--ro-bind', '/lib', '/lib', ...(layout.lib64 ? ['--ro-bind', '/lib64', '/lib64'] : [])];
    userNamespaces = await runQuietly(setpriv, [
      ...buildSetprivArgs(),
      bwrap, '--unshare-all', '--die-with-parent', '--cap-drop', 'ALL', '--uid', '65534', '--gid', '65534',
      '--ro-bind', '/usr', '/usr', ...rootArgs, '--proc', '/proc', '--', '/usr/bin/true',
    ]);
  }
  const cgroupOk =
    driver !== undefined && ['memory', 'cpu', 'pids'].every((c) => driver.controllers.has(c as 'memory'));

  const processMissing: Array<keyof typeof installHints> = [];
  if (!runningAsRoot) processMissing.push('root');
  if (bwrap === undefined) processMissing.push('bwrap');
  if (setpriv === undefined) processMissing.push('setpriv');
  if (prlimit === undefined) processMissing.push('prlimit');
  if (bwrap !== undefined && runningAsRoot && !(await rootNamespaces)) processMissing.push('namespaces');

  const sandboxMissing: Array<keyof typeof installHints> = [];
  if (!runningAsRoot) sandboxMissing.push('root');
  if (bwrap === undefined) sandboxMissing.push('bwrap');
  if (setpriv === undefined) sandboxMissing.push('setpriv');
  if (bwrap !== undefined && setpriv !== undefined && runningAsRoot && !userNamespaces) sandboxMissing.push('userns');
  if (!cgroupOk) sandboxMissing.push('cgroups');

  const dedicatedMissing = [...sandboxMissing];
  if (driver === undefined || !driver.controllers.has('cpuset')) dedicatedMissing.push('cpuset');

  const tools: ProbeResult['tools'] = {};
  if (bwrap !== undefined) tools.bwrap = bwrap;
  if (setpriv !== undefined) tools.setpriv = setpriv;
  if (prlimit !== undefined) tools.prlimit = prlimit;

  return {
    driver,
    tools,
    probe: {
      tiers: {
        process: availability(processMissing),
        sandbox: availability(sandboxMissing),
        dedicated: availability(dedicatedMissing),
      },
      cgroup:
        driver === undefined
          ? undefined
          : {
              version: driver.version,
              root: driver.root,
              controllers: [...driver.controllers].sort(),
              ...(driver.ownCgroup !== undefined && driver.ownCgroup !== '/' ? { delegated: driver.ownCgroup } : {}),
            },
      tools,
      runningAsRoot,
      userNamespaces,
    },
  };
}

/**
 * Which tiers this host can provide, and for each missing one what to install (for `bulkhead doctor`
 * and the start-up log). Never throws.
 */
export async function probeHost(options: ProbeOptions = {}): Promise<HostProbe> {
  return (await probeHostDetailed(options)).probe;
}

/** One line for `bulkhead doctor`: which cgroup version was detected, where the platform writes, what it has. */
export function describeCgroups(cgroup: HostProbe['cgroup']): string {
  if (cgroup === undefined) return 'none writable (only the process tier can run, without limits)';
  const where =
    cgroup.version === 'v1'
      ? `hierarchies under ${cgroup.root}`
      : cgroup.delegated === undefined
        ? `unified hierarchy, root cgroup ${cgroup.root}`
        : `unified hierarchy, delegated subtree ${cgroup.root} (the platform's own cgroup ${cgroup.delegated}; its processes move to ${cgroup.delegated}/${SUPERVISOR_LEAF})`;
  return `${cgroup.version}, ${where} — controllers ${cgroup.controllers.join(', ')}`;
}
