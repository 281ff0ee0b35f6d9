/**
 * Runs one platform job as a `batch/v1` Job on the cluster and reports how it ended, with the local
 * executor's contract (`RunningJob`, `Outcome`: `wait()` never rejects; `cancel()`; `preempt(graceMs)`).
 *
 * Two halves:
 * - `nextStep` (pure): from what the executor knows (`WatchState`) and what it just read from the cluster
 *   (`ClusterObservation`), decides which progress to report, which pod logs to follow, what to delete and
 *   whether the job has ended. The outcome itself comes from `mapJobOutcome`.
 * - `createClusterJobExecutor` (IO): applies the token Secret and the Job (server-side apply, field manager
 *   `bulkhead`), polls the Job, its pods and — with Kueue — its Workload, does what `nextStep` says, and
 *   always deletes the token Secret at the end.
 *
 * The job token is a secret: it is applied in the Secret and nowhere else. Every reason, progress message
 * and log entry that leaves this module passes through `redactToken` (plain and base64 forms), because
 * API errors can quote the object they reject and a container's termination message is the job's to write.
 */
import { constants as osConstants } from 'node:os';
import { isAppError } from '../../core/errors.ts';
import type { Outcome, OutputLine, RunningJob } from '../executor-contract.ts';
import { buildJobManifest, buildJobTokenSecret } from './job-manifest.ts';
import type { ClusterConfig, ClusterJobSpec, KubeObject } from './kubernetes-types.ts';
import { FIELD_MANAGER, labelKeys } from './naming.ts';
import { mapJobOutcome } from './outcome-mapping.ts';
import type { JobOutcome, JobProgress, ObservedCondition, ObservedJob, ObservedPod, ObservedWorkload } from './outcome-mapping.ts';
import { statusOfError } from './reconciler.ts';
import type { KubernetesClient, ObjectRef, PodLogSource } from './reconciler.ts';

/** The container `buildJobManifest` puts the job in; its log is the job's output. */
export const JOB_CONTAINER = 'job';
/** Pending reason reported once Kueue admits the job (Workload `Admitted`, or the Job unsuspended). */
export const KUEUE_ADMITTED_REASON = 'AdmittedByKueue';
/** Ending reason of a job whose Secret or Job the cluster (or validation) refused before it could run. */
export const SUBMIT_REFUSED_REASON = 'SubmitRefused';

const WORKLOAD_API_VERSION = 'kueue.x-k8s.io/v1beta1';
/** Label Kueue puts on the Workload it creates for a Job: the Job's uid. */
const KUEUE_JOB_UID_LABEL = 'kueue.x-k8s.io/job-uid';
/** A pod's termination grace when nobody sets one (the Job template leaves the default). */
const DEFAULT_POD_GRACE_MS = 30_000;

export interface ClusterJobRun {
  job: ClusterJobSpec;
  /** The job's short-lived API token; stored only in the job's Secret, never logged or reported. */
  token: string;
  /** Receives the pod's log line by line. Kubernetes merges stdout and stderr: every line is `stdout`. */
  output?: (line: OutputLine) => void;
  /** Receives each progress transition once, ending with the `finished` one. */
  onProgress?: (progress: JobProgress) => void;
}

/** The metadata fields the executor reads from the Job and its pods. */
export interface ObservedMetadata {
  name?: string;
  uid?: string;
  deletionTimestamp?: unknown;
  ownerReferences?: readonly { uid?: string }[];
}

export interface ClusterJob extends ObservedJob {
  metadata?: ObservedMetadata;
}

export interface ClusterPod extends ObservedPod {
  metadata?: ObservedMetadata;
}

/** One poll of the cluster: what was read, or why nothing could be. `now` is a monotonic clock in ms. */
export type ClusterObservation =
  | { now: number; job: ClusterJob | undefined; pods: readonly ClusterPod[]; workload?: ObservedWorkload }
  | { now: number; error: string };

export type StopRequest = { kind: 'cancel'; at: number } | { kind: 'preempt'; at: number; graceMs: number };

