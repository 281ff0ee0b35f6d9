import { chmod, mkdir, rm, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { HostProbe, JobSpec, Outcome, RunningJob } from '../executors/local/index.ts';
import { decide } from '../scheduler/index.ts';
import type { QueuedJob, Resources, RunningJob as ScheduledJob, TenantQuota as SchedulerQuota, WaitExplanation } from '../scheduler/index.ts';
import { explainJob } from '../scheduler/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { Tenant, TenantQuota, TenantService } from '../tenants/index.ts';
import type { ActiveJob, JobLogLine, JobStore } from './job-store.ts';
import type { Job } from '../contract/job-schemas.ts';
import { eventForOutcome } from './job-state.ts';
import type { JobRelays } from './job-relay.ts';

const runnerContext: RequestContext = { actor: 'system:scheduler', requestId: 'scheduler' };

/** What the runner needs from an executor: start a job, say what the host can do, clean up after a crash. */
export interface JobExecutor {
  start(spec: JobSpec): RunningJob;
  probe(): Promise<HostProbe>;
  reapOrphans(liveJobIds: Iterable<string>): Promise<unknown[]>;
}

/** Inputs and outputs live in the artifact store; the runner reaches it through this port. */
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

/** What a cluster job's token may reach (the relay's rules, `relayAllows`): its run and its inputs. */
export interface ClusterJobScope {
  runId: string | null;
  experimentId: string | null;
  inputs: { codeBundle: string | null; datasets: readonly { name: string; version: number }[] };
}

/** A Kubernetes cluster's progress on a job, as the cluster port reports it (once each, in order). */
export type ClusterProgress = 'admitted' | 'running';

/**
 * Jobs on a Kubernetes cluster instead of this host (BULKHEAD_EXECUTOR=kubernetes). The composition root
 * adapts the kubernetes module to this port; the runner stays free of cluster details.
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

export interface Capacity extends Resources {
  /** CPU ids of this host, for cpusets. */
  cpuIds: number[];
}

export interface JobRunnerOptions {
  store: JobStore;
  tenants: TenantService;
  identity: IdentityService;
  executor: JobExecutor;
  relays: JobRelays;
  capacity: Capacity;
  jobsDir: string;
  tickIntervalMs: number;
  preemptGraceMs: number;
  /** Port of the in-sandbox relay forwarder (the executor's `relayPort`). */
  relayPort: number;
  storage?: JobStoragePort | undefined;
  tracking?: JobTrackingPort | undefined;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now?: () => number;
  /** Run jobs on this cluster instead of the local executor (which then only reaps leftovers). */
  cluster?: ClusterExecution | undefined;
}

const maxLogLines = 20_000;

/** Directories 0755, regular files 0444, links left alone (inputs are never links: we wrote them). */
const makeReadable = async (root: string): Promise<void> => {
  await chmod(root, 0o755);
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const full = join(root, entry.name);
    if (entry.isDirectory()) await makeReadable(full);
    else if (entry.isFile()) await chmod(full, 0o444);
  }
};

interface Live {
  handle: RunningJob | undefined;
  tenantId: string;
  cancelling: boolean;
  /** A cluster job's run and inputs, once known: what its token may reach without a relay (`clusterJobScope`). */
  clusterScope?: ClusterJobScope;
}

/**
 * Turns queued jobs into running ones and running ones into outcomes. Each tick takes a snapshot of the
 * active jobs and quotas, asks the pure scheduler (weighted DRF with borrowing) what to admit and what to
 * preempt, applies that through compare-and-set state transitions (one tick at a time in this process),
 * and starts admitted jobs on the executor. A job's outcome maps onto its final state in one exhaustive
 * switch; preempted jobs go back to the queue.
 */
