/**
 * The seam between the deployment service (desired state, rollouts, the gateway's limits) and where a
 * deployment's replicas actually run. A *generation* is one set of replicas serving one spec (model
 * version and resources); a rollout starts a new generation, waits until it is ready, switches routing to
 * it and stops the old one. Two backends implement it: local sandboxed worker processes on Unix sockets
 * (local-serving-backend.ts) and a Deployment + Service on a Kubernetes cluster (cluster-serving-backend.ts).
 * The gateway's rate guard, concurrency gate and bounded queue stay in the deployment service, in front of
 * either backend.
 */
import type { IsolationTier } from '../contract/roles.ts';
import type { WorkerClient } from './worker-client.ts';
import type { ReplicaStatus } from '../contract/deployment-schemas.ts';

export interface GenerationSpec {
  model: string;
  version: string;
  replicas: number;
  cpu: number;
  memoryMiB: number;
  maxConcurrency: number;
  /** The OCI image digest the workers run on (issue 17); absent: the host's /usr. */
  imageDigest?: string;
}

/** Where the gateway sends one request: a client and the count of requests in flight on it (drain waits for 0). */
export interface ServingTarget {
  readonly client: WorkerClient;
  inFlight: number;
}

export interface ServingGeneration {
  /** The spec this generation serves; `scale` updates replicas and maxConcurrency in place. */
  spec: GenerationSpec;
  /** Resolves once every replica of this generation serves (a rollout switches then); rejects when it never will. */
  whenReady(): Promise<void>;
  /** A target that can take a request now (round robin over ready replicas), or undefined when none can. */
  pick(): ServingTarget | undefined;
  replicaStatus(): ReplicaStatus[];
  /** Changes the replica count and per-replica concurrency without a new generation. */
  scale(replicas: number, maxConcurrency: number): Promise<void>;
  /** Drains and stops the generation and releases what it holds (model copies, tokens, cluster objects). Never throws. */
  stop(): Promise<void>;
  /** Unix socket paths of ready local replicas (benchmarks call a worker directly); empty elsewhere. */
  socketPaths(): string[];
}

export interface GenerationRequest {
  tenantId: string;
  /** The `deployments` row id. */
  deploymentId: string;
  deploymentName: string;
  tier: IsolationTier;
  spec: GenerationSpec;
  log(line: string): void;
}

export interface ServingBackend {
  /**
   * Starts a generation and returns at once (replicas become ready later: `whenReady`). Throws AppError
   * when it cannot start at all (NOT_FOUND model version, UNAVAILABLE tier or cluster); then nothing is left behind.
   */
  start(request: GenerationRequest): Promise<ServingGeneration>;
  /**
   * The platform is stopping (called first by the deployment service's close): pending readiness waits end
   * at once, and `stop()` afterwards lets go of a generation without tearing down what runs outside this
   * process (cluster endpoints keep serving across a platform restart). Local workers have nothing outside
   * and do not implement it.
   */
  shutdown?(): void;
  /** Releases what the backend itself holds (after every generation was stopped). */
  close(): Promise<void>;
}
