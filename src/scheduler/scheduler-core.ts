/**
 * The incremental fair-share scheduler: per-tenant priority queues and a heap of tenants keyed by
 * (within-nominal first, weighted dominant share, head job priority, head enqueue time). Events
 * (enqueue, cancel, job finished, quota or capacity change) update only the tenants they touch, so one
 * decision costs O(log T) plus the tenants it finds blocked, not a pass over every queued job.
 *
 * Blocked tenants leave the heap until something that could unblock them happens:
 * - blocked by their own limits (max concurrent jobs, nominal + borrowing limit): an event of that tenant;
 * - blocked by the pool: capacity being freed (the next decision re-examines them, cheaply pre-filtered by
 *   whether their head job now fits the free pool).
 */
import { AppError } from '../core/errors.ts';
import { IndexedHeap } from './indexed-heap.ts';
import {
  addInto,
  addVec,
  component,
  dominantShareOfVec,
  exceedsAny,
  fitsWithin,
  fromVec,
  overflowing,
  subInto,
  toVec,
  zeroVec,
  type Vec,
} from './resource-vector.ts';
import type {
  Admission,
  Preemption,
  QueuedJob,
  ResourceName,
  Resources,
  ScheduledJob,
  SchedulingStep,
  SchedulerQuota,
} from './scheduler-types.ts';

/** @internal */
export interface JobRecord {
  readonly id: string;
  readonly tenant: TenantRecord;
  readonly req: Vec;
  readonly priority: number;
  readonly enqueuedAt: number;
  /** Insertion order: the last tie-breaker, so every order is total and deterministic. */
  readonly seq: number;
  heapIndex: number;
  startedAt: number;
  /** `parked`: queued but unable to ever run under the current quota and pool; kept out of the way. */
  state: 'queued' | 'parked' | 'running' | 'gone';
}

/** @internal */
export interface InternalQuota {
  readonly nominal: Vec;
  readonly limit: Vec;
  readonly borrowingLimit: Vec;
  readonly maxConcurrentJobs: number;
  readonly weight: number;
}

/** @internal */
export type TenantStatus = 'idle' | 'active' | 'local_blocked' | 'pool_blocked';

/** @internal */
export class TenantRecord {
  readonly id: string;
  quota: InternalQuota | undefined;
  readonly usage: Vec = zeroVec();
  readonly running = new Map<string, JobRecord>();
  readonly queue = new IndexedHeap<JobRecord>(jobBefore);
  /** Queued jobs that cannot run even on an empty pool with this quota; they must not block the queue. */
  readonly parked = new Set<JobRecord>();
  heapIndex = -1;
  status: TenantStatus = 'idle';
  /**
   * Fair Tree rank on decayed usage (issue 15; 1 = served first; 0 for everyone when the caller gives
   * none): ordered after the within-nominal class and before the weighted dominant share of what runs now.
   */
  fairRank = 0;
  // Cached heap key; refreshed by SchedulerState.#rekey.
  cls = 1;
  wds = 0;
  headPriority = 0;
  headEnqueuedAt = 0;
  headSeq = 0;

  constructor(id: string) {
    this.id = id;
  }
}

/** Within a tenant: higher priority, then earlier enqueue, then insertion order. */
export const jobBefore = (a: JobRecord, b: JobRecord): boolean => {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.enqueuedAt !== b.enqueuedAt) return a.enqueuedAt < b.enqueuedAt;
  return a.seq < b.seq;
};

/** @internal What tenants are ordered by. */
export interface TenantKey {
  readonly cls: number;
  readonly fairRank: number;
  readonly wds: number;
  readonly headPriority: number;
  readonly headEnqueuedAt: number;
  readonly headSeq: number;
}

/**
 * Across tenants: the order DRF serves them in. Class 0 (the head job fits within the tenant's nominal
 * quota) before class 1 (it would borrow), so an owner is never refused in favour of a borrower; then
 * the Fair Tree rank on decayed usage (when the caller sets ranks); then lowest weighted dominant share;
 * then the head job's priority and age.
 */
