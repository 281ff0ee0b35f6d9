/**
 * The blob files of one installation: `<root>/<tenant-id>/` per tenant, holding
 *   tmp/<uuid>                 uploads being written (never addressed by anything but their writer)
 *   sha256/<ab>/<digest>       finished blobs, named by the SHA-256 of their plaintext
 *   mpu/<upload-id>.<part>     staged parts of multipart uploads
 * Every directory on the way is checked with lstat to be a real directory (a symlink planted anywhere
 * under the root is refused), and blob files are opened with O_NOFOLLOW. Contents are opaque here:
 * encryption is the caller's business (tenant-storage.ts).
 */
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../core/errors.ts';
import { isUuid } from '../db/index.ts';

const digestPattern = /^[0-9a-f]{64}$/;

export interface BlobFiles {
  readonly root: string;
  /** A new temp file in the tenant's root, opened for writing (exclusive create, mode 0600). */
  createTemp(tenantId: string, area?: 'tmp' | 'mpu', name?: string): Promise<{ path: string; stream: Writable; handle: FileHandle }>;
  /** Moves a finished temp file into place under its digest (atomic rename) and syncs the directory. */
  place(tenantId: string, tempPath: string, digest: string): Promise<void>;
  /** Moves a finished temp file to the staged-part name of a multipart upload. */
  placeStaged(tenantId: string, tempPath: string, uploadId: string, part: number): Promise<void>;
  /** Opens a blob for reading without following symlinks; undefined when it does not exist. */
  openBlob(tenantId: string, digest: string): Promise<Readable | undefined>;
  /** Opens a staged multipart part; undefined when it does not exist. */
  openStaged(tenantId: string, path: string): Promise<Readable | undefined>;
  removeBlob(tenantId: string, digest: string): Promise<void>;
  removeFile(path: string): Promise<void>;
  /**
   * Deletes temp files older than `olderThanMs` in every tenant root (start-up hygiene after a crash), and
   * those whose name `also` accepts (a dead process's, by the name's prefix).
   */
  sweepTemps(olderThanMs: number, also?: (name: string) => boolean): Promise<number>;
  /** Tenant ids that have a directory under the root. */
  listTenants(): Promise<string[]>;
  /** Every blob file of a tenant (name is its digest) with its size on disk. */
  listBlobs(tenantId: string): Promise<Array<{ digest: string; size: number }>>;
  blobPath(tenantId: string, digest: string): string;
  stagedPath(tenantId: string, uploadId: string, part: number): string;
}

const checkTenant = (tenantId: string): void => {
  if (!isUuid(tenantId)) throw new AppError('INTERNAL', 'blob store called with a malformed tenant id');
};
const checkDigest = (digest: string): void => {
  if (!digestPattern.test(digest)) throw new AppError('INTERNAL', 'blob store called with a malformed digest');
};

