/**
 * "Why am I waiting?": reads a scheduler state and describes, for a queued job, every check it fails now,
 * its tenant's share, and where it stands in its tenant's queue, among all queued jobs and among tenants.
 * Off the hot path: explaining one job is O(queued jobs); explaining all of them is O(n log n).
 */
import {
  component,
  componentInUnits,
  dominantShareOfVec,
  fitsWithin,
  fromVec,
  overflowing,
} from './resource-vector.ts';
import { fitsBesideReservation, jobBefore, tenantBefore, type JobRecord, type SchedulerState, type TenantKey, type TenantRecord } from './scheduler-core.ts';
import type { Blocker, BlockReason, ResourceName, TenantShare, WaitExplanation } from './scheduler-types.ts';

const poolReason = (r: ResourceName): BlockReason => (r === 'cpu' ? 'pool_cpu' : r === 'memory' ? 'pool_memory' : 'pool_gpu');
const tenantReason = (r: ResourceName): BlockReason =>
  r === 'cpu' ? 'tenant_quota_cpu' : r === 'memory' ? 'tenant_quota_memory' : 'tenant_quota_gpu';

const UNIT: Record<ResourceName, string> = { cpu: 'cores', memory: 'MiB', gpu: 'GPUs' };

/** The tenant's current usage and share, as the scheduler sees it. */
export const describeTenant = (state: SchedulerState, tenant: TenantRecord): TenantShare => {
  const quota = tenant.quota;
  const nominal = state.nominalOf(tenant);
  const { share, resource } = dominantShareOfVec(tenant.usage, state.capacityVec());
  const weight = quota?.weight ?? 1;
  return {
    tenantId: tenant.id,
    usage: fromVec(tenant.usage),
    nominal: fromVec(nominal),
    limit: fromVec(quota?.limit ?? nominal),
    runningJobs: tenant.running.size,
    maxConcurrentJobs: quota?.maxConcurrentJobs ?? 0,
    weight,
    dominantShare: share,
    dominantResource: resource,
    weightedDominantShare: quota === undefined ? Infinity : share / weight,
    borrowing: tenant.usage.cpu > nominal.cpu || tenant.usage.mem > nominal.mem || tenant.usage.gpu > nominal.gpu,
  };
};

const freshKey = (state: SchedulerState, t: TenantRecord): TenantKey => {
  const head = t.queue.peek() as JobRecord;
  const wds = t.quota === undefined ? Infinity : dominantShareOfVec(t.usage, state.capacityVec()).share / t.quota.weight;
  const cls = fitsWithin(t.usage, head.req, state.nominalOf(t)) ? 0 : 1;
  return { cls, fairRank: t.fairRank, wds, headPriority: head.priority, headEnqueuedAt: head.enqueuedAt, headSeq: head.seq };
};

/**
 * In `reserve` mode, the tenant whose head job holds pool room: the first in DRF order whose head is within
 * its tenant's limits but fits neither the free pool nor (by reclaim) its nominal quota. O(tenants).
 */
const reservationHolder = (state: SchedulerState): { tenant: TenantRecord; key: TenantKey } | undefined => {
  if (!state.reserves) return undefined;
  const cap = state.capacityVec();
  const used = state.poolUsedVec();
  let best: { tenant: TenantRecord; key: TenantKey } | undefined;
  for (const tenant of state.tenantRecords()) {
    const head = tenant.queue.peek();
    if (head === undefined || state.localBlock(tenant, head) !== undefined) continue;
    if (fitsWithin(used, head.req, cap)) continue;
    const key = freshKey(state, tenant);
    if (key.cls === 0 && state.findVictims(head) !== undefined) continue;
    if (best === undefined || tenantBefore(key, best.key)) best = { tenant, key };
  }
  return best;
};

type Holder = ReturnType<typeof reservationHolder>;

