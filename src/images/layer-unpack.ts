/**
 * Applies one OCI/Docker layer (an uncompressed tar stream) onto a root filesystem directory that only
 * this process writes (a staging directory of the image store). Every entry is judged here before
 * anything is written; the tar library only splits the stream into entries.
 *
 * Refused (IMAGE_REFUSED, `details.check`): absolute paths and `..` components (`path-escape`), a path
 * that passes through a symlink (`path-through-symlink`: writing through it could land outside the
 * rootfs), relative symlinks whose target climbs above the root and hardlinks to anything outside the
 * rootfs or not a regular file (`link-escape`), character/block devices and FIFOs (`device-node`),
 * setuid/setgid files (`setuid`), file capabilities and other xattrs are never applied (tar's PAX
 * xattrs are ignored), and an uncompressed stream whose sha256 differs from the config's diff_id
 * (`digest-mismatch`, checked by the caller). Absolute symlink targets are kept: inside the sandbox
 * they resolve within the image's own root.
 *
 * Whiteouts (`.wh.NAME`) remove NAME from the lower layers; an opaque marker (`.wh..wh..opq`) empties its
 * directory of what lower layers put there. Both apply only to lower layers, never to this layer's own
 * entries. Files are written with the owner of this process (root) and the entry's permission bits
 * (setuid/setgid refused, so at most 0o1777); ownership inside the image is not reproduced — jobs run as
 * one unprivileged uid and read the rootfs read-only.
 *
 * Writes are synchronous and in entry order, so a hardlink or whiteout always sees every earlier entry;
 * an image is unpacked once per digest, not per job.
 */
import {
  closeSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeSync, chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { readStrictTar } from './strict-tar.ts';
import { AppError } from '../core/errors.ts';

export type RefusalCheck =
  | 'path-escape'
  | 'path-through-symlink'
  | 'link-escape'
  | 'device-node'
  | 'setuid'
  | 'digest-mismatch'
  | 'unsupported-entry'
  | 'bad-archive';

export const imageErrors = {
  refused: (check: RefusalCheck, message: string) =>
    new AppError('IMAGE_REFUSED', `image refused: ${message}`, { details: { check } }),
};

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Normalizes an archive path to components below the root, or refuses it. `./a/b/` → `['a','b']`;
 * `/a`, `a/../../b`, `a/..` → refused (no `..` at all: a layer has no reason for one).
 */
export function layerPathComponents(raw: string): string[] {
  if (raw.includes('\0')) throw imageErrors.refused('path-escape', 'a path contains NUL');
  if (raw.startsWith('/')) throw imageErrors.refused('path-escape', `absolute path ${JSON.stringify(raw)}`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw imageErrors.refused('path-escape', `path ${JSON.stringify(raw)} contains ".."`);
  return parts;
}

/**
 * Whether a symlink at `linkParts` with `target` stays inside the root when read lexically from the
 * link's directory. Absolute targets are taken relative to the image root (where the sandbox sees them).
 */
export function symlinkStaysInside(linkParts: readonly string[], target: string): boolean {
  if (target.includes('\0')) return false;
  if (target.startsWith('/')) return true;
  let depth = linkParts.length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      depth -= 1;
      if (depth < 0) return false;
    } else depth += 1;
  }
  return true;
}