export const tenantBefore = (a: TenantKey, b: TenantKey): boolean => {
  if (a.cls !== b.cls) return a.cls < b.cls;
  if (a.fairRank !== b.fairRank) return a.fairRank < b.fairRank;
  if (a.wds !== b.wds) return a.wds < b.wds;
  if (a.headPriority !== b.headPriority) return a.headPriority > b.headPriority;
  if (a.headEnqueuedAt !== b.headEnqueuedAt) return a.headEnqueuedAt < b.headEnqueuedAt;
  return a.headSeq < b.headSeq;
};

/**
 * The holder claims, in each resource, as much of the free room as it needs; `req` must fit in what is
 * left (free − claim, never below zero), so jobs that do not compete for the holder's resources still run.
 */
export const fitsBesideReservation = (req: Vec, free: Vec, reserved: Vec): boolean =>
  req.cpu <= Math.max(0, free.cpu - reserved.cpu) &&
  req.mem <= Math.max(0, free.mem - reserved.mem) &&
  req.gpu <= Math.max(0, free.gpu - reserved.gpu);

/**
 * Start order, the order reclaim takes victims in. Jobs started at the same time (admitted in one pass)
 * are ordered by id, not by when their records were made: a scheduler rebuilt from a snapshot (`decide`,
 * or a new leader) makes its records in the snapshot's order, while the one that admitted them made a
 * preempted job's record anew when it was requeued, so an order by record would pick different victims.
 */
const startedAfter = (a: JobRecord, b: JobRecord): boolean =>
  a.startedAt !== b.startedAt ? a.startedAt > b.startedAt : a.id > b.id;

const NO_NOMINAL: Vec = Object.freeze({ cpu: 0, mem: 0, gpu: 0 });

/** @internal The first limit of the tenant's own that the job breaks, if any. */
export type LocalBlock = 'no_quota' | 'max_concurrent_jobs' | 'tenant_quota_cpu' | 'tenant_quota_memory' | 'tenant_quota_gpu';

const tenantQuotaReason = (resource: ResourceName): LocalBlock =>
  resource === 'cpu' ? 'tenant_quota_cpu' : resource === 'memory' ? 'tenant_quota_memory' : 'tenant_quota_gpu';

const toInternalQuota = (quota: SchedulerQuota, tenantId: string): InternalQuota => {
  const nominal = toVec(quota.nominal, `quota(${tenantId}).nominal`);
  const borrowingLimit = toVec(quota.borrowingLimit, `quota(${tenantId}).borrowingLimit`);
  if (!Number.isInteger(quota.maxConcurrentJobs) || quota.maxConcurrentJobs < 0) {
    throw new AppError('VALIDATION_FAILED', 'maxConcurrentJobs must be a non-negative integer', { details: { tenantId } });
  }
  if (!(quota.weight > 0) || !Number.isFinite(quota.weight)) {
    throw new AppError('VALIDATION_FAILED', 'weight must be a finite number > 0', { details: { tenantId } });
  }
  return {
    nominal,
    borrowingLimit,
    limit: addVec(nominal, borrowingLimit),
    maxConcurrentJobs: quota.maxConcurrentJobs,
    weight: quota.weight,
  };
};

const duplicateJob = (jobId: string): AppError =>
  new AppError('CONFLICT', `job ${jobId} is already known to the scheduler`, { details: { jobId } });

export interface SchedulerOptions {
  /**
   * What happens when the tenant DRF would serve next does not fit the free pool:
   * - `reserve` (default): its request is held back from the free pool, so tenants behind it in DRF
   *   order may only use what it does not need (e.g. CPU-only jobs keep running while it waits for a
   *   GPU). Capacity accumulates for it instead of being nibbled away by smaller jobs: large jobs are not
   *   starved, at the cost of some idle capacity while it accumulates.
   * - `greedy`: anyone behind it who fits is admitted (maximal utilization; large jobs can starve).
   */
  readonly backfill?: 'reserve' | 'greedy';
}

