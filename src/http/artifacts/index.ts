/** Route modules for artifacts (the MLflow proxied-artifact API), datasets and storage usage. */
export { mlflowArtifactRoutes } from './mlflow-artifact-routes.ts';
export { datasetRoutes } from './dataset-routes.ts';
