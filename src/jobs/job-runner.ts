import type { Job } from '../contract/job-schemas.ts';
import type { RequestContext } from '../core/request-context.ts';
import { FairShareLedger, chooseGpuShare, chooseGpus, chooseMigInstance, decide, fairShareView, schedulingPools, shareUnits } from '../scheduler/index.ts';
import type { CpuPool, FairShareView, HeldGpu, WaitExplanation } from '../scheduler/index.ts';
import type { FairShareStore } from './fair-share-store.ts';
import type { TenantService } from '../tenants/index.ts';
import type { ClusterJobScope, JobBackend, JobTrackingPort } from './job-backend.ts';
import { createJobExecution } from './job-execution.ts';
import { addTreeUsage, explainWait, gateByTree, treeReclaims, hostCpusetFor, poolInput, requestOfJob, takeSnapshot, treeUsageOf, treeVerdict } from './job-scheduling.ts';
import type { Capacity, Snapshot } from './job-scheduling.ts';
import type { ActiveJob, JobStore } from './job-store.ts';

/** The GPU devices this host's jobs may be granted (the executor's inventory, as the runner needs it). */
export interface GpuPool {
  devices: ReadonlyArray<{ id: string; path: string; kind: 'gpu' | 'mig'; profile?: string | undefined; uuid?: string | undefined }>;
  controlNodes: ReadonlyArray<{ path: string }>;
}

const runnerContext: RequestContext = { actor: 'system:scheduler', requestId: 'scheduler' };

export interface JobRunnerOptions {
  /** The job records (the runner's only writer port): snapshot, transitions, logs. */
  store: Pick<JobStore, 'active' | 'get' | 'transition' | 'appendLogs'> & Partial<Pick<JobStore, 'gpuGrants'>>;
  // quotaTree: the quota tree of tenants with parents (issue 15); without it admissions are flat.
  tenants: Pick<TenantService, 'list' | 'getQuota'> & Partial<Pick<TenantService, 'quotaTree'>>;
  /** Where jobs run: this host or a cluster. */
  backend: JobBackend;
  capacity: Capacity;
  /**
   * This host's GPU inventory (host placement only): a job asking for GPUs is granted specific devices
   * from it, recorded with its admission. Without it, GPU jobs are never admitted here (capacity 0).
   */
  gpus?: GpuPool | undefined;
  /**
   * Fair share on decayed usage (issue 15): each tenant's holdings, decayed with `halfLifeMs`, persisted
   * in `store`; tenants are admitted in Fair Tree order over the tenant tree. Without it: DRF on what runs.
   */
  fairShare?: { store: FairShareStore; halfLifeMs: number } | undefined;
  tickIntervalMs: number;
  preemptGraceMs: number;
  tracking?: JobTrackingPort | undefined;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now?: () => number;
}

/**
 * Turns queued jobs into running ones and running ones into outcomes. Each tick takes a snapshot of the
 * active jobs and quotas, asks the pure scheduler (weighted DRF with borrowing) what to admit and what to
 * preempt per CPU pool, applies that through compare-and-set state transitions (one tick at a time in
 * this process), and launches admitted jobs on the backend (this host, or a cluster). A job's outcome
 * maps onto its final state in one exhaustive switch; preempted jobs go back to the queue.
 */