/**
 * Scheduler state, updated by events. Not thread-safe and not persistent: the caller owns the source of
 * truth (the database) and can rebuild a state from it at any time with `addRunning` and `enqueue`.
 *
 * One *decision* is one call of `decideNext`: it admits the next job (from the tenant with the lowest
 * weighted dominant share that has an admissible job, within-nominal demand before borrowing), together
 * with the preemptions that job needs, or reports that nothing is admissible. `schedule` repeats it until
 * nothing more fits.
 */
export class SchedulerState {
  #capacity: Vec;
  readonly #poolUsed: Vec = zeroVec();
  readonly #tenants = new Map<string, TenantRecord>();
  readonly #jobs = new Map<string, JobRecord>();
  readonly #active = new IndexedHeap<TenantRecord>(tenantBefore);
  readonly #poolBlocked = new Set<TenantRecord>();
  /** Tenants above nominal in some resource: the only ones reclaim may preempt. */
  readonly #borrowers = new Set<TenantRecord>();
  /**
   * Running jobs by priority, each list in start order (startedAt, id); stale entries (jobs no longer
   * running) are skipped and compacted lazily. Lets reclaim walk "lowest priority, most recent first"
   * without sorting every running job.
   */
  readonly #runningByPriority = new Map<number, JobRecord[]>();
  #priorityLevels: number[] = [];
  #staleRunningEntries = 0;
  /** Something may have made reclaim possible for an owner that is pool-blocked. */
  #reclaimRetry = false;
  readonly #reserve: boolean;
  #seq = 0;
  #queuedCount = 0;

  /** Throws VALIDATION_FAILED for a malformed capacity. */
  constructor(capacity: Resources, options: SchedulerOptions = {}) {
    this.#capacity = toVec(capacity, 'capacity');
    this.#reserve = (options.backfill ?? 'reserve') === 'reserve';
  }

  get queuedCount(): number {
    return this.#queuedCount;
  }

  get runningCount(): number {
    return this.#jobs.size - this.#queuedCount;
  }