/** Every check `job` fails now, as if it were at the head of its tenant's queue, plus the queue check. */
const blockersOf = (
  state: SchedulerState,
  job: JobRecord,
  holder: Holder,
): { blockers: Blocker[]; admissibleNow: boolean; satisfiable: boolean } => {
  const tenant = job.tenant;
  const quota = tenant.quota;
  const blockers: Blocker[] = [];
  const head = tenant.queue.peek();
  if (job.state === 'queued' && head !== undefined && head !== job) blockers.push({ reason: 'behind_in_tenant_queue', aheadJobId: head.id });
  const cap = state.capacityVec();
  const used = state.poolUsedVec();
  let satisfiable = fitsWithin({ cpu: 0, mem: 0, gpu: 0 }, job.req, cap);
  if (quota === undefined) {
    blockers.push({ reason: 'no_quota' });
    satisfiable = false;
  } else {
    if (quota.maxConcurrentJobs === 0) satisfiable = false;
    if (tenant.running.size >= quota.maxConcurrentJobs) {
      blockers.push({ reason: 'max_concurrent_jobs', requested: 1, inUse: tenant.running.size, limit: quota.maxConcurrentJobs });
    }
    for (const r of overflowing(tenant.usage, job.req, quota.limit)) {
      blockers.push({
        reason: tenantReason(r),
        requested: componentInUnits(job.req, r),
        inUse: componentInUnits(tenant.usage, r),
        limit: componentInUnits(quota.limit, r),
      });
      if (component(job.req, r) > component(quota.limit, r)) satisfiable = false;
    }
  }
  const poolShort = overflowing(used, job.req, cap);
  const localOk = blockers.length === 0;
  // A within-nominal head that only lacks pool room is admissible if reclaim can make that room.
  const reclaimable =
    localOk && poolShort.length > 0 && fitsWithin(tenant.usage, job.req, state.nominalOf(tenant)) && state.findVictims(job) !== undefined;
  if (poolShort.length === 0 && holder !== undefined && holder.tenant !== tenant && tenant.queue.size > 0) {
    const holderHead = holder.tenant.queue.peek() as JobRecord;
    const own = freshKey(state, tenant);
    const free = { cpu: cap.cpu - used.cpu, mem: cap.mem - used.mem, gpu: cap.gpu - used.gpu };
    if (!tenantBefore(own, holder.key) && !fitsBesideReservation(job.req, free, holderHead.req)) {
      blockers.push({ reason: 'pool_reserved', aheadJobId: holderHead.id });
    }
  }
  if (!reclaimable) {
    for (const r of poolShort) {
      blockers.push({
        reason: poolReason(r),
        requested: componentInUnits(job.req, r),
        inUse: componentInUnits(used, r),
        limit: componentInUnits(cap, r),
      });
    }
  }
  return { blockers, admissibleNow: blockers.length === 0, satisfiable };
};

const formatBlocker = (b: Blocker): string => {
  switch (b.reason) {
    case 'no_quota':
      return 'the tenant has no quota';
    case 'behind_in_tenant_queue':
      return `job ${b.aheadJobId ?? '?'} of the same tenant goes first`;
    case 'pool_reserved':
      return `the free pool room it needs is held for job ${b.aheadJobId ?? '?'}, which fair share serves first`;
    case 'max_concurrent_jobs':
      return `the tenant already runs ${b.inUse ?? '?'} of at most ${b.limit ?? '?'} concurrent jobs`;
    case 'tenant_quota_cpu':
    case 'tenant_quota_memory':
    case 'tenant_quota_gpu': {
      const r: ResourceName = b.reason === 'tenant_quota_cpu' ? 'cpu' : b.reason === 'tenant_quota_memory' ? 'memory' : 'gpu';
      return `tenant ${r} quota: needs ${b.requested ?? '?'} ${UNIT[r]}, uses ${b.inUse ?? '?'} of ${b.limit ?? '?'} (nominal + borrowing)`;
    }
    case 'pool_cpu':
    case 'pool_memory':
    case 'pool_gpu': {
      const r: ResourceName = b.reason === 'pool_cpu' ? 'cpu' : b.reason === 'pool_memory' ? 'memory' : 'gpu';
      return `pool ${r}: needs ${b.requested ?? '?'} ${UNIT[r]}, ${b.inUse ?? '?'} of ${b.limit ?? '?'} in use`;
    }
  }
};

interface Ranks {
  global: Map<JobRecord, number>;
  globalLength: number;
  tenantRank: Map<TenantRecord, number>;
  tenantsWaiting: number;
  tenantPosition: Map<JobRecord, number>;
}

/** Every queued job of the tenant, parked ones included. */
const queuedOf = (tenant: TenantRecord): JobRecord[] => [...tenant.queue.values(), ...tenant.parked];

const compareJobs = (a: JobRecord, b: JobRecord): number => (jobBefore(a, b) ? -1 : jobBefore(b, a) ? 1 : 0);

/** Tenants in the order DRF serves them now (cached keys may be stale for blocked tenants). */
const freshTenantOrder = (state: SchedulerState, tenants: TenantRecord[]): TenantRecord[] => {
  const keyed = tenants.map((t) => ({ t, key: freshKey(state, t) }));
  keyed.sort((a, b) => (tenantBefore(a.key, b.key) ? -1 : tenantBefore(b.key, a.key) ? 1 : 0));
  return keyed.map((k) => k.t);
};