export interface WatchTiming {
  /** The API may fail this long in a row before the job is given up (`failed`, ClusterUnreachable). */
  lostAfterMs: number;
  /** After a cancel or preempt, how long past the pods' grace to wait for them to go before ending anyway. */
  settleMarginMs: number;
}

export interface WatchState {
  readonly kueue: boolean;
  /** The uid of the Job we applied: pods and the Workload of an older Job with the same name are ignored. */
  readonly jobUid: string | undefined;
  readonly timing: WatchTiming;
  /** Whether Kueue's admission has been reported (and still holds). */
  readonly admitted: boolean;
  /** Key of the last progress reported, so each transition is reported once. */
  readonly lastProgress: string | undefined;
  /** Pods whose logs are being (or were) followed. */
  readonly followed: readonly string[];
  /** The first cancel or preempt request; later ones are ignored. */
  readonly stop: StopRequest | undefined;
  /** Since when every poll has failed. */
  readonly unreachableSince: number | undefined;
}

/** How a job ended: the last progress the executor reports. */
export type JobEnding = Extract<JobProgress, { state: 'finished' }>;

export interface WatchStep {
  state: WatchState;
  /** Progress transitions to report, in order; the `finished` one comes with `ending`. */
  progress: JobProgress[];
  /** Pods whose `job` container has started: follow their logs now. */
  followLogs: string[];
  /** Delete these pods with this grace (preemption). */
  deletePods?: { names: string[]; gracePeriodSeconds: number };
  /**
   * Without `ending`: delete the Job now (cancellation). With `ending`: delete it as part of the clean-up —
   * for `cancelled` and `preempted`, and whenever the Job is not finished (a refused pod left pending, a Job
   * Kueue has suspended and would re-admit later with nobody watching).
   */
  deleteJob: boolean;
  ending?: JobEnding;
}

export const defaultWatchTiming: WatchTiming = { lostAfterMs: 5 * 60_000, settleMarginMs: 30_000 };

export const initialWatchState = (options: { kueue: boolean; jobUid?: string; timing?: Partial<WatchTiming> }): WatchState => ({
  kueue: options.kueue,
  jobUid: options.jobUid,
  timing: { ...defaultWatchTiming, ...options.timing },
  admitted: false,
  lastProgress: undefined,
  followed: [],
  stop: undefined,
  unreachableSince: undefined,
});

/** Records a cancel or preempt request; the first one wins (as in the local executor). */
export const withStop = (state: WatchState, request: StopRequest): WatchState =>
  state.stop === undefined ? { ...state, stop: request } : state;

const isTrue = (conditions: readonly ObservedCondition[] | undefined, type: string): boolean =>
  conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

/** Finished in Kubernetes' eyes: the Job controller will start no more pods for it. */
const isFinishedJob = (job: ClusterJob): boolean =>
  ['Complete', 'SuccessCriteriaMet', 'Failed', 'FailureTarget'].some((type) => isTrue(job.status?.conditions, type));

const ownedBy = (pod: ClusterPod, jobUid: string | undefined): boolean =>
  jobUid === undefined || (pod.metadata?.ownerReferences ?? []).some((ref) => ref.uid === jobUid);

/** A pod that has not reached a terminal phase still holds its node's resources (and the tenant's quota). */
const isLive = (pod: ClusterPod): boolean => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';

const containerStarted = (pod: ClusterPod): boolean =>
  (pod.status?.containerStatuses ?? []).some(
    (c) => c.name === JOB_CONTAINER && (c.state?.running !== undefined || c.state?.terminated !== undefined),
  );

const stopEnding = (stop: StopRequest): JobEnding =>
  stop.kind === 'cancel'
    ? { state: 'finished', outcome: 'cancelled', reason: 'CancelRequested', message: 'cancelled by the platform' }
    : { state: 'finished', outcome: 'preempted', reason: 'PreemptRequested', message: `preempted by the platform (grace ${stop.graceMs} ms)` };

