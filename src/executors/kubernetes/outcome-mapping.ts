/**
 * From what Kubernetes (and Kueue) report about a Job to the platform's job outcome. Pure: the executor
 * reads the Job, its Pods and its Kueue Workload, and asks this module what happened.
 */

/** The platform's job outcomes (the executor outcome union). */
export type JobOutcome = 'succeeded' | 'failed' | 'oom_killed' | 'timed_out' | 'cancelled' | 'preempted' | 'refused';

export interface ObservedCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The parts of a batch/v1 Job the mapping reads. */
export interface ObservedJob {
  spec?: { suspend?: boolean };
  status?: {
    conditions?: readonly ObservedCondition[];
    active?: number;
    succeeded?: number;
    failed?: number;
  };
}

export interface ObservedContainerState {
  waiting?: { reason?: string; message?: string };
  running?: Record<string, unknown>;
  terminated?: { reason?: string; message?: string; exitCode?: number };
}

/** The parts of a Pod the mapping reads. */
export interface ObservedPod {
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: readonly ObservedCondition[];
    containerStatuses?: readonly { name: string; state?: ObservedContainerState; lastState?: ObservedContainerState }[];
  };
}

/** The parts of a Kueue Workload the mapping reads. */
export interface ObservedWorkload {
  status?: { conditions?: readonly ObservedCondition[] };
}

export interface JobObservation {
  /** The Job as read; undefined when it no longer exists. */
  job: ObservedJob | undefined;
  pods?: readonly ObservedPod[];
  workload?: ObservedWorkload;
  /** The platform asked for cancellation (it deletes or suspends the Job). */
  cancelRequested?: boolean;
}

export type JobProgress =
  | { state: 'pending'; reason: string }
  | { state: 'running' }
  | { state: 'finished'; outcome: JobOutcome; reason: string; message: string; exitCode?: number };

const isTrue = (conditions: readonly ObservedCondition[] | undefined, type: string): ObservedCondition | undefined =>
  conditions?.find((c) => c.type === type && c.status === 'True');

/** Pod disruption reasons Kubernetes records in the DisruptionTarget condition. */
const DISRUPTION_REASONS = new Set([
  'PreemptionByScheduler',
  'PreemptionByKubeScheduler',
  'DeletionByTaintManager',
  'EvictionByEvictionAPI',
  'DeletionByPodGC',
  'TerminationByKubelet',
]);

/** Pod-level reasons the kubelet gives when it refuses to admit a pod onto the node. */
const KUBELET_ADMISSION_REASONS = /^(UnexpectedAdmissionError|NodeAffinity|NodeSelectorMismatching|OutOf[a-zA-Z./-]+|InvalidNodeInfo|SysctlForbidden|AppArmor)$/;

/**
 * Container waiting reasons that never resolve by waiting: the pod as configured cannot start (e.g. the
 * image runs as root under runAsNonRoot, or names a RuntimeClass the node lacks). The platform treats them
 * as refusals instead of letting the job sit until its deadline.
 */
const UNSTARTABLE_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', 'RunContainerError']);

const allStates = (pods: readonly ObservedPod[]) =>
  pods.flatMap((p) => (p.status?.containerStatuses ?? []).flatMap((c) => [c.state, c.lastState])).filter((s) => s !== undefined);

const finished = (outcome: JobOutcome, reason: string, message: string, exitCode?: number): JobProgress =>
  exitCode === undefined ? { state: 'finished', outcome, reason, message } : { state: 'finished', outcome, reason, message, exitCode };

/**
 * Maps an observation to progress. Precedence, first match wins:
 * 1. Job Complete / SuccessCriteriaMet → succeeded (a cancel that arrived too late changes nothing).
 * 2. cancel requested, or the Job is gone → cancelled (gone without a request → failed, `JobDeleted`).
 * 3. Kueue Workload evicted for preemption (Evicted/Preempted condition) → preempted; Kueue suspends the Job
 *    and requeues the workload itself, the platform decides whether to resubmit or wait.
 * 4. a container terminated OOMKilled → oom_killed.
 * 5. Job Failed / FailureTarget with reason DeadlineExceeded → timed_out.
 * 6. a pod Evicted (node pressure) or carrying a DisruptionTarget condition → preempted.
 * 7. kubelet admission refusal, an unstartable container, or Kueue rejecting admission checks → refused.
 * 8. Job Failed otherwise → failed, with the container's exit code when known.
 * Otherwise the job is pending (suspended, waiting for Kueue or a node) or running.
 */
