/**
 * Finding and wiping plaintext copies of tenants' models on disk. This version never writes one (a local
 * worker gets its decrypted model on stdin, see local-serving-backend.ts); earlier versions decrypted each
 * generation into `/tmp/bhs-XXXXXX/<tenant>/m-<deployment>-v<version>-<rand>/model.onnx`, and a crash, a
 * SIGKILL or an admin command left those behind. These functions remove such leftovers (start-up) and
 * prove, for tenant deletion, that no file holding one of the tenant's models remains.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';

/** A plaintext to look for: its SHA-256 (hex) and size in bytes. */
export interface PlaintextDigest {
  digest: string;
  size: number;
}

/** Where serving roots of this and earlier versions live: `<tmpDir>/bhs-*`. */
export const SERVING_ROOT_PREFIX = 'bhs-';

const entriesOf = async (dir: string) => {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return []; // gone, or not a directory we may read: nothing to find there
  }
};

const sha256Of = (path: string): Promise<string | undefined> =>
  new Promise((resolve) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', () => resolve(undefined));
  });

/**
 * Regular files under `roots` (recursively; symlinks never followed) whose SHA-256 is one of `wanted`.
 * Only files whose size equals a wanted size are hashed, so scanning a large tree costs a directory walk.
 * Unreadable directories are skipped. `skip`: absolute directory paths not to enter.
 */
export const findPlaintextFiles = async (roots: readonly string[], wanted: readonly PlaintextDigest[], skip: readonly string[] = []): Promise<string[]> => {
  const bySize = new Map<number, Set<string>>();
  for (const { digest, size } of wanted) bySize.set(size, (bySize.get(size) ?? new Set()).add(digest));
  const found = new Set<string>(); // roots may nest (a home under /tmp): each file once
  if (bySize.size === 0) return [];
  const skipped = new Set(skip);
  const walk = async (dir: string): Promise<void> => {
    if (skipped.has(dir)) return;
    for (const entry of await entriesOf(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const size = (await lstat(path).catch(() => undefined))?.size;
        const digests = size === undefined ? undefined : bySize.get(size);
        if (digests === undefined) continue;
        const digest = await sha256Of(path);
        if (digest !== undefined && digests.has(digest)) found.add(path);
      }
    }
  };
  for (const root of new Set(roots)) await walk(root);
  return [...found];
};

/** The serving roots (`bhs-*` directories) under `tmpDir`. */
export const servingRoots = async (tmpDir = '/tmp'): Promise<string[]> =>
  (await entriesOf(tmpDir)).filter((e) => e.isDirectory() && e.name.startsWith(SERVING_ROOT_PREFIX)).map((e) => join(tmpDir, e.name));

/** True when some worker socket under `root` accepts a connection: a live platform still serves from it. */
const servesLive = async (root: string): Promise<boolean> => {
  const sockets: string[] = [];
  for (const tenant of await entriesOf(root)) {
    if (!tenant.isDirectory()) continue;
    for (const replica of await entriesOf(join(root, tenant.name))) {
      if (replica.isDirectory() && replica.name.startsWith('r-')) sockets.push(join(root, tenant.name, replica.name, 'ws', 'oip.sock'));
    }
  }
  const connects = (path: string) => new Promise<boolean>((resolve) => {
    const socket = createConnection(path);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
  for (const path of sockets) if (await connects(path)) return true;
  return false;
};

/**
 * Removes the decrypted model directories earlier versions left in serving roots
 * (`<tmpDir>/bhs-XXXXXX/<tenant>/m-*`).
 * Idempotent; never throws. Start-up recovery calls it (step `wipe-model-plaintext`).
 *
 * A root whose worker sockets still answer belongs to a live platform of an earlier version on this host
 * (whose workers re-read their model file when they restart): it is left alone, as are model directories
 * younger than `minAgeMs` (that platform may be starting its first worker). Both go at the next start
 * after that platform has stopped. This version's own roots never hold a model file.
 * Returns the directories removed.
 */
export const wipeModelPlaintext = async (options: { tmpDir?: string; minAgeMs?: number } = {}): Promise<string[]> => {
  const minAgeMs = options.minAgeMs ?? 60_000;
  const removed: string[] = [];
  try {
    for (const root of await servingRoots(options.tmpDir)) {
      const candidates: string[] = [];
      for (const tenant of await entriesOf(root)) {
        if (!tenant.isDirectory()) continue;
        for (const entry of await entriesOf(join(root, tenant.name))) {
          if (!entry.isDirectory() || !entry.name.startsWith('m-')) continue;
          const path = join(root, tenant.name, entry.name);
          const info = await stat(path).catch(() => undefined);
          if (info !== undefined && Date.now() - info.mtimeMs >= minAgeMs) candidates.push(path);
        }
      }
      if (candidates.length === 0 || (await servesLive(root))) continue;
      for (const path of candidates) {
        await rm(path, { recursive: true, force: true }).then(() => removed.push(path), () => {});
      }
    }
  } catch {
    // Best effort: a start-up must not fail over a leftover it could not remove (the next one retries).
  }
  return removed;
};
