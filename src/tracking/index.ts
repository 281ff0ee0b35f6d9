/**
 * Experiment tracking and the model registry, with MLflow's semantics: experiments, runs, params,
 * metrics (full history + latest), tags, dataset inputs, search (MLflow's filter grammar), MLflow 3
 * logged models, registered models, versions, stages, aliases. Tenancy comes from `withTenant`
 * (row-level security), never from a filter. It owns the SQL (migrations 0002, 0006, 0009) and MLflow's validation rules and error codes.
 *
 * It does not own the HTTP shape (src/http/mlflow/ maps MLflow's REST API onto these services), nor
 * artifacts (`mlflow-artifacts:/` URIs are served by the artifacts module; run-artifacts.ts only maps a run
 * id, own or shared, onto its root there), nor who may call what
 * (the auth hook authorizes `tracking.*` / `models.*` before a service is reached).
 */
export { createTrackingService, requestRunId, trackingErrors } from './tracking-service.ts';
export type { TrackingService, TrackingScope, Page, SearchInput } from './tracking-service.ts';
export { createRegistryService, registryErrors } from './registry-service.ts';
export { createLoggedModelService, loggedModelErrors } from './logged-model-service.ts';
export type { LoggedModelService } from './logged-model-service.ts';
export type { RegistryService } from './registry-service.ts';
export { MlflowError, isMlflowError, mlflowErrors, mlflowErrorCodes } from './mlflow-errors.ts';
export type { MlflowErrorCode } from './mlflow-errors.ts';
export { validateBatchRequestSize, mlflowLimits } from './mlflow-validation.ts';
export type { ExperimentJson, RunJson, RunInfoJson, MetricJson, RegisteredModelJson, ModelVersionJson, LoggedModelJson } from './mlflow-entities.ts';
export { createRunArtifactService } from './run-artifacts.ts';
export type { RunArtifactService, RunArtifactEntry } from './run-artifacts.ts';
