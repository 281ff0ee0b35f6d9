/**
 * Sharing between tenants (issue 15): tenant A grants tenant B — or B's whole organization — read access
 * to one of its objects, revocably and on the record. This module owns the share records (create, list,
 * revoke, each audited in both tenants' chains). It does not decide who may read a shared row: the
 * `shared_read` policies of migration 0021 do, in the database, for transactions opened with
 * `withSharedRead` (src/db/scope.ts) by the services that serve the reads (model registry, tracking,
 * datasets, run artifacts), and gives those services what they have in common (shared-reads.ts: the
 * owner a `{owner}/…` name points at, the `share.read` record in both chains). It also owns the
 * cross-tenant lineage edges (shared-uses.ts, table `shared_uses`): which tenant used a shared object in a
 * deployment or a job, recorded at the use.
 */
export { createShareService, parseShareResource, shareErrors } from './share-service.ts';
export type { Share, ShareResource, ShareService } from './share-service.ts';
export { listOwnUsesOfShared, listUsesOfOwnObject, recordSharedUse } from './shared-uses.ts';
export { auditSharedRead, otherTenantIdBySlug } from './shared-reads.ts';
export type { SharedReader } from './shared-reads.ts';
export type { SharedObject, SharedUse, SharedUseKind } from './shared-uses.ts';