/** When a cancel or preempt ends even if pods are still there: their grace plus the settle margin. */
const stopDeadline = (stop: StopRequest, timing: WatchTiming): number =>
  stop.at + (stop.kind === 'preempt' ? stop.graceMs : DEFAULT_POD_GRACE_MS) + timing.settleMarginMs;

const ended = (state: WatchState, ending: JobEnding, deleteJob: boolean, followLogs: string[] = []): WatchStep => ({
  state,
  progress: [ending],
  followLogs,
  deleteJob,
  ending,
});

/**
 * The executor's decision for one poll. Pure.
 *
 * - Failed polls: nothing changes until the API has failed for `lostAfterMs` in a row; then the job ends
 *   `failed` (ClusterUnreachable). With a cancel/preempt pending it ends as requested, at the latest when
 *   the stop's own deadline (below) passes.
 * - Only pods owned by the Job we applied count (by uid), and the Workload only with Kueue.
 * - Logs: every pod whose `job` container is running or has terminated is followed, once.
 * - Cancel: `cancelled` once the pods are gone or terminal (bounded by the default grace plus the settle
 *   margin); meanwhile the Job is deleted (again, while it still exists). A Job already Complete stays
 *   `succeeded`.
 * - Preempt: its live pods are deleted with the requested grace; `preempted` once they are gone or terminal
 *   (bounded by the grace plus the margin), whatever the Job reports — except Complete, which stays
 *   `succeeded`. A job still queued in Kueue (no pods) is `preempted` at once.
 * - Otherwise `mapJobOutcome` decides; a Kueue Workload evicted for preemption is `preempted`.
 * - Progress: with Kueue, `pending / AdmittedByKueue` when the Workload is admitted or the Job unsuspended
 *   (again after a requeue); then each change of `mapJobOutcome`'s pending reason or `running`, once.
 */
export const nextStep = (state: WatchState, observation: ClusterObservation): WatchStep => {
  const stop = state.stop;
  if ('error' in observation) {
    const since = state.unreachableSince ?? observation.now;
    const next: WatchState = { ...state, unreachableSince: since };
    const down = observation.now - since;
    // A requested stop does not wait longer for an unreachable cluster than it would for the pods to go.
    const stopDue = stop !== undefined && observation.now >= stopDeadline(stop, state.timing);
    if (down < state.timing.lostAfterMs && !stopDue) return { state: next, progress: [], followLogs: [], deleteJob: false };
    const ending: JobEnding =
      stop === undefined
        ? {
            state: 'finished',
            outcome: 'failed',
            reason: 'ClusterUnreachable',
            message: `lost contact with the cluster for ${Math.round(down / 1000)} s: ${observation.error}`,
          }
        : stopEnding(stop);
    // Best effort: if the cluster comes back, the Job must not run on with nobody watching.
    return ended(next, ending, true);
  }

  const pods = observation.pods.filter((p) => ownedBy(p, state.jobUid));
  const followLogs = [
    ...new Set(pods.filter(containerStarted).map((p) => p.metadata?.name)),
  ].filter((name): name is string => name !== undefined && !state.followed.includes(name));
  const base: WatchState = { ...state, unreachableSince: undefined, followed: [...state.followed, ...followLogs] };
  const workload = state.kueue ? observation.workload : undefined;
  const job = observation.job;
  const mapped = mapJobOutcome({
    job,
    pods,
    ...(workload === undefined ? {} : { workload }),
    ...(stop?.kind === 'cancel' ? { cancelRequested: true } : {}),
  });

  if (stop !== undefined) {
    if (mapped.state === 'finished' && mapped.outcome === 'succeeded') return ended(base, mapped, false, followLogs);
    const live = pods.filter(isLive);
    if (live.length === 0 || observation.now >= stopDeadline(stop, state.timing)) {
      return ended(base, stopEnding(stop), job !== undefined, followLogs);
    }
    if (stop.kind === 'cancel') {
      return { state: base, progress: [], followLogs, deleteJob: job !== undefined && job.metadata?.deletionTimestamp === undefined };
    }
    const names = live
      .filter((p) => p.metadata?.deletionTimestamp === undefined)
      .map((p) => p.metadata?.name)
      .filter((name): name is string => name !== undefined);
    return {
      state: base,
      progress: [],
      followLogs,
      deleteJob: false,
      ...(names.length === 0 ? {} : { deletePods: { names, gracePeriodSeconds: Math.max(1, Math.ceil(stop.graceMs / 1000)) } }),
    };
  }

  if (mapped.state === 'finished') {
    const deleteJob = job !== undefined && (mapped.outcome === 'preempted' || !isFinishedJob(job));
    return ended(base, mapped, deleteJob, followLogs);
  }

  const progress: JobProgress[] = [];
  let admitted = state.admitted;
  let last = state.lastProgress;
  let admittedButSuspended = false;
  if (state.kueue && job !== undefined) {
    const admittedNow = isTrue(workload?.status?.conditions, 'Admitted') || job.spec?.suspend !== true;
    if (admittedNow && !admitted) {
      progress.push({ state: 'pending', reason: KUEUE_ADMITTED_REASON });
      last = `pending:${KUEUE_ADMITTED_REASON}`;
    }
    admitted = admittedNow;
    // Kueue has admitted the Workload but not yet unsuspended the Job: "admitted" says it better.
    admittedButSuspended = admittedNow && mapped.state === 'pending' && mapped.reason === 'Suspended';
  }
  const key = mapped.state === 'running' ? 'running' : `pending:${mapped.reason}`;
  if (!admittedButSuspended && key !== last) {
    progress.push(mapped);
    last = key;
  }
  return { state: { ...base, admitted, lastProgress: last }, progress, followLogs, deleteJob: false };
};

