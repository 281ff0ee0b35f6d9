/**
 * The scheduler module owns the pure fair-share scheduling core: given the shared pool, tenant quotas and
 * the running and queued jobs, it decides which queued jobs to admit (weighted Dominant Resource
 * Fairness, borrowing idle capacity up to each tenant's borrowing limit), which running jobs to preempt to
 * give owners back their nominal quota, and why every other job waits.
 *
 * It deliberately owns no IO: no database, no clock, no processes, no HTTP. The job service keeps the
 * truth in the database, feeds events to a `SchedulerState` (or calls `decide` with a snapshot), carries
 * out the decisions (start, SIGTERM/SIGKILL after a grace period, requeue) and persists them. Atomic
 * admission under concurrent submissions is the database's job, not this module's.
 */
import { explainAllQueued, explainQueuedJob } from './explain.ts';
import { SchedulerState, type SchedulerOptions } from './scheduler-core.ts';
import { FairTreeIndex } from './fair-tree.ts';
import type { Admission, FairTreeCharging, Preemption, Resources, SchedulerInput, SchedulingDecision, WaitExplanation } from './scheduler-types.ts';

export { SchedulerState } from './scheduler-core.ts';
export type { SchedulerOptions } from './scheduler-core.ts';
export { explainAllQueued, explainQueuedJob, describeTenant } from './explain.ts';
export { dominantShare, weightedDrfShares } from './drf.ts';
export { chooseGpus, chooseGpuShare, chooseMigInstance, migProfileMatches, shareUnits } from './gpu-assignment.ts';
export { gangRequest, gangWaitNote, MAX_GANG_WORKERS } from './gang-admission.ts';
export type { GpuCandidate, HeldGpu } from './gpu-assignment.ts';
export { clusterCpuPools, cpuList, cpusetOf, cpusWanted, hostCpuPools, inPool, schedulingPools } from './cpu-pools.ts';
export type { CpuPool, CpuPools, PoolTenant } from './cpu-pools.ts';
export type { DominantShare, DrfDemand } from './drf.ts';
export type {
  Admission,
  Blocker,
  BlockReason,
  Preemption,
  QueuedJob,
  ResourceName,
  Resources,
  ScheduledJob,
  SchedulerInput,
  SchedulingDecision,
  SchedulingStep,
  SchedulerQuota,
  TenantShare,
  WaitExplanation,
  FairTreeStanding,
  FairTreeCharging,
} from './scheduler-types.ts';

/**
 * Builds a scheduler state from a snapshot. Throws VALIDATION_FAILED for malformed resources or quotas
 * and CONFLICT for a job id given twice. Jobs of tenants missing from `quotas` are kept (they wait with
 * `no_quota`; running ones count as borrowed capacity).
 */
export const buildSchedulerState = (input: Omit<SchedulerInput, 'now'>, options: SchedulerOptions = {}): SchedulerState => {
  const state = new SchedulerState(input.capacity, options);
  for (const [tenantId, quota] of Object.entries(input.quotas)) state.setQuota(tenantId, quota);
  if (input.fairRanks !== undefined) {
    const ranks = input.fairRanks;
    for (const job of [...input.running, ...input.queued]) state.setFairRank(job.tenantId, ranks[job.tenantId] ?? Number.POSITIVE_INFINITY);
  }
  for (const job of input.running) state.addRunning(job);
  for (const job of input.queued) state.enqueue(job);
  return state;
};

/**
 * The scheduling decision as a pure function of (capacity, quotas, running, queued, now): the jobs to
 * admit in order, the running jobs to preempt (the caller stops them with a grace period and requeues
 * them; each admission lists the preemptions it waits for), and an explanation for every job still
 * queued afterwards. Same input, same output. Cost O(n log n) in the number of jobs: for per-event use,
 * keep a `SchedulerState` instead.
 */
