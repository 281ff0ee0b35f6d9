/**
 * A client for the OCI distribution API (pull only): manifests and blobs of one repository, with the
 * spec's authentication — a 401 carrying `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered
 * by fetching a token from the realm (with the tenant's credentials as HTTP Basic, when it has any) and
 * retrying; a `Basic` challenge by sending the credentials directly. Everything fetched is verified by
 * digest before anyone reads it: a manifest by the sha256 of its bytes (against the digest asked for, or
 * the `Docker-Content-Digest` the registry announced), a blob by its descriptor's digest and size while it
 * streams to disk. Credentials and tokens never appear in errors or logs.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { AppError } from '../core/errors.ts';
import type { RegistryReference } from '../contract/image-schemas.ts';
import { imageErrors } from './layer-unpack.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Manifests and indexes are small; a registry that sends more is refused before it is buffered. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const registryErrors = {
  notConfigured: (registry: string) =>
    new AppError('VALIDATION_FAILED', `registry '${registry}' is not one the operator configured (BULKHEAD_IMAGE_REGISTRIES)`),
  denied: (registry: string, repository: string) =>
    new AppError('FORBIDDEN', `registry '${registry}' refused access to '${repository}' (set or check the tenant's credentials for it)`),
  notFound: (ref: string) => new AppError('NOT_FOUND', `'${ref}' not found in its registry`),
  unavailable: (registry: string, why: string) => new AppError('UNAVAILABLE', `registry '${registry}' could not be reached or failed: ${why}`),
  badChallenge: (registry: string) => new AppError('UNAVAILABLE', `registry '${registry}' sent an authentication challenge this client cannot answer`),
};

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters (lower-case keys). Pure. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (match === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?/g;
  for (let m = re.exec(match[2] ?? ''); m !== null; m = re.exec(match[2] ?? '')) {
    params[(m[1] as string).toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return { scheme: (match[1] as string).toLowerCase(), params };
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface RegistrySession {
  /** The manifest (or index) `reference` (a tag or `sha256:…`) names, verified by digest. */
  manifest(reference: string): Promise<FetchedManifest>;
  /**
   * Streams blob `digest` into `path` (created), checking its size and sha256 as it arrives; `onBytes`
   * may throw (a quota) to stop it. A blob that does not match is IMAGE_REFUSED `digest-mismatch` and
   * its file is removed.
   */
  blobToFile(digest: string, size: number, path: string, onBytes: (n: number) => void): Promise<void>;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A session against one repository of one configured registry (`baseUrl`). A token obtained for it is
 * reused for every request of the session; none outlives it.
 */
export function openRegistrySession(options: {
  baseUrl: string;
  ref: RegistryReference;
  credentials?: RegistryCredentials | undefined;
  timeoutMs?: number;
}): RegistrySession {
  const { ref, credentials } = options;
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 60_000;
  const basic = credentials === undefined ? undefined
    : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  let authorization: string | undefined;

  const call = async (url: string, headers: Record<string, string>): Promise<Response> => {
    try {
      return await fetch(url, { headers: { ...headers, ...(authorization === undefined ? {} : { authorization }) }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      // The cause's message names host and errno, never the credentials (they are headers).
      throw registryErrors.unavailable(ref.registry, error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : 'request failed');
    }
  };

  /** Answers a 401's challenge once: sets `authorization` for the rest of the session. */
  const authenticate = async (response: Response): Promise<void> => {
    const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
    await response.body?.cancel();
    if (challenge?.scheme === 'basic') {
      if (basic === undefined) throw registryErrors.denied(ref.registry, ref.repository);
      authorization = basic;
      return;
    }
    if (challenge?.scheme !== 'bearer' || challenge.params.realm === undefined) throw registryErrors.badChallenge(ref.registry);
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw registryErrors.badChallenge(ref.registry);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw registryErrors.badChallenge(ref.registry);
    if (challenge.params.service !== undefined) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', challenge.params.scope ?? `repository:${ref.repository}:pull`);
    let tokenResponse: Response;
    try {
      tokenResponse = await fetch(realm, { headers: basic === undefined ? {} : { authorization: basic }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw registryErrors.unavailable(ref.registry, `token service: ${error instanceof Error ? error.message : 'request failed'}`);
    }
    if (tokenResponse.status === 401 || tokenResponse.status === 403) {
      await tokenResponse.body?.cancel();
      throw registryErrors.denied(ref.registry, ref.repository);
    }
    if (!tokenResponse.ok) {
      await tokenResponse.body?.cancel();
      throw registryErrors.unavailable(ref.registry, `token service answered ${tokenResponse.status}`);
    }
    const body = await tokenResponse.json().catch(() => undefined) as { token?: unknown; access_token?: unknown } | undefined;
    const token = typeof body?.token === 'string' ? body.token : typeof body?.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined || token === '') throw registryErrors.unavailable(ref.registry, 'token service sent no token');
    authorization = `Bearer ${token}`;
  };

  /** GET with one round of authentication; 404 → NOT_FOUND, 401/403 after it → FORBIDDEN, other errors → UNAVAILABLE. */
  const get = async (path: string, headers: Record<string, string>, what: string): Promise<Response> => {
    const url = `${base}/v2/${ref.repository}/${path}`;
    let response = await call(url, headers);
    if (response.status === 401 && authorization === undefined) {
      await authenticate(response);
      response = await call(url, headers);
    }
    if (response.ok) return response;
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) throw registryErrors.denied(ref.registry, ref.repository);
    if (response.status === 404) throw registryErrors.notFound(what);
    throw registryErrors.unavailable(ref.registry, `it answered ${response.status}`);
  };

  return {
    async manifest(reference) {
      const what = `${ref.registry}/${ref.repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
      const response = await get(`manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what);
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > MAX_MANIFEST_BYTES) {
        await response.body?.cancel();
        throw imageErrors.refused('bad-archive', `the manifest of ${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      if (bytes.length > MAX_MANIFEST_BYTES) throw imageErrors.refused('bad-archive', `the manifest of ${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      const digest = sha256(bytes);
      // Pinned by digest: the bytes must hash to it. By tag: to what the registry announced, if it did.
      const expected = reference.startsWith('sha256:') ? reference : response.headers.get('docker-content-digest') ?? undefined;
      if (expected !== undefined && expected !== digest) {
        throw imageErrors.refused('digest-mismatch', `the manifest of ${what} does not match its digest ${expected} (${digest})`);
      }
      const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
      return { bytes, mediaType, digest };
    },

    async blobToFile(digest, size, path, onBytes) {
      const response = await get(`blobs/${digest}`, {}, `${ref.registry}/${ref.repository}@${digest}`);
      const fd = openSync(path, 'wx', 0o600);
      const hash = createHash('sha256');
      let received = 0;
      try {
        if (response.body === null) throw registryErrors.unavailable(ref.registry, 'a blob came without a body');
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          received += chunk.length;
          if (received > size) throw imageErrors.refused('digest-mismatch', `blob ${digest} is longer than its descriptor's ${size} bytes`);
          onBytes(chunk.length);
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        }
        if (received !== size) throw imageErrors.refused('digest-mismatch', `blob ${digest} is ${received} bytes, not ${size}`);
        const actual = `sha256:${hash.digest('hex')}`;
        if (actual !== digest) throw imageErrors.refused('digest-mismatch', `blob ${digest} does not match its digest (${actual})`);
      } catch (error) {
        await response.body?.cancel().catch(() => undefined);
        closeSync(fd);
        rmSync(path, { force: true });
        throw error;
      }
      closeSync(fd);
    },
  };
}
