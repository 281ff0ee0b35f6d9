/**
 * Which tenant may use which image: the `images` rows (RLS, one tenant's private store) and
 * `public_images` (the operator's platform-wide store), over the host's shared image store.
 *
 * Import: the archive streams into the store with the tenant's free storage as its byte limit; then, in
 * one transaction, the tenant's usage row is locked, the quota checked again with the image's size
 * (blobs + unpacked files, minus the image the tag replaces), the row written, usage updated and the
 * import audited. Another tenant's private image is NOT_FOUND by name and by digest — the same answer as
 * an image that does not exist — even when the same content sits in the shared store.
 *
 * Garbage collection keeps every digest named by an image row (any tenant, public) or by a job that has
 * not ended; imports and collections are serialized in this process so a collection never removes what
 * an import is about to commit (with several replicas, run `collectGarbage` on one only).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { create as createTar } from 'tar';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, readAsSystem, withSystem, withTenant } from '../db/index.ts';
import { parseImageReference, type Image } from '../contract/image-schemas.ts';
import type { ImageStore } from './image-store.ts';
import { parseRegistryReference, type RegistryReference } from '../contract/image-schemas.ts';
import { registryErrors, type RegistryCredentials } from './registry-client.ts';
import { pullToLayout } from './registry-pull.ts';

export const imageServiceErrors = {
  notFound: (ref: string) => new AppError('NOT_FOUND', `image '${ref}' not found`),
  badReference: (ref: string) => new AppError('VALIDATION_FAILED', `'${ref}' is not an image reference (name, name:tag or name@sha256:<hex>)`),
  badRegistryReference: (ref: string) =>
    new AppError('VALIDATION_FAILED', `'${ref}' is not a registry reference (host[:port]/repository[:tag] or …@sha256:<hex>)`),
  badLocalName: (ref: string) => new AppError('VALIDATION_FAILED', `'${ref}' is not a local image name:tag to pull into`),
  credentialNotFound: (registry: string) => new AppError('NOT_FOUND', `no credentials for registry '${registry}'`),
  pullQuotaExceeded: (limit: number) =>
    new AppError('QUOTA_EXCEEDED', `the pulled image exceeds the tenant's free storage (${limit} bytes)`, { details: { quotaBytes: limit } }),
  quotaExceeded: (used: number, quota: number, needed: number) =>
    new AppError('QUOTA_EXCEEDED', `storage quota exceeded: ${used} of ${quota} bytes in use or reserved; this image needs ${needed} more`, {
      details: { usedBytes: used, quotaBytes: quota, neededBytes: needed },
    }),
};

interface ImageRow {
  name: string;
  tags: string[];
  digest: string;
  size_bytes: string | number;
  created_at: Date;
}

const toImage = (row: ImageRow, scope: Image['scope'], tag: string | null): Image => ({
  name: row.name, tag, digest: row.digest, sizeBytes: Number(row.size_bytes), scope, createdAt: new Date(row.created_at).toISOString(),
});

/** One entry per tag, sorted; an untagged digest (its tag moved on) once, with tag null. */
const toImages = (row: ImageRow, scope: Image['scope']): Image[] =>
  row.tags.length === 0 ? [toImage(row, scope, null)] : [...row.tags].sort().map((tag) => toImage(row, scope, tag));

/**
 * Points `name:tag` at `digest` in `table` (the name's rows locked): the tag leaves any other digest of the
 * name (which stays, untagged), and the digest's row is created if new. Returns the row and the bytes it
 * adds to the store (0 when the digest was already there under this name).
 */
