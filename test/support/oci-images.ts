/**
 * Builds OCI image archives in the test itself (no registry, no busybox): a hand-written tar writer (so
 * tests can write the hostile entries a real tar tool would refuse: `..`, devices, setuid), layers from
 * the host's own /bin/sh and the libraries ldd names, and an OCI image layout or `docker save` archive
 * with correct sha256 digests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  mode?: number;
  data?: Buffer | string;
  linkpath?: string;
}

/** A ustar archive of `entries`, exactly as given (no normalization: hostile paths stay hostile). */
export function buildTar(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const data = type === 'File' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const header = new Header({
      path: e.path,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: new Date(0),
      type,
      ...(e.linkpath === undefined ? {} : { linkpath: e.linkpath }),
      ...(type === 'CharacterDevice' || type === 'BlockDevice' ? { devmaj: 1, devmin: 3 } : {}),
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Host binaries (absolute paths) with every library ldd lists, as layer entries at the same paths. */
export function hostBinaryEntries(binaries: readonly string[]): TarEntry[] {
  const files = new Map<string, string>();
  for (const bin of binaries) {
    files.set(bin.slice(1), realpathSync(bin));
    const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' });
    for (const line of ldd.split('\n')) {
      const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (match?.[1] !== undefined) files.set(match[1].slice(1), realpathSync(match[1]));
    }
  }
  const dirs = new Set<string>();
  for (const path of files.keys()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i += 1) dirs.add(parts.slice(0, i).join('/'));
  }
  return [
    ...[...dirs].sort().map((d) => ({ path: `${d}/`, type: 'Directory' as const })),
    ...[...files].map(([path, real]) => ({ path, mode: 0o755, data: readFileSync(real) })),
  ];
}

export interface ImageLayer {
  entries: readonly TarEntry[];
  /** gzip the layer blob (default true). */
  gzip?: boolean;
  /** Corrupt the stored blob after computing its digest (digest-mismatch cases). */
  tamper?: boolean;
  /** Raw tar bytes instead of `entries`. */
  raw?: Buffer;
}

export interface BuiltImage {
  archive: Buffer;
  manifestDigest: string;
}

/** An OCI image layout tar (oci-layout, index.json, blobs/sha256/…) of `layers`, bottom first. */
export function buildOciArchive(layers: readonly ImageLayer[], options: { format?: 'oci' | 'docker' } = {}): BuiltImage {
  const blobs = new Map<string, Buffer>();
  const diffIds: string[] = [];
  const layerDescs: { mediaType: string; digest: string; size: number }[] = [];
  for (const layer of layers) {
    const tar = layer.raw ?? buildTar(layer.entries);
    diffIds.push(`sha256:${sha(tar)}`);
    const gz = layer.gzip ?? true;
    let blob = gz ? gzipSync(tar) : tar;
    const hex = sha(blob);
    if (layer.tamper === true) {
      blob = Buffer.from(blob);
      blob[blob.length - 9] = (blob[blob.length - 9] ?? 0) ^ 0xff;
    }
    blobs.set(hex, blob);
    layerDescs.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${gz ? '+gzip' : ''}`, digest: `sha256:${hex}`, size: blob.length });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds },
  }));
  const configHex = sha(config);
  blobs.set(configHex, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
    layers: layerDescs,
  }));
  const manifestHex = sha(manifest);
  if (options.format === 'docker') {
    const entries: TarEntry[] = [{ path: 'blobs/', type: 'Directory' }, { path: 'blobs/sha256/', type: 'Directory' }];
    for (const [hex, blob] of blobs) entries.push({ path: `blobs/sha256/${hex}`, data: blob });
    entries.push({
      path: 'manifest.json',
      data: JSON.stringify([{ Config: `blobs/sha256/${configHex}`, RepoTags: ['x:latest'], Layers: layerDescs.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }]),
    });
    // The store names a docker save image by the OCI manifest it corresponds to: the same as above.
    return { archive: buildTar(entries), manifestDigest: `sha256:${manifestHex}` };
  }
  blobs.set(manifestHex, manifest);
  const entries: TarEntry[] = [
    { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    {
      path: 'index.json',
      data: JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestHex}`, size: manifest.length }],
      }),
    },
    { path: 'blobs/', type: 'Directory' },
    { path: 'blobs/sha256/', type: 'Directory' },
  ];
  for (const [hex, blob] of blobs) entries.push({ path: `blobs/sha256/${hex}`, data: blob });
  return { archive: buildTar(entries), manifestDigest: `sha256:${manifestHex}` };
}

/**
 * A small runnable image: the host's sh, cat, env and sleep with their libraries (what the relay launcher
 * needs), and `/etc/image-name` holding `name` — a file only this image has. No python3.
 */
export function buildShellImage(name: string, extra: readonly TarEntry[] = []): BuiltImage {
  const base = hostBinaryEntries(['/bin/sh', '/bin/cat', '/usr/bin/env', '/bin/sleep', '/bin/ls']);
  return buildOciArchive([
    { entries: base },
    { entries: [{ path: 'etc/', type: 'Directory' }, { path: 'etc/image-name', data: `${name}\n` }, ...extra] },
  ]);
}
