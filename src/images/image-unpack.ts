/**
 * Unpacking an image's layers into a root filesystem (run on a worker thread by image-store.ts, so a large
 * image does not stall the event loop): each layer decompressed (gzip, zstd or plain), its uncompressed
 * sha256 compared with the config's diff_id, its entries applied by layer-unpack.ts (hostile entries
 * refused), then the mount points the sandbox needs created, replacing any link the image put there.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { applyLayer, imageErrors } from './layer-unpack.ts';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export const hexOf = (digest: string): string => {
  const match = DIGEST.exec(digest);
  if (match?.[1] === undefined) throw imageErrors.refused('bad-archive', `not a sha256 digest: ${JSON.stringify(digest)}`);
  return match[1];
};

export function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    throw imageErrors.refused('bad-archive', `${what} is not valid JSON`);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function sniffLayerType(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip';
    if (n >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
    return 'application/vnd.oci.image.layer.v1.tar';
  } finally {
    closeSync(fd);
  }
}

/** The uncompressed tar stream of a layer file (gzip, zstd or plain tar, whatever its media type says). */
function layerStream(path: string, mediaType: string): Readable {
  const raw = createReadStream(path);
  const kind = mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip') || mediaType.endsWith('diff.tar.gzip')
    ? 'gzip' : mediaType.endsWith('+zstd') ? 'zstd' : sniffLayerType(path).endsWith('+gzip') ? 'gzip' : sniffLayerType(path).endsWith('+zstd') ? 'zstd' : 'tar';
  if (kind === 'tar') return raw;
  const decompress = kind === 'gzip' ? createGunzip() : createZstdDecompress();
  raw.on('error', (e) => decompress.destroy(e));
  return raw.pipe(decompress);
}

/** Directories and files the sandbox mounts over; created (replacing links) so a read-only root needs nothing. */
const mountDirs = ['proc', 'dev', 'tmp', 'workspace', 'outputs', 'data', 'code', 'etc', 'opt/bulkhead', 'run/bulkhead'];
const mountFiles = ['etc/passwd', 'etc/group', 'etc/hosts'];

export function prepareMountPoints(rootfs: string): void {
  for (const rel of mountDirs) {
    let path = rootfs;
    for (const part of rel.split('/')) {
      path = join(path, part);
      const info = existsOrLink(path);
      if (info !== undefined && !info.isDirectory()) rmSync(path, { recursive: true, force: true });
      if (info === undefined || !info.isDirectory()) mkdirSync(path, { mode: 0o755 });
    }
  }
  for (const rel of mountFiles) {
    const path = join(rootfs, rel);
    const info = existsOrLink(path);
    if (info !== undefined && !info.isFile()) rmSync(path, { recursive: true, force: true });
    if (info === undefined || !info.isFile()) writeFileSync(path, '', { mode: 0o644 });
  }
}

function existsOrLink(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Unpacks `layers` into `<work>/rootfs`, checking each against the config's diff_ids; returns the rootfs
 * path. QUOTA_EXCEEDED as soon as the files written pass `limitBytes` (a small archive can expand a lot).
 */
export async function unpackImage(
  work: string, configPath: string, layers: readonly { path: string; mediaType: string }[], limitBytes = Number.MAX_SAFE_INTEGER,
): Promise<string> {
  let written = 0;
  const config = readJson(configPath, 'the image config');
  const diffIds = isRecord(config) && isRecord(config.rootfs) && Array.isArray(config.rootfs.diff_ids) ? config.rootfs.diff_ids : undefined;
  if (diffIds?.length !== layers.length) throw imageErrors.refused('bad-archive', 'the config\'s rootfs.diff_ids do not match the layers');
  const rootfs = join(work, 'rootfs');
  mkdirSync(rootfs, { mode: 0o755 });
  for (const [i, layer] of layers.entries()) {
    const expected = hexOf(String(diffIds[i]));
    const hash = createHash('sha256');
    const tap = new PassThrough();
    tap.on('data', (chunk: Buffer) => hash.update(chunk));
    const stream = layerStream(layer.path, layer.mediaType);
    stream.on('error', (e) => tap.destroy(e));
    stream.pipe(tap);
    written += (await applyLayer(rootfs, tap, limitBytes - written)).bytes;
    const actual = hash.digest('hex');
    if (actual !== expected) {
      throw imageErrors.refused('digest-mismatch', `layer ${i} does not match its diff_id sha256:${expected} (got sha256:${actual})`);
    }
  }
  prepareMountPoints(rootfs);
  return rootfs;
}
