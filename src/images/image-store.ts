/**
 * The host's image store: content-addressed blobs (layers, configs, manifests) verified by sha256, and one
 * unpacked root filesystem per image manifest digest, shared read-only by every job of every tenant that
 * holds that image. Which tenant may use which digest is the database's business (images rows under
 * RLS, image-service.ts); this file never decides access.
 *
 * Layout under `root`:
 *   blobs/sha256/<hex>    verified blobs, written by rename only after their digest matched
 *   rootfs/<hex>/         the unpacked image of manifest <hex> (complete: renamed in only when done)
 *   tmp/                  staging of imports and unpacks; anything here is garbage after a crash
 *
 * Import (`importArchive`): the archive (an OCI image layout or a `docker save` tar) is streamed into a
 * staging directory with a byte limit (the tenant's free storage), every referenced blob is hashed and
 * compared with its digest, every layer is unpacked through layer-unpack.ts (hostile entries refused) and
 * its uncompressed digest compared with the config's diff_id. Only then are blobs and the rootfs moved
 * into place. Any refusal or error removes the staging directory: nothing of a refused image stays.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { readStrictTar } from './strict-tar.ts';
import { AppError } from '../core/errors.ts';
import { imageErrors, layerPathComponents } from './layer-unpack.ts';
import { hexOf, isRecord, readJson, sniffLayerType } from './image-unpack.ts';
import { unpackInWorker } from './image-unpack-pool.ts';

const HEX64 = /^[a-f0-9]{64}$/;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImportedImage {
  /** `sha256:<hex>` of the image manifest (synthesized as an OCI manifest for `docker save` archives). */
  digest: string;
  /** Bytes this image occupies: its blobs plus its unpacked files (what counts against the quota). */
  sizeBytes: number;
  layers: string[];
}

export interface ImageStore {
  readonly root: string;
  /**
   * Verifies and stores the image in `source` (an archive stream). Rejects with IMAGE_REFUSED (hostile
   * or malformed image; nothing stored) or QUOTA_EXCEEDED once more than `limitBytes` arrive.
   */
  importArchive(source: Readable, options: { limitBytes: number }): Promise<ImportedImage>;
  /**
   * The unpacked root filesystem of manifest `digest`, unpacking it again from the stored blobs if it
   * is gone (once, however many jobs ask at the same time). NOT_FOUND when the blobs are not here.
   */
  rootfsPath(digest: string): Promise<string>;
  /** Removes every rootfs and blob not reachable from `keep` (manifest digests). Returns what it removed. */
  collectGarbage(keep: Iterable<string>): Promise<{ rootfs: number; blobs: number }>;
  /** A fresh private directory under `tmp/` (registry pulls stage there); the caller removes it. */
  stagingDir(kind: string): Promise<string>;
  /**
   * Removes the staging under `tmp/` a crash left behind: entries in which nothing was written for
   * `olderThanMs` (0: everything — only when no other process shares the home, e.g. PGlite's home lock).
   * A live import keeps writing into its staging, so a large enough age spares peers sharing the home.
   */
  sweepStaging(olderThanMs: number): Promise<{ entries: number; bytes: number }>;
  /** What the store holds on disk (for `bulkhead doctor`): unpacked images, blobs, and bytes in each. Creates nothing. */
  stats(): Promise<{ rootfsCount: number; rootfsBytes: number; blobCount: number; blobBytes: number; stagingEntries: number }>;
}

function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v) || typeof v.digest !== 'string' || typeof v.mediaType !== 'string' || typeof v.size !== 'number') {
    throw imageErrors.refused('bad-archive', `${what} is not a descriptor`);
  }
  hexOf(v.digest);
  return { mediaType: v.mediaType, digest: v.digest, size: v.size };
}

/** The archive's regular files, by their path inside it, with their sha256; symlinks resolved (docker save). */
interface StagedArchive {
  dir: string;
  files: Map<string, { path: string; hex: string; size: number }>;
  links: Map<string, string>;
}