export const decide = (input: SchedulerInput, options: SchedulerOptions = {}): SchedulingDecision => {
  const state = buildSchedulerState(input, options);
  const { admitted, preempted } = input.fairCharging === undefined ? state.schedule(input.now) : scheduleCharging(state, input, input.fairCharging);
  return { admitted, preempted, waiting: explainAllQueued(state, input.now) };
};

/**
 * `schedule`, charging each admission to its tenant's Fair Tree key (its dominant share of the capacity ×
 * the charge horizon) and re-ranking every tenant before the next decision — the rule the simulator
 * applies per admission (bench/fair-tree-sim.ts), through the same `FairTreeIndex`.
 */
const scheduleCharging = (state: SchedulerState, input: SchedulerInput, charging: FairTreeCharging): { admitted: Admission[]; preempted: Preemption[] } => {
  const index = new FairTreeIndex(charging.nodes);
  for (const [id, key] of Object.entries(charging.keys)) index.setUsage(id, key);
  const share = (r: Resources): number => Math.max(
    input.capacity.cpu > 0 ? r.cpu / input.capacity.cpu : 0,
    input.capacity.memoryMiB > 0 ? r.memoryMiB / input.capacity.memoryMiB : 0,
    input.capacity.gpu > 0 ? r.gpu / input.capacity.gpu : 0,
  );
  const requests = new Map(input.queued.map((j) => [j.id, j.request]));
  const tenants = new Set(input.queued.map((j) => j.tenantId));
  const admitted: Admission[] = [];
  const preempted: Preemption[] = [];
  for (let step = state.decideNext(input.now); step !== undefined; step = state.decideNext(input.now)) {
    admitted.push(step.admission);
    preempted.push(...step.preempted);
    const request = requests.get(step.admission.jobId);
    if (request === undefined) continue;
    const tenantId = step.admission.tenantId;
    index.setUsage(tenantId, index.usageOf(tenantId) + share(request) * charging.chargeSeconds);
    const ranks = index.ranks();
    for (const id of tenants) state.setFairRank(id, ranks.get(id) ?? Number.POSITIVE_INFINITY);
  }
  return { admitted, preempted };
};

/**
 * Why the queued job `jobId` waits: every check it fails now, its tenant's share and its positions.
 * Given a snapshot (`SchedulerInput`) it describes the state before any decision is taken on it, so
 * `admissibleNow` may be true; given a live `SchedulerState` it describes that state at `now`.
 * Undefined when the job is not queued.
 */
export function explainJob(input: SchedulerInput, jobId: string, options?: SchedulerOptions): WaitExplanation | undefined;
export function explainJob(state: SchedulerState, jobId: string, now: number): WaitExplanation | undefined;
export function explainJob(
  source: SchedulerInput | SchedulerState,
  jobId: string,
  extra?: number | SchedulerOptions,
): WaitExplanation | undefined {
  if (source instanceof SchedulerState) return explainQueuedJob(source, jobId, typeof extra === 'number' ? extra : 0);
  return explainQueuedJob(buildSchedulerState(source, typeof extra === 'object' ? extra : {}), jobId, source.now);
}
export { admitInTree, buildQuotaTree, pathToRoot, quotaResources, reclaimOrder, subtreeUsage, treeDistance, validateQuotaTree } from './quota-tree.ts';
export type { BorrowingVictim, QuotaResource, QuotaTree, QuotaTreeNode, QuotaTreeProblem, TreeAdmission } from './quota-tree.ts';
export { DecayedUsageLedger, accrue, decayFactor, decayedValue, defaultUsageHalfLifeMs, noUsage } from './decayed-usage.ts';
export type { DecayedUsage } from './decayed-usage.ts';
export { FairTreeIndex, fairTreeFactors, fairTreeOrder } from './fair-tree.ts';
export type { FairTreeNode } from './fair-tree.ts';
export { fairTreeRanks } from './fair-tree.ts';
export { FairShareLedger, fairShareView, rateOf } from './fair-share.ts';
export type { FairShareView, FairUsageRecord, UsageVector } from './fair-share.ts';
export { chargedUsage, runningChargeMs } from './fair-share.ts';
