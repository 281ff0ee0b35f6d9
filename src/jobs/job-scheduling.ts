/**
 * The runner's view for the pure scheduler: a snapshot of active jobs, tenants, quotas and CPU pools, and
 * the scheduler input of one pool. Reads only (no transitions); the CPU-pool arithmetic itself is the
 * scheduler module's (scheduler/cpu-pools.ts).
 */
import { gpuIsolationNote } from '../contract/job-schemas.ts';
import type { Job } from '../contract/job-schemas.ts';
import { admitInTree, buildQuotaTree, reclaimOrder, clusterCpuPools, cpusetOf, explainJob, gangRequest, gangWaitNote, hostCpuPools, inPool, runningChargeMs, schedulingPools } from '../scheduler/index.ts';
import type { CpuPool, CpuPools, FairShareView, FairTreeStanding, QueuedJob, QuotaTree, Resources, ScheduledJob, SchedulerInput, SchedulerQuota, TreeAdmission, WaitExplanation } from '../scheduler/index.ts';
import type { Tenant, TenantQuota, TenantService } from '../tenants/index.ts';
import type { ActiveJob, JobStore } from './job-store.ts';

export interface Capacity extends Resources {
  /** CPU ids of this host, for cpusets. */
  cpuIds: number[];
}

export interface Snapshot {
  active: ActiveJob[];
  tenantsById: Map<string, Tenant>;
  quotas: Map<string, TenantQuota>;
  pools: CpuPools;
  /** The quota tree (issue 15), only when some tenant has a parent: flat installations skip it. */
  tree?: QuotaTree | undefined;
}

export type Placement = 'host' | 'cluster';

/** What the scheduler counts for a job: a gang's whole request (all its workers at once). */
const toResources = (job: Job): Resources => gangRequest({ cpu: job.resources.cpu, memoryMiB: job.resources.memoryMiB, gpu: job.resources.gpu }, job.workers);
const toSchedulerQuota = (quota: TenantQuota): SchedulerQuota => ({
  nominal: { cpu: quota.cpu, memoryMiB: quota.memoryMiB, gpu: quota.gpu },
  borrowingLimit: quota.borrowingLimit,
  maxConcurrentJobs: quota.maxConcurrentJobs,
  weight: quota.weight,
});

/** The CPU pools: this host's CPUs with dedicated reservations, or a cluster's configured cores and node pools. */
export const cpuPoolsOf = (all: readonly Tenant[], quotas: ReadonlyMap<string, TenantQuota>, placement: Placement, capacity: Capacity): CpuPools => {
  const poolTenants = all.map((t) => ({ id: t.id, slug: t.slug, tier: t.tier, cpu: quotas.get(t.id)?.cpu }));
  return placement === 'host' ? hostCpuPools(capacity.cpuIds, poolTenants) : clusterCpuPools(capacity.cpu, poolTenants);
};

/** Quotas of the dedicated tenants (their pools depend on them) and of the tenants in `also`. */
const quotasOf = async (tenants: Pick<TenantService, 'getQuota'>, all: readonly Tenant[], also: Iterable<string> = []): Promise<Map<string, TenantQuota>> => {
  const quotas = new Map<string, TenantQuota>();
  for (const id of new Set([...also, ...all.filter((t) => t.tier === 'dedicated').map((t) => t.id)])) quotas.set(id, await tenants.getQuota(id));
  return quotas;
};

export const takeSnapshot = async (
  store: Pick<JobStore, 'active'>,
  tenants: Pick<TenantService, 'list' | 'getQuota'> & Partial<Pick<TenantService, 'quotaTree'>>,
  placement: Placement,
  capacity: Capacity,
): Promise<Snapshot> => {
  const [active, all] = await Promise.all([store.active(), tenants.list()]);
  const quotas = await quotasOf(tenants, all, active.map((j) => j.tenantId));
  const hasTree = tenants.quotaTree !== undefined && all.some((t) => (t.parent ?? null) !== null);
  const tree = hasTree && tenants.quotaTree !== undefined ? buildQuotaTree(await tenants.quotaTree()) : undefined;
  return { active, tenantsById: new Map(all.map((t) => [t.id, t])), quotas, pools: cpuPoolsOf(all, quotas, placement, capacity), tree };
};