/** Creates `dir` (and parents below `base`) and insists every component is a real directory, not a symlink. */
const ensureRealDir = async (base: string, parts: readonly string[]): Promise<string> => {
  let current = base;
  for (const part of ['', ...parts]) {
    current = part === '' ? current : join(current, part);
    try {
      await mkdir(current, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const info = await lstat(current);
    if (!info.isDirectory() || info.isSymbolicLink()) {
      throw new AppError('INTERNAL', 'blob storage directory is not a real directory (symlink refused)');
    }
  }
  return current;
};

export const createBlobFiles = (root: string): BlobFiles => {
  // Checked on every use (a few lstat calls): a symlink planted at any level after start-up is refused too.
  const dir = async (tenantId: string, ...parts: string[]): Promise<string> => ensureRealDir(root, [tenantId, ...parts]);

  const blobPath = (tenantId: string, digest: string): string => join(root, tenantId, 'sha256', digest.slice(0, 2), digest);
  const stagedPath = (tenantId: string, uploadId: string, part: number): string => join(root, tenantId, 'mpu', `${uploadId}.${part}`);

  const openNoFollow = async (path: string): Promise<Readable | undefined> => {
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') throw new AppError('INTERNAL', 'blob file is a symlink (refused)');
      throw error;
    }
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw new AppError('INTERNAL', 'blob file is not a regular file (refused)');
    }
    // The stream owns the FileHandle and closes it through the handle. (A stream over the raw `handle.fd`
    // closed the descriptor behind the handle's back; the handle, closed again later or by the garbage
    // collector, then closed whatever file had reused that descriptor number: EBADF elsewhere.)
    return handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: true });
  };

  return {
    root,
    blobPath,
    stagedPath,
    async createTemp(tenantId, area = 'tmp', name) {
      checkTenant(tenantId);
      const directory = await dir(tenantId, area);
      const path = join(directory, name ?? randomUUID());
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      const stream = createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1024 * 1024 });
      return { path, stream, handle };
    },
    async place(tenantId, tempPath, digest) {
      checkTenant(tenantId);
      checkDigest(digest);
      const directory = await dir(tenantId, 'sha256', digest.slice(0, 2));
      const target = join(directory, digest);
      // rename(2) replaces whatever entry sits at the target, a planted symlink included, and never
      // writes through it.
      await rename(tempPath, target);
      const handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    async placeStaged(tenantId, tempPath, uploadId, part) {
      checkTenant(tenantId);
      if (!isUuid(uploadId) || !Number.isInteger(part)) throw new AppError('INTERNAL', 'malformed multipart part');
      await dir(tenantId, 'mpu');
      await rename(tempPath, stagedPath(tenantId, uploadId, part));
    },
    async openBlob(tenantId, digest) {
      checkTenant(tenantId);
      checkDigest(digest);
      await dir(tenantId, 'sha256', digest.slice(0, 2));
      return openNoFollow(blobPath(tenantId, digest));
    },
    async openStaged(tenantId, path) {
      checkTenant(tenantId);
      await dir(tenantId, 'mpu');
      return openNoFollow(path);
    },
    async removeBlob(tenantId, digest) {
      checkTenant(tenantId);
      checkDigest(digest);
      await unlink(blobPath(tenantId, digest)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
    async removeFile(path) {
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
    async listTenants() {
      try {
        return (await readdir(root)).filter(isUuid);
      } catch {
        return [];
      }
    },
    async listBlobs(tenantId) {
      checkTenant(tenantId);
      const base = join(root, tenantId, 'sha256');
      const out: Array<{ digest: string; size: number }> = [];
      let prefixes: string[];
      try {
        if ((await lstat(base)).isSymbolicLink()) return out;
        prefixes = await readdir(base);
      } catch {
        return out;
      }
      for (const prefix of prefixes) {
        let names: string[];
        try {
          if ((await lstat(join(base, prefix))).isSymbolicLink()) continue;
          names = await readdir(join(base, prefix));
        } catch {
          continue;
        }
        for (const name of names) {
          if (!digestPattern.test(name) || name.slice(0, 2) !== prefix) continue;
          try {
            const info = await lstat(join(base, prefix, name));
            if (info.isFile()) out.push({ digest: name, size: info.size });
          } catch {
            // removed meanwhile
          }
        }
      }
      return out;
    },
    async sweepTemps(olderThanMs, also) {
      let removed = 0;
      let tenants: string[];
      try {
        tenants = (await readdir(root)).filter(isUuid);
      } catch {
        return 0;
      }
      const cutoff = Date.now() - olderThanMs;
      for (const tenant of tenants) {
        const tmp = join(root, tenant, 'tmp');
        let names: string[];
        try {
          if ((await lstat(tmp)).isSymbolicLink()) continue;
          names = await readdir(tmp);
        } catch {
          continue;
        }
        for (const name of names) {
          const path = join(tmp, name);
          try {
            if (also?.(name) === true || (await stat(path)).mtimeMs < cutoff) {
              await unlink(path);
              removed += 1;
            }
          } catch {
            // Gone already, or not ours to judge.
          }
        }
      }
      return removed;
    },
  };
};