async function tagDigest(
  tx: Queryable, table: 'images' | 'public_images', tenantId: string | undefined,
  image: { name: string; tag: string; digest: string; sizeBytes: number; actor: string },
): Promise<{ row: ImageRow; added: number; untagged: string[] }> {
  const { rows: current } = await tx.query<ImageRow>(`SELECT * FROM ${table} WHERE name = $1 FOR UPDATE`, [image.name]);
  const untagged = current.filter((r) => r.digest !== image.digest && r.tags.includes(image.tag)).map((r) => r.digest);
  await tx.query(`UPDATE ${table} SET tags = array_remove(tags, $2) WHERE name = $1 AND digest <> $3 AND $2 = ANY(tags)`, [image.name, image.tag, image.digest]);
  if (current.some((r) => r.digest === image.digest)) {
    const { rows } = await tx.query<ImageRow>(
      `UPDATE ${table} SET tags = CASE WHEN $3 = ANY(tags) THEN tags ELSE array_append(tags, $3) END WHERE name = $1 AND digest = $2 RETURNING *`,
      [image.name, image.digest, image.tag],
    );
    return { row: rows[0] as ImageRow, added: 0, untagged };
  }
  const { rows } = tenantId === undefined
    ? await tx.query<ImageRow>(
      'INSERT INTO public_images (name, digest, tags, size_bytes, created_by) VALUES ($1, $2, ARRAY[$3], $4, $5) RETURNING *',
      [image.name, image.digest, image.tag, image.sizeBytes, image.actor],
    )
    : await tx.query<ImageRow>(
      'INSERT INTO images (tenant_id, name, digest, tags, size_bytes, created_by) VALUES ($1, $2, $3, ARRAY[$4], $5, $6) RETURNING *',
      [tenantId, image.name, image.digest, image.tag, image.sizeBytes, image.actor],
    );
  return { row: rows[0] as ImageRow, added: image.sizeBytes, untagged };
}

/**
 * Removes `ref` from `table`: `name:tag` takes the tag off (and the row, once it has no tag left);
 * `name@digest` removes that digest's row. Returns the removed row (undefined when only a tag went);
 * NOT_FOUND when nothing matched.
 */
async function untag(tx: Queryable, table: 'images' | 'public_images', ref: string): Promise<{ removed?: ImageRow; digest: string }> {
  const parsed = parseImageReference(ref);
  if (parsed === undefined) throw imageServiceErrors.badReference(ref);
  if (parsed.digest !== undefined) {
    const { rows } = await tx.query<ImageRow>(`DELETE FROM ${table} WHERE name = $1 AND digest = $2 RETURNING *`, [parsed.name, parsed.digest]);
    if (rows[0] === undefined) throw imageServiceErrors.notFound(ref);
    return { removed: rows[0], digest: rows[0].digest };
  }
  const { rows } = await tx.query<ImageRow>(
    `UPDATE ${table} SET tags = array_remove(tags, $2) WHERE name = $1 AND $2 = ANY(tags) RETURNING *`, [parsed.name, parsed.tag],
  );
  const row = rows[0];
  if (row === undefined) throw imageServiceErrors.notFound(ref);
  if (row.tags.length > 0) return { digest: row.digest };
  await tx.query(`DELETE FROM ${table} WHERE name = $1 AND digest = $2`, [row.name, row.digest]);
  return { removed: row, digest: row.digest };
}

/**
 * Registry secrets are sealed with AES-256-GCM under a key derived (HKDF) from the tenant's data key; the
 * additional data binds a ciphertext to its tenant and registry. Format: base64(iv ‖ tag ‖ ciphertext).
 */
const credentialKey = (dataKey: Buffer): Buffer => Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'bulkhead registry credential v1', 32));
const credentialAad = (tenantId: string, registry: string): Buffer => Buffer.from(`${tenantId}\0${registry}`);

