/**
 * A per-job disk limit for local jobs (`BULKHEAD_JOB_DISK_MIB`, off by default): the job's /workspace and
 * /outputs live on a file system of their own — a sparse image file in the job's directory, formatted ext4
 * and loop-mounted by the platform (root) at `<job dir>/disk` — so the job can write at most the limit,
 * counted by the kernel, and a write past it fails with ENOSPC inside the job (it cannot be outgrown by
 * holding deleted files open, and nothing is sampled). Memory is not charged (unlike a tmpfs, whose pages
 * would count against the job's memory limit). The image is deleted with the job's directory.
 *
 * Costs: one `mkfs.ext4` (no journal, lazy inode tables) and one loop mount per job, ≈ 30–70 ms here.
 * Needs: root, `/dev/loop-control`, `mkfs.ext4`, `mount`/`umount` (util-linux). After a crash, mounts left
 * under the jobs directory are detached by `detachLeftoverDisks` (the backend's reapOrphans).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rm, statfs } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../core/errors.ts';

const run = promisify(execFile);
const toolPath = { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } };

export interface JobDisk {
  /** The mounted file system's root (0711, root-owned): the job's workspace and outputs go below it. */
  root: string;
  /**
   * True when less than 1 MiB (or 0.5 %) is left: the job most likely hit the limit (ext4 answers ENOSPC
   * with a few hundred KiB still free on a small disk: extent blocks, delayed-allocation reserve).
   */
  full(): Promise<boolean>;
  /** Unmounts (lazily, so a straggling reader cannot block it) and deletes the image. Idempotent. */
  release(): Promise<void>;
}

/** Creates, formats and mounts a `sizeMiB` file system at `<dir>/disk` (image `<dir>/disk.img`). */
export const mountJobDisk = async (dir: string, sizeMiB: number): Promise<JobDisk> => {
  const image = join(dir, 'disk.img');
  const root = join(dir, 'disk');
  let mounted = false;
  let step = 'mkdir';
  const release = async (): Promise<void> => {
    if (mounted) {
      mounted = false;
      await run('umount', ['-l', root], toolPath).catch(() => undefined);
    }
    await rm(image, { force: true }).catch(() => undefined);
  };
  try {
    await mkdir(root, { recursive: true, mode: 0o711 });
    step = 'truncate';
    await run('truncate', ['-s', `${String(sizeMiB)}M`, image], toolPath);
    step = 'mkfs.ext4';
    // No reserved blocks (the job gets the whole size), no journal (a scratch disk deleted with the job).
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1,root_owner=0:0', image], toolPath);
    step = 'mount';
    await run('mount', ['-o', 'loop,nosuid,nodev', image, root], toolPath);
    mounted = true;
    await chmod(root, 0o711);
    // ext4's lost+found is root's: the job never sees this level (its workspace and outputs are below).
  } catch (error) {
    await release();
    // The job's reason (tenant-visible): the step and its exit status, never a host path.
    const code = (error as { code?: unknown }).code;
    throw new AppError('UNAVAILABLE', `could not set up the job's ${String(sizeMiB)} MiB disk (BULKHEAD_JOB_DISK_MIB): ${step} failed${code === undefined ? '' : ` (${String(code)})`}`, { cause: error });
  }
  return {
    root,
    async full() {
      try {
        const s = await statfs(root);
        const free = s.bavail * s.bsize;
        return free < Math.max(1024 * 1024, 0.005 * s.blocks * s.bsize);
      } catch {
        return false;
      }
    },
    release,
  };
};

/** Mount points below `jobsDir` (from /proc/self/mountinfo; octal escapes decoded). */
export const mountsBelow = (mountinfo: string, jobsDir: string): string[] => {
  const prefix = jobsDir.endsWith(sep) ? jobsDir : `${jobsDir}${sep}`;
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point.startsWith(prefix));
};

/** After a crash: detaches every job disk still mounted below `jobsDir`. Returns what it detached. */
export const detachLeftoverDisks = async (jobsDir: string): Promise<string[]> => {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = mountsBelow(info, jobsDir);
  for (const point of points) await run('umount', ['-l', point], toolPath).catch(() => undefined);
  return points;
};
