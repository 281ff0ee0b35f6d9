/**
 * The device cgroup of a GPU job (cgroup v1 `devices` controller): the job may open the standard
 * character devices every program needs, its granted GPU nodes and the GPU control nodes — nothing else,
 * whatever node it finds, is shown, or creates. It is a whitelist: `a` is written to `devices.deny`
 * first (the job cgroup then denies every device), then each allowed device to `devices.allow`.
 *
 * Layout: `<root>/devices/<prefix>/tenant-<tenantId>/job-<jobId>`, beside the other controllers'
 * directories of cgroups.ts (kept apart from it: that file is the cgroup v1/v2 driver). A launcher joins
 * by writing its pid into this directory's `cgroup.procs` before exec, with the other hierarchies.
 *
 * cgroup v2 has no `devices` files: it needs a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the job's
 * cgroup, which Bulkhead does not load. There `findDevicesHierarchy` finds nothing and the executor
 * refuses `process`-tier GPU jobs with that reason; the sandbox tiers stay confined by their binds (only
 * the granted nodes exist in their /dev, and no capability lets them mknod another).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CharDevice } from './gpu-inventory.ts';

/** What every job keeps (the container runtimes' default list): null, zero, full, random, urandom, tty, ptmx, ptys. */
export const baseAllowedDevices: readonly string[] = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
];

/** The `devices.allow` lines of a GPU job: the base list, then its granted nodes and the control nodes. */
export const gpuDeviceAllowList = (granted: readonly CharDevice[], controlNodes: readonly CharDevice[]): string[] => {
  const lines = [...baseAllowedDevices];
  for (const node of [...granted, ...controlNodes]) {
    const line = `c ${node.major}:${node.minor} rw`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
};

/**
 * The `devices.deny` lines for a job granted no GPU: every GPU and control node of the inventory (the
 * `process` tier sees the host's /dev; without these it could open every card). Other devices stay as
 * they are for such jobs.
 */
export const gpuDenyList = (nodes: readonly CharDevice[]): string[] => [...new Set(nodes.map((n) => `c ${n.major}:${n.minor} rwm`))];

/** `<root>/devices` when it is a mounted v1 devices hierarchy, else undefined. */
export const findDevicesHierarchy = (cgroupRoot = '/sys/fs/cgroup'): string | undefined => {
  const dir = join(cgroupRoot, 'devices');
  return existsSync(join(dir, 'devices.allow')) && existsSync(join(dir, 'devices.deny')) ? dir : undefined;
};

export interface DeviceCgroup {
  /** Write the launcher's pid here before its options are sent. */
  readonly procsFile: string;
  /** The effective rules as the kernel lists them (`devices.list`). */
  list(): string[];
  /** Removes the job's directory (and its tenant's and the prefix's when empty). Never throws. */
  remove(): Promise<void>;
}

/**
 * Creates the job's device cgroup: a whitelist (`allowOnly`, GPU jobs) or a few denied nodes (`deny`, jobs
 * without GPUs on a GPU host). Throws when the hierarchy refuses a write (the
 * executor turns that into a refusal: a GPU job never runs unconfined because its cgroup failed).
 */
export const createDeviceCgroup = async (
  hierarchy: string,
  prefix: string,
  tenantId: string,
  jobId: string,
  rules: { allowOnly: readonly string[] } | { deny: readonly string[] },
): Promise<DeviceCgroup> => {
  const tenantDir = join(hierarchy, prefix, `tenant-${tenantId}`);
  const dir = join(tenantDir, `job-${jobId}`);
  await mkdir(dir, { recursive: true });
  const handle: DeviceCgroup = {
    procsFile: join(dir, 'cgroup.procs'),
    list: () => readFileSync(join(dir, 'devices.list'), 'utf8').split('\n').filter((l) => l.length > 0),
    async remove() {
      for (const path of [dir, tenantDir, join(hierarchy, prefix)]) {
        // EBUSY/ENOTEMPTY for a parent still used by another job: left for its last job to remove.
        if (!(await rmdir(path).then(() => true, () => false))) break;
      }
    },
  };
  try {
    if ('allowOnly' in rules) {
      writeFileSync(join(dir, 'devices.deny'), 'a');
      for (const line of rules.allowOnly) writeFileSync(join(dir, 'devices.allow'), line);
    } else {
      for (const line of rules.deny) writeFileSync(join(dir, 'devices.deny'), line);
    }
  } catch (error) {
    await handle.remove();
    throw error;
  }
  return handle;
};

/** Removes leftover empty job directories under the prefix (after a crash). Never throws. */
export const pruneDeviceCgroups = async (hierarchy: string, prefix: string, liveJobIds: ReadonlySet<string>): Promise<void> => {
  const base = join(hierarchy, prefix);
  for (const tenant of await readdir(base).catch(() => [] as string[])) {
    if (!tenant.startsWith('tenant-')) continue;
    for (const job of await readdir(join(base, tenant)).catch(() => [] as string[])) {
      if (job.startsWith('job-') && !liveJobIds.has(job.slice(4))) await rmdir(join(base, tenant, job)).catch(() => undefined);
    }
    await rmdir(join(base, tenant)).catch(() => undefined);
  }
  await rmdir(base).catch(() => undefined);
};