/** What admitted and running jobs hold, per tenant, over every pool: the usage the quota tree bounds. */
export const treeUsageOf = (snap: Snapshot): Map<string, Resources> => {
  const usage = new Map<string, Resources>();
  for (const job of snap.active) if (job.status === 'running' || job.status === 'admitted') addTreeUsage(usage, job.tenantId, toResources(job));
  return usage;
};

export const addTreeUsage = (usage: Map<string, Resources>, tenantId: string, request: Resources): void => {
  const held = usage.get(tenantId) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
  usage.set(tenantId, { cpu: held.cpu + request.cpu, memoryMiB: held.memoryMiB + request.memoryMiB, gpu: held.gpu + request.gpu });
};

/**
 * Whether the quota tree lets `tenantId` start `request` more now (always, without a tree). Roots keep
 * their own borrowing limit (the pool is the flat scheduler's to check).
 */
export const treeVerdict = (snap: Snapshot, usage: ReadonlyMap<string, Resources>, tenantId: string, request: Resources): TreeAdmission =>
  snap.tree === undefined ? { admit: true } : admitInTree(snap.tree, usage, tenantId, request, { rootBorrowing: 'own-limit' });

/** The scheduler input without the queued jobs the quota tree refuses now (they wait; explain says why). */
export const gateByTree = (snap: Snapshot, usage: ReadonlyMap<string, Resources>, input: SchedulerInput): SchedulerInput =>
  snap.tree === undefined ? input : { ...input, queued: input.queued.filter((job) => treeVerdict(snap, usage, job.tenantId, job.request).admit) };

/**
 * Reclaim inside the quota tree: for each queued job (oldest first) that the tree refuses although it
 * fits its own tenant's nominal quota — capacity it is guaranteed, lent to a borrower — the running jobs
 * to preempt, borrowers only, the farthest from it in the tree first and the newest first among equals,
 * just enough for the tree to admit it. Jobs a reclaim will free are counted as gone for the later ones;
 * `admittedNow` (admitted in this tick, still queued in the snapshot) are skipped — `usage` holds them.
 */
export const treeReclaims = (
  snap: Snapshot, usage: ReadonlyMap<string, Resources>, admittedNow: ReadonlySet<string> = new Set(),
): Array<{ jobId: string; forJobId: string }> => {
  const tree = snap.tree;
  if (tree === undefined) return [];
  const working = new Map(usage);
  const chosen = new Set<string>();
  const victims: Array<{ jobId: string; forJobId: string }> = [];
  const running = snap.active
    .filter((j) => j.status === 'running' || j.status === 'admitted')
    .sort((a, b) => Date.parse(b.admittedAt ?? b.queuedAt) - Date.parse(a.admittedAt ?? a.queuedAt));
  const queued = snap.active
    .filter((j) => j.status === 'queued' && !admittedNow.has(j.id) && snap.tenantsById.get(j.tenantId)?.status === 'active')
    .sort((a, b) => Date.parse(a.queuedAt) - Date.parse(b.queuedAt));
  for (const job of queued) {
    const request = toResources(job);
    if (treeVerdict(snap, working, job.tenantId, request).admit) continue;
    const nominal = tree.nodes.get(job.tenantId)?.nominal;
    const held = working.get(job.tenantId) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
    if (nominal === undefined || held.cpu + request.cpu > nominal.cpu || held.memoryMiB + request.memoryMiB > nominal.memoryMiB || held.gpu + request.gpu > nominal.gpu) continue;
    const candidates = running.filter((r) => !chosen.has(r.id) && r.tenantId !== job.tenantId).map((r) => ({ jobId: r.id, tenantId: r.tenantId }));
    const trial = new Map(working);
    const taken: string[] = [];
    let admitted = false;
    for (const victim of reclaimOrder(tree, trial, job.tenantId, candidates)) {
      const victimJob = running.find((r) => r.id === victim.jobId)!;
      const r = toResources(victimJob);
      addTreeUsage(trial, victim.tenantId, { cpu: -r.cpu, memoryMiB: -r.memoryMiB, gpu: -r.gpu });
      taken.push(victim.jobId);
      if (treeVerdict(snap, trial, job.tenantId, request).admit) {
        admitted = true;
        break;
      }
    }
    if (!admitted) continue;
    addTreeUsage(trial, job.tenantId, request);
    for (const id of taken) {
      chosen.add(id);
      victims.push({ jobId: id, forJobId: job.id });
    }
    for (const [id, value] of trial) working.set(id, value);
  }
  return victims;
};

