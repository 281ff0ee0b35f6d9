/**
 * Datasets: named, versioned, immutable sets of files with a content digest, stored through the
 * artifacts module's encrypted, quota-metered TenantStorage. It owns dataset metadata, the version
 * digest rule (dataset-digest.ts), tar ingestion and materialization into a directory (for jobs). It
 * does not own blobs, keys or quota (artifacts/), nor mounting into sandboxes (executors/).
 */
export { createDatasetService, datasetErrors } from './dataset-service.ts';
export type { DatasetService, Dataset, DatasetVersion, DatasetFile } from './dataset-service.ts';
export { datasetDigest, DATASET_NAME_PATTERN } from './dataset-digest.ts';
