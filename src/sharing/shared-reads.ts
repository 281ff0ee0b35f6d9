/**
 * What every service that serves a read of shared data needs besides the database's `shared_read`
 * policies (which alone decide visibility): which other tenant an owner-qualified name `{owner}/…` points
 * at, and the record of the read in both tenants' audit chains.
 */
import type { Db } from '../db/index.ts';
import { readAsSystem, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';

/**
 * The id of the tenant whose slug is `slug` when it is another tenant than `tenantId` (a system read of the
 * tenants table only); undefined for no such tenant or the caller itself.
 */
export const otherTenantIdBySlug = async (db: Db, tenantId: string, slug: string): Promise<string | undefined> => {
  const id = (await readAsSystem<{ id: string }>(db, 'SELECT id FROM tenants WHERE slug = $1', [slug])).rows[0]?.id;
  return id === tenantId ? undefined : id;
};

/** Who read shared data: the grantee tenant, and the actor and request as its audit events name them. */
export interface SharedReader {
  tenantId: string;
  actor: string;
  requestId: string;
}

/**
 * One read of the owner's shared data (`target`, e.g. `model:{owner}/{name}/{version}`) as `share.read` in
 * the owner's chain (details + the grantee) and then the reader's (details + the owner), in one system
 * transaction, committed before the caller answers.
 */
export const auditSharedRead = async (db: Db, reader: SharedReader, ownerId: string, target: string, details: Record<string, unknown> = {}): Promise<void> => {
  const { tenantId, actor, requestId } = reader;
  await withSystem(db, async (tx) => {
    for (const [chain, extra] of [[ownerId, { grantee: tenantId }], [tenantId, { owner: ownerId }]] as const) {
      await appendAuditEvent(tx, { tenantId: chain, actor, action: 'share.read', target, outcome: 'success', requestId, details: { ...details, ...extra } });
    }
  });
};