/** A queued job's request, for the tree check of an admission. */
export const requestOfJob = (snap: Snapshot, jobId: string): Resources | undefined => {
  const job = snap.active.find((j) => j.id === jobId);
  return job === undefined ? undefined : toResources(job);
};

/** The scheduler's Fair Tree ranks (issue 15) from a fair-share view; undefined without one. */
export const fairRanksOf = (fair: FairShareView | undefined): Record<string, number> | undefined =>
  fair === undefined ? undefined : Object.fromEntries(fair.ranks);

/**
 * The scheduler inputs for one pool: the shared pool, or a dedicated tenant's reserved CPUs; with a
 * fair-share view, tenants are ordered by their Fair Tree rank on decayed usage before DRF on what runs.
 */
export const poolInput = (snap: Snapshot, pool: CpuPool, capacity: Capacity, now: number, fair?: FairShareView): SchedulerInput => {
  const mine = (job: Job) => inPool(snap.pools, pool, job.tenantId);
  const running: ScheduledJob[] = snap.active
    .filter((j) => (j.status === 'running' || j.status === 'admitted') && mine(j))
    .map((j) => ({ id: j.id, tenantId: j.tenantId, request: toResources(j), priority: j.priority, startedAt: Date.parse(j.admittedAt ?? j.queuedAt) }));
  const queued: QueuedJob[] = snap.active
    .filter((j) => j.status === 'queued' && mine(j) && snap.tenantsById.get(j.tenantId)?.status === 'active')
    .map((j) => ({ id: j.id, tenantId: j.tenantId, request: toResources(j), priority: j.priority, enqueuedAt: Date.parse(j.queuedAt) }));
  const quotas: Record<string, SchedulerQuota> = {};
  for (const tenantId of new Set([...running, ...queued].map((j) => j.tenantId))) {
    const quota = snap.quotas.get(tenantId);
    if (quota !== undefined) quotas[tenantId] = toSchedulerQuota(quota);
  }
  const fairRanks = fairRanksOf(fair);
  // Each admission of the pass is charged to its tenant's Fair Tree key before the next (fair-share.ts).
  const fairCharging = fair === undefined ? undefined : { nodes: fair.nodes, keys: Object.fromEntries(fair.keys), chargeSeconds: runningChargeMs / 1000 };
  return {
    capacity: { cpu: pool.cpus, memoryMiB: capacity.memoryMiB, gpu: capacity.gpu }, quotas, running, queued, now,
    ...(fairRanks === undefined ? {} : { fairRanks }), ...(fairCharging === undefined ? {} : { fairCharging }),
  };
};

const hourMs = 3600 * 1000;

/** A tenant's place in the Fair Tree order and its decayed usage, for explain (usage in unit·hours). */
export const fairTreeStanding = (fair: FairShareView, tenantId: string): FairTreeStanding => {
  const usage = fair.usage.get(tenantId);
  const hours = (seconds: number | undefined) => (seconds ?? 0) / 3600;
  return {
    rank: fair.ranks.get(tenantId) ?? fair.tenants + 1,
    tenants: fair.tenants,
    decayedUsage: { dominantShareHours: hours(usage?.dominant), coreHours: hours(usage?.cpu), memoryMiBHours: hours(usage?.memoryMiB), gpuHours: hours(usage?.gpu) },
    halfLifeHours: fair.halfLifeMs / hourMs,
  };
};