function stageArchive(source: Readable, dir: string, limitBytes: number): Promise<StagedArchive> {
  const staged: StagedArchive = { dir, files: new Map(), links: new Map() };
  let total = 0;
  let counter = 0;
  let failed = false;
  return readStrictTar(source, {
    afterFailure: 'drain', // the rest of the HTTP body is read so the caller can still answer
    cleanup: () => {
      failed = true;
    },
    unreadable: (message) => imageErrors.refused('bad-archive', `unreadable archive: ${message}`),
    onEntry: (entry, fail) => {
      const name = layerPathComponents(entry.path).join('/');
      if (entry.type === 'Directory' || name === '') {
        entry.resume();
        return;
      }
      if (entry.type === 'SymbolicLink') {
        // docker save links duplicate layers: keep the link, resolved lexically inside the archive.
        const parts = name.split('/').slice(0, -1);
        for (const part of (entry.linkpath ?? '').split('/')) {
          if (part === '..') parts.pop();
          else if (part !== '.' && part !== '') parts.push(part);
        }
        staged.links.set(name, parts.join('/'));
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        throw imageErrors.refused('unsupported-entry', `the archive holds ${JSON.stringify(name)} of type ${entry.type}`);
      }
      counter += 1;
      const path = join(dir, `f${counter}`);
      const fd = openSync(path, 'wx', 0o600);
      const hash = createHash('sha256');
      let size = 0;
      entry.on('data', (chunk: Buffer) => {
        if (failed) return;
        total += chunk.length;
        size += chunk.length;
        if (total > limitBytes) {
          fail(new AppError('QUOTA_EXCEEDED', `image archive exceeds the tenant's free storage (${limitBytes} bytes)`, {
            details: { quotaBytes: limitBytes },
          }));
          return;
        }
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
      });
      entry.on('end', () => {
        closeSync(fd);
        staged.files.set(name, { path, hex: hash.digest('hex'), size });
      });
    },
  }).then(() => staged);
}

function stagedFile(archive: StagedArchive, name: string): { path: string; hex: string; size: number } {
  let key = name;
  for (let hops = 0; hops < 8 && !archive.files.has(key) && archive.links.has(key); hops += 1) key = archive.links.get(key) as string;
  const file = archive.files.get(key);
  if (file === undefined) throw imageErrors.refused('bad-archive', `the archive lacks ${JSON.stringify(name)}`);
  return file;
}

/** A blob of an OCI layout, checked against its digest (and its declared size). */
function ociBlob(archive: StagedArchive, descriptor: Descriptor): { path: string; hex: string; size: number } {
  const hex = hexOf(descriptor.digest);
  const file = stagedFile(archive, `blobs/sha256/${hex}`);
  if (file.hex !== hex) throw imageErrors.refused('digest-mismatch', `blob ${descriptor.digest} does not match its digest (sha256:${file.hex})`);
  if (file.size !== descriptor.size) throw imageErrors.refused('digest-mismatch', `blob ${descriptor.digest} is ${file.size} bytes, not ${descriptor.size}`);
  return file;
}

interface ResolvedImage {
  manifestBytes: Buffer;
  config: { path: string; hex: string; size: number };
  layers: { path: string; hex: string; size: number; mediaType: string }[];
}

function resolveOciLayout(archive: StagedArchive): ResolvedImage {
  const index = readJson(stagedFile(archive, 'index.json').path, 'index.json');
  if (!isRecord(index) || !Array.isArray(index.manifests) || index.manifests.length === 0) {
    throw imageErrors.refused('bad-archive', 'index.json lists no manifest');
  }
  let descriptor = parseDescriptor(index.manifests[0], 'index.json manifests[0]');
  for (let depth = 0; descriptor.mediaType === OCI_INDEX || descriptor.mediaType === DOCKER_LIST; depth += 1) {
    if (depth > 2) throw imageErrors.refused('bad-archive', 'image indexes nest too deep');
    const nested = readJson(ociBlob(archive, descriptor).path, `index ${descriptor.digest}`);
    if (!isRecord(nested) || !Array.isArray(nested.manifests)) throw imageErrors.refused('bad-archive', 'an image index lists no manifest');
    const amd64 = nested.manifests.find((m) => isRecord(m) && isRecord(m.platform) && m.platform.architecture === 'amd64' && m.platform.os === 'linux');
    descriptor = parseDescriptor(amd64 ?? nested.manifests[0], 'an image index entry');
  }
  if (descriptor.mediaType !== OCI_MANIFEST && descriptor.mediaType !== DOCKER_MANIFEST) {
    throw imageErrors.refused('bad-archive', `unsupported manifest media type ${descriptor.mediaType}`);
  }
  const manifestFile = ociBlob(archive, descriptor);
  const manifestBytes = readFileSync(manifestFile.path);
  const manifest = readJson(manifestFile.path, `manifest ${descriptor.digest}`);
  if (!isRecord(manifest) || !Array.isArray(manifest.layers)) throw imageErrors.refused('bad-archive', 'the manifest lists no layers');
  const config = ociBlob(archive, parseDescriptor(manifest.config, 'the manifest config'));
  const layers = manifest.layers.map((l, i) => {
    const d = parseDescriptor(l, `layer ${i}`);
    return { ...ociBlob(archive, d), mediaType: d.mediaType };
  });
  return { manifestBytes, config, layers };
}