/**
 * Replaces the token, in plain and base64 form (Secret data is base64 in API responses), by `[redacted]`.
 * Tokens shorter than 8 characters are not real tokens and are left alone rather than mangle text.
 */
export const redactToken = (text: string, token: string): string => {
  if (token.length < 8) return text;
  let out = text;
  for (const form of [token, Buffer.from(token).toString('base64'), Buffer.from(token).toString('base64url')]) {
    out = out.split(form).join('[redacted]');
  }
  return out;
};

const MAX_REASON = 1000;
const clip = (text: string): string => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text);

/** The API server's own explanation (the Status `message`) from a client-node error, when it carries one. */
const apiMessage = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  let body: unknown = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message !== '' ? message : undefined;
};

/**
 * A short, token-free description of an error for logs and reasons. For API errors: the HTTP status and
 * the server's Status message — never the library's own message, which embeds the response headers and body.
 */
export const describeError = (error: unknown, token: string): string => {
  const status = statusOfError(error);
  let text: string;
  if (isAppError(error)) text = error.message;
  else if (status !== undefined) text = `HTTP ${status}${apiMessage(error) === undefined ? '' : `: ${apiMessage(error)}`}`;
  else if (error instanceof Error) text = error.message.split('\n')[0] ?? error.name;
  else text = String(error);
  return clip(redactToken(text, token));
};

/**
 * Why a job could not be submitted, for a `refused` outcome: invalid input (the builders' VALIDATION_FAILED,
 * TENANT_SUSPENDED), or the API server refusing `what` (403: RBAC or an admission policy; 422: the object is
 * invalid), or the cluster being unreachable. Never contains the token. Pure.
 */
export const refusalReason = (error: unknown, token: string, what: string): string => {
  if (isAppError(error)) {
    const prefix = error.code === 'VALIDATION_FAILED' ? 'invalid job: ' : '';
    return clip(redactToken(`${prefix}${error.message}`, token));
  }
  const status = statusOfError(error);
  if (status === undefined) return `could not submit ${what} to the cluster: ${describeError(error, token)}`;
  const label = status === 403 ? ' Forbidden' : status === 422 ? ' Invalid' : '';
  const message = apiMessage(error);
  return clip(redactToken(`the cluster refused ${what} (HTTP ${status}${label})${message === undefined ? '' : `: ${message}`}`, token));
};