interface ApplyState {
  root: string;
  /** File bytes this layer may still write (the tenant's free storage less earlier layers): a gzip bomb stops here. */
  budget: number;
  /** Files being written: closed on a refusal, whichever entry it came from. */
  openFds: Set<number>;
  /** Paths (joined by '/') this layer itself created: whiteouts and opaque markers leave them alone. */
  created: Set<string>;
  /** Directories already checked to be real directories (no symlink on the way). */
  knownDirs: Set<string>;
  bytes: number;
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Makes sure every parent of `parts` is a real directory under the root (creating missing ones). */
function ensureParents(state: ApplyState, parts: readonly string[]): void {
  let rel = '';
  for (const part of parts.slice(0, -1)) {
    rel = rel === '' ? part : `${rel}/${part}`;
    if (state.knownDirs.has(rel)) continue;
    const path = join(state.root, rel);
    const info = lstatOrUndefined(path);
    if (info === undefined) {
      mkdirSync(path, { mode: 0o755 });
      state.created.add(rel);
    } else if (info.isSymbolicLink()) {
      throw imageErrors.refused('path-through-symlink', `${JSON.stringify(parts.join('/'))} passes through the symlink ${JSON.stringify(rel)}`);
    } else if (!info.isDirectory()) {
      throw imageErrors.refused('unsupported-entry', `${JSON.stringify(parts.join('/'))} is below the non-directory ${JSON.stringify(rel)}`);
    }
    state.knownDirs.add(rel);
  }
}

/** Removes what is at `rel` (a file, link or whole directory), forgetting cached directory checks. */
function removePath(state: ApplyState, rel: string): void {
  rmSync(join(state.root, rel), { recursive: true, force: true });
  for (const dir of state.knownDirs) if (dir === rel || dir.startsWith(`${rel}/`)) state.knownDirs.delete(dir);
}

/** Clears what lower layers left in `dirRel`, keeping this layer's own entries. */
function applyOpaque(state: ApplyState, dirRel: string): void {
  const dir = dirRel === '' ? state.root : join(state.root, dirRel);
  for (const name of readdirSync(dir)) {
    const rel = dirRel === '' ? name : `${dirRel}/${name}`;
    if (!state.created.has(rel)) removePath(state, rel);
  }
}

function checkMode(rel: string, mode: number | undefined): number {
  const m = mode ?? 0o644;
  if ((m & 0o6000) !== 0) throw imageErrors.refused('setuid', `${JSON.stringify(rel)} is setuid or setgid`);
  return m & 0o1777;
}

/** Replaces whatever is at `rel` unless it is a directory and the entry is one too (tar semantics). */
function clearForEntry(state: ApplyState, rel: string, isDir: boolean): void {
  const info = lstatOrUndefined(join(state.root, rel));
  if (info === undefined) return;
  if (isDir && info.isDirectory()) return;
  removePath(state, rel);
}

function applyEntry(state: ApplyState, entry: ReadEntry, onFileDone: (error?: unknown) => void): boolean {
  const parts = layerPathComponents(entry.path);
  if (parts.length === 0) {
    // The root itself ("./"): nothing to create; its mode is ours to choose.
    return false;
  }
  const rel = parts.join('/');
  const name = parts[parts.length - 1] as string;
  ensureParents(state, parts);
  if (name === OPAQUE) {
    applyOpaque(state, parts.slice(0, -1).join('/'));
    return false;
  }
  if (name.startsWith(WHITEOUT_PREFIX)) {
    const target = [...parts.slice(0, -1), name.slice(WHITEOUT_PREFIX.length)].join('/');
    layerPathComponents(target);
    if (!state.created.has(target)) removePath(state, target);
    return false;
  }
  const path = join(state.root, rel);
  switch (entry.type) {
    case 'Directory': {
      clearForEntry(state, rel, true);
      const mode = checkMode(rel, entry.mode);
      if (lstatOrUndefined(path) === undefined) mkdirSync(path, { mode: 0o755 });
      chmodSync(path, mode);
      state.knownDirs.add(rel);
      state.created.add(rel);
      return false;
    }
    case 'File':
    case 'OldFile':
    case 'ContiguousFile': {
      const mode = checkMode(rel, entry.mode);
      clearForEntry(state, rel, false);
      // O_EXCL + O_NOFOLLOW through 'wx': a racing link can never be followed (nothing else writes here).
      const fd = openSync(path, 'wx', 0o600);
      // Open while in state.openFds: a refusal elsewhere may close it first (never twice: fd numbers are reused).
      state.openFds.add(fd);
      const isOpen = (): boolean => state.openFds.has(fd);
      const close = (): void => {
        if (!isOpen()) return;
        state.openFds.delete(fd);
        closeSync(fd);
      };
      state.created.add(rel);
      entry.on('data', (chunk: Buffer) => {
        if (!isOpen()) return;
        state.bytes += chunk.length;
        if (state.bytes > state.budget) {
          close();
          onFileDone(new AppError('QUOTA_EXCEEDED', `the unpacked image exceeds the tenant's free storage (${state.budget} bytes)`, {
            details: { quotaBytes: state.budget },
          }));
          return;
        }
        try {
          let off = 0;
          while (off < chunk.length) off += writeSync(fd, chunk, off);
        } catch (error) {
          close();
          onFileDone(error);
        }
      });
      entry.on('end', () => {
        if (!isOpen()) return;
        try {
          close();
          chmodSync(path, mode);
          onFileDone();
        } catch (error) {
          onFileDone(error);
        }
      });
      return true;
    }
    case 'SymbolicLink': {
      const target = entry.linkpath ?? '';
      if (target === '' || !symlinkStaysInside(parts, target)) {
        throw imageErrors.refused('link-escape', `symlink ${JSON.stringify(rel)} points outside the image (${JSON.stringify(target)})`);
      }
      clearForEntry(state, rel, false);
      symlinkSync(target, path);
      state.created.add(rel);
      return false;
    }
    case 'Link': {
      const targetParts = layerPathComponents(entry.linkpath ?? '');
      if (targetParts.length === 0) throw imageErrors.refused('link-escape', `hardlink ${JSON.stringify(rel)} to the root`);
      ensureParents(state, targetParts);
      const targetPath = join(state.root, ...targetParts);
      const info = lstatOrUndefined(targetPath);
      if (info === undefined || !info.isFile()) {
        throw imageErrors.refused('link-escape', `hardlink ${JSON.stringify(rel)} must point at a regular file of the image (${JSON.stringify(entry.linkpath)})`);
      }
      clearForEntry(state, rel, false);
      linkSync(targetPath, path);
      state.created.add(rel);
      return false;
    }
    case 'CharacterDevice':
    case 'BlockDevice':
    case 'FIFO':
      throw imageErrors.refused('device-node', `${JSON.stringify(rel)} is a ${entry.type}`);
    default:
      throw imageErrors.refused('unsupported-entry', `${JSON.stringify(rel)} has the unsupported type ${entry.type}`);
  }
}

/**
 * Reads the uncompressed layer tar `source` and applies it onto `root`. Resolves with the bytes of file
 * content written; rejects with IMAGE_REFUSED (or an IO error) at the first bad entry, leaving `root`
 * half-written — the caller unpacks into a staging directory and removes it on failure. More than `budget`
 * bytes of file content: QUOTA_EXCEEDED.
 */
export function applyLayer(root: string, source: Readable, budget = Number.MAX_SAFE_INTEGER): Promise<{ bytes: number }> {
  const state: ApplyState = { root, budget, openFds: new Set(), created: new Set(), knownDirs: new Set(), bytes: 0 };
  const closeAll = (): void => {
    for (const fd of state.openFds) closeSync(fd);
    state.openFds.clear();
  };
  return readStrictTar(source, {
    afterFailure: 'destroy',
    cleanup: closeAll,
    unreadable: (message) => imageErrors.refused('bad-archive', `unreadable layer tar: ${message}`),
    onEntry: (entry, fail) => {
      const consumes = applyEntry(state, entry, (error) => {
        if (error !== undefined) fail(error);
      });
      if (!consumes) entry.resume();
    },
  }).then(() => ({ bytes: state.bytes }));
}
