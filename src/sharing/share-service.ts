import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { isUuid, readAsSystem, withSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';

/** What a share names: one model version (today); datasets and experiments are parsed but refused. */
export type ShareResource =
  | { kind: 'model'; name: string; version: number }
  | { kind: 'dataset'; name: string; version: number }
  | { kind: 'experiment'; id: string };

export interface Share {
  id: string;
  /** `granted` when the caller's tenant owns the object, `received` when it (or an ancestor) is the grantee. */
  direction: 'granted' | 'received';
  ownerId: string;
  owner: string;
  granteeId: string;
  grantee: string;
  resource: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Live: not revoked and not expired. */
  active: boolean;
}

export const shareErrors = {
  badResource: (resource: string) =>
    new AppError('VALIDATION_FAILED', `resource '${resource.slice(0, 200)}' is not one of model:{name}/{version}, dataset:{name}/{version}, experiment:{id}`),
  granteeNotFound: (grantee: string) => new AppError('VALIDATION_FAILED', `grantee tenant '${grantee.slice(0, 64)}' not found`),
  granteeIsOwner: () => new AppError('VALIDATION_FAILED', 'a tenant cannot share with itself'),
  expiresInPast: () => new AppError('VALIDATION_FAILED', 'expiresAt must be in the future'),
  objectNotFound: (resource: string) => new AppError('NOT_FOUND', `${resource.slice(0, 300)} not found`),
  notFound: (id: string) => new AppError('NOT_FOUND', `share '${id.slice(0, 64)}' not found`),
};

/** Parses `model:{name}/{version}`, `dataset:{name}/{version}` or `experiment:{id}`; a model name may hold '/'. */
export const parseShareResource = (resource: string): ShareResource => {
  const versioned = /^(model|dataset):(.+)\/([1-9][0-9]{0,8})$/.exec(resource);
  if (versioned !== null) {
    return { kind: versioned[1] as 'model' | 'dataset', name: versioned[2] as string, version: Number(versioned[3]) };
  }
  const experiment = /^experiment:([0-9]{1,18})$/.exec(resource);
  if (experiment !== null) return { kind: 'experiment', id: experiment[1] as string };
  throw shareErrors.badResource(resource);
};

interface ShareRow {
  id: string;
  tenant_id: string;
  owner_slug: string;
  grantee_id: string;
  grantee_slug: string;
  resource_kind: string;
  resource_name: string;
  resource_version: number | null;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  active: boolean;
}

const iso = (value: Date | null): string | null => (value === null ? null : new Date(value).toISOString());

const toShare = (row: ShareRow, viewer: string): Share => ({
  id: row.id,
  direction: row.tenant_id === viewer ? 'granted' : 'received',
  ownerId: row.tenant_id,
  owner: row.owner_slug,
  granteeId: row.grantee_id,
  grantee: row.grantee_slug,
  resource: `${row.resource_kind}:${row.resource_name}${row.resource_version === null ? '' : `/${row.resource_version}`}`,
  createdBy: row.created_by,
  createdAt: new Date(row.created_at).toISOString(),
  expiresAt: iso(row.expires_at),
  revokedAt: iso(row.revoked_at),
  active: row.active,
});

// Slugs come from a system read after the share rows: the grantee's application role sees only its own
// tenants row, so the owner's slug cannot be joined under row-level security.
const shareColumns = `id, tenant_id, grantee_id, resource_kind, resource_name, resource_version, created_by, created_at, expires_at, revoked_at,
  (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active`;

export interface ShareService {
  /**
   * Tenant `ownerId` grants `grantee` (a tenant id or slug; an organization node covers its whole subtree)
   * read access to one of its objects, which must exist. The share and an audit event in both tenants'
   * chains commit in one transaction.
   */
  create(ctx: RequestContext, ownerId: string, input: { resource: string; grantee: string; expiresAt?: string | undefined }): Promise<Share>;
  /** The shares the tenant granted and those granted to it or an ancestor (row-level security decides). */
  list(tenantId: string): Promise<Share[]>;
  /** Revokes one of the owner's shares, at once for every new request; NOT_FOUND for anyone else's. */
  revoke(ctx: RequestContext, ownerId: string, shareId: string): Promise<Share>;
}

export const createShareService = (deps: { db: Db }): ShareService => {
  const { db } = deps;

  const slugs = async (ids: readonly string[]): Promise<Map<string, string>> => {
    const { rows } = await readAsSystem<{ id: string; slug: string }>(db, 'SELECT id, slug FROM tenants WHERE id = ANY($1::uuid[])', [[...new Set(ids)]]);
    return new Map(rows.map((row) => [row.id, row.slug]));
  };

  const withSlugs = async (rows: Array<Omit<ShareRow, 'owner_slug' | 'grantee_slug'>>, viewer: string): Promise<Share[]> => {
    const names = await slugs(rows.flatMap((row) => [row.tenant_id, row.grantee_id]));
    return rows.map((row) => toShare({ ...row, owner_slug: names.get(row.tenant_id) ?? '', grantee_slug: names.get(row.grantee_id) ?? '' }, viewer));
  };

  const auditBoth = async (tx: Queryable, ctx: RequestContext, row: { id: string; tenant_id: string; grantee_id: string }, action: string, resource: string) => {
    await appendAuditEvent(tx, { tenantId: row.tenant_id, actor: ctx.actor, action, target: resource, outcome: 'success', requestId: ctx.requestId, details: { shareId: row.id, grantee: row.grantee_id } });
    await appendAuditEvent(tx, { tenantId: row.grantee_id, actor: ctx.actor, action, target: resource, outcome: 'success', requestId: ctx.requestId, details: { shareId: row.id, owner: row.tenant_id } });
  };

  return {
    async create(ctx, ownerId, input) {
      const resource = parseShareResource(input.resource);
      const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
      if (expiresAt !== null && !(expiresAt.getTime() > Date.now())) throw shareErrors.expiresInPast();
      const { rows: grantees } = await readAsSystem<{ id: string }>(db, `SELECT id FROM tenants WHERE ${isUuid(input.grantee) ? 'id' : 'slug'} = $1 AND deletion_started_at IS NULL`, [input.grantee]);
      const granteeId = grantees[0]?.id;
      if (granteeId === undefined) throw shareErrors.granteeNotFound(input.grantee);
      if (granteeId === ownerId) throw shareErrors.granteeIsOwner();
      // The object must be the owner's: checked as the owner, under row-level security.
      const exists = await withTenant(db, ownerId, async (tx) => (resource.kind === 'model'
        ? await tx.query('SELECT 1 FROM model_versions WHERE name = $1 AND version = $2', [resource.name, resource.version])
        : resource.kind === 'dataset'
          ? await tx.query('SELECT 1 FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE d.name = $1 AND v.version = $2', [resource.name, resource.version])
          : await tx.query('SELECT 1 FROM experiments WHERE id = $1', [resource.id])).rows.length > 0, { readOnly: true });
      if (!exists) {
        throw shareErrors.objectNotFound(resource.kind === 'experiment' ? `experiment ${resource.id}` : `${resource.kind === 'model' ? 'model' : 'dataset'} version ${resource.name}/${resource.version}`);
      }
      const id = randomUUID();
      const row = await withSystem(db, async (tx) => {
        const { rows } = await tx.query<Omit<ShareRow, 'owner_slug' | 'grantee_slug'>>(
          `INSERT INTO tenant_shares (id, tenant_id, grantee_id, resource_kind, resource_name, resource_version, created_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${shareColumns}`,
          [id, ownerId, granteeId, resource.kind, resource.kind === 'experiment' ? resource.id : resource.name, resource.kind === 'experiment' ? null : resource.version, ctx.actor, expiresAt],
        );
        const created = rows[0]!;
        await auditBoth(tx, ctx, created, 'share.create', input.resource);
        return created;
      });
      return (await withSlugs([row], ownerId))[0]!;
    },

    async list(tenantId) {
      const rows = await withTenant(db, tenantId, async (tx) =>
        (await tx.query<Omit<ShareRow, 'owner_slug' | 'grantee_slug'>>(`SELECT ${shareColumns} FROM tenant_shares ORDER BY created_at, id`)).rows, { readOnly: true });
      return withSlugs(rows, tenantId);
    },

    async revoke(ctx, ownerId, shareId) {
      if (!isUuid(shareId)) throw shareErrors.notFound(shareId);
      const row = await withSystem(db, async (tx) => {
        const { rows } = await tx.query<Omit<ShareRow, 'owner_slug' | 'grantee_slug'>>(
          `SELECT ${shareColumns} FROM tenant_shares WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [shareId, ownerId],
        );
        const current = rows[0];
        // A grantee's (or anybody else's) attempt is NOT_FOUND, as for a missing id.
        if (current === undefined) throw shareErrors.notFound(shareId);
        if (current.revoked_at !== null) return current;
        const { rows: updated } = await tx.query<Omit<ShareRow, 'owner_slug' | 'grantee_slug'>>(
          `UPDATE tenant_shares SET revoked_at = now(), revoked_by = $2 WHERE id = $1 RETURNING ${shareColumns}`, [shareId, ctx.actor],
        );
        const revoked = updated[0]!;
        await auditBoth(tx, ctx, revoked, 'share.revoke', `${revoked.resource_kind}:${revoked.resource_name}${revoked.resource_version === null ? '' : `/${revoked.resource_version}`}`);
        return revoked;
      });
      return (await withSlugs([row], ownerId))[0]!;
    },
  };
};