const signalName = (exitCode: number | undefined): string | undefined => {
  // Container runtimes report a process killed by signal N as exit code 128 + N.
  if (exitCode === undefined || exitCode <= 128 || exitCode > 128 + 64) return undefined;
  return Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128)?.[0];
};

/** The executor outcome for an ending; the `refused` reason is redacted. Pure. */
export const toOutcome = (ending: JobEnding, wallMs: number, token: string): Outcome => {
  const usage = { wallMs: Math.round(wallMs) };
  const outcome: JobOutcome = ending.outcome;
  switch (outcome) {
    case 'succeeded':
    case 'oom_killed':
    case 'timed_out':
    case 'cancelled':
    case 'preempted':
      return { kind: outcome, usage };
    case 'failed': {
      const signal = signalName(ending.exitCode);
      return { kind: 'failed', exitCode: ending.exitCode ?? null, ...(signal === undefined ? {} : { signal }), usage };
    }
    case 'refused': {
      const reason = ending.reason === SUBMIT_REFUSED_REASON ? ending.message : `${ending.reason}: ${ending.message}`;
      return { kind: 'refused', reason: clip(redactToken(reason, token)), usage };
    }
  }
};

const redactProgress = (progress: JobProgress, token: string): JobProgress =>
  progress.state === 'finished' ? { ...progress, message: redactToken(progress.message, token) } : progress;

export interface ClusterJobExecutorLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ClusterJobExecutorOptions {
  client: KubernetesClient;
  config: ClusterConfig;
  /** Between polls of the Job, its pods and its Workload. Default 2000. */
  pollIntervalMs?: number;
  /** Where pod logs come from; without one, `output` receives nothing. */
  logs?: PodLogSource;
  /** Defaults to errors on stderr. Entries never contain the token. */
  log?: ClusterJobExecutorLog;
  timing?: Partial<WatchTiming>;
  /** After the outcome, how long log streams may take to deliver their last lines. Default 5000. */
  logDrainMs?: number;
}

export interface ClusterJobExecutor {
  /** Returns at once and never throws; the job's fate arrives through `wait()`. */
  start(run: ClusterJobRun): RunningJob;
}

const defaultLog: ClusterJobExecutorLog = {
  info: () => undefined,
  error: (obj, msg) => console.error(`[bulkhead cluster executor] ${msg}`, obj),
};

/** Reads API JSON as the subset of fields the executor looks at. */
const observed = <T>(obj: KubeObject): T => obj as unknown as T;

/**
 * Builds the cluster job executor. For each `start(run)`:
 * 1. builds the Job and its token Secret (`buildJobManifest`, `buildJobTokenSecret`) — invalid input or a
 *    suspended tenant is `refused`;
 * 2. deletes a Job of the same name left over from an earlier attempt (a crash, a preemption) and the old
 *    Secret (it is immutable), then applies the Secret and the Job (server-side apply, manager `bulkhead`).
 *    The API refusing either (403, 422, ...) or being unreachable is `refused`;
 * 3. polls every `pollIntervalMs` and acts on `nextStep`; `cancel()` and `preempt()` wake the poll;
 * 4. at the end: waits up to `logDrainMs` for the logs, deletes the Job when `nextStep` says so
 *    (propagation Background), and always deletes the Secret. `usage` is wall time from `start()`.
 *
 * With `config.kueue.enabled` the Job is created suspended in the tenant's LocalQueue and Kueue decides when
 * it runs; waiting in the queue has no time limit here (the job's timeout, `activeDeadlineSeconds`, counts
 * from admission). Without Kueue no Workload is read.
 */