export const mapJobOutcome = (observation: JobObservation): JobProgress => {
  const { job, workload } = observation;
  const pods = observation.pods ?? [];
  const conditions = job?.status?.conditions;

  const complete = isTrue(conditions, 'Complete') ?? isTrue(conditions, 'SuccessCriteriaMet');
  if (complete !== undefined) return finished('succeeded', complete.reason ?? 'Completed', complete.message ?? '');

  if (observation.cancelRequested === true) return finished('cancelled', 'CancelRequested', 'cancelled by the platform');
  if (job === undefined) return finished('failed', 'JobDeleted', 'the Job was deleted outside the platform');

  const wlConditions = workload?.status?.conditions;
  const evicted = wlConditions?.find((c) => c.type === 'Evicted' && c.status === 'True' && c.reason === 'Preempted');
  const preemptedCondition = isTrue(wlConditions, 'Preempted');
  if (evicted !== undefined || preemptedCondition !== undefined) {
    const c = preemptedCondition ?? evicted;
    return finished('preempted', `Kueue${c?.reason ?? 'Preempted'}`, c?.message ?? 'preempted by Kueue');
  }

  const oom = allStates(pods).find((s) => s.terminated?.reason === 'OOMKilled');
  if (oom?.terminated !== undefined) {
    return finished('oom_killed', 'OOMKilled', oom.terminated.message ?? 'container exceeded its memory limit', oom.terminated.exitCode);
  }

  const failed = isTrue(conditions, 'Failed') ?? isTrue(conditions, 'FailureTarget');
  if (failed?.reason === 'DeadlineExceeded') {
    return finished('timed_out', 'DeadlineExceeded', failed.message ?? 'the job exceeded its timeout');
  }

  for (const pod of pods) {
    if (pod.status?.reason === 'Evicted') return finished('preempted', 'Evicted', pod.status.message ?? 'evicted from its node');
    const disruption = isTrue(pod.status?.conditions, 'DisruptionTarget');
    if (disruption !== undefined && (disruption.reason === undefined || DISRUPTION_REASONS.has(disruption.reason))) {
      return finished('preempted', disruption.reason ?? 'Disrupted', disruption.message ?? 'the pod was disrupted');
    }
  }

  for (const pod of pods) {
    const reason = pod.status?.reason;
    if (pod.status?.phase === 'Failed' && reason !== undefined && KUBELET_ADMISSION_REASONS.test(reason)) {
      return finished('refused', reason, pod.status.message ?? 'the node refused the pod');
    }
  }
  const unstartable = allStates(pods).find((s) => s.waiting?.reason !== undefined && UNSTARTABLE_REASONS.has(s.waiting.reason));
  if (unstartable?.waiting?.reason !== undefined) {
    return finished('refused', unstartable.waiting.reason, unstartable.waiting.message ?? 'the container cannot start as configured');
  }
  const rejected = wlConditions?.find((c) => c.type === 'Finished' && c.status === 'True' && c.reason === 'AdmissionChecksRejected');
  if (rejected !== undefined) return finished('refused', 'AdmissionChecksRejected', rejected.message ?? 'Kueue rejected the workload');

  if (failed !== undefined) {
    const exit = allStates(pods).find((s) => s.terminated !== undefined)?.terminated;
    return finished('failed', failed.reason ?? 'Failed', exit?.message ?? failed.message ?? 'the job failed', exit?.exitCode);
  }

  if (job.spec?.suspend === true) return { state: 'pending', reason: 'Suspended' };
  const running = pods.some((p) => p.status?.phase === 'Running');
  if (running || (job.status?.active ?? 0) > 0 && pods.length === 0) return { state: 'running' };
  return { state: 'pending', reason: 'WaitingForPod' };
};