function resolveDockerSave(archive: StagedArchive): ResolvedImage {
  const list = readJson(stagedFile(archive, 'manifest.json').path, 'manifest.json');
  const entry: unknown = Array.isArray(list) ? list[0] : undefined;
  if (!isRecord(entry) || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
    throw imageErrors.refused('bad-archive', 'manifest.json has no image');
  }
  const checkNamed = (name: string, file: { hex: string }): void => {
    // Docker names configs (and, since 25, every blob) by their digest: hold it to that name.
    const claimed = /([a-f0-9]{64})(\.json)?$/.exec(name)?.[1];
    if (claimed !== undefined && claimed !== file.hex) {
      throw imageErrors.refused('digest-mismatch', `${JSON.stringify(name)} does not match its digest (sha256:${file.hex})`);
    }
  };
  const config = stagedFile(archive, entry.Config);
  checkNamed(entry.Config, config);
  const layers = entry.Layers.map((name) => {
    if (typeof name !== 'string') throw imageErrors.refused('bad-archive', 'manifest.json lists a layer that is not a path');
    const file = stagedFile(archive, name);
    // Older docker save names layers <id>/layer.tar (the id is not their digest): their diff_id is checked on unpack.
    if (name.startsWith('blobs/')) checkNamed(name, file);
    return { ...file, mediaType: sniffLayerType(file.path) };
  });
  // The image's identity: the OCI manifest this archive corresponds to (config + layers by digest).
  const manifestBytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${config.hex}`, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: `sha256:${l.hex}`, size: l.size })),
  }));
  return { manifestBytes, config, layers };
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** The latest modification time (ms) of `path` or anything below it (symlinks not followed). */
async function newestMtime(path: string): Promise<number> {
  const info = await lstat(path);
  let newest = info.mtimeMs;
  if (info.isDirectory()) {
    for (const name of await readdir(path)) newest = Math.max(newest, await newestMtime(join(path, name)));
  }
  return newest;
}

export function createImageStore(root: string): ImageStore {
  const blobsDir = join(root, 'blobs', 'sha256');
  const rootfsDir = join(root, 'rootfs');
  const tmpDir = join(root, 'tmp');
  const unpacking = new Map<string, Promise<string>>();

  const ensureDirs = async (): Promise<void> => {
    for (const dir of [blobsDir, rootfsDir, tmpDir]) await mkdir(dir, { recursive: true, mode: 0o755 });
  };
  const staging = async (kind: string): Promise<string> => {
    await ensureDirs();
    const dir = join(tmpDir, `${kind}-${randomBytes(8).toString('hex')}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  };

  /** Unpacks on a worker thread (image-unpack-worker.ts): a large image must not stall the API's event loop. */
  const unpackInto = (work: string, configPath: string, layers: readonly { path: string; mediaType: string }[], limitBytes = Number.MAX_SAFE_INTEGER): Promise<string> =>
    unpackInWorker({ work, configPath, layers: layers.map((l) => ({ path: l.path, mediaType: l.mediaType })), limitBytes });

  /** Moves an unpacked rootfs into place; a concurrent one that got there first wins (same content). */
  const placeRootfs = async (rootfs: string, hex: string): Promise<string> => {
    const target = join(rootfsDir, hex);
    if (!existsSync(target)) await rename(rootfs, target).catch(() => undefined);
    if (!existsSync(target)) throw new Error(`could not place the rootfs of sha256:${hex}`);
    return target;
  };

  const placeBlob = async (path: string, hex: string): Promise<void> => {
    const target = join(blobsDir, hex);
    if (existsSync(target)) return;
    await rename(path, target);
  };

  return {
    root,
    async importArchive(source, { limitBytes }) {
      const work = await staging('import');
      try {
        const files = join(work, 'files');
        mkdirSync(files, { mode: 0o700 });
        const archive = await stageArchive(source, files, limitBytes);
        const resolved = archive.files.has('index.json') ? resolveOciLayout(archive) : resolveDockerSave(archive);
        const hex = createHash('sha256').update(resolved.manifestBytes).digest('hex');
        const blobBytes = resolved.manifestBytes.length + resolved.config.size + resolved.layers.reduce((n, l) => n + l.size, 0);
        const checkQuota = (unpackedBytes: number): void => {
          if (blobBytes + unpackedBytes > limitBytes) {
            throw new AppError('QUOTA_EXCEEDED', `the unpacked image needs ${blobBytes + unpackedBytes} bytes; the tenant has ${limitBytes} free`, {
              details: { quotaBytes: limitBytes, neededBytes: blobBytes + unpackedBytes },
            });
          }
        };
        let rootfs = join(rootfsDir, hex);
        let unpackedBytes: number;
        if (existsSync(rootfs)) {
          // Verified content: the same manifest digest means the same layers, already checked once.
          unpackedBytes = await treeBytes(rootfs);
          checkQuota(unpackedBytes);
        } else {
          const fresh = await unpackInto(work, resolved.config.path, resolved.layers, Math.max(0, limitBytes - blobBytes));
          unpackedBytes = await treeBytes(fresh);
          checkQuota(unpackedBytes);
          rootfs = await placeRootfs(fresh, hex);
        }
        const manifestPath = join(work, 'manifest.json');
        writeFileSync(manifestPath, resolved.manifestBytes);
        for (const layer of resolved.layers) await placeBlob(layer.path, layer.hex);
        await placeBlob(resolved.config.path, resolved.config.hex);
        // The manifest last: its presence says "this image's blobs are all here".
        await placeBlob(manifestPath, hex);
        return { digest: `sha256:${hex}`, sizeBytes: blobBytes + unpackedBytes, layers: resolved.layers.map((l) => `sha256:${l.hex}`) };
      } finally {
        // Refused or failed: the staging directory is all there is (blobs and rootfs are placed last).
        await rm(work, { recursive: true, force: true });
      }
    },

    rootfsPath(digest) {
      const hex = hexOf(digest);
      const existing = unpacking.get(hex);
      if (existing !== undefined) return existing;
      const pending = (async (): Promise<string> => {
        const target = join(rootfsDir, hex);
        if (existsSync(target)) return target;
        const manifestPath = join(blobsDir, hex);
        if (!existsSync(manifestPath)) throw new AppError('NOT_FOUND', `image sha256:${hex} not found`);
        const manifest = readJson(manifestPath, 'a stored manifest');
        if (!isRecord(manifest) || !Array.isArray(manifest.layers)) throw new AppError('INTERNAL', 'a stored manifest is damaged');
        const config = parseDescriptor(manifest.config, 'config');
        const layers = manifest.layers.map((l, i) => {
          const d = parseDescriptor(l, `layer ${i}`);
          return { path: join(blobsDir, hexOf(d.digest)), mediaType: d.mediaType };
        });
        const work = await staging('unpack');
        try {
          return await placeRootfs(await unpackInto(work, join(blobsDir, hexOf(config.digest)), layers), hex);
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      })();
      unpacking.set(hex, pending);
      void pending.finally(() => unpacking.delete(hex)).catch(() => undefined);
      return pending;
    },

    async collectGarbage(keep) {
      await ensureDirs();
      const keepManifests = new Set([...keep].map(hexOf));
      const keepBlobs = new Set<string>();
      for (const hex of keepManifests) {
        keepBlobs.add(hex);
        try {
          const manifest = readJson(join(blobsDir, hex), 'a stored manifest');
          if (!isRecord(manifest) || !Array.isArray(manifest.layers)) continue;
          keepBlobs.add(hexOf(parseDescriptor(manifest.config, 'config').digest));
          for (const l of manifest.layers) keepBlobs.add(hexOf(parseDescriptor(l, 'layer').digest));
        } catch {
          // a missing manifest keeps nothing more
        }
      }
      let rootfs = 0;
      let blobs = 0;
      for (const name of readdirSync(rootfsDir)) {
        if (HEX64.test(name) && !keepManifests.has(name)) {
          await rm(join(rootfsDir, name), { recursive: true, force: true });
          rootfs += 1;
        }
      }
      for (const name of readdirSync(blobsDir)) {
        if (HEX64.test(name) && !keepBlobs.has(name)) {
          unlinkSync(join(blobsDir, name));
          blobs += 1;
        }
      }
      return { rootfs, blobs };
    },

    stagingDir: (kind) => staging(kind),

    async sweepStaging(olderThanMs) {
      await ensureDirs();
      let entries = 0;
      let bytes = 0;
      const cutoff = Date.now() - olderThanMs;
      for (const entry of await readdir(tmpDir, { withFileTypes: true })) {
        const path = join(tmpDir, entry.name);
        if (olderThanMs > 0 && (await newestMtime(path).catch(() => 0)) > cutoff) continue;
        bytes += entry.isDirectory() ? await treeBytes(path).catch(() => 0) : entry.isFile() ? (await stat(path)).size : 0;
        await rm(path, { recursive: true, force: true });
        entries += 1;
      }
      return { entries, bytes };
    },

    async stats() {
      // Read-only (doctor calls it): a store never used has no directories yet, and none are created.
      const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
      const images = list(rootfsDir).filter((name) => HEX64.test(name));
      let rootfsBytes = 0;
      for (const name of images) rootfsBytes += await treeBytes(join(rootfsDir, name)).catch(() => 0);
      const blobs = list(blobsDir).filter((name) => HEX64.test(name));
      let blobBytes = 0;
      for (const name of blobs) blobBytes += (await stat(join(blobsDir, name))).size;
      return { rootfsCount: images.length, rootfsBytes, blobCount: blobs.length, blobBytes, stagingEntries: list(tmpDir).length };
    },
  };
}
