/**
 * The jobs module: training jobs from submission to their final state.
 *
 * Owns: submission (job-service.ts: quota, capacity and queue limits checked in the enqueuing
 * transaction), job records and their audited state transitions (job-store.ts over the pure state machine
 * job-state.ts), the runner (job-runner.ts: the scheduling tick per CPU pool, admissions, preemptions,
 * start-up recovery), one job's execution (job-execution.ts: launch, progress, the outcome switch of
 * job-outcome.ts, logs), and the job backend seam (job-backend.ts) with its two implementations: this
 * host (local-job-backend.ts, over the host executor contract) and a cluster (cluster-job-backend.ts,
 * over the `ClusterExecution` port). Also the relay (job-relay.ts), a job's only way out of its sandbox.
 * Deliberately does not own: the API shapes (contract/job-schemas.ts), scheduling policy and CPU-pool
 * arithmetic (scheduler/), sandboxes and pods (executors/, built by the composition root), MLflow runs
 * and artifacts (reached through `JobTrackingPort` and `JobStoragePort`).
 *
 * This file is the module's only entry: other modules import from here, never from its files.
 */
export { createJobStore, jobErrors, toJob } from './job-store.ts';
export type { ActiveJob, GpuGrantRow, JobLogLine, JobStore, TransitionUpdate } from './job-store.ts';
export { createJobService, checkSubmission } from './job-service.ts';
export type { JobService } from './job-service.ts';
export { createJobRunner } from './job-runner.ts';
export type { GpuPool, JobRunner, JobRunnerOptions } from './job-runner.ts';
export type { Capacity } from './job-scheduling.ts';
export { createFairShareStore } from './fair-share-store.ts';
export type { FairShareStore } from './fair-share-store.ts';
export { createLocalJobBackend } from './local-job-backend.ts';
export type { LocalJobBackendOptions } from './local-job-backend.ts';
export { createClusterJobBackend } from './cluster-job-backend.ts';
export type { ClusterJobBackendOptions } from './cluster-job-backend.ts';
export type {
  ClusterExecution,
  ClusterJobScope,
  ClusterProgress,
  JobBackend,
  JobGrant,
  JobProgress,
  JobRunInfo,
  JobStoragePort,
  JobTrackingPort,
  LaunchContext,
  LaunchedJob,
} from './job-backend.ts';
export { createJobRelays, createRelayRefusalAuditor, relayAllows, relayHeader, relayRefusalBurst } from './job-relay.ts';
export type { Forwarder, ForwardRequest, ForwardResponse, JobRelays, RelayRefusal, RelayRefusalAuditor, RelayTarget } from './job-relay.ts';
export { allowedJobEvents, jobEvents, transition as jobTransition } from './job-state.ts';
export type { JobEvent } from './job-state.ts';
