/**
 * Pulling an image from a configured OCI distribution registry into an OCI image layout directory
 * (`oci-layout`, `index.json`, `blobs/sha256/…`), which the caller then imports through the same path as
 * an uploaded archive (image-store.ts: every blob hashed again, every layer unpacked with the hostile-entry
 * checks, diff_ids compared). Nothing here decides access or writes the store: a refused or failed pull
 * leaves only its staging directory, which the caller removes.
 *
 * An image index (multi-platform) is resolved to its linux/amd64 manifest (else its first); the image's
 * identity is that manifest's digest, as for an imported layout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RegistryReference } from '../contract/image-schemas.ts';
import { imageErrors } from './layer-unpack.ts';
import { hexOf, isRecord } from './image-unpack.ts';
import { openRegistrySession, type RegistryCredentials } from './registry-client.ts';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

function descriptorOf(v: unknown, what: string): Desc {
  if (!isRecord(v) || typeof v.digest !== 'string' || typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw imageErrors.refused('bad-archive', `${what} is not a descriptor`);
  }
  hexOf(v.digest);
  return { mediaType: typeof v.mediaType === 'string' ? v.mediaType : '', digest: v.digest, size: v.size };
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw imageErrors.refused('bad-archive', `${what} is not JSON`);
  }
}

/**
 * Downloads `ref` into `dir` (created) as an OCI image layout. `budget(n)` is called for every byte
 * received and may throw (QUOTA_EXCEEDED) to stop the pull. Returns the manifest digest.
 */
export async function pullToLayout(options: {
  baseUrl: string;
  ref: RegistryReference;
  credentials?: RegistryCredentials | undefined;
  dir: string;
  budget: (bytes: number) => void;
}): Promise<{ digest: string; bytes: number }> {
  const { ref, dir } = options;
  const session = openRegistrySession({ baseUrl: options.baseUrl, ref, credentials: options.credentials });
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true, mode: 0o700 });
  let total = 0;
  const count = (n: number): void => {
    total += n;
    options.budget(n);
  };

  let fetched = await session.manifest(ref.digest ?? ref.tag ?? 'latest');
  count(fetched.bytes.length);
  let doc = parseJson(fetched.bytes, 'the manifest');
  let mediaType = fetched.mediaType || (isRecord(doc) && typeof doc.mediaType === 'string' ? doc.mediaType : '');
  for (let depth = 0; INDEX_TYPES.has(mediaType); depth += 1) {
    if (depth > 2) throw imageErrors.refused('bad-archive', 'image indexes nest too deep');
    if (!isRecord(doc) || !Array.isArray(doc.manifests) || doc.manifests.length === 0) throw imageErrors.refused('bad-archive', 'an image index lists no manifest');
    const amd64 = doc.manifests.find((m) => isRecord(m) && isRecord(m.platform) && m.platform.architecture === 'amd64' && m.platform.os === 'linux');
    const chosen = descriptorOf(amd64 ?? doc.manifests[0], 'an image index entry');
    fetched = await session.manifest(chosen.digest);
    count(fetched.bytes.length);
    if (fetched.bytes.length !== chosen.size) throw imageErrors.refused('digest-mismatch', `manifest ${chosen.digest} is ${fetched.bytes.length} bytes, not ${chosen.size}`);
    doc = parseJson(fetched.bytes, `manifest ${chosen.digest}`);
    mediaType = fetched.mediaType || chosen.mediaType;
  }
  if (!isRecord(doc)) throw imageErrors.refused('bad-archive', 'the manifest is not an object');
  if (!MANIFEST_TYPES.has(mediaType)) {
    // Some registries answer a generic content type: the manifest's own mediaType decides then.
    mediaType = typeof doc.mediaType === 'string' && MANIFEST_TYPES.has(doc.mediaType) ? doc.mediaType : '';
    if (mediaType === '') throw imageErrors.refused('bad-archive', 'unsupported manifest media type (schema 1 and other formats cannot be pulled)');
  }
  if (!Array.isArray(doc.layers)) throw imageErrors.refused('bad-archive', 'the manifest lists no layers');
  const wanted = [descriptorOf(doc.config, 'the manifest config'), ...doc.layers.map((l, i) => descriptorOf(l, `layer ${i}`))];
  const seen = new Set<string>();
  for (const blob of wanted) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    await session.blobToFile(blob.digest, blob.size, join(blobs, hexOf(blob.digest)), count);
  }
  writeFileSync(join(blobs, hexOf(fetched.digest)), fetched.bytes);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType, digest: fetched.digest, size: fetched.bytes.length }],
  }));
  return { digest: fetched.digest, bytes: total };
}
