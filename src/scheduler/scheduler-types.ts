/**
 * The scheduler's public vocabulary. Units at this boundary are the caller's: CPU in cores (fractions
 * allowed, to the millicore), memory in MiB, GPUs as whole devices. Internally CPU is integer millicores
 * so sums never drift.
 */
import type { FairTreeNode } from './fair-tree.ts';

export interface Resources {
  /** Cores; a multiple of 0.001. */
  readonly cpu: number;
  /** Whole MiB. */
  readonly memoryMiB: number;
  /** Whole devices. */
  readonly gpu: number;
}

export type ResourceName = 'cpu' | 'memory' | 'gpu';

export interface SchedulerQuota {
  /** Guaranteed share of the pool: reclaimed from borrowers by preemption when the tenant needs it. */
  readonly nominal: Resources;
  /** How far above `nominal` the tenant may go while capacity is idle. */
  readonly borrowingLimit: Resources;
  readonly maxConcurrentJobs: number;
  /** Fair-share weight, > 0. A tenant of weight 2 is entitled to twice the dominant share of weight 1. */
  readonly weight: number;
}

export interface QueuedJob {
  readonly id: string;
  readonly tenantId: string;
  readonly request: Resources;
  /** Higher runs first within the tenant. */
  readonly priority: number;
  /** Milliseconds (any monotonic clock); earlier runs first among equal priorities. */
  readonly enqueuedAt: number;
}

export interface ScheduledJob {
  readonly id: string;
  readonly tenantId: string;
  readonly request: Resources;
  readonly priority: number;
  readonly startedAt: number;
}

/** Everything one scheduling decision depends on. */
export interface SchedulerInput {
  /** The shared pool (dedicated tenants' reserved CPUs already removed). */
  readonly capacity: Resources;
  readonly quotas: Readonly<Record<string, SchedulerQuota>>;
  readonly running: readonly ScheduledJob[];
  readonly queued: readonly QueuedJob[];
  readonly now: number;
  /**
   * Fair Tree ranks on decayed usage (issue 15), by tenant id, 1 = served first: among tenants of the same
   * within-nominal class, a better rank is served before a lower weighted dominant share. A tenant missing
   * here ranks after all listed ones. Without it, ordering is DRF on what runs now.
   */
  readonly fairRanks?: Readonly<Record<string, number>> | undefined;
  /**
   * Charging within the decision (issue 15; needs `fairRanks` from the same keys): after each admission its
   * tenant's order key grows by the job's dominant share of `capacity` × `chargeSeconds`, and every tenant's
   * rank is re-read from the Fair Tree, so one pass cannot hand all free room to the first-ranked tenant.
   */
  readonly fairCharging?: FairTreeCharging | undefined;
}

/** The Fair Tree and order keys the scheduler charges admissions to (fair-share.ts `FairShareView`). */
export interface FairTreeCharging {
  readonly nodes: readonly FairTreeNode[];
  /** Each tenant's order key: decayed dominant-share usage plus the running charge (share·s). */
  readonly keys: Readonly<Record<string, number>>;
  /** The running charge horizon, in seconds (fair-share.ts `runningChargeMs`). */
  readonly chargeSeconds: number;
}

/** A queued job to start now. */
export interface Admission {
  readonly jobId: string;
  readonly tenantId: string;
  /** True when the job takes the tenant above its nominal quota: it may be reclaimed later. */
  readonly borrowing: boolean;
  /**
   * Running jobs preempted to make room for this one. The caller must wait until they have exited
   * (grace period, SIGTERM, then SIGKILL) before starting this job; the scheduler already counts their
   * resources as free.
   */
  readonly afterPreempting: readonly string[];
}

/** A running job to stop (it ends as `preempted`) and requeue. */
export interface Preemption {
  readonly jobId: string;
  readonly tenantId: string;
  /** The owner's job whose nominal quota reclaims the capacity. */
  readonly forJobId: string;
  readonly forTenantId: string;
}