export const createClusterJobExecutor = (options: ClusterJobExecutorOptions): ClusterJobExecutor => {
  const { client, config } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const logDrainMs = options.logDrainMs ?? 5000;
  const log = options.log ?? defaultLog;

  const start = (run: ClusterJobRun): RunningJob => {
    const startedAt = performance.now();
    const clock = (): number => performance.now();
    const jobId = run.job.id;
    let state = initialWatchState({ kueue: config.kueue.enabled, ...(options.timing === undefined ? {} : { timing: options.timing }) });
    let done = false;
    let endingReported = false;
    // A stop request wakes the poll loop: it cuts the current pause short, or skips the next one when it
    // arrives while the loop is reading the cluster.
    let wake: (() => void) | undefined;
    let stopArrived = false;
    const followers: { controller: AbortController; done: Promise<void> }[] = [];

    const report = (progress: JobProgress): void => {
      if (progress.state === 'finished') endingReported = true;
      try {
        run.onProgress?.(redactProgress(progress, run.token));
      } catch {
        // a failing consumer must not take the job down with it
      }
    };
    const emitLine = (line: string): void => {
      try {
        run.output?.({ stream: 'stdout', line });
      } catch {
        // as above
      }
    };
    const pause = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        if (stopArrived) {
          stopArrived = false;
          resolve();
          return;
        }
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    const requestStop = (request: StopRequest): void => {
      if (done || state.stop !== undefined) return;
      state = withStop(state, request);
      if (wake === undefined) stopArrived = true;
      else wake();
    };
    /** Deletes, logging instead of throwing: clean-up must go on. */
    const remove = async (ref: ObjectRef, options: { propagationPolicy: 'Background'; gracePeriodSeconds?: number }): Promise<void> => {
      try {
        await client.delete(ref, options);
      } catch (error) {
        log.error({ jobId, kind: ref.kind, name: ref.name, error: describeError(error, run.token) }, `could not delete the job's ${ref.kind}`);
      }
    };

    const execute = async (): Promise<JobEnding> => {
      let manifest: KubeObject;
      let secret: KubeObject;
      try {
        manifest = buildJobManifest(run.job, config);
        secret = buildJobTokenSecret(run.job, config, run.token);
      } catch (error) {
        return { state: 'finished', outcome: 'refused', reason: SUBMIT_REFUSED_REASON, message: refusalReason(error, run.token, 'the job') };
      }
      const namespace = manifest.metadata.namespace ?? '';
      const jobRef: ObjectRef = { apiVersion: 'batch/v1', kind: 'Job', name: manifest.metadata.name, namespace };
      const secretRef: ObjectRef = { apiVersion: 'v1', kind: 'Secret', name: secret.metadata.name, namespace };

      let secretSent = false;
      let jobSent = false;
      let ending: JobEnding | undefined;
      let deleteJob = false;
      try {
        let stage = 'the job';
        try {
          const leftover = await client.get(jobRef);
          if (leftover !== undefined) {
            log.info({ jobId, namespace, job: jobRef.name }, 'deleting a Job left over from an earlier attempt');
            await client.delete(jobRef, { propagationPolicy: 'Background' });
            const until = clock() + 30_000;
            while ((await client.get(jobRef)) !== undefined) {
              if (clock() > until) {
                return {
                  state: 'finished',
                  outcome: 'refused',
                  reason: SUBMIT_REFUSED_REASON,
                  message: `Job ${namespace}/${jobRef.name} from an earlier attempt is still being deleted`,
                };
              }
              await new Promise((resolve) => setTimeout(resolve, Math.min(pollIntervalMs, 1000)));
            }
          }
          if (state.stop !== undefined) return stopEnding(state.stop); // stopped while clearing leftovers
          // The Secret is immutable: one left from an earlier attempt holds an old token.
          stage = 'the job token Secret';
          secretSent = true;
          await client.delete(secretRef, { propagationPolicy: 'Background' });
          await client.apply(secret, { fieldManager: FIELD_MANAGER, force: true, dryRun: false });
          stage = 'the Job';
          jobSent = true;
          const stored = await client.apply(manifest, { fieldManager: FIELD_MANAGER, force: true, dryRun: false });
          const uid = stored.metadata['uid'];
          state = { ...state, jobUid: typeof uid === 'string' ? uid : undefined };
        } catch (error) {
          deleteJob = jobSent;
          return { state: 'finished', outcome: 'refused', reason: SUBMIT_REFUSED_REASON, message: refusalReason(error, run.token, stage) };
        }
        log.info({ jobId, namespace, job: jobRef.name, kueue: state.kueue }, 'cluster job submitted');

        const podSelector = `${labelKeys.jobId}=${jobId}`;
        const observe = async (): Promise<ClusterObservation> => {
          try {
            const job = await client.get(jobRef);
            const pods = await client.list({ apiVersion: 'v1', kind: 'Pod', namespace, labelSelector: podSelector });
            let workload: ObservedWorkload | undefined;
            if (state.kueue && state.jobUid !== undefined) {
              const found = await client.list({ apiVersion: WORKLOAD_API_VERSION, kind: 'Workload', namespace, labelSelector: `${KUEUE_JOB_UID_LABEL}=${state.jobUid}` });
              workload = found[0] === undefined ? undefined : observed<ObservedWorkload>(found[0]);
            }
            return {
              now: clock(),
              job: job === undefined ? undefined : observed<ClusterJob>(job),
              pods: pods.map((p) => observed<ClusterPod>(p)),
              ...(workload === undefined ? {} : { workload }),
            };
          } catch (error) {
            const message = describeError(error, run.token);
            log.error({ jobId, error: message }, 'could not read the job from the cluster');
            return { now: clock(), error: message };
          }
        };
        const follow = (pod: string): void => {
          if (options.logs === undefined) return;
          const controller = new AbortController();
          const following = options.logs
            .follow(namespace, pod, JOB_CONTAINER, emitLine, controller.signal)
            .catch((error: unknown) => log.error({ jobId, pod, error: describeError(error, run.token) }, 'could not follow the pod log'));
          followers.push({ controller, done: following });
        };

        while (ending === undefined) {
          const step = nextStep(state, await observe());
          state = step.state;
          for (const progress of step.progress) report(progress);
          for (const pod of step.followLogs) follow(pod);
          if (step.ending !== undefined) {
            ending = step.ending;
            deleteJob = step.deleteJob;
            break;
          }
          if (step.deleteJob) await remove(jobRef, { propagationPolicy: 'Background' });
          for (const name of step.deletePods?.names ?? []) {
            await remove(
              { apiVersion: 'v1', kind: 'Pod', name, namespace },
              { propagationPolicy: 'Background', gracePeriodSeconds: step.deletePods?.gracePeriodSeconds ?? 1 },
            );
          }
          // While a cancel or preempt settles, look more often: the caller is waiting to reuse the quota.
          await pause(state.stop === undefined ? pollIntervalMs : Math.min(pollIntervalMs, 1000));
        }
        return ending;
      } finally {
        done = true;
        if (followers.length > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            Promise.all(followers.map((f) => f.done)),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, logDrainMs);
            }),
          ]);
          clearTimeout(timer);
          for (const f of followers) f.controller.abort();
        }
        if (deleteJob) await remove(jobRef, { propagationPolicy: 'Background' });
        if (secretSent) await remove(secretRef, { propagationPolicy: 'Background' });
      }
    };

    const outcome = execute().then(
      (ending) => {
        done = true;
        // Endings decided before the watch began (refusals, a stop before anything was created).
        if (!endingReported) report(ending);
        return toOutcome(ending, performance.now() - startedAt, run.token);
      },
      (error: unknown): Outcome => {
        done = true;
        const reason = `executor error: ${describeError(error, run.token)}`;
        log.error({ jobId, error: reason }, 'cluster job executor failed');
        return { kind: 'refused', reason, usage: { wallMs: Math.round(performance.now() - startedAt) } };
      },
    );

    return {
      jobId,
      wait: () => outcome,
      cancel: () => requestStop({ kind: 'cancel', at: clock() }),
      preempt: (graceMs) => requestStop({ kind: 'preempt', at: clock(), graceMs: Math.max(0, graceMs) }),
    };
  };

  return { start };
};
