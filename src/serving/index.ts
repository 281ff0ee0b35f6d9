/**
 * Model serving: deployments of a tenant's registered ONNX models as sandboxed worker processes, and
 * the Open Inference Protocol v2 gateway in front of them with per-tenant noisy-neighbour protection.
 *
 * Owns: deployment records (table `deployments`), replica supervision (start in the tenant's tier via
 * the local executor, health checks, restart with backoff, drain), rolling updates, the gateway's
 * routing, token buckets, concurrency caps and bounded queues, the worker script and its code dir.
 * Does not own: the model registry or artifact storage (reached through `ModelResolver`), the HTTP
 * routes (http/routes/deployment-routes.ts, inference-routes.ts), authorization, or the sandbox itself.
 */
export { createDeploymentService, createDeploymentSchema, updateDeploymentSchema, deploymentStatuses, deploymentErrors, queueBoundOf } from './deployment-service.ts';
export type { DeploymentService, DeploymentView, DeploymentStatus, CreateDeploymentInput, UpdateDeploymentInput, InvokeResult, DeploymentServiceDeps } from './deployment-service.ts';
export { createRegistryModelResolver } from './model-resolver.ts';
export type { ModelResolver, RegistryModelSources } from './model-resolver.ts';
export { createTenantRateLimiter, createTokenBucket, createConcurrencyGate, retryAfterSeconds } from './gateway-limiter.ts';
export type { TenantRateLimiter, ConcurrencyGate, LimitDecision, GateDecision, Clock } from './gateway-limiter.ts';
export { createTenantRateGuard, createTenantRateLimitHook } from './tenant-rate-guard.ts';
export type { TenantRateGuard } from './tenant-rate-guard.ts';
export { prepareWorkerCode } from './worker-code.ts';
export { createWorkerClient } from './worker-client.ts';
export type { WorkerExecutor, ReplicaStatus } from './worker-supervisor.ts';
export { parseInferRequest, OipRequestError } from './worker/oip-codec.ts';
