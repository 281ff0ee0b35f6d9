/**
 * Artifacts: encrypted, content-addressed, quota-metered blob storage per tenant (tenant-storage.ts,
 * blob-files.ts, blob-crypto.ts) and the artifact namespace on top of it — (tenant, logical path) → blob
 * — including multipart uploads. Also the storage usage of a tenant. It owns the tenant data keys (wrapped
 * by a master-key-derived key) and the storage quota's enforcement; it does not own the quota record
 * (tenants/), the MLflow HTTP shapes (http/artifacts/), or datasets (datasets/, built on TenantStorage).
 */
export { createArtifactService, artifactErrors } from './artifact-service.ts';
export type { ArtifactService, ArtifactFile, ArtifactEntry, MultipartCredential } from './artifact-service.ts';
export { createTenantStorage, storageErrors, RESERVATION_TTL_SECONDS } from './tenant-storage.ts';
export type { TenantStorage, UploadSession, StagedBlob, StorageUsage } from './tenant-storage.ts';
export { createBlobFiles } from './blob-files.ts';
export { createSealWorkerPool } from './blob-seal-pool.ts';
export type { SealWorkerPool } from './blob-seal-pool.ts';
export type { BlobFiles } from './blob-files.ts';
export { BlobIntegrityError, createDecryptStream, createEncryptStream } from './blob-crypto.ts';
