/**
 * The seam between the job runner (the tick, the state transitions, the outcome switch) and where a job
 * actually runs — the jobs' counterpart of serving's `ServingBackend`. Two backends implement it: this
 * host's sandboxed executor (local-job-backend.ts) and a Kubernetes cluster (cluster-job-backend.ts,
 * over the `ClusterExecution` port the composition root adapts). The executor contract they return
 * (`RunningJob`, `Outcome`) is the neutral one in executors/executor-contract.ts.
 */
import type { Job } from '../contract/job-schemas.ts';
import type { TenantQuota } from '../contract/quota.ts';
import type { HostProbe } from '../executors/host-executor-contract.ts';
import type { RunningJob } from '../executors/executor-contract.ts';
import type { Tenant } from '../tenants/index.ts';
import type { JobLogLine } from './job-store.ts';

/** What the scheduler granted a job: the CPUs of its pool (a cpuset list; ignored on a cluster). */
export interface JobGrant {
  cpuset: string;
  /** The GPU devices granted (host placement), in ordinal order, with the control nodes every GPU job needs. */
  gpus?: {
    devices: ReadonlyArray<{ id: string; path: string }>;
    controlNodes: readonly string[];
    /**
     * GPU units held, when not one per device: a time-slice's fraction (0.5), a MIG instance's compute
     * slices (3 for mig-3g). GPU-seconds are these units × wall time.
     */
    units?: number;
    /** The devices' UUIDs (from `nvidia-smi -L`), when known: what the GPU metering queries. */
    uuids?: readonly string[];
  };
}

/** The MLflow run a job logs into, and the digest of its code bundle once the backend knows it. */
export interface JobRunInfo {
  runId: string | null;
  experimentId: string | null;
  codeDigest: string | null;
}

/** A job's progress as a backend reports it; the runner turns each into state transitions, in order. */
export type JobProgress = 'admitted' | 'running';

/** What the runner hands a backend for one launch. */
export interface LaunchContext {
  /** Appends a line to the job's log (batched into the store). */
  log(stream: JobLogLine['stream'], line: string): void;
  /** Whether a cancel was asked for: a backend checks it before it starts the job. */
  cancelling(): boolean;
  /**
   * The job moved on. The runner applies `queued → admitted` and `admitted → running` (recording `run`),
   * one report after the other; the promise rejects when the state machine refuses (e.g. a cancel won).
   */
  progress(to: JobProgress, run: JobRunInfo): Promise<void>;
}

/** What a cluster job's token may reach (the relay's rules, `relayAllows`): its run and its inputs. */
export interface ClusterJobScope {
  runId: string | null;
  experimentId: string | null;
  inputs: { codeBundle: string | null; datasets: readonly { name: string; version: number }[] };
}

/** A launched job: the executor's handle, its run, and what the runner calls when it has ended. */
export interface LaunchedJob {
  handle: RunningJob;
  run: JobRunInfo;
  /** What its token may reach without a relay (cluster jobs only). */
  scope?: ClusterJobScope;
  /** The files the ended job left, stored as the tenant's artifacts. Throws on a storage error. */
  collectOutputs(): Promise<Array<{ path: string; size: number }>>;
  /**
   * Ends the job's access to the platform (its token, its relay) once the job has ended, before it is
   * recorded as ended: whoever sees the final state can rely on the token being dead. Never throws.
   */
  endAccess(): Promise<void>;
  /** Releases what the launch holds (token, relay, directories; `endAccess` included) once the job has ended. Never throws. */
  release(): Promise<void>;
}

export interface JobBackend {
  /** Who admits queued jobs: Bulkhead's scheduler, or Kueue on the cluster (then every queued job is launched). */
  readonly admission: 'bulkhead' | 'kueue';
  /** `host`: CPU pools are this host's CPUs (cpusets); `cluster`: cores of the configured capacity, node pools. */
  readonly placement: 'host' | 'cluster';
  /** What the job's log says when launching fails with an unexpected error. */
  readonly launchFailure: string;
  /** Why this backend cannot run a tenant's jobs now (a tier the host lacks), or undefined when it can. */
  refusal(tenant: Tenant): Promise<string | undefined>;
  /**
   * Prepares and starts the job (inputs, run, token, relay or pod); resolves once it is started. On
   * failure, what it acquired is released before it rejects (an AppError's message is shown to the user).
   */
  launch(job: Job, tenant: Tenant, quota: TenantQuota, grant: JobGrant, ctx: LaunchContext): Promise<LaunchedJob>;
  /** What this host can provide (tiers, cgroups, tools). */
  hostProbe(): Promise<HostProbe>;
  /** Kills and removes leftover job cgroups of this host (start-up, shutdown). */
  reapOrphans(): Promise<void>;
}

/** Inputs and outputs live in the artifact store; backends reach it through this port. */
export interface JobStoragePort {
  materializeDataset(tenantId: string, name: string, version: number, dir: string): Promise<{ digest: string }>;
  materializeCodeBundle(tenantId: string, ref: string, dir: string): Promise<{ digest: string }>;
  storeOutputs(tenantId: string, job: Job, dir: string): Promise<Array<{ path: string; size: number }>>;
  /** What a job on a cluster uploaded under its run's `outputs/` (it has no host directory to collect). */
  listUploadedOutputs(tenantId: string, job: Job): Promise<Array<{ path: string; size: number }>>;
}

/** The tracking server gives each job an MLflow run to log into. */
export interface JobTrackingPort {
  createRun(tenantId: string, input: { experimentName: string; runName: string; tags: Record<string, string> }): Promise<{ runId: string; experimentId: string }>;
  finishRun(tenantId: string, runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED'): Promise<void>;
}

/** The MLflow run a job logs into (in experiment `jobs`, tagged with the job), when tracking is wired. */
export const createJobRun = async (tracking: JobTrackingPort | undefined, job: Job): Promise<{ runId: string | null; experimentId: string | null }> => {
  if (job.runId !== null) return { runId: job.runId, experimentId: job.experimentId };
  if (tracking === undefined) return { runId: null, experimentId: job.experimentId };
  return tracking.createRun(job.tenantId, { experimentName: 'jobs', runName: job.name || `job-${job.id.slice(0, 8)}`, tags: { 'bulkhead.job_id': job.id, ...(job.imageDigest === null ? {} : { 'bulkhead.image': job.image ?? '', 'bulkhead.image_digest': job.imageDigest }) } });
};

/** A Kubernetes cluster's progress on a job, as the cluster port reports it (once each, in order). */
export type ClusterProgress = JobProgress;

/**
 * Jobs on a Kubernetes cluster instead of this host (BULKHEAD_EXECUTOR=kubernetes). The composition root
 * adapts the kubernetes module to this port; the jobs module stays free of cluster details.
 */
export interface ClusterExecution {
  /**
   * Kueue decides admission: every queued job of an active tenant is submitted at once (suspended, to its
   * tenant's LocalQueue) and becomes `admitted` when Kueue admits it. Without Kueue, Bulkhead's scheduler
   * admits against the configured capacity first.
   */
  kueue: boolean;
  /** Applies the tenant's namespace bundle (namespace, quota, policies, RBAC, queues); idempotent. */
  ensureTenant(tenant: Tenant, quota: TenantQuota): Promise<void>;
  start(run: {
    job: Job;
    tenant: Tenant;
    quota: TenantQuota;
    token: string;
    env: Record<string, string>;
    output: (line: { stream: 'stdout' | 'stderr'; line: string }) => void;
    onProgress: (progress: ClusterProgress) => void;
  }): RunningJob;
}