const explainWith = (state: SchedulerState, job: JobRecord, now: number, ranks: Ranks, holder: Holder): WaitExplanation => {
  const tenant = job.tenant;
  const { blockers, admissibleNow, satisfiable } = blockersOf(state, job, holder);
  const share = describeTenant(state, tenant);
  const wouldBorrow = !fitsWithin(tenant.usage, job.req, state.nominalOf(tenant));
  const positionInTenantQueue = ranks.tenantPosition.get(job) ?? 0;
  const tenantQueueLength = tenant.queue.size + tenant.parked.size;
  const fairShareRank = ranks.tenantRank.get(tenant) ?? 0;
  const why = admissibleNow
    ? 'admissible now: the next decision starts it'
    : blockers.map(formatBlocker).join('; ');
  const summary =
    `${why}. Tenant ${tenant.id}: weighted dominant share ${share.weightedDominantShare.toFixed(4)}` +
    (share.dominantResource === undefined ? '' : ` (${share.dominantResource})`) +
    `${share.borrowing ? ', borrowing' : ''}, rank ${fairShareRank} of ${ranks.tenantsWaiting} tenants waiting; ` +
    `position ${positionInTenantQueue} of ${tenantQueueLength} in the tenant queue, ${ranks.global.get(job) ?? 0} of ${ranks.globalLength} overall` +
    `${satisfiable ? '' : ' — it can never run under the current quota and pool'}.`;
  return {
    jobId: job.id,
    tenantId: tenant.id,
    blockers,
    admissibleNow,
    wouldBorrow,
    satisfiable,
    tenant: share,
    positionInTenantQueue,
    tenantQueueLength,
    globalPosition: ranks.global.get(job) ?? 0,
    globalQueueLength: ranks.globalLength,
    fairShareRank,
    tenantsWaiting: ranks.tenantsWaiting,
    waitingMs: Math.max(0, now - job.enqueuedAt),
    summary,
  };
};

/**
 * Explains one queued job; undefined when the job is not queued (unknown, running, or finished).
 * O(queued jobs + tenants log tenants).
 */
export const explainQueuedJob = (state: SchedulerState, jobId: string, now: number): WaitExplanation | undefined => {
  const job = state.jobRecord(jobId);
  if (job === undefined || job.state === 'running') return undefined;
  let globalAhead = 0;
  let globalLength = 0;
  const waitingTenants: TenantRecord[] = [];
  for (const tenant of state.tenantRecords()) {
    if (tenant.queue.size > 0) waitingTenants.push(tenant);
    for (const other of queuedOf(tenant)) {
      globalLength++;
      if (jobBefore(other, job)) globalAhead++;
    }
  }
  let tenantAhead = 0;
  for (const other of queuedOf(job.tenant)) if (jobBefore(other, job)) tenantAhead++;
  const order = freshTenantOrder(state, waitingTenants);
  const ranks: Ranks = {
    global: new Map([[job, globalAhead + 1]]),
    globalLength,
    tenantRank: new Map([[job.tenant, order.indexOf(job.tenant) + 1]]),
    tenantsWaiting: order.length,
    tenantPosition: new Map([[job, tenantAhead + 1]]),
  };
  return explainWith(state, job, now, ranks, reservationHolder(state));
};

/** Explains every queued job, in global (priority, enqueue time) order. O(n log n). */
export const explainAllQueued = (state: SchedulerState, now: number): WaitExplanation[] => {
  const all: JobRecord[] = [];
  const waitingTenants: TenantRecord[] = [];
  const tenantPosition = new Map<JobRecord, number>();
  for (const tenant of state.tenantRecords()) {
    if (tenant.queue.size > 0) waitingTenants.push(tenant);
    const own = [...queuedOf(tenant)].sort(compareJobs);
    own.forEach((job, i) => tenantPosition.set(job, i + 1));
    all.push(...own);
  }
  all.sort(compareJobs);
  const global = new Map<JobRecord, number>();
  all.forEach((job, i) => global.set(job, i + 1));
  const order = freshTenantOrder(state, waitingTenants);
  const tenantRank = new Map<TenantRecord, number>();
  order.forEach((t, i) => tenantRank.set(t, i + 1));
  const ranks: Ranks = { global, globalLength: all.length, tenantRank, tenantsWaiting: order.length, tenantPosition };
  const holder = reservationHolder(state);
  return all.map((job) => explainWith(state, job, now, ranks, holder));
};
