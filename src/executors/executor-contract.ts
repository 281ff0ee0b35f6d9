/**
 * The contract every executor speaks, local or cluster: what a caller gets back when it starts a job
 * (`RunningJob`), how that job ended (`Outcome`), its output lines and what it used. Neutral on purpose:
 * the job runner, the job backends, serving and both executors import it from here, so no executor's
 * internals are anyone's contract (docs/adr/0001-job-backend-seam.md).
 */
import type { IsolationTier } from '../contract/roles.ts';

export type { IsolationTier };
export { isolationTiers } from '../contract/roles.ts';

/** One line of job output. Lines longer than the executor's cap arrive split in several pieces. */
export interface OutputLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

/**
 * Measured consumption of a job, for metering: CPU core-seconds and the memory peak from the job's
 * cgroup, GPU seconds where GPUs were granted. Absent where the executor could not measure.
 */
export interface JobUsage {
  cpuCoreSeconds: number;
  memoryPeakBytes?: number;
  gpuSeconds?: number;
}

/**
 * What the executor observed while the job ran (stored with the job's record): wall time and the raw
 * cgroup readings, plus the metered `JobUsage` figures where an executor measures them (optional, so an
 * executor that cannot measure still satisfies the contract).
 */
export interface Usage extends Partial<JobUsage> {
  wallMs: number;
  /** CPU time of the whole job cgroup (all processes), when a cpuacct/cpu controller was available. */
  cpuMs?: number;
  /** High-water mark of the job's memory cgroup, when available. */
  peakMemoryBytes?: number;
  /**
   * Network attempts the job's own network namespace refused, from the kernel's counters of that
   * namespace (local executor; absent where not observed). Any non-zero figure is a sandbox policy
   * violation the job system audits as `sandbox.violation`.
   */
  deniedNetwork?: DeniedNetwork;
  /**
   * GPU jobs, from `nvidia-smi` sampled by the granted devices' UUIDs while the job ran (local executor):
   * the highest memory in use on them (bytes; device-wide, so a time-slice's figure is its device's) and
   * the mean utilization (percent), over `gpuMeterSamples` samples. Where it could not measure,
   * `gpuMetering` says why (`skipped: nvidia-smi not found on this host …`).
   */
  gpuMemoryPeakBytes?: number;
  gpuUtilizationMeanPercent?: number;
  gpuMeterSamples?: number;
  gpuMetering?: string;
}

/** Attempts to leave a job's network namespace other than through its relay, by kind. */
export interface DeniedNetwork {
  /** TCP connects that were never established (refused by a closed port, timed out, abandoned). */
  refusedConnects: number;
  /** Connects and sends to an address with no route from the namespace (IPv4 and IPv6). */
  unroutableSends: number;
  /** UDP datagrams sent to a closed local port (IPv4 and IPv6). */
  closedPortDatagrams: number;
}

/**
 * How a job ended. Executors return it and never throw; mapping it onto a job's final state is one
 * exhaustive switch (jobs/job-outcome.ts).
 */
export type Outcome = (
  | { kind: 'succeeded' }
  | { kind: 'failed'; exitCode: number | null; signal?: string }
  | { kind: 'oom_killed' }
  | { kind: 'timed_out' }
  | { kind: 'cancelled' }
  | { kind: 'preempted' }
  | { kind: 'refused'; reason: string }
) & { usage: Usage };

export type OutcomeKind = Outcome['kind'];

export interface RunningJob {
  readonly jobId: string;
  /** Resolves once the job has ended and its cgroups and runtime files are gone. Never rejects. */
  wait(): Promise<Outcome>;
  /** Kills the whole process tree now; the outcome becomes `cancelled` (unless it already ended). */
  cancel(): void;
  /** SIGTERM to the job's processes, SIGKILL to all of them after `graceMs`; outcome `preempted`. */
  preempt(graceMs: number): void;
}