  get capacity(): Resources {
    return fromVec(this.#capacity);
  }

  get poolUsage(): Resources {
    return fromVec(this.#poolUsed);
  }

  /** Changes the shared pool. Re-keys every tenant (shares are relative to it): O(T log T). */
  setCapacity(capacity: Resources): void {
    this.#capacity = toVec(capacity, 'capacity');
    for (const tenant of this.#tenants.values()) {
      this.#repark(tenant);
      this.#rekey(tenant);
    }
    this.#reactivateAll();
  }

  /**
   * Sets or replaces a tenant's quota; takes effect at the next decision. Running jobs are never stopped
   * because a quota shrank: they only make the tenant a borrower (reclaimable) and block its next jobs.
   */
  setQuota(tenantId: string, quota: SchedulerQuota): void {
    const tenant = this.#tenant(tenantId);
    tenant.quota = toInternalQuota(quota, tenantId);
    this.#refreshBorrowing(tenant);
    this.#repark(tenant);
    this.#touch(tenant);
    // Someone becoming a borrower can make reclaim possible for a pool-blocked owner.
    this.#reclaimRetry = true;
  }

  /**
   * Sets a tenant's Fair Tree rank (lower is served first; see TenantRecord.fairRank); takes effect at the
   * next decision. Throws VALIDATION_FAILED for a rank that is not a number ≥ 0 (Infinity: last).
   */
  setFairRank(tenantId: string, rank: number): void {
    if (!(rank >= 0)) throw new AppError('VALIDATION_FAILED', 'a fair-share rank must be a number >= 0', { details: { tenantId } });
    const tenant = this.#tenant(tenantId);
    if (tenant.fairRank === rank) return;
    tenant.fairRank = rank;
    if (tenant.queue.size > 0) this.#touch(tenant);
  }

  /** A new job record, registered under its id (the caller has checked the id is new). */
  #newRecord(job: QueuedJob | ScheduledJob, state: 'queued' | 'running', enqueuedAt: number, startedAt: number): JobRecord {
    const record: JobRecord = {
      id: job.id,
      tenant: this.#tenant(job.tenantId),
      req: toVec(job.request, `job(${job.id}).request`),
      priority: job.priority,
      enqueuedAt,
      seq: this.#seq++,
      heapIndex: -1,
      startedAt,
      state,
    };
    this.#jobs.set(job.id, record);
    return record;
  }

  /** Adds a queued job. Throws CONFLICT if the id is already queued or running. */
  enqueue(job: QueuedJob): void {
    if (this.#jobs.has(job.id)) throw duplicateJob(job.id);
    const record = this.#newRecord(job, 'queued', job.enqueuedAt, Number.NaN);
    const tenant = record.tenant;
    this.#queuedCount++;
    if (!this.canEverRun(tenant, record.req)) {
      record.state = 'parked';
      tenant.parked.add(record);
      return;
    }
    const before = tenant.queue.peek();
    tenant.queue.push(record);
    // Only a new head changes what the tenant can do next.
    if (before === undefined || tenant.queue.peek() !== before) this.#touch(tenant);
  }

  /** Removes a queued job (cancelled, expired). Returns false if it is not queued here. */
  cancel(jobId: string): boolean {
    const record = this.#jobs.get(jobId);
    if (record === undefined || record.state === 'running') return false;
    const tenant = record.tenant;
    if (record.state === 'parked') {
      tenant.parked.delete(record);
      this.#jobs.delete(jobId);
      this.#queuedCount--;
      return true;
    }
    const wasHead = tenant.queue.peek() === record;
    tenant.queue.remove(record);
    this.#jobs.delete(jobId);
    this.#queuedCount--;
    if (wasHead) this.#touch(tenant);
    return true;
  }

  /**
   * Records a job as running without checking it fits (used to rebuild state from the database, where
   * what runs is a fact). Throws CONFLICT if the id is already known.
   */
  addRunning(job: ScheduledJob): void {
    if (this.#jobs.has(job.id)) throw duplicateJob(job.id);
    const record = this.#newRecord(job, 'running', job.startedAt, job.startedAt);
    this.#startRunning(record);
    this.#touch(record.tenant);
  }

  /**
   * A running job ended (any outcome, including the exit of a job this scheduler preempted earlier —
   * then it is no longer known and this returns false). Frees its resources.
   */
  jobFinished(jobId: string): boolean {
    const record = this.#jobs.get(jobId);
    if (record === undefined || record.state !== 'running') return false;
    this.#jobs.delete(jobId);
    this.#stopRunning(record);
    return true;
  }

  /**
   * One decision. Returns the next job to admit (already counted as running, with `startedAt = now`) and
   * the running jobs preempted for it (already forgotten: the caller stops and requeues them), or
   * undefined when no queued job is admissible now.
   *
   * Invariants: an admission never takes the pool above capacity nor the tenant above nominal +
   * borrowing limit or max concurrent jobs; preemption only takes jobs of tenants that are above nominal
   * in a resource the pool is short of, and only for a job that stays within its own tenant's nominal.
   */
  decideNext(now: number): SchedulingStep | undefined {
    const cap = this.#capacity;
    const used = this.#poolUsed;
    const free: Vec = { cpu: cap.cpu - used.cpu, mem: cap.mem - used.mem, gpu: cap.gpu - used.gpu };
    const zero = zeroVec();
    // 1. Among tenants already known not to fit the free pool, the first in DRF order holds the
    //    reservation (in `reserve` mode); the first that fits now (capacity was freed) is a candidate.
    let holder: TenantRecord | undefined;
    let fitting: TenantRecord | undefined;
    const retry = this.#reclaimRetry;
    this.#reclaimRetry = false;
    for (const tenant of this.#poolBlocked) {
      const head = tenant.queue.peek() as JobRecord;
      if (fitsWithin(zero, head.req, free)) {
        if (fitting === undefined || tenantBefore(tenant, fitting)) fitting = tenant;
      } else if (retry && tenant.cls === 0) {
        // Rare (nominal quotas exceeding the pool): an owner may be able to reclaim now; re-examine it.
        this.#touch(tenant);
      } else if (this.#reserve && (holder === undefined || tenantBefore(tenant, holder))) {
        holder = tenant;
      }
    }
    // Whether `tenant`'s head may take pool room, given the holder's reservation.
    const roomFor = (tenant: TenantRecord, head: JobRecord): boolean =>
      fitsWithin(zero, head.req, free) &&
      (holder === undefined || tenantBefore(tenant, holder) || fitsBesideReservation(head.req, free, (holder.queue.peek() as JobRecord).req));
    // 2. The first tenant in DRF order among those not examined since they last changed.
    let candidate: TenantRecord | undefined;
    let victims: JobRecord[] = [];
    for (;;) {
      const tenant = this.#active.peek();
      if (tenant === undefined) break;
      const head = tenant.queue.peek() as JobRecord;
      if (this.localBlock(tenant, head) !== undefined) {
        this.#active.remove(tenant);
        tenant.status = 'local_blocked';
        continue;
      }
      if (roomFor(tenant, head)) {
        candidate = tenant;
        break;
      }
      if (tenant.cls === 0 && (holder === undefined || tenantBefore(tenant, holder))) {
        const found = this.findVictims(head);
        if (found !== undefined) {
          candidate = tenant;
          victims = found;
          break;
        }
      }
      this.#active.remove(tenant);
      tenant.status = 'pool_blocked';
      this.#poolBlocked.add(tenant);
      if (this.#reserve && !fitsWithin(zero, head.req, free) && (holder === undefined || tenantBefore(tenant, holder))) {
        holder = tenant;
      }
    }
    // 3. The holder may have moved earlier while walking the heap: re-check the pool-blocked candidate.
    if (fitting !== undefined && !roomFor(fitting, fitting.queue.peek() as JobRecord)) {
      fitting = undefined;
      for (const tenant of this.#poolBlocked) {
        const head = tenant.queue.peek() as JobRecord;
        if (roomFor(tenant, head) && (fitting === undefined || tenantBefore(tenant, fitting))) fitting = tenant;
      }
    }
    if (candidate !== undefined && (fitting === undefined || tenantBefore(candidate, fitting))) {
      return this.#admit(candidate.queue.peek() as JobRecord, now, victims);
    }
    if (fitting !== undefined) return this.#admit(fitting.queue.peek() as JobRecord, now, []);
    return undefined;
  }

  /** Decisions until none is admissible. Returns them in order. */
  schedule(now: number): { admitted: Admission[]; preempted: Preemption[] } {
    const admitted: Admission[] = [];
    const preempted: Preemption[] = [];
    for (let step = this.decideNext(now); step !== undefined; step = this.decideNext(now)) {
      admitted.push(step.admission);
      preempted.push(...step.preempted);
    }
    return { admitted, preempted };
  }

  // ---- read access for explain and tests (not part of the hot path) ----

  /** @internal */
  tenantRecords(): IterableIterator<TenantRecord> {
    return this.#tenants.values();
  }

  /** @internal */
  jobRecord(jobId: string): JobRecord | undefined {
    return this.#jobs.get(jobId);
  }

  /** @internal */
  capacityVec(): Vec {
    return this.#capacity;
  }

  /** @internal */
  poolUsedVec(): Vec {
    return this.#poolUsed;
  }

  /** @internal Whether `backfill: 'reserve'` is on. */
  get reserves(): boolean {
    return this.#reserve;
  }

  /** @internal The tenant's nominal quota (zero without a quota). */
  nominalOf(tenant: TenantRecord): Vec {
    return tenant.quota?.nominal ?? NO_NOMINAL;
  }

  /**
   * @internal Whether a job of this size could run at all: the tenant has a quota that allows at least one
   * job and the request fits both nominal + borrowing limit and the whole pool.
   */
  canEverRun(tenant: TenantRecord, req: Vec): boolean {
    const quota = tenant.quota;
    return (
      quota !== undefined &&
      quota.maxConcurrentJobs > 0 &&
      fitsWithin(NO_NOMINAL, req, quota.limit) &&
      fitsWithin(NO_NOMINAL, req, this.#capacity)
    );
  }

  /** @internal The first of the tenant's own limits `job` would break if started now. */
  localBlock(tenant: TenantRecord, job: JobRecord): LocalBlock | undefined {
    const quota = tenant.quota;
    if (quota === undefined) return 'no_quota';
    if (tenant.running.size >= quota.maxConcurrentJobs) return 'max_concurrent_jobs';
    const over = overflowing(tenant.usage, job.req, quota.limit);
    return over[0] === undefined ? undefined : tenantQuotaReason(over[0]);
  }

  /**
   * @internal Reclaim: the running jobs to preempt so that `job` (which fits within its tenant's nominal)
   * fits the pool, or undefined if preempting every eligible borrower's job would not be enough.
   * Candidates are jobs of other tenants that are above nominal in a resource the pool is short of, taken
   * lowest priority first, then most recently started; a tenant stops being a candidate as soon as it is
   * no longer above nominal in any still-short resource. A final pass drops victims that turned out
   * unnecessary. Does not change the state.
   */
  findVictims(job: JobRecord): JobRecord[] | undefined {
    const cap = this.#capacity;
    const free: Vec = { cpu: cap.cpu - this.#poolUsed.cpu, mem: cap.mem - this.#poolUsed.mem, gpu: cap.gpu - this.#poolUsed.gpu };
    const zero = zeroVec();
    const short0 = overflowing(zero, job.req, free);
    let anyCandidate = false;
    for (const tenant of this.#borrowers) {
      if (tenant === job.tenant) continue;
      const nominal = this.nominalOf(tenant);
      if (short0.some((r) => component(tenant.usage, r) > component(nominal, r))) {
        anyCandidate = true;
        break;
      }
    }
    if (!anyCandidate) return undefined;
    const simUsage = new Map<TenantRecord, Vec>();
    const victims: JobRecord[] = [];
    let enough = false;
    outer: for (const priority of this.#priorityLevels) {
      const list = this.#runningByPriority.get(priority) as JobRecord[];
      for (let i = list.length - 1; i >= 0; i--) {
        const candidate = list[i] as JobRecord;
        if (candidate.state !== 'running') continue;
        const tenant = candidate.tenant;
        if (tenant === job.tenant) continue;
        const short = overflowing(zero, job.req, free);
        let usage = simUsage.get(tenant);
        if (usage === undefined) {
          usage = { ...tenant.usage };
          simUsage.set(tenant, usage);
        }
        const nominal = this.nominalOf(tenant);
        if (!short.some((r) => component(usage, r) > component(nominal, r))) continue;
        victims.push(candidate);
        subInto(usage, candidate.req);
        addInto(free, candidate.req);
        if (fitsWithin(zero, job.req, free)) {
          enough = true;
          break outer;
        }
      }
    }
    if (!enough) return undefined;
    // Keep the set minimal: undo the latest (highest-priority, oldest) victims that were not needed.
    for (let i = victims.length - 1; i >= 0; i--) {
      const victim = victims[i] as JobRecord;
      subInto(free, victim.req);
      if (fitsWithin(zero, job.req, free)) victims.splice(i, 1);
      else addInto(free, victim.req);
    }
    return victims;
  }

  // ---- internals ----

  #tenant(tenantId: string): TenantRecord {
    let tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) {
      tenant = new TenantRecord(tenantId);
      this.#tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  /** After a quota or capacity change: park what can no longer run, unpark what now can. O(tenant's jobs). */
  #repark(tenant: TenantRecord): void {
    for (const job of [...tenant.queue.values()]) {
      if (this.canEverRun(tenant, job.req)) continue;
      tenant.queue.remove(job);
      job.state = 'parked';
      tenant.parked.add(job);
    }
    for (const job of tenant.parked) {
      if (!this.canEverRun(tenant, job.req)) continue;
      tenant.parked.delete(job);
      job.state = 'queued';
      tenant.queue.push(job);
    }
  }

  #admit(head: JobRecord, now: number, victims: JobRecord[]): SchedulingStep {
    const tenant = head.tenant;
    const preempted: Preemption[] = [];
    for (const victim of victims) {
      this.#jobs.delete(victim.id);
      this.#stopRunning(victim);
      preempted.push({ jobId: victim.id, tenantId: victim.tenant.id, forJobId: head.id, forTenantId: tenant.id });
    }
    const borrowing = !fitsWithin(tenant.usage, head.req, this.nominalOf(tenant));
    tenant.queue.remove(head);
    this.#queuedCount--;
    head.startedAt = now;
    this.#startRunning(head);
    this.#touch(tenant);
    if (borrowing) this.#reclaimRetry = true;
    return {
      admission: { jobId: head.id, tenantId: tenant.id, borrowing, afterPreempting: victims.map((v) => v.id) },
      preempted,
    };
  }

  #startRunning(record: JobRecord): void {
    const tenant = record.tenant;
    record.state = 'running';
    this.#indexRunning(record);
    tenant.running.set(record.id, record);
    addInto(tenant.usage, record.req);
    addInto(this.#poolUsed, record.req);
    this.#refreshBorrowing(tenant);
  }

  #stopRunning(record: JobRecord): void {
    const tenant = record.tenant;
    record.state = 'gone';
    if (++this.#staleRunningEntries > 1024 && this.#staleRunningEntries * 2 > this.#jobs.size) this.#compactRunningIndex();
    tenant.running.delete(record.id);
    subInto(tenant.usage, record.req);
    subInto(this.#poolUsed, record.req);
    this.#refreshBorrowing(tenant);
    this.#touch(tenant);
  }

  #indexRunning(record: JobRecord): void {
    let list = this.#runningByPriority.get(record.priority);
    if (list === undefined) {
      list = [];
      this.#runningByPriority.set(record.priority, list);
      this.#priorityLevels = [...this.#runningByPriority.keys()].sort((a, b) => a - b);
    }
    // Start order; admissions arrive in time order, so this is an append except when rebuilding.
    let i = list.length;
    while (i > 0 && startedAfter(list[i - 1] as JobRecord, record)) i--;
    list.splice(i, 0, record);
  }

  #compactRunningIndex(): void {
    for (const [priority, list] of this.#runningByPriority) {
      const live = list.filter((j) => j.state === 'running');
      if (live.length === 0) this.#runningByPriority.delete(priority);
      else this.#runningByPriority.set(priority, live);
    }
    this.#priorityLevels = [...this.#runningByPriority.keys()].sort((a, b) => a - b);
    this.#staleRunningEntries = 0;
  }

  #refreshBorrowing(tenant: TenantRecord): void {
    if (exceedsAny(tenant.usage, this.nominalOf(tenant))) this.#borrowers.add(tenant);
    else this.#borrowers.delete(tenant);
  }

  #rekey(tenant: TenantRecord): void {
    const head = tenant.queue.peek();
    const quota = tenant.quota;
    tenant.wds = quota === undefined ? Infinity : dominantShareOfVec(tenant.usage, this.#capacity).share / quota.weight;
    if (head === undefined) return;
    tenant.cls = fitsWithin(tenant.usage, head.req, this.nominalOf(tenant)) ? 0 : 1;
    tenant.headPriority = head.priority;
    tenant.headEnqueuedAt = head.enqueuedAt;
    tenant.headSeq = head.seq;
  }

  /** Something about this tenant changed: recompute its key and give it another chance. */
  #touch(tenant: TenantRecord): void {
    this.#rekey(tenant);
    if (tenant.status === 'pool_blocked') this.#poolBlocked.delete(tenant);
    if (tenant.queue.size === 0) {
      this.#active.remove(tenant);
      tenant.status = 'idle';
    } else if (this.#active.contains(tenant)) {
      this.#active.update(tenant);
    } else {
      this.#active.push(tenant);
      tenant.status = 'active';
    }
  }

  #reactivateAll(): void {
    for (const tenant of this.#tenants.values()) if (tenant.queue.size > 0) this.#touch(tenant);
  }
}