export const createJobRunner = (options: JobRunnerOptions) => {
  const { store, tenants, backend, capacity } = options;
  const now = options.now ?? Date.now;
  const jobs = createJobExecution({ store, backend, tracking: options.tracking, log: options.log, onDone: () => schedule() });
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  // Until start(): submissions do not schedule (a replica that is not the leader never starts; tests tick by hand).
  let standby = true;
  const transition = (job: Pick<Job, 'tenantId' | 'id'>, event: Parameters<JobStore['transition']>[3], update?: Parameters<JobStore['transition']>[4]) =>
    store.transition(runnerContext, job.tenantId, job.id, event, update);

  const snapshot = () => takeSnapshot(store, tenants, backend.placement, capacity);

  // Fair share (issue 15): the ledger is loaded from the database at the first use of each term (start,
  // or a replica elected leader: the previous leader wrote it), then written through on every change.
  const fair = options.fairShare;
  const ledger = fair === undefined ? undefined : new FairShareLedger(fair.halfLifeMs);
  let ledgerLoaded = false;
  /**
   * The Fair Tree ranks and decayed usage now. `record`: the scheduling pass — what the snapshot's admitted
   * and running jobs hold (gangs whole) accrues from now on and changed records are persisted.
   */
  const fairShareOf = async (snap: Snapshot, record: boolean): Promise<FairShareView | undefined> => {
    if (fair === undefined || ledger === undefined) return undefined;
    try {
      // A replica that does not lead only explains: it reads what the leader wrote.
      if (!ledgerLoaded || (!record && standby)) {
        ledger.restore(await fair.store.load());
        ledgerLoaded = true;
      }
      const at = now();
      if (record) await fair.store.save(ledger.sync(at, treeUsageOf(snap), capacity));
      return fairShareView(ledger, await fair.store.nodes(), at);
    } catch (error) {
      // What is in memory may now differ from the database: start again from the database next time.
      ledgerLoaded = false;
      throw error;
    }
  };

  const needsDevices = (job: Job): boolean => job.resources.gpu > 0 && backend.placement === 'host';

  /**
   * The devices `job` would be granted now, given what is held, or undefined when none can take it.
   * The scheduler counts GPU units; this is the device-level check behind them (pure over its inputs).
   */
  const devicesFor = (job: Job, grants: readonly HeldGpu[]): { devices: string[]; shareUnits?: number } | undefined => {
    if (options.gpus === undefined) return undefined;
    const inventory = options.gpus.devices;
    const held = new Set(grants.map((g) => g.deviceId));
    if (job.gpuMigProfile !== null) {
      // One MIG instance of the profile, whole (the only cross-tenant sharing of a physical GPU).
      const instance = chooseMigInstance(inventory, held, job.gpuMigProfile);
      return instance === undefined ? undefined : { devices: [instance] };
    }
    if (job.resources.gpu < 1) {
      // A time-slice: a device this tenant already time-slices, or a free one; never another tenant's.
      const units = shareUnits(job.resources.gpu);
      const device = chooseGpuShare(inventory, grants, job.tenantId, units);
      return device === undefined ? undefined : { devices: [device], shareUnits: units };
    }
    // A gang's workers each get `gpu` devices: rank r gets the r-th slice of the grant.
    const devices = chooseGpus(inventory, held, job.resources.gpu * job.workers);
    return devices === undefined ? undefined : { devices };
  };

  /**
   * Queued GPU jobs no device can take now (another tenant time-slices the only free GPU, no instance of
   * the MIG profile is free, the free units are MIG slices but the job wants whole GPUs): left out of
   * this tick's decision, so the units they count cannot hold back jobs that could run.
   */
  const unplaceableNow = async (snap: Snapshot): Promise<Set<string>> => {
    const waiting = snap.active.filter((j) => j.status === 'queued' && needsDevices(j));
    if (waiting.length === 0) return new Set();
    const grants = await (store.gpuGrants?.() ?? Promise.resolve([]));
    return new Set(waiting.filter((j) => devicesFor(j, grants) === undefined).map((j) => j.id));
  };

  /** Admits one job the scheduler chose (compare-and-set: a concurrent admit or cancel wins) and launches it. */
  const admit = async (snap: Snapshot, jobId: string, tenantId: string, pool: CpuPool): Promise<void> => {
    const job = snap.active.find((j) => j.id === jobId);
    const tenant = snap.tenantsById.get(tenantId);
    const quota = snap.quotas.get(tenantId);
    if (job === undefined || tenant === undefined || quota === undefined) return;
    const refusal = await backend.refusal(tenant);
    // GPUs: specific free devices, recorded with the admission (the database refuses a device held by
    // anyone, so a second replica or a restarted runner racing for it loses the admission, not the device).
    let gpuDevices: string[] = [];
    let gpuShareUnits: number | undefined;
    if (needsDevices(job)) {
      const grants = await (store.gpuGrants?.() ?? Promise.resolve([]));
      const chosen = devicesFor(job, grants);
      if (chosen === undefined) {
        options.log.info({ jobId: job.id, gpus: job.resources.gpu, held: grants.length }, 'not enough free GPU devices; the job stays queued');
        return;
      }
      gpuDevices = chosen.devices;
      gpuShareUnits = chosen.shareUnits;
    }
    try {
      await transition(job, 'admit', gpuDevices.length > 0 ? { gpuDevices, ...(gpuShareUnits === undefined ? {} : { gpuShareUnits }) } : {});
    } catch {
      return; // Someone else admitted or cancelled it first, or took one of the devices: the job stays as it is.
    }
    if (refusal !== undefined) {
      await transition(job, 'refuse', { reason: refusal }).catch((error: unknown) => options.log.error({ err: error, jobId: job.id }, 'could not refuse job'));
      return;
    }
    const byId = new Map((options.gpus?.devices ?? []).map((d) => [d.id, d]));
    const uuids = gpuDevices.map((id) => (byId.get(id) as { uuid?: string | undefined }).uuid).filter((u): u is string => u !== undefined);
    const gpus = gpuDevices.length === 0 ? undefined : {
      devices: gpuDevices.map((id) => ({ id, path: (byId.get(id) as { path: string }).path })),
      controlNodes: (options.gpus?.controlNodes ?? []).map((n) => n.path),
      ...(job.resources.gpu !== gpuDevices.length && job.workers === 1 ? { units: job.resources.gpu } : {}),
      ...(uuids.length === gpuDevices.length ? { uuids } : {}),
    };
    void jobs.run({ ...job, gpuDevices }, tenant, quota, { cpuset: pool.cpuset, ...(gpus === undefined ? {} : { gpus }) }, 'admitted');
  };

  const tickOnce = async (): Promise<void> => {
    const snap = await snapshot();
    // Cancels asked for through another server instance.
    for (const job of snap.active) if (job.cancelRequested) jobs.cancel(job.id);
    if (backend.admission === 'kueue') {
      // Admission is Kueue's: launch every queued job of an active tenant; Kueue admits, orders by its
      // fair sharing and preempts. A job already launched by this process is followed, not launched again.
      for (const job of snap.active) {
        const tenant = snap.tenantsById.get(job.tenantId);
        const quota = snap.quotas.get(job.tenantId);
        if (job.status !== 'queued' || jobs.has(job.id) || tenant?.status !== 'active' || quota === undefined) continue;
        void jobs.run(job, tenant, quota, { cpuset: '' }, 'queued');
      }
      return;
    }
    // The quota tree (issue 15; only when tenants have parents): queued jobs it refuses now are left out of
    // the decision, and each admission is checked again against what this tick already admitted.
    const treeUsage = snap.tree === undefined ? undefined : treeUsageOf(snap);
    const admittedNow = new Set<string>();
    // Without the fair-share ledger (a failed read or write: logged, retried from the database next pass)
    // this pass orders by DRF on what runs now rather than not scheduling at all.
    const fairView = await fairShareOf(snap, true).catch((error: unknown) => {
      options.log.error({ err: error }, 'fair-share usage could not be read or recorded; this pass orders by current holdings only');
      return undefined;
    });
    const unplaceable = await unplaceableNow(snap);
    for (const pool of schedulingPools(snap.pools, capacity.cpu)) {
      const all = poolInput(snap, pool, capacity, now(), fairView);
      const input = unplaceable.size === 0 ? all : { ...all, queued: all.queued.filter((j) => !unplaceable.has(j.id)) };
      const decision = decide(treeUsage === undefined ? input : gateByTree(snap, treeUsage, input));
      for (const preemption of decision.preempted) {
        if (jobs.preempt(preemption.jobId, options.preemptGraceMs)) options.log.info({ jobId: preemption.jobId, forJobId: preemption.forJobId }, 'preempting a borrower');
      }
      // Admissions that wait for preemptions start on a later tick, once the capacity is free.
      for (const admission of decision.admitted) {
        if (admission.afterPreempting.length !== 0) continue;
        if (treeUsage !== undefined) {
          const request = requestOfJob(snap, admission.jobId);
          if (request === undefined || !treeVerdict(snap, treeUsage, admission.tenantId, request).admit) continue;
          addTreeUsage(treeUsage, admission.tenantId, request);
          admittedNow.add(admission.jobId);
        }
        await admit(snap, admission.jobId, admission.tenantId, pool);
      }
    }
    // A tenant whose nominal quota is lent out inside the tree takes it back from the farthest borrower.
    if (treeUsage !== undefined) {
      for (const reclaim of treeReclaims(snap, treeUsage, admittedNow)) {
        if (jobs.preempt(reclaim.jobId, options.preemptGraceMs)) options.log.info({ jobId: reclaim.jobId, forJobId: reclaim.forJobId }, 'preempting a borrower in the quota tree');
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
        await tickOnce().catch((error: unknown) => options.log.error({ err: error }, 'scheduling tick failed'));
      } while (again && !stopped);
    })().finally(() => {
      ticking = undefined;
    });
  };

  /**
   * Jobs admitted or running that no live runner follows — their processes died with the platform (every
   * tier runs with die-with-parent) or with the replica that led before this one — are ended with the
   * reason or, on a cluster where the pod outlived it, run again; queued jobs stay queued. Jobs this
   * runner itself runs are left alone. Returns the jobs it failed.
   */
  const endOrphaned = async (reasons: { running: string; admitted: string; cluster: string }): Promise<Array<{ tenantId: string; jobId: string }>> => {
    const failed: Array<{ tenantId: string; jobId: string }> = [];
    const requeue = async (job: ActiveJob, reason: string) => {
      await transition(job, 'preempt', { reason });
      await transition(job, 'requeue');
    };
    for (const job of await store.active()) {
      if (jobs.has(job.id)) continue;
      if (backend.placement === 'cluster' && (job.status === 'running' || job.status === 'admitted')) {
        // Submitting it again replaces the old Job of the same name, as after a preemption.
        await requeue(job, reasons.cluster);
      } else if (job.status === 'running') {
        await transition(job, 'fail', { reason: reasons.running });
        failed.push({ tenantId: job.tenantId, jobId: job.id });
      } else if (job.status === 'admitted') {
        await requeue(job, reasons.admitted);
      }
    }
    return failed;
  };

  /**
   * Start-up: jobs admitted or running when the platform stopped are ended (see endOrphaned). Once per
   * runner (later calls return the first answer): the jobs it failed, whose runs and tokens start-up
   * recovery then ends.
   */
  let interrupted: Promise<Array<{ tenantId: string; jobId: string }>> | undefined;
  const recoverInterrupted = (): Promise<Array<{ tenantId: string; jobId: string }>> => (interrupted ??= endOrphaned({
    running: 'the platform restarted while the job ran; its processes were stopped',
    admitted: 'the platform restarted before the job started',
    cluster: 'the platform restarted while the job was on the cluster; it is run again',
  }));

  /**
   * A replica becoming the leader: what the previous leader ran is ended — never started a second time
   * on this host (a local job's processes lived on the replica that was lost). Runs at every election.
   */
  const takeOver = (): Promise<Array<{ tenantId: string; jobId: string }>> => endOrphaned({
    running: 'the platform restarted or the replica that ran the job was lost (killed, or paused past its lease) while the job ran; the job is not started again',
    admitted: 'the platform restarted or the replica that admitted the job was lost before the job started',
    cluster: 'the platform restarted or the replica that followed the job on the cluster was lost; it is run again',
  });

  return {
    recoverInterrupted,
    takeOver,
    /**
     * Start-up, or a replica elected leader: interrupted jobs are ended (once), those of a lost leader taken
     * over, leftover cgroups reaped, then the scheduling loop starts. May follow `stop()` (a new term).
     */
    async start(): Promise<void> {
      stopped = false;
      standby = false;
      ledgerLoaded = false;
      await recoverInterrupted();
      await takeOver();
      await backend.reapOrphans();
      timer = setInterval(schedule, options.tickIntervalMs);
      timer.unref();
      schedule();
    },
    /** Runs one scheduling pass now (and waits for it). */
    async tick(): Promise<void> {
      schedule();
      while (ticking !== undefined) await ticking;
    },
    /** Submission or quota change: schedule soon (once started: only the leader schedules). */
    poke: (): void => {
      if (!standby) schedule();
    },
    /** Kills a running job of this process now (the store has recorded the request). */
    cancel: jobs.cancel,
    /** Who admits queued jobs: Bulkhead's scheduler, or Kueue on the cluster. */
    admission: (): 'bulkhead' | 'kueue' => backend.admission,
    /** Why a queued job waits (undefined under Kueue, whose Workload conditions say why). */
    explain: async (job: Job): Promise<WaitExplanation | undefined> => {
      if (backend.admission === 'kueue') return undefined;
      const snap = await snapshot();
      return explainWait(snap, job, capacity, now(), await fairShareOf(snap, false));
    },
    capacity: () => ({ cpu: capacity.cpu, memoryMiB: capacity.memoryMiB, gpu: capacity.gpu }),
    /** The CPUs a tenant's processes may use on this host (its reservation, or the shared pool), so serving honours them too. */
    cpusetFor: (tenantId: string): Promise<string | undefined> => hostCpusetFor(tenants, capacity, tenantId),
    hostProbe: () => backend.hostProbe(),
    liveJobs: jobs.ids,
    /** What the token of a cluster job this process runs may reach (its run and inputs); undefined otherwise. */
    clusterJobScope: (tenantId: string, jobId: string): ClusterJobScope | undefined => jobs.scope(tenantId, jobId),
    /** Jobs of one tenant this process is still running or cleaning up after (logs, token, directories). */
    liveJobsOf: jobs.idsOf,
    /** Whether the scheduling loop runs (between start and stop). */
    running: (): boolean => !stopped && timer !== undefined,
    async stop(): Promise<void> {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      while (ticking !== undefined) await ticking;
      // Running jobs go back to the queue: preempted with a grace period, requeued, started again later.
      for (const id of jobs.ids()) jobs.preempt(id, options.preemptGraceMs);
      const deadline = Date.now() + 5000;
      while (jobs.ids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      // Leave no cgroups behind: anything still there belongs to no live job of this process.
      if (jobs.ids().length === 0) await backend.reapOrphans().catch(() => undefined);
    },
  };
};

export type JobRunner = ReturnType<typeof createJobRunner>;
