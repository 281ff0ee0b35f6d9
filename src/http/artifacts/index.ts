/** Route modules for artifacts (the MLflow proxied-artifact API, a run's artifacts by run id), datasets and storage usage. */
export { mlflowArtifactRoutes } from './mlflow-artifact-routes.ts';
export { runArtifactRoutes } from './run-artifact-routes.ts';
export { datasetRoutes } from './dataset-routes.ts';