/** One admission step: the next job admitted and what it preempts. */
export interface SchedulingStep {
  readonly admission: Admission;
  readonly preempted: readonly Preemption[];
}

export type BlockReason =
  | 'no_quota'
  | 'max_concurrent_jobs'
  | 'tenant_quota_cpu'
  | 'tenant_quota_memory'
  | 'tenant_quota_gpu'
  | 'pool_cpu'
  | 'pool_memory'
  | 'pool_gpu'
  | 'behind_in_tenant_queue'
  /** Pool room it needs is held for the job DRF serves first (`aheadJobId`), which does not fit yet. */
  | 'pool_reserved';

export interface Blocker {
  readonly reason: BlockReason;
  /** What the job asks for (cores, MiB, GPUs or 1 job). */
  readonly requested?: number;
  /** What the tenant (tenant_*, max_concurrent_jobs) or the pool (pool_*) already uses. */
  readonly inUse?: number;
  /** The limit: nominal + borrowing limit, max concurrent jobs, or pool capacity. */
  readonly limit?: number;
  /** behind_in_tenant_queue: the head of the tenant's queue; pool_reserved: the job holding the room. */
  readonly aheadJobId?: string;
}

export interface TenantShare {
  readonly tenantId: string;
  readonly usage: Resources;
  readonly nominal: Resources;
  /** nominal + borrowingLimit. */
  readonly limit: Resources;
  readonly runningJobs: number;
  readonly maxConcurrentJobs: number;
  readonly weight: number;
  /** max over resources of usage / pool capacity. */
  readonly dominantShare: number;
  readonly dominantResource: ResourceName | undefined;
  /** dominantShare / weight: the key DRF orders tenants by (lowest served first). */
  readonly weightedDominantShare: number;
  /** Above nominal in at least one resource. */
  readonly borrowing: boolean;
}

export interface FairTreeStanding {
  readonly rank: number;
  readonly tenants: number;
  readonly decayedUsage: { readonly dominantShareHours: number; readonly coreHours: number; readonly memoryMiBHours: number; readonly gpuHours: number };
  readonly halfLifeHours: number;
}

/** Why a queued job is waiting. */
export interface WaitExplanation {
  readonly jobId: string;
  readonly tenantId: string;
  /** Every check the job fails now; empty only when `admissibleNow`. */
  readonly blockers: readonly Blocker[];
  /** The next decision would admit it (possibly by reclaiming borrowed capacity). */
  readonly admissibleNow: boolean;
  /** Starting it would take its tenant above nominal quota. */
  readonly wouldBorrow: boolean;
  /** False when it can never run under the current quota and pool (e.g. asks more than the limit). */
  readonly satisfiable: boolean;
  readonly tenant: TenantShare;
  /** 1 = next in its tenant's queue (priority, then enqueue time). */
  readonly positionInTenantQueue: number;
  readonly tenantQueueLength: number;
  /** 1-based rank among all queued jobs by (priority desc, enqueue time): the first-come order. */
  readonly globalPosition: number;
  readonly globalQueueLength: number;
  /**
   * 1-based rank of its tenant among tenants with runnable queued work, in the order DRF serves them now;
   * 0 when none of the tenant's queued jobs can run under its current quota (all unsatisfiable).
   */
  readonly fairShareRank: number;
  readonly tenantsWaiting: number;
  readonly waitingMs: number;
  /**
   * Fair share on decayed usage (issue 15; set by the job runner when it ranks tenants): the tenant's
   * Fair Tree rank (1 = served first) among `tenants`, and its decayed usage (dominant share·hours and
   * per resource, unit·hours) with the half-life used.
   */
  readonly fairTree?: FairTreeStanding | undefined;
  /** One human-readable sentence. */
  readonly summary: string;
}

export interface SchedulingDecision {
  readonly admitted: readonly Admission[];
  readonly preempted: readonly Preemption[];
  /** One explanation per job still queued, in global order. */
  readonly waiting: readonly WaitExplanation[];
}
