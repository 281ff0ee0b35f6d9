/**
 * MLflow's REST API 2.0 (tracking and model registry) over the tracking module's services. Owns the
 * HTTP shape only (paths, GET-query vs JSON-body inputs, response envelopes, MLflow's error body);
 * the rules live in src/tracking/. Artifacts (`/api/2.0/mlflow-artifacts/`) are not served here.
 */
export { mlflowRoutes, mlflowPrefixes } from './mlflow-routes.ts';
export type { MlflowRouteDeps } from './mlflow-routes.ts';
