/**
 * The HTTP API: the Fastify app, the auth hook (authenticate → resolve tenant → authorize), the one error
 * shape, and route modules. It owns no business rules: handlers call services.
 */
export { buildApp } from './app.ts';
export type { HttpDeps } from './http-deps.ts';
export type { BuildAppOptions, RouteEntry } from './app.ts';
export type { ErrorBody } from './error-handler.ts';
export { createTenantAdmission } from './tenant-admission.ts';
export { admissionTokenKey, createAdmissionServerFactory } from './admission-server.ts';
export type { TenantAdmission, TenantAdmissionLimits, AdmissionStats } from './tenant-admission.ts';
// The route modules the composition root mounts.
export { jobRoutes } from './routes/job-routes.ts';
export { imageRoutes } from './routes/image-routes.ts';
export { kubernetesRoutes } from './routes/kubernetes-routes.ts';
export { lineageRoutes } from './routes/lineage-routes.ts';
export { deploymentRoutes } from './routes/deployment-routes.ts';
export { inferenceRoutes } from './routes/inference-routes.ts';
export { usageRoutes } from './routes/usage-routes.ts';
export { shareRoutes } from './routes/share-routes.ts';
export { datasetRoutes, mlflowArtifactRoutes, runArtifactRoutes } from './artifacts/index.ts';
export { mlflowRoutes } from './mlflow/index.ts';
export { alertRoutes } from './routes/alert-routes.ts';
export { deploymentStatsRoutes } from './routes/deployment-stats-routes.ts';
