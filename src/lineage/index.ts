/**
 * Lineage: where each model version came from — the job and MLflow run that produced it, the dataset
 * versions (name, version, digest) the job read, the code bundle digest and the run's parameters — and
 * the reverse view (which model versions and jobs came from a dataset version). It owns the
 * `model_lineage` table (migration 0007), "register a model from a job's outputs" (converting the
 * example's model.json to ONNX with src/onnx when the job left no model.onnx), and the automatic
 * recording for model versions created with a job's run_id (a decorator over the registry service).
 *
 * It does not own the registry (tracking/), jobs (jobs/), datasets or artifacts: it calls their services
 * and reads the tenant's `jobs` rows by run_id. Every read and write runs in `withTenant`.
 */
export { createLineageService, lineageErrors } from './lineage-service.ts';
export type { LineageService, RegisteredFromJob } from './lineage-service.ts';
export type { ModelLineage, DatasetLineage, LineageDataset, ModelVersionRef } from '../contract/lineage-views.ts';
