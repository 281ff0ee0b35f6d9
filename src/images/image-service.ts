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
import type { Readable } from 'node:stream';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, readAsSystem, withSystem, withTenant } from '../db/index.ts';
import { parseImageReference, type Image } from '../contract/image-schemas.ts';
import type { ImageStore } from './image-store.ts';

export const imageServiceErrors = {
  notFound: (ref: string) => new AppError('NOT_FOUND', `image '${ref}' not found`),
  badReference: (ref: string) => new AppError('VALIDATION_FAILED', `'${ref}' is not an image reference (name, name:tag or name@sha256:<hex>)`),
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
}

export function createImageService(deps: { db: Db; store: ImageStore }): ImageService {
  const { db, store } = deps;
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
       UNION SELECT image_digest FROM jobs WHERE image_digest IS NOT NULL AND status IN ('queued', 'admitted', 'running', 'preempted')`);
    return store.collectGarbage(rows.map((r) => r.digest));
  };

  const findIn = async (tx: Queryable, table: 'images' | 'public_images', name: string, key: { tag?: string; digest?: string }): Promise<ImageRow | undefined> => {
    const { rows } = key.digest !== undefined
      ? await tx.query<ImageRow>(`SELECT * FROM ${table} WHERE name = $1 AND digest = $2`, [name, key.digest])
      : await tx.query<ImageRow>(`SELECT * FROM ${table} WHERE name = $1 AND $2 = ANY(tags)`, [name, key.tag]);
    return rows[0];
  };

  return {
    importTenantImage: (ctx, tenantId, name, tag, source) => exclusive(async () => {
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
            details: { digest: imported.digest, sizeBytes: added, ...(untagged.length === 0 ? {} : { untagged }) },
          });
          return toImage(row, 'tenant', tag);
        });
      } catch (error) {
        await collect().catch(() => undefined);
        throw error;
      }
    }),

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
  };
}
