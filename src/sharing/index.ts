/**
 * Sharing between tenants (issue 15): tenant A grants tenant B — or B's whole organization — read access
 * to one of its objects, revocably and on the record. This module owns the share records (create, list,
 * revoke, each audited in both tenants' chains). It does not decide who may read a shared row: the
 * `shared_read` policies of migration 0021 do, in the database, for transactions opened with
 * `withSharedRead` (src/db/scope.ts) by the services that serve the reads (the model registry today).
 */
export { createShareService, parseShareResource, shareErrors } from './share-service.ts';
export type { Share, ShareResource, ShareService } from './share-service.ts';
