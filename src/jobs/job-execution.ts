/**
 * One job from launch to its final state: the backend launches it, its progress reports become state
 * transitions (in order), its output goes to the log sink, and its outcome is applied through the one
 * outcome switch (job-outcome.ts): outputs collected, the final transition, its MLflow run ended. Also
 * the registry of the jobs this process follows (cancel, preempt on shutdown, cluster token scopes).
 */
import type { Job } from '../contract/job-schemas.ts';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Outcome, RunningJob } from '../executors/executor-contract.ts';
import type { Tenant, TenantQuota } from '../tenants/index.ts';
import type { ClusterJobScope, JobBackend, JobGrant, JobProgress, JobRunInfo, JobTrackingPort, LaunchedJob } from './job-backend.ts';
import { createJobLogSink } from './job-log-sink.ts';
import type { JobLogSink } from './job-log-sink.ts';
import { outcomeVerdict } from './job-outcome.ts';
import type { JobStore } from './job-store.ts';

const runnerContext: RequestContext = { actor: 'system:scheduler', requestId: 'scheduler' };

export interface JobExecutionDeps {
  store: Pick<JobStore, 'get' | 'transition' | 'appendLogs'>;
  backend: JobBackend;
  tracking?: JobTrackingPort | undefined;
  log: { error(obj: object, msg: string): void };
  /** Called when a job this process followed is done with (its capacity is free): schedule again. */
  onDone: () => void;
}

interface Live {
  handle: RunningJob | undefined;
  tenantId: string;
  cancelling: boolean;
  /** A cluster job's run and inputs, once known: what its token may reach without a relay. */
  scope?: ClusterJobScope;
}

export const createJobExecution = (deps: JobExecutionDeps) => {
  const { store, backend } = deps;
  const live = new Map<string, Live>();
  const transition = (job: Pick<Job, 'tenantId' | 'id'>, event: Parameters<JobStore['transition']>[3], update?: Parameters<JobStore['transition']>[4]) =>
    store.transition(runnerContext, job.tenantId, job.id, event, update);

  /** A job whose launch failed: the reason goes to its log, and a job still active ends cancelled (if asked) or refused. */
  const endOnError = async (job: Job, entry: Live, sink: JobLogSink, error: unknown): Promise<void> => {
    const reason = error instanceof AppError ? error.message : backend.launchFailure;
    if (!(error instanceof AppError)) deps.log.error({ err: error, jobId: job.id }, backend.launchFailure);
    sink.logLine('system', `[bulkhead] ${reason}`);
    await sink.flush();
    const current = await store.get(job.tenantId, job.id).catch(() => undefined);
    if (current !== undefined && (['queued', 'admitted', 'running'] as const).some((s) => s === current.status)) {
      await transition(job, entry.cancelling ? 'cancel' : 'refuse', { reason }).catch(() => {});
    }
  };

  /** Launches a job (queued under Kueue, admitted otherwise) and follows it to its final state. */
  const runJob = async (job: Job, tenant: Tenant, quota: TenantQuota, grant: JobGrant, from: 'queued' | 'admitted'): Promise<void> => {
    const entry: Live = { handle: undefined, tenantId: job.tenantId, cancelling: false };
    live.set(job.id, entry);
    const sink = createJobLogSink((lines) => store.appendLogs(job.tenantId, job.id, lines), (error) => deps.log.error({ err: error, jobId: job.id }, 'could not store job logs'));
    let state: 'queued' | 'admitted' | 'running' = from;
    // Progress reports are applied one after the other, in order.
    let transitions = Promise.resolve();
    const advance = async (to: JobProgress, run: JobRunInfo): Promise<void> => {
      if (state === 'queued') {
        await transition(job, 'admit');
        state = 'admitted';
      }
      if (to === 'running' && state === 'admitted') {
        await transition(job, 'start', run);
        state = 'running';
      }
    };
    const progress = (to: JobProgress, run: JobRunInfo): Promise<void> => {
      const applied = transitions.then(() => advance(to, run));
      transitions = applied.catch(() => {});
      return applied;
    };
    let launched: LaunchedJob | undefined;
    try {
      launched = await backend.launch(job, tenant, quota, grant, { log: sink.logLine, cancelling: () => entry.cancelling, progress });
      entry.handle = launched.handle;
      if (launched.scope !== undefined) entry.scope = launched.scope;
      if (entry.cancelling) entry.handle.cancel();
      const outcome = await entry.handle.wait();
      await transitions;
      if (outcome.kind === 'preempted' && state === 'queued') {
        // Kueue took it back before admitting it: it is still queued and is launched again.
        sink.logLine('system', '[bulkhead] evicted from the cluster queue before admission; submitted again');
      } else {
        // Ended (or preempted) after admission: the state machine needs it running first.
        if (outcome.kind !== 'cancelled' && outcome.kind !== 'refused') await progress('running', launched.run);
        await finish({ ...job, ...launched.run }, outcome, launched, sink);
      }
    } catch (error) {
      await endOnError(job, entry, sink, error);
    } finally {
      await sink.close();
      await launched?.release();
      live.delete(job.id);
      deps.onDone();
    }
  };

  const finish = async (job: Job, outcome: Outcome, launched: LaunchedJob, sink: JobLogSink): Promise<void> => {
    let outputs: Array<{ path: string; size: number }> = [];
    if (outcome.kind !== 'preempted') {
      outputs = await launched.collectOutputs().catch((error: unknown) => {
        sink.logLine('system', `[bulkhead] outputs were not stored: ${error instanceof AppError ? error.message : 'storage error'}`);
        return [];
      });
    }
    const { event, exitCode, reason, runStatus } = outcomeVerdict(job, outcome);
    if (reason !== null) sink.logLine('system', `[bulkhead] ${reason}`);
    // Every line is stored before the job is seen to end: a reader that waits for the final state then
    // reads the logs must get all of them.
    await sink.flush();
    // Its token dies before it is seen to end, too.
    await launched.endAccess();
    await transition(job, event, { exitCode, reason, usage: { ...outcome.usage }, outputs });
    if (outcome.kind === 'preempted') await transition(job, 'requeue', { reason: 'requeued after preemption' });
    if (job.runId !== null && deps.tracking !== undefined && runStatus !== undefined) {
      await deps.tracking.finishRun(job.tenantId, job.runId, runStatus).catch(() => {});
    }
  };


  return {
    run: runJob,
    /** Whether this process follows the job (launched, or cleaning up after it). */
    has: (jobId: string): boolean => live.has(jobId),
    /** Kills a job this process runs (the store has recorded the request); false when it runs no such job. */
    cancel(jobId: string): boolean {
      const entry = live.get(jobId);
      if (entry === undefined) return false;
      entry.cancelling = true;
      entry.handle?.cancel();
      return true;
    },
    /** SIGTERM now, SIGKILL after the grace period; the outcome is `preempted` and the job is requeued. False when not started. */
    preempt(jobId: string, graceMs: number): boolean {
      const handle = live.get(jobId)?.handle;
      handle?.preempt(graceMs);
      return handle !== undefined;
    },
    ids: () => [...live.keys()],
    idsOf: (tenantId: string) => [...live].filter(([, entry]) => entry.tenantId === tenantId).map(([id]) => id),
    scope(tenantId: string, jobId: string): ClusterJobScope | undefined {
      const entry = live.get(jobId);
      return entry === undefined || entry.tenantId !== tenantId ? undefined : entry.scope;
    },
  };
};

export type JobExecution = ReturnType<typeof createJobExecution>;