const fairSentence = (standing: FairTreeStanding): string =>
  ` Fair share: decayed usage ${standing.decayedUsage.dominantShareHours.toPrecision(3)} dominant-share·hours (half-life ${standing.halfLifeHours.toPrecision(3)} h), Fair Tree rank ${standing.rank} of ${standing.tenants} tenants.`;

/**
 * What a fraction or MIG job's GPU is, for explain: the scheduler counts GPU units, but such a job also
 * needs a device that may take it (a time-slice never goes on a GPU holding another tenant's job).
 */
export const gpuSharingWaitNote = (job: Pick<Job, 'resources' | 'gpuSharing' | 'gpuMigProfile'>): string => {
  switch (job.gpuSharing) {
    case 'none':
    case 'whole':
      return '';
    case 'time-sliced':
      return ` Its GPU is ${job.resources.gpu} of one device, ${gpuIsolationNote('time-sliced') ?? ''}; it needs a GPU that is free or time-sliced by this tenant with room left, never one holding another tenant's job.`;
    case 'mig':
      return ` Its GPU is one ${job.gpuMigProfile ?? 'MIG'} instance (${job.resources.gpu} GPU units), granted whole: ${gpuIsolationNote('mig') ?? ''}; it needs a free instance of that profile.`;
  }
};

/**
 * Why a queued job waits, in its pool, with its tenant named by slug; undefined when it is not queued.
 * With a fair-share view, it also gives the tenant's decayed usage and Fair Tree rank.
 */
export const explainWait = (snap: Snapshot, job: Job, capacity: Capacity, now: number, fair?: FairShareView): WaitExplanation | undefined => {
  const pool = schedulingPools(snap.pools, capacity.cpu).find((p) => inPool(snap.pools, p, job.tenantId));
  if (pool === undefined) return undefined;
  const found = explainJob(poolInput(snap, pool, capacity, now, fair), job.id);
  const standing = fair === undefined ? undefined : fairTreeStanding(fair, job.tenantId);
  const explanation = found === undefined || standing === undefined ? found : { ...found, fairTree: standing, summary: `${found.summary}${fairSentence(standing)}` };
  // The pure scheduler knows tenants by id; people know them by slug.
  const slug = snap.tenantsById.get(job.tenantId)?.slug;
  if (explanation === undefined) return explanation;
  const gang = gangWaitNote(job.workers, job.resources);
  const summary = slug === undefined ? explanation.summary : explanation.summary.replace(`Tenant ${explanation.tenantId}:`, `Tenant ${slug}:`);
  const named = { ...explanation, summary: `${summary}${gang}${gpuSharingWaitNote(job)}` };
  if (slug === undefined) return named;
  // The quota tree (issue 15) may hold it back although its own quota and the pool would not: say which
  // level's limit it hit.
  const verdict = treeVerdict(snap, treeUsageOf(snap), job.tenantId, toResources(job));
  if (verdict.admit) return named;
  return { ...named, admissibleNow: false, summary: `Tenant ${slug}: waits for the quota tree — ${verdict.message}. ${named.summary}` };
};

/**
 * The CPUs a tenant's processes may use on this host: its reserved CPUs when it is `dedicated` (undefined
 * when none could be reserved), otherwise the shared pool — so serving workers honour the same
 * reservations as jobs.
 */
export const hostCpusetFor = async (tenants: Pick<TenantService, 'list' | 'getQuota'>, capacity: Capacity, tenantId: string): Promise<string | undefined> => {
  const all = await tenants.list();
  return cpusetOf(cpuPoolsOf(all, await quotasOf(tenants, all), 'host', capacity), all.find((t) => t.id === tenantId), tenantId);
};