export function sealCredential(dataKey: Buffer, tenantId: string, registry: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', credentialKey(dataKey), iv);
  cipher.setAAD(credentialAad(tenantId, registry));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Throws (INTERNAL, no detail) when the ciphertext is not this tenant's and registry's. */
export function openCredential(dataKey: Buffer, tenantId: string, registry: string, sealed: string): string {
  try {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', credentialKey(dataKey), raw.subarray(0, 12));
    decipher.setAAD(credentialAad(tenantId, registry));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new AppError('INTERNAL', 'a stored registry credential could not be decrypted');
  }
}

export interface RegistryCredentialInfo {
  registry: string;
  username: string;
  updatedAt: string;
}

export interface ResolvedImage {
  /** The reference as the caller gave it. */
  image: string;
  name: string;
  digest: string;
  scope: Image['scope'];
}

export interface ImageService {
  importTenantImage(ctx: RequestContext, tenantId: string, name: string, tag: string, source: Readable): Promise<Image>;
  importPublicImage(ctx: RequestContext, name: string, tag: string, source: Readable): Promise<Image>;
  /** The tenant's private images, then the public ones. */
  list(tenantId: string): Promise<Image[]>;
  listPublic(): Promise<Image[]>;
  /** `name:tag` / `name@digest` → the image the tenant may use: its own first, else a public one; NOT_FOUND. */
  resolve(tenantId: string, ref: string): Promise<ResolvedImage>;
  /**
   * `name:tag` takes the tag off (the digest goes once no tag is left on it); `name@digest` deletes that
   * digest (e.g. one left untagged by a moved tag). Releases its storage, then collects garbage. NOT_FOUND otherwise.
   */
  remove(ctx: RequestContext, tenantId: string, ref: string): Promise<void>;
  removePublic(ctx: RequestContext, ref: string): Promise<void>;
  /** The unpacked rootfs of a digest (for the job backend: the digest was resolved for its tenant at submission). */
  rootfsPath(digest: string): Promise<string>;
  /** The tenant's default image reference (what a job without `image` runs on), if one is set. */
  defaultFor(tenantId: string): Promise<string | undefined>;
  /** Sets (after checking it resolves for the tenant: NOT_FOUND otherwise) or clears (`undefined`) the default. */
  setDefault(ctx: RequestContext, tenantId: string, ref: string | undefined): Promise<{ image: string | null }>;
  collectGarbage(): Promise<{ rootfs: number; blobs: number }>;
  /**
   * Pulls `reference` (`host[:port]/repository[:tag|@digest]`, the host one the operator configured) into
   * the tenant's private store as `as` (`name:tag`; default the repository's last component and the tag,
   * or `sha256-<12 hex>` for a pull by digest), with the tenant's credentials for that registry if it has
   * any. Verified and unpacked exactly as an import; counts against the quota; audited `image.import` with
   * `details.pulledFrom`.
   */
  pull(ctx: RequestContext, tenantId: string, reference: string, as?: string): Promise<Image & { pulledFrom: string }>;
  setCredential(ctx: RequestContext, tenantId: string, registry: string, credentials: RegistryCredentials): Promise<RegistryCredentialInfo>;
  removeCredential(ctx: RequestContext, tenantId: string, registry: string): Promise<void>;
  listCredentials(tenantId: string): Promise<RegistryCredentialInfo[]>;
}

export function createImageService(deps: {
  db: Db;
  store: ImageStore;
  /** Configured registries: `host[:port]` → base URL (config `imageRegistries`). */
  registries?: Readonly<Record<string, string>>;
  /** The tenant's data key (artifact storage's): registry credentials are sealed under a key derived from it. */
  dataKey?: (tenantId: string) => Promise<Buffer>;
}): ImageService {
  const { db, store } = deps;
  const registries = deps.registries ?? {};
  const dataKeyOf = async (tenantId: string): Promise<Buffer> => {
    if (deps.dataKey === undefined) throw new AppError('NOT_IMPLEMENTED', 'registry credentials need the tenant key service');
    return deps.dataKey(tenantId);
  };
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };

  const tenantFree = async (tenantId: string): Promise<number> =>
    withTenant(db, tenantId, async (tx) => {
      const { rows } = await tx.query<{ used: string | number | null; reserved: string | number; quota: string | number | null }>(
        `SELECT (SELECT used_bytes FROM storage_usage) AS used,
                (SELECT coalesce(sum(bytes), 0) FROM storage_reservations WHERE expires_at > now()) AS reserved,
                (SELECT storage_bytes FROM tenant_quotas) AS quota`,
      );
      const row = rows[0];
      return Math.max(0, Number(row?.quota ?? 0) - Number(row?.used ?? 0) - Number(row?.reserved ?? 0));
    }, { readOnly: true });

  const collect = async (): Promise<{ rootfs: number; blobs: number }> => {
    const { rows } = await readAsSystem<{ digest: string }>(db,
      `SELECT digest FROM images UNION SELECT digest FROM public_images
       UNION SELECT image_digest FROM jobs WHERE image_digest IS NOT NULL AND status IN ('queued', 'admitted', 'running', 'preempted')
       UNION SELECT image_digest FROM deployments WHERE image_digest IS NOT NULL`);
    return store.collectGarbage(rows.map((r) => r.digest));
  };

  const findIn = async (tx: Queryable, table: 'images' | 'public_images', name: string, key: { tag?: string; digest?: string }): Promise<ImageRow | undefined> => {
    const { rows } = key.digest !== undefined
      ? await tx.query<ImageRow>(`SELECT * FROM ${table} WHERE name = $1 AND digest = $2`, [name, key.digest])
      : await tx.query<ImageRow>(`SELECT * FROM ${table} WHERE name = $1 AND $2 = ANY(tags)`, [name, key.tag]);
    return rows[0];
  };

  const importTenant = (
    ctx: RequestContext, tenantId: string, name: string, tag: string, source: Readable, origin: Record<string, string>,
  ): Promise<Image> => exclusive(async () => {
    const limitBytes = await tenantFree(tenantId);
    const imported = await store.importArchive(source, { limitBytes });
    try {
      return await withTenant(db, tenantId, async (tx) => {
        await tx.query('INSERT INTO storage_usage (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING', [tenantId]);
        const { rows: usage } = await tx.query<{ used_bytes: string | number }>('SELECT used_bytes FROM storage_usage FOR UPDATE');
        const { rows: totals } = await tx.query<{ reserved: string | number; quota: string | number | null }>(
          `SELECT (SELECT coalesce(sum(bytes), 0) FROM storage_reservations WHERE expires_at > now()) AS reserved,
                  (SELECT storage_bytes FROM tenant_quotas) AS quota`,
        );
        const used = Number(usage[0]?.used_bytes ?? 0) + Number(totals[0]?.reserved ?? 0);
        const quota = Number(totals[0]?.quota ?? 0);
        const { row, added, untagged } = await tagDigest(tx, 'images', tenantId, { name, tag, digest: imported.digest, sizeBytes: imported.sizeBytes, actor: ctx.actor });
        if (used + added > quota) throw imageServiceErrors.quotaExceeded(used, quota, added);
        await tx.query('UPDATE storage_usage SET used_bytes = used_bytes + $1, updated_at = now()', [added]);
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'image.import', target: `image:${name}:${tag}`, outcome: 'success', requestId: ctx.requestId,
          details: { digest: imported.digest, sizeBytes: added, ...(untagged.length === 0 ? {} : { untagged }), ...origin },
        });
        return toImage(row, 'tenant', tag);
      });
    } catch (error) {
      await collect().catch(() => undefined);
      throw error;
    }
  });

  /** The local `name` (and `tag`, unless it is to come from the pulled digest) a pull is stored under. */
  const localNameOf = (ref: RegistryReference, as: string | undefined): { name: string; tag?: string } => {
    if (as !== undefined) {
      const parsed = parseImageReference(as);
      if (parsed?.tag === undefined) throw imageServiceErrors.badLocalName(as);
      return { name: parsed.name, tag: parsed.tag };
    }
    const name = ref.repository.split('/').at(-1) ?? '';
    if (parseImageReference(name) === undefined) throw imageServiceErrors.badLocalName(name);
    return ref.tag === undefined ? { name } : { name, tag: ref.tag };
  };

  const credentialsFor = async (tenantId: string, ref: RegistryReference): Promise<RegistryCredentials | undefined> => {
    const row = await withTenant(db, tenantId, async (tx) => {
      const { rows } = await tx.query<{ username: string; secret_sealed: string }>(
        'SELECT username, secret_sealed FROM registry_credentials WHERE registry = $1', [ref.registry],
      );
      return rows[0];
    }, { readOnly: true });
    if (row === undefined) return undefined;
    return { username: row.username, password: openCredential(await dataKeyOf(tenantId), tenantId, ref.registry, row.secret_sealed) };
  };

  return {
    importTenantImage: (ctx, tenantId, name, tag, source) => importTenant(ctx, tenantId, name, tag, source, {}),

    importPublicImage: (ctx, name, tag, source) => exclusive(async () => {
      const imported = await store.importArchive(source, { limitBytes: Number.MAX_SAFE_INTEGER });
      try {
        return await withSystem(db, async (tx) => {
          const { row } = await tagDigest(tx, 'public_images', undefined, { name, tag, digest: imported.digest, sizeBytes: imported.sizeBytes, actor: ctx.actor });
          await appendAuditEvent(tx, {
            tenantId: PLATFORM_TENANT_ID, actor: ctx.actor, action: 'image.public.import', target: `image:${name}:${tag}`, outcome: 'success',
            requestId: ctx.requestId, details: { digest: imported.digest, sizeBytes: imported.sizeBytes },
          });
          return toImage(row, 'public', tag);
        });
      } catch (error) {
        await collect().catch(() => undefined);
        throw error;
      }
    }),

    async list(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const own = await tx.query<ImageRow>('SELECT * FROM images ORDER BY name, created_at, digest');
        const pub = await tx.query<ImageRow>('SELECT * FROM public_images ORDER BY name, created_at, digest');
        return [...own.rows.flatMap((r) => toImages(r, 'tenant')), ...pub.rows.flatMap((r) => toImages(r, 'public'))];
      }, { readOnly: true });
    },

    async listPublic() {
      const { rows } = await readAsSystem<ImageRow>(db, 'SELECT * FROM public_images ORDER BY name, created_at, digest');
      return rows.flatMap((r) => toImages(r, 'public'));
    },

    async resolve(tenantId, ref) {
      const parsed = parseImageReference(ref);
      if (parsed === undefined) throw imageServiceErrors.badReference(ref);
      const key = parsed.digest !== undefined ? { digest: parsed.digest } : { tag: parsed.tag };
      return withTenant(db, tenantId, async (tx) => {
        const own = await findIn(tx, 'images', parsed.name, key);
        if (own !== undefined) return { image: ref, name: own.name, digest: own.digest, scope: 'tenant' as const };
        const pub = await findIn(tx, 'public_images', parsed.name, key);
        if (pub !== undefined) return { image: ref, name: pub.name, digest: pub.digest, scope: 'public' as const };
        throw imageServiceErrors.notFound(ref);
      }, { readOnly: true });
    },

    async remove(ctx, tenantId, ref) {
      await exclusive(async () => {
        await withTenant(db, tenantId, async (tx) => {
          const { removed, digest } = await untag(tx, 'images', ref);
          if (removed !== undefined) {
            await tx.query('UPDATE storage_usage SET used_bytes = greatest(0, used_bytes - $1), updated_at = now()', [Number(removed.size_bytes)]);
          }
          await appendAuditEvent(tx, {
            tenantId, actor: ctx.actor, action: 'image.delete', target: `image:${ref}`, outcome: 'success', requestId: ctx.requestId,
            details: { digest, removed: removed !== undefined },
          });
        });
        await collect();
      });
    },

    async removePublic(ctx, ref) {
      await exclusive(async () => {
        await withSystem(db, async (tx) => {
          const { removed, digest } = await untag(tx, 'public_images', ref);
          await appendAuditEvent(tx, {
            tenantId: PLATFORM_TENANT_ID, actor: ctx.actor, action: 'image.public.delete', target: `image:${ref}`, outcome: 'success',
            requestId: ctx.requestId, details: { digest, removed: removed !== undefined },
          });
        });
        await collect();
      });
    },

    rootfsPath: (digest) => store.rootfsPath(digest),

    async defaultFor(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ image: string }>('SELECT image FROM image_defaults');
        return rows[0]?.image;
      }, { readOnly: true });
    },

    async setDefault(ctx, tenantId, ref) {
      return withTenant(db, tenantId, async (tx) => {
        if (ref === undefined) {
          await tx.query('DELETE FROM image_defaults');
        } else {
          const parsed = parseImageReference(ref);
          if (parsed === undefined) throw imageServiceErrors.badReference(ref);
          const key = parsed.digest !== undefined ? { digest: parsed.digest } : { tag: parsed.tag };
          if ((await findIn(tx, 'images', parsed.name, key)) === undefined && (await findIn(tx, 'public_images', parsed.name, key)) === undefined) {
            throw imageServiceErrors.notFound(ref);
          }
          await tx.query(
            `INSERT INTO image_defaults (tenant_id, image, updated_by) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET image = EXCLUDED.image, updated_by = EXCLUDED.updated_by, updated_at = now()`,
            [tenantId, ref, ctx.actor],
          );
        }
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'image.default.set', target: 'image-default', outcome: 'success', requestId: ctx.requestId,
          details: { image: ref ?? null },
        });
        return { image: ref ?? null };
      });
    },
    collectGarbage: () => exclusive(collect),

    async pull(ctx, tenantId, reference, as) {
      const ref = parseRegistryReference(reference);
      if (ref === undefined) throw imageServiceErrors.badRegistryReference(reference);
      const baseUrl = registries[ref.registry];
      if (baseUrl === undefined) throw registryErrors.notConfigured(ref.registry);
      const local = localNameOf(ref, as);
      const credentials = await credentialsFor(tenantId, ref);
      const limitBytes = await tenantFree(tenantId);
      const dir = await store.stagingDir('pull');
      try {
        let received = 0;
        const { digest } = await pullToLayout({
          baseUrl, ref, credentials, dir,
          budget: (n) => {
            received += n;
            if (received > limitBytes) throw imageServiceErrors.pullQuotaExceeded(limitBytes);
          },
        });
        const tag = local.tag ?? `sha256-${digest.slice(7, 19)}`;
        // The layout goes through the import path as a tar stream: every check an upload gets, a pull gets.
        const archive = Readable.from(createTar({ cwd: dir, portable: true, noDirRecurse: false }, ['oci-layout', 'index.json', 'blobs']));
        const image = await importTenant(ctx, tenantId, local.name, tag, archive, { pulledFrom: reference });
        return { ...image, pulledFrom: reference };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    async setCredential(ctx, tenantId, registry, credentials) {
      if (registries[registry] === undefined) throw registryErrors.notConfigured(registry);
      const sealed = sealCredential(await dataKeyOf(tenantId), tenantId, registry, credentials.password);
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ updated_at: Date }>(
          `INSERT INTO registry_credentials (tenant_id, registry, username, secret_sealed, updated_by) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, registry) DO UPDATE SET username = EXCLUDED.username, secret_sealed = EXCLUDED.secret_sealed,
             updated_by = EXCLUDED.updated_by, updated_at = now()
           RETURNING updated_at`,
          [tenantId, registry, credentials.username, sealed, ctx.actor],
        );
        // The username is recorded, never the password.
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'image.registry_credential.set', target: `registry:${registry}`, outcome: 'success',
          requestId: ctx.requestId, details: { username: credentials.username },
        });
        return { registry, username: credentials.username, updatedAt: new Date(rows[0]?.updated_at ?? Date.now()).toISOString() };
      });
    },

    async removeCredential(ctx, tenantId, registry) {
      await withTenant(db, tenantId, async (tx) => {
        const { rowCount } = await tx.query('DELETE FROM registry_credentials WHERE registry = $1', [registry]);
        if ((rowCount ?? 0) === 0) throw imageServiceErrors.credentialNotFound(registry);
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'image.registry_credential.delete', target: `registry:${registry}`, outcome: 'success',
          requestId: ctx.requestId, details: {},
        });
      });
    },

    async listCredentials(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ registry: string; username: string; updated_at: Date }>(
          'SELECT registry, username, updated_at FROM registry_credentials ORDER BY registry',
        );
        return rows.map((r) => ({ registry: r.registry, username: r.username, updatedAt: new Date(r.updated_at).toISOString() }));
      }, { readOnly: true });
    },
  };
}
