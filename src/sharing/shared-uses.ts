import type { Db } from '../db/index.ts';
import { readAsSystem, withSystem, withTenant } from '../db/index.ts';

/** How a grantee used a shared object in its own work. */
export type SharedUseKind = 'deployment' | 'job';

/**
 * One cross-tenant lineage edge as a tenant may see it: the other tenant's slug, how the object was used
 * and when. The owner learns that tenant `tenant` used its object and how, never the names of the
 * grantee's deployments or jobs (they are not stored); the grantee's own names come from its own rows.
 */
export interface SharedUse {
  /** The owner's view: the grantee; the grantee's view: the owner. */
  tenant: string;
  kind: SharedUseKind;
  firstUsedAt: string;
  lastUsedAt: string;
}

export interface SharedObject {
  ownerId: string;
  kind: 'model' | 'dataset';
  /** The owner's own name of the object (not owner-qualified). */
  name: string;
  version: number;
}

/**
 * Records that tenant `granteeId` used a shared object in one of its deployments or jobs (issue 15's
 * cross-tenant lineage edge): called by the platform right after the shared read that the database's
 * share policies admitted, so an edge exists only for a use that really happened. Idempotent per (object,
 * grantee, kind): later uses move `last_used_at`. A system write: the grantee cannot write the owner's rows.
 */
export const recordSharedUse = async (db: Db, granteeId: string, object: SharedObject, kind: SharedUseKind): Promise<void> => {
  await withSystem(db, (tx) => tx.query(
    `INSERT INTO shared_uses (tenant_id, grantee_id, resource_kind, resource_name, resource_version, use_kind)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, resource_kind, resource_name, resource_version, grantee_id, use_kind) DO UPDATE SET last_used_at = now()`,
    [object.ownerId, granteeId, object.kind, object.name, object.version, kind],
  ));
};

interface UseRow {
  other: string;
  use_kind: SharedUseKind;
  first_used_at: Date | string;
  last_used_at: Date | string;
}

const withSlugs = async (db: Db, rows: UseRow[]): Promise<SharedUse[]> => {
  if (rows.length === 0) return [];
  // Slugs by a system read: under row-level security a tenant sees only its own tenants row.
  const { rows: slugs } = await readAsSystem<{ id: string; slug: string }>(db, 'SELECT id, slug FROM tenants WHERE id = ANY($1::uuid[])', [[...new Set(rows.map((r) => r.other))]]);
  const slugOf = new Map(slugs.map((s) => [s.id, s.slug]));
  return rows.map((row) => ({
    tenant: slugOf.get(row.other) ?? '',
    kind: row.use_kind,
    firstUsedAt: new Date(row.first_used_at).toISOString(),
    lastUsedAt: new Date(row.last_used_at).toISOString(),
  }));
};

/**
 * The edges of one object of tenant `ownerId` as the owner sees them: which tenants used it and how.
 * Row-level security admits only the owner's rows; the query also names the owner (an index condition).
 */
export const listUsesOfOwnObject = async (db: Db, ownerId: string, object: Omit<SharedObject, 'ownerId'>): Promise<SharedUse[]> => {
  const rows = await withTenant(db, ownerId, async (tx) => (await tx.query<UseRow>(
    `SELECT grantee_id AS other, use_kind, first_used_at, last_used_at FROM shared_uses
      WHERE tenant_id = $1 AND resource_kind = $2 AND resource_name = $3 AND resource_version = $4 ORDER BY first_used_at, grantee_id, use_kind`,
    [ownerId, object.kind, object.name, object.version],
  )).rows, { readOnly: true });
  return withSlugs(db, rows);
};

/** The grantee's own edges to one shared object (its uses of it), as the grantee sees them. */
export const listOwnUsesOfShared = async (db: Db, granteeId: string, object: SharedObject): Promise<SharedUse[]> => {
  const rows = await withTenant(db, granteeId, async (tx) => (await tx.query<UseRow>(
    `SELECT tenant_id AS other, use_kind, first_used_at, last_used_at FROM shared_uses
      WHERE grantee_id = $1 AND resource_kind = $2 AND resource_name = $3 AND resource_version = $4 AND tenant_id = $5 ORDER BY use_kind`,
    [granteeId, object.kind, object.name, object.version, object.ownerId],
  )).rows, { readOnly: true });
  return withSlugs(db, rows);
};
