/**
 * What the cgroup v1 and v2 backends (cgroups-v1.ts, cgroups-v2.ts) share: file helpers, the job handle
 * built over a per-version layout, and listing and pruning of the job directories under a prefix.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupController, CgroupUsage, JobCgroup } from './cgroups.ts';

export const CFS_PERIOD_US = 100_000;
export const MiB = 1024 * 1024;

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

export async function readPids(procsFile: string): Promise<number[]> {
  const text = await readText(procsFile);
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // ESRCH: already gone between reading cgroup.procs and the kill
  }
}

/** rmdir that tolerates "already gone" and retries while the kernel still tears the cgroup down. */
export async function removeDir(path: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    try {
      await rmdir(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw error;
      await sleep(10);
    }
  }
}

export function parseKeyValue(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return Number(v);
  }
  return undefined;
}

export interface Layout {
  /** Directory of the job in each hierarchy (deduplicated). */
  jobDirs: string[];
  procsFiles: string[];
  /** Directory of the job in the hierarchy that carries `controller`, if any. */
  dirFor(controller: CgroupController): string | undefined;
}

export function makeJobHandle(
  tenantId: string,
  jobId: string,
  layout: Layout,
  files: {
    oom: (dir: string) => Promise<number>;
    usage: (layout: Layout) => Promise<CgroupUsage>;
    kill?: (dirs: string[]) => Promise<void>;
  },
): JobCgroup {
  const pids = async (): Promise<number[]> => {
    const all = new Set<number>();
    for (const file of layout.procsFiles) for (const pid of await readPids(file)) all.add(pid);
    return [...all];
  };
  const killAll = async (): Promise<number[]> => {
    const killed = new Set<number>();
    if (files.kill !== undefined) {
      // cgroup.kill (v2) kills the whole cgroup at once: what was in it is what it killed.
      const before = await pids();
      if (before.length > 0) {
        await files.kill(layout.jobDirs);
        for (const pid of before) killed.add(pid);
      }
    }
    // A fork bomb keeps creating processes while we kill; each round catches the new ones. pids.max
    // bounds the population, so the loop converges in a few rounds.
    for (let round = 0; round < 400; round += 1) {
      const alive = await pids();
      if (alive.length === 0) break;
      for (const pid of alive) if (signalPid(pid, 'SIGKILL')) killed.add(pid);
      await sleep(round < 20 ? 1 : 5);
    }
    return [...killed];
  };
  return {
    tenantId,
    jobId,
    procsFiles: layout.procsFiles,
    dirFor: (controller) => layout.dirFor(controller),
    pids,
    async signalAll(signal, exceptPid) {
      const sent: number[] = [];
      for (const pid of await pids()) if (pid !== exceptPid && signalPid(pid, signal)) sent.push(pid);
      return sent;
    },
    killAll,
    async oomKills() {
      const dir = layout.dirFor('memory');
      return dir === undefined ? 0 : files.oom(dir);
    },
    usage: () => files.usage(layout),
    async remove() {
      await killAll();
      for (const dir of layout.jobDirs) await removeDir(dir);
    },
  };
}

export async function listUnder(prefixDirs: string[]): Promise<Array<{ tenantId: string; jobId: string }>> {
  const found = new Map<string, { tenantId: string; jobId: string }>();
  for (const prefixDir of prefixDirs) {
    let tenants: string[];
    try {
      tenants = await readdir(prefixDir);
    } catch {
      continue;
    }
    for (const tenantEntry of tenants) {
      if (!tenantEntry.startsWith('tenant-')) continue;
      let jobs: string[];
      try {
        jobs = await readdir(join(prefixDir, tenantEntry));
      } catch {
        continue;
      }
      for (const jobEntry of jobs) {
        if (!jobEntry.startsWith('job-')) continue;
        const tenantId = tenantEntry.slice('tenant-'.length);
        const jobId = jobEntry.slice('job-'.length);
        found.set(`${tenantId}/${jobId}`, { tenantId, jobId });
      }
    }
  }
  return [...found.values()];
}

export async function pruneUnder(prefixDir: string): Promise<void> {
  let tenants: string[];
  try {
    tenants = await readdir(prefixDir);
  } catch {
    return;
  }
  for (const tenantEntry of tenants) {
    if (!tenantEntry.startsWith('tenant-')) continue;
    const dir = join(prefixDir, tenantEntry);
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.some((entry) => entry.startsWith('job-'))) continue;
    await rmdir(dir).catch(() => undefined); // EBUSY when a job was created meanwhile: keep it
  }
  await rmdir(prefixDir).catch(() => undefined);
}