export const createJobRunner = (options: JobRunnerOptions) => {
  const { store, tenants, identity, executor, relays, capacity } = options;
  const now = options.now ?? Date.now;
  const live = new Map<string, Live>();
  let probe: HostProbe | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const toResources = (job: Job): Resources => ({ cpu: job.resources.cpu, memoryMiB: job.resources.memoryMiB, gpu: job.resources.gpu });
  const toSchedulerQuota = (quota: TenantQuota): SchedulerQuota => ({
    nominal: { cpu: quota.cpu, memoryMiB: quota.memoryMiB, gpu: quota.gpu },
    borrowingLimit: quota.borrowingLimit,
    maxConcurrentJobs: quota.maxConcurrentJobs,
    weight: quota.weight,
  });

  /** Dedicated tenants get whole CPUs of their own, taken from the top; the rest form the shared pool. */
  const reservations = (all: readonly Tenant[], quotas: ReadonlyMap<string, TenantQuota>): { byTenant: Map<string, number[]>; shared: number[] } => {
    const free = [...capacity.cpuIds].sort((a, b) => b - a);
    const byTenant = new Map<string, number[]>();
    for (const tenant of all.filter((t) => t.tier === 'dedicated').sort((a, b) => a.slug.localeCompare(b.slug))) {
      const want = Math.max(1, Math.ceil(quotas.get(tenant.id)?.cpu ?? 1));
      // Never reserve the last shared CPU: the platform itself and the other tenants need one.
      if (free.length - want < 1) continue;
      byTenant.set(tenant.id, free.splice(0, want).sort((a, b) => a - b));
    }
    return { byTenant, shared: free.sort((a, b) => a - b) };
  };

  /**
   * On a cluster (without Kueue) the shared pool is the configured capacity, and a dedicated tenant runs
   * on its own node pool, sized by its nominal CPU quota: a pool of its own that takes nothing from the
   * shared one. The "CPU ids" here only count cores; no cpuset is applied on a cluster.
   */
  const clusterPools = (all: readonly Tenant[], quotas: ReadonlyMap<string, TenantQuota>): { byTenant: Map<string, number[]>; shared: number[] } => {
    const cores = (n: number) => Array.from({ length: Math.max(0, Math.ceil(n)) }, (_, i) => i);
    const byTenant = new Map<string, number[]>();
    for (const tenant of all.filter((t) => t.tier === 'dedicated')) byTenant.set(tenant.id, cores(quotas.get(tenant.id)?.cpu ?? 1));
    return { byTenant, shared: cores(capacity.cpu) };
  };

  const cpuList = (ids: readonly number[]) => ids.join(',');

  interface Snapshot {
    active: ActiveJob[];
    tenantsById: Map<string, Tenant>;
    quotas: Map<string, TenantQuota>;
    reserved: { byTenant: Map<string, number[]>; shared: number[] };
  }

  const snapshot = async (): Promise<Snapshot> => {
    const [active, all] = await Promise.all([store.active(), tenants.list()]);
    const tenantsById = new Map(all.map((t) => [t.id, t]));
    const quotas = new Map<string, TenantQuota>();
    for (const tenantId of new Set([...active.map((j) => j.tenantId), ...all.filter((t) => t.tier === 'dedicated').map((t) => t.id)])) {
      quotas.set(tenantId, await tenants.getQuota(tenantId));
    }
    return { active, tenantsById, quotas, reserved: options.cluster === undefined ? reservations(all, quotas) : clusterPools(all, quotas) };
  };

  /** The scheduler inputs for one pool: the shared pool, or a dedicated tenant's reserved CPUs. */
  const poolInput = (snap: Snapshot, pool: { tenantIds: ReadonlySet<string> | undefined; cpus: number }) => {
    const inPool = (job: Job) => (pool.tenantIds === undefined ? !snap.reserved.byTenant.has(job.tenantId) : pool.tenantIds.has(job.tenantId));
    const running: ScheduledJob[] = snap.active
      .filter((j) => (j.status === 'running' || j.status === 'admitted') && inPool(j))
      .map((j) => ({ id: j.id, tenantId: j.tenantId, request: toResources(j), priority: j.priority, startedAt: Date.parse(j.admittedAt ?? j.queuedAt) }));
    const queued: QueuedJob[] = snap.active
      .filter((j) => j.status === 'queued' && inPool(j) && snap.tenantsById.get(j.tenantId)?.status === 'active')
      .map((j) => ({ id: j.id, tenantId: j.tenantId, request: toResources(j), priority: j.priority, enqueuedAt: Date.parse(j.queuedAt) }));
    const quotas: Record<string, SchedulerQuota> = {};
    for (const tenantId of new Set([...running, ...queued].map((j) => j.tenantId))) {
      const quota = snap.quotas.get(tenantId);
      if (quota !== undefined) quotas[tenantId] = toSchedulerQuota(quota);
    }
    return { capacity: { cpu: pool.cpus, memoryMiB: capacity.memoryMiB, gpu: capacity.gpu }, quotas, running, queued, now: now() };
  };

  const pools = (snap: Snapshot) => [
    { tenantIds: undefined, cpus: snap.reserved.shared.length > 0 ? Math.min(capacity.cpu, snap.reserved.shared.length) : 0, cpuset: cpuList(snap.reserved.shared) },
    ...[...snap.reserved.byTenant].map(([tenantId, cpus]) => ({ tenantIds: new Set([tenantId]), cpus: cpus.length, cpuset: cpuList(cpus) })),
  ];

  const refuse = async (job: Job, reason: string) => {
    await store.transition(runnerContext, job.tenantId, job.id, 'refuse', { reason }).catch((error: unknown) => options.log.error({ err: error, jobId: job.id }, 'could not refuse job'));
  };

  /** A job's log pipeline: lines are batched into the store (every 200 lines or 250 ms), capped at maxLogLines. */
  const createLogSink = (job: Job) => {
    let seq = 0;
    let pending: Array<{ stream: JobLogLine['stream']; line: string }> = [];
    let flushing = Promise.resolve();
    const flush = () => {
      const batch = pending;
      pending = [];
      const first = seq + 1;
      seq += batch.length;
      flushing = flushing.then(() => store.appendLogs(job.tenantId, job.id, first, batch)).catch((error: unknown) => options.log.error({ err: error, jobId: job.id }, 'could not store job logs'));
      return flushing;
    };
    let logged = 0;
    const logLine = (stream: JobLogLine['stream'], line: string) => {
      logged += 1;
      if (logged > maxLogLines) {
        if (logged === maxLogLines + 1) pending.push({ stream: 'system', line: `[bulkhead] log truncated after ${maxLogLines} lines` });
        return;
      }
      pending.push({ stream, line });
      if (pending.length >= 200) void flush();
    };
    const timer = setInterval(() => void flush(), 250);
    return {
      logLine,
      flush,
      async close() {
        clearInterval(timer);
        await flush();
      },
    };
  };

  /** The MLflow run a job logs into (in experiment `jobs`, tagged with the job), when tracking is wired. */
  const createJobRun = async (job: Job, experimentId: string | null): Promise<{ runId: string | null; experimentId: string | null }> => {
    if (options.tracking === undefined) return { runId: null, experimentId };
    return options.tracking.createRun(job.tenantId, { experimentName: 'jobs', runName: job.name || `job-${job.id.slice(0, 8)}`, tags: { 'bulkhead.job_id': job.id } });
  };

  /**
   * A job whose start (or submission) failed: the reason goes to its log (the error's own message for an
   * AppError; otherwise `fallback`, and the error is logged), and a job still in one of `from` ends
   * cancelled when a cancel was asked for, refused otherwise.
   */
  const endOnError = async (job: Job, entry: Live, sink: ReturnType<typeof createLogSink>, error: unknown, fallback: string, from: readonly Job['status'][]): Promise<void> => {
    const reason = error instanceof AppError ? error.message : fallback;
    if (!(error instanceof AppError)) options.log.error({ err: error, jobId: job.id }, fallback);
    sink.logLine('system', `[bulkhead] ${reason}`);
    await sink.flush();
    const current = await store.get(job.tenantId, job.id).catch(() => undefined);
    if (current !== undefined && from.includes(current.status)) {
      await store.transition(runnerContext, job.tenantId, job.id, entry.cancelling ? 'cancel' : 'refuse', { reason }).catch(() => {});
    }
  };

  const runJob = async (job: Job, cpuset: string, tenant: Tenant, quota: TenantQuota): Promise<void> => {
    const entry: Live = { handle: undefined, tenantId: job.tenantId, cancelling: false };
    live.set(job.id, entry);
    const dir = join(options.jobsDir, job.tenantId, job.id);
    const dirs = { workspace: join(dir, 'workspace'), outputs: join(dir, 'outputs'), data: join(dir, 'data'), code: join(dir, 'code') };
    const sink = createLogSink(job);
    const { logLine, flush } = sink;
    let tokenId: string | undefined;
    let runId = job.runId;
    try {
      // The job's inputs: its code and datasets, decrypted into directories only it will see.
      // The sandbox launcher runs as the unprivileged job uid and must traverse to the job's directories:
      // parents are 0711 (enter, never list; job ids are random), the job's own dirs are handed to it.
      for (const path of [options.jobsDir, join(options.jobsDir, job.tenantId), dir]) {
        await mkdir(path, { recursive: true, mode: 0o711 });
        await chmod(path, 0o711);
      }
      for (const path of Object.values(dirs)) await mkdir(path, { recursive: true, mode: 0o700 });
      await chmod(dirs.data, 0o755);
      await chmod(dirs.code, 0o755);
      let codeDigest: string | null = null;
      if (job.codeBundle !== null) {
        if (options.storage === undefined) throw new AppError('UNAVAILABLE', 'code bundles need the artifact store');
        codeDigest = (await options.storage.materializeCodeBundle(job.tenantId, job.codeBundle, dirs.code)).digest;
      }
      for (const dataset of job.datasets) {
        if (options.storage === undefined) throw new AppError('UNAVAILABLE', 'datasets need the artifact store');
        await options.storage.materializeDataset(job.tenantId, dataset.name, dataset.version, join(dirs.data, dataset.name));
      }
      // Inputs are mounted read-only; the unprivileged job uid must still be able to read them.
      await makeReadable(dirs.data);
      await makeReadable(dirs.code);
      let experimentId = job.experimentId;
      if (runId === null) ({ runId, experimentId } = await createJobRun(job, experimentId));
      const timeout = job.resources.timeoutSeconds;
      const created = await identity.createToken(runnerContext, job.tenantId, { name: `job-${job.id}`, role: 'member', kind: 'job', jobId: job.id, expiresInSeconds: timeout + Math.ceil(options.preemptGraceMs / 1000) + 300 });
      tokenId = created.record.id;
      const socketPath = await relays.open({ jobId: job.id, tenantId: job.tenantId, tenantSlug: tenant.slug, token: created.token, runId, experimentId, dir });
      if (entry.cancelling) throw new AppError('CONFLICT', 'cancelled while starting');
      await store.transition(runnerContext, job.tenantId, job.id, 'start', { runId, experimentId, codeDigest });
      // The job's one way out: the relay, on loopback inside its own network namespace (every tier).
      const trackingUri = `http://127.0.0.1:${options.relayPort}`;
      const env: Record<string, string> = { ...job.env, MLFLOW_TRACKING_URI: trackingUri, MLFLOW_TRACKING_TOKEN: created.token };
      if (runId !== null) env['MLFLOW_RUN_ID'] = runId;
      if (experimentId !== null) env['MLFLOW_EXPERIMENT_ID'] = experimentId;
      const spec: JobSpec = {
        jobId: job.id,
        tenantId: job.tenantId,
        tier: tenant.tier,
        argv: job.command,
        env,
        workspaceDir: dirs.workspace,
        outputsDir: dirs.outputs,
        resources: { cpu: job.resources.cpu, memoryMiB: job.resources.memoryMiB, pids: 512, timeoutSeconds: timeout },
        tenantLimits: { cpu: quota.cpu + quota.borrowingLimit.cpu, memoryMiB: quota.memoryMiB + quota.borrowingLimit.memoryMiB },
        reservedCpus: cpuset,
        apiSocketPath: socketPath,
        output: (line) => logLine(line.stream, line.line),
        ...(job.datasets.length > 0 ? { dataDir: dirs.data } : {}),
        ...(job.codeBundle !== null ? { codeDir: dirs.code } : {}),
      };
      entry.handle = executor.start(spec);
      if (entry.cancelling) entry.handle.cancel();
      const outcome = await entry.handle.wait();
      await finish(job, outcome, { runId, experimentId, dirs, logLine, flush });
    } catch (error) {
      await endOnError(job, entry, sink, error, 'the platform could not start the job', ['admitted', 'running']);
    } finally {
      await sink.close();
      await relays.close(job.id);
      if (tokenId !== undefined) await identity.revokeToken(runnerContext, job.tenantId, tokenId).catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      live.delete(job.id);
      schedule();
    }
  };

  /**
   * A job on the cluster. With Kueue the job is still `queued` when it is submitted: Kueue's admission
   * makes it `admitted`, its pod running makes it `running`. Without Kueue it arrives admitted. Code
   * bundles and datasets are fetched by the pod's init container through the API with the job token.
   */
  const runClusterJob = async (cluster: ClusterExecution, job: Job, tenant: Tenant, quota: TenantQuota, admitted: boolean): Promise<void> => {
    const entry: Live = { handle: undefined, tenantId: job.tenantId, cancelling: false };
    live.set(job.id, entry);
    const sink = createLogSink(job);
    let state: 'queued' | 'admitted' | 'running' = admitted ? 'admitted' : 'queued';
    let runId = job.runId;
    let experimentId = job.experimentId;
    let tokenId: string | undefined;
    // Progress arrives as callbacks; transitions are applied one after the other, in order.
    let transitions = Promise.resolve();
    const advance = async (to: ClusterProgress): Promise<void> => {
      if (state === 'queued') {
        await store.transition(runnerContext, job.tenantId, job.id, 'admit');
        state = 'admitted';
      }
      if (to === 'running' && state === 'admitted') {
        await store.transition(runnerContext, job.tenantId, job.id, 'start', { runId, experimentId, codeDigest: null });
        state = 'running';
      }
    };
    try {
      await cluster.ensureTenant(tenant, quota);
      if (runId === null) ({ runId, experimentId } = await createJobRun(job, experimentId));
      // Valid while the job may wait in Kueue's queue and run; revoked when it ends.
      const created = await identity.createToken(runnerContext, job.tenantId, { name: `job-${job.id}`, role: 'member', kind: 'job', jobId: job.id, expiresInSeconds: 7 * 24 * 3600 + job.resources.timeoutSeconds });
      tokenId = created.record.id;
      entry.clusterScope = { runId, experimentId, inputs: { codeBundle: job.codeBundle, datasets: job.datasets } };
      const env: Record<string, string> = { ...job.env };
      if (runId !== null) env['MLFLOW_RUN_ID'] = runId;
      if (experimentId !== null) env['MLFLOW_EXPERIMENT_ID'] = experimentId;
      if (entry.cancelling) throw new AppError('CONFLICT', 'cancelled while starting');
      entry.handle = cluster.start({
        job, tenant, quota, token: created.token, env,
        output: (line) => sink.logLine(line.stream, line.line),
        onProgress: (progress) => {
          transitions = transitions.then(() => advance(progress)).catch((error: unknown) => options.log.error({ err: error, jobId: job.id }, 'could not record cluster progress'));
        },
      });
      if (entry.cancelling) entry.handle.cancel();
      const outcome = await entry.handle.wait();
      await transitions;
      if (outcome.kind === 'preempted' && state === 'queued') {
        // Kueue took it back before admitting it: it is still queued and is submitted again.
        sink.logLine('system', '[bulkhead] evicted from the cluster queue before admission; submitted again');
      } else if (outcome.kind === 'cancelled' || outcome.kind === 'refused') {
        await finish(job, outcome, { runId, experimentId, dirs: undefined, logLine: sink.logLine, flush: sink.flush });
      } else {
        // Ended (or preempted) after admission: the state machine needs it running first.
        await advance('running');
        await finish(job, outcome, { runId, experimentId, dirs: undefined, logLine: sink.logLine, flush: sink.flush });
      }
    } catch (error) {
      await endOnError(job, entry, sink, error, 'the platform could not submit the job to the cluster', ['queued', 'admitted', 'running']);
    } finally {
      await sink.close();
      if (tokenId !== undefined) await identity.revokeToken(runnerContext, job.tenantId, tokenId).catch(() => {});
      live.delete(job.id);
      schedule();
    }
  };

  const listFiles = async (root: string): Promise<Array<{ path: string; size: number }>> => {
    const out: Array<{ path: string; size: number }> = [];
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) out.push({ path: relative(root, full), size: (await stat(full)).size });
      }
    };
    await walk(root).catch(() => {});
    return out;
  };

  const finish = async (job: Job, outcome: Outcome, ctx: { runId: string | null; experimentId: string | null; dirs: { outputs: string } | undefined; logLine: (stream: JobLogLine['stream'], line: string) => void; flush: () => Promise<void> }) => {
    const usage = { ...outcome.usage };
    let outputs: Array<{ path: string; size: number }> = [];
    if (outcome.kind !== 'preempted') {
      try {
        const ran = { ...job, runId: ctx.runId, experimentId: ctx.experimentId };
        if (ctx.dirs === undefined) {
          // A cluster job has no host directory: its outputs are what it uploaded under its run's outputs/.
          outputs = options.storage === undefined ? [] : await options.storage.listUploadedOutputs(job.tenantId, ran);
        } else {
          outputs = options.storage === undefined ? await listFiles(ctx.dirs.outputs) : await options.storage.storeOutputs(job.tenantId, ran, ctx.dirs.outputs);
        }
      } catch (error) {
        ctx.logLine('system', `[bulkhead] outputs were not stored: ${error instanceof AppError ? error.message : 'storage error'}`);
      }
    }
    // One exhaustive switch from outcome to final state (and what to tell the user).
    let reason: string | null = null;
    let exitCode: number | null = null;
    switch (outcome.kind) {
      case 'succeeded':
        exitCode = 0;
        break;
      case 'failed':
        exitCode = outcome.exitCode;
        reason = outcome.signal === undefined ? `exited with code ${String(outcome.exitCode)}` : `killed by ${outcome.signal}`;
        break;
      case 'oom_killed':
        reason = `ran out of memory: exceeded its limit of ${job.resources.memoryMiB} MiB and was killed`;
        break;
      case 'timed_out':
        reason = `exceeded its timeout of ${job.resources.timeoutSeconds}s and was killed`;
        break;
      case 'cancelled':
        reason = 'cancelled';
        break;
      case 'preempted':
        reason = 'preempted to return borrowed capacity to its owner; requeued';
        break;
      case 'refused':
        reason = outcome.reason;
        break;
      default: {
        const unreachable: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(unreachable)}`);
      }
    }
    if (reason !== null) ctx.logLine('system', `[bulkhead] ${reason}`);
    // Every line is stored before the job is seen to end: a reader that waits for the final state then
    // reads the logs must get all of them.
    await ctx.flush();
    await store.transition(runnerContext, job.tenantId, job.id, eventForOutcome(outcome.kind), { exitCode, reason, usage, outputs });
    if (outcome.kind === 'preempted') {
      await store.transition(runnerContext, job.tenantId, job.id, 'requeue', { reason: 'requeued after preemption' });
    }
    if (ctx.runId !== null && options.tracking !== undefined && outcome.kind !== 'preempted') {
      await options.tracking.finishRun(job.tenantId, ctx.runId, outcome.kind === 'succeeded' ? 'FINISHED' : outcome.kind === 'cancelled' ? 'KILLED' : 'FAILED').catch(() => {});
    }
  };

  const tickOnce = async (): Promise<void> => {
    const cluster = options.cluster;
    if (cluster === undefined) probe ??= await executor.probe();
    const snap = await snapshot();
    // Cancels asked for through another server instance.
    for (const job of snap.active) if (job.cancelRequested) cancelLocal(job.id);
    if (cluster?.kueue === true) {
      // Admission is Kueue's: submit every queued job of an active tenant; Kueue admits, orders by its
      // fair sharing and preempts. A job already submitted by this process is followed, not submitted again.
      for (const job of snap.active) {
        const tenant = snap.tenantsById.get(job.tenantId);
        const quota = snap.quotas.get(job.tenantId);
        if (job.status !== 'queued' || live.has(job.id) || tenant === undefined || tenant.status !== 'active' || quota === undefined) continue;
        void runClusterJob(cluster, job, tenant, quota, false);
      }
      return;
    }
    for (const pool of pools(snap)) {
      const decision = decide(poolInput(snap, pool));
      for (const preemption of decision.preempted) {
        const entry = live.get(preemption.jobId);
        if (entry?.handle !== undefined) {
          options.log.info({ jobId: preemption.jobId, forJobId: preemption.forJobId }, 'preempting a borrower');
          entry.handle.preempt(options.preemptGraceMs);
        }
      }
      for (const admission of decision.admitted) {
        // Admissions that wait for preemptions start on a later tick, once the capacity is free.
        if (admission.afterPreempting.length > 0) continue;
        const job = snap.active.find((j) => j.id === admission.jobId);
        const tenant = snap.tenantsById.get(admission.tenantId);
        const quota = snap.quotas.get(admission.tenantId);
        if (job === undefined || tenant === undefined || quota === undefined) continue;
        if (cluster !== undefined) {
          try {
            await store.transition(runnerContext, job.tenantId, job.id, 'admit');
          } catch {
            continue;
          }
          void runClusterJob(cluster, job, tenant, quota, true);
          continue;
        }
        probe ??= await executor.probe();
        let tierState = probe.tiers[tenant.tier];
        if (!tierState.available) {
          // A failed probe may be transient (a loaded host, a tool installed since): look again before
          // refusing, and keep the fresh answer.
          probe = await executor.probe();
          tierState = probe.tiers[tenant.tier];
        }
        try {
          await store.transition(runnerContext, job.tenantId, job.id, 'admit');
        } catch {
          continue; // Someone else admitted or cancelled it first: the state machine said no.
        }
        if (!tierState.available) {
          // Never silently downgrade: a job below its tenant's tier does not run.
          await refuse(job, `this host cannot provide the '${tenant.tier}' isolation tier (missing: ${tierState.missing.join(', ')}); ${tierState.install}`);
          continue;
        }
        void runJob(job, pool.cpuset, tenant, quota);
      }
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    if (ticking !== undefined) {
      again = true;
      return;
    }
    ticking = (async () => {
      do {
        again = false;
        try {
          await tickOnce();
        } catch (error) {
          options.log.error({ err: error }, 'scheduling tick failed');
        }
      } while (again && !stopped);
    })().finally(() => {
      ticking = undefined;
    });
  };

  const cancelLocal = (jobId: string): boolean => {
    const entry = live.get(jobId);
    if (entry === undefined) return false;
    entry.cancelling = true;
    entry.handle?.cancel();
    return true;
  };

  /**
   * Start-up: jobs that were admitted or running when the platform stopped are ended with the reason
   * (their processes died with the platform: every sandboxed job runs with die-with-parent), and queued
   * jobs stay queued. Runs once per runner (later calls return the first call's answer): the ids of the
   * jobs it failed, whose MLflow runs and job tokens start-up recovery then ends and revokes.
   */
  let interrupted: Promise<Array<{ tenantId: string; jobId: string }>> | undefined;
  const recoverInterrupted = (): Promise<Array<{ tenantId: string; jobId: string }>> => (interrupted ??= (async () => {
    const failed: Array<{ tenantId: string; jobId: string }> = [];
    const active = await store.active();
    for (const job of active) {
      if (options.cluster !== undefined && (job.status === 'running' || job.status === 'admitted')) {
        // On a cluster the pod outlived the platform, but nobody follows it any more: run it again
        // (submitting replaces the old Job of the same name), as after a preemption.
        await store.transition(runnerContext, job.tenantId, job.id, 'preempt', { reason: 'the platform restarted while the job was on the cluster; it is run again' });
        await store.transition(runnerContext, job.tenantId, job.id, 'requeue');
      } else if (job.status === 'running') {
        await store.transition(runnerContext, job.tenantId, job.id, 'fail', { reason: 'the platform restarted while the job ran; its processes were stopped' });
        failed.push({ tenantId: job.tenantId, jobId: job.id });
      } else if (job.status === 'admitted') {
        await store.transition(runnerContext, job.tenantId, job.id, 'preempt', { reason: 'the platform restarted before the job started' });
        await store.transition(runnerContext, job.tenantId, job.id, 'requeue');
      }
    }
    return failed;
  })());

  return {
    recoverInterrupted,
    /**
     * Start-up: interrupted jobs are ended (recoverInterrupted, if start-up recovery has not done it
     * already; their processes died with the platform: every tier runs under bwrap with
     * --die-with-parent — a parent-death SIGKILL — in a PID namespace whose init takes the whole tree
     * with it), leftover cgroups are reaped (killing anything still in them, whatever the tier), and
     * queued jobs stay queued. Then the scheduling loop starts.
     */
    async start(): Promise<void> {
      await recoverInterrupted();
      await executor.reapOrphans([]);
      timer = setInterval(schedule, options.tickIntervalMs);
      timer.unref();
      schedule();
    },
    /** Runs one scheduling pass now (and waits for it). */
    async tick(): Promise<void> {
      schedule();
      while (ticking !== undefined) await ticking;
    },
    /** Submission or quota change: schedule soon. */
    poke: schedule,
    /** Kills a running job of this process now (the store has recorded the request). */
    cancel: cancelLocal,
    /** Who admits queued jobs: Bulkhead's scheduler, or Kueue on the cluster. */
    admission: (): 'bulkhead' | 'kueue' => (options.cluster?.kueue === true ? 'kueue' : 'bulkhead'),
    async explain(job: Job): Promise<WaitExplanation | undefined> {
      if (options.cluster?.kueue === true) return undefined;
      const snap = await snapshot();
      const pool = pools(snap).find((p) => (p.tenantIds === undefined ? !snap.reserved.byTenant.has(job.tenantId) : p.tenantIds.has(job.tenantId)));
      if (pool === undefined) return undefined;
      const explanation = explainJob(poolInput(snap, pool), job.id);
      // The pure scheduler knows tenants by id; people know them by slug.
      const slug = snap.tenantsById.get(job.tenantId)?.slug;
      if (explanation === undefined || slug === undefined) return explanation;
      return { ...explanation, summary: explanation.summary.replace(`Tenant ${explanation.tenantId}:`, `Tenant ${slug}:`) };
    },
    capacity: () => ({ cpu: capacity.cpu, memoryMiB: capacity.memoryMiB, gpu: capacity.gpu }),
    /**
     * The CPUs a tenant's processes may use: its reserved CPUs when it is `dedicated` (undefined when
     * none could be reserved), otherwise the shared pool — so serving workers honour the same
     * reservations as jobs.
     */
    async cpusetFor(tenantId: string): Promise<string | undefined> {
      const all = await tenants.list();
      const quotas = new Map<string, TenantQuota>();
      for (const tenant of all.filter((t) => t.tier === 'dedicated')) quotas.set(tenant.id, await tenants.getQuota(tenant.id));
      const reserved = reservations(all, quotas);
      const own = reserved.byTenant.get(tenantId);
      if (own !== undefined) return cpuList(own);
      if (all.find((t) => t.id === tenantId)?.tier === 'dedicated') return undefined;
      return reserved.shared.length > 0 ? cpuList(reserved.shared) : undefined;
    },
    hostProbe: async () => (probe ??= await executor.probe()),
    liveJobs: () => [...live.keys()],
    /**
     * What the token of a job this process runs on the cluster may reach (its own run), or undefined when
     * this process runs no such job: the pod talks to the API directly, without a relay to scope it.
     */
    clusterJobScope: (tenantId: string, jobId: string): ClusterJobScope | undefined => {
      const entry = live.get(jobId);
      return entry === undefined || entry.tenantId !== tenantId ? undefined : entry.clusterScope;
    },
    /** Jobs of one tenant this process is still running or cleaning up after (logs, token, directories). */
    liveJobsOf: (tenantId: string) => [...live].filter(([, entry]) => entry.tenantId === tenantId).map(([id]) => id),
    async stop(): Promise<void> {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      while (ticking !== undefined) await ticking;
      // Running jobs go back to the queue: preempted with a grace period, requeued, started again later.
      for (const entry of live.values()) entry.handle?.preempt(options.preemptGraceMs);
      const deadline = Date.now() + 5000;
      while (live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      // Leave no cgroups behind: anything still there belongs to no live job of this process.
      if (live.size === 0) await executor.reapOrphans([]).catch(() => undefined);
    },
  };
};

export type JobRunner = ReturnType<typeof createJobRunner>;
