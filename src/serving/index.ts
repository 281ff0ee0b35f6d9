/**
 * Model serving: deployments of a tenant's registered ONNX models as sandboxed worker processes, and
 * the Open Inference Protocol v2 gateway in front of them with per-tenant noisy-neighbour protection.
 *
 * Owns: deployment records (table `deployments`), the serving backends — local replica supervision (start
 * in the tenant's tier via the local executor, health checks, restart with backoff, drain) and cluster
 * generations (endpoint tokens, rollout readiness, over the `ClusterEndpoints` port) — rolling updates, the
 * gateway's routing, token buckets, concurrency caps and bounded queues, what an endpoint token may read,
 * the worker script (Unix socket or TCP) and its code dir, and wiping plaintext model files left on disk. Does not own the Kubernetes objects themselves
 * (executors/kubernetes builds them; main/cluster-serving.ts applies them).
 * Does not own: the model registry or artifact storage (reached through `ModelResolver`), the HTTP
 * routes (http/routes/deployment-routes.ts, inference-routes.ts), authorization, or the sandbox itself.
 */
export { createDeploymentService, deploymentErrors, queueBoundOf } from './deployment-service.ts';
export type { DeploymentService, InvokeResult, DeploymentServiceDeps } from './deployment-service.ts';
export { endpointTokenAllows } from './endpoint-token-scope.ts';
export type { EndpointTokenScope } from './endpoint-token-scope.ts';
export { createClusterServingBackend } from './cluster-serving-backend.ts';
export type { ClusterEndpointGeneration, ClusterEndpoints, ClusterEndpointState, ClusterServingBackend, ClusterServingBackendDeps } from './cluster-serving-backend.ts';
export { createLocalServingBackend } from './local-serving-backend.ts';
export type { LocalServingBackendDeps } from './local-serving-backend.ts';
export type { GenerationRequest, GenerationSpec, ServingBackend, ServingGeneration, ServingTarget } from './serving-backend.ts';
export { createRegistryModelResolver } from './model-resolver.ts';
export type { ModelResolver, RegistryModelSources } from './model-resolver.ts';
export { createTenantRateLimiter, createTokenBucket, createConcurrencyGate, retryAfterSeconds } from './gateway-limiter.ts';
export type { TenantRateLimiter, ConcurrencyGate, LimitDecision, GateDecision, Clock } from './gateway-limiter.ts';
export { createTenantRateGuard, createTenantRateLimitHook } from './tenant-rate-guard.ts';
export type { TenantRateGuard } from './tenant-rate-guard.ts';
export { oipWorkerScript, prepareWorkerCode } from './worker-code.ts';
export { findPlaintextFiles, servingRoots, wipeModelPlaintext } from './model-plaintext.ts';
export type { PlaintextDigest } from './model-plaintext.ts';
export { createHttpWorkerClient, createWorkerClient } from './worker-client.ts';
export type { WorkerClient, WorkerResponse } from './worker-client.ts';
export type { WorkerExecutor } from './worker-supervisor.ts';
export { parseInferRequest, OipRequestError } from './worker/oip-codec.ts';
