/**
 * Job submission: the business rules a submit route used to hold. The job must fit the tenant's quota
 * plus borrowing limit and this installation's capacity (else it could never run), and the tenant's
 * queued-job limit; all three are checked in the transaction that enqueues it (job-store.ts `submit`).
 */
import { migProfileUnits } from '../contract/job-schemas.ts';
import type { Job, SubmitJob } from '../contract/job-schemas.ts';
import type { ResourceAmounts, TenantQuota } from '../contract/quota.ts';
import type { IsolationTier } from '../contract/roles.ts';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import { gangRequest } from '../scheduler/index.ts';
import type { JobStore } from './job-store.ts';

/**
 * Throws when a job asking for `wanted` could never run: QUOTA_EXCEEDED above the tenant's quota +
 * borrowing limit, VALIDATION_FAILED above the installation's capacity. Pure.
 */
export const checkSubmission = (wanted: ResourceAmounts, quota: TenantQuota, capacity: ResourceAmounts): void => {
  const limit = { cpu: quota.cpu + quota.borrowingLimit.cpu, memoryMiB: quota.memoryMiB + quota.borrowingLimit.memoryMiB, gpu: quota.gpu + quota.borrowingLimit.gpu };
  for (const name of ['cpu', 'memoryMiB', 'gpu'] as const) {
    if (wanted[name] > limit[name]) throw new AppError('QUOTA_EXCEEDED', `the job asks for ${wanted[name]} ${name} but the tenant may use at most ${limit[name]} (quota + borrowing limit); it could never run`);
  }
  for (const name of ['cpu', 'memoryMiB', 'gpu'] as const) {
    if (wanted[name] > capacity[name]) throw new AppError('VALIDATION_FAILED', `the job asks for ${wanted[name]} ${name} but this installation has ${capacity[name]}; it could never run`);
  }
};

/**
 * The submission with its GPU request settled, or VALIDATION_FAILED. A MIG profile counts its compute
 * slices as GPU units (`gpu` must be left out or equal them); a fraction (`gpu` < 1, same-tenant
 * time-slicing) and a MIG instance are one device for one process tree, so neither is given to a gang. Pure.
 */
export const settleGpuRequest = (input: SubmitJob, gpuSharing = true): SubmitJob => {
  const { gpu, migProfile } = input.resources;
  if (!gpuSharing && (migProfile !== undefined || (gpu > 0 && gpu < 1))) {
    throw new AppError('VALIDATION_FAILED', 'GPU fractions and migProfile are granted by this host only; on Kubernetes ask for whole GPUs (MIG profiles are ResourceFlavors there)');
  }
  if (migProfile !== undefined) {
    const units = migProfileUnits(migProfile);
    if (gpu !== 0 && gpu !== units) throw new AppError('VALIDATION_FAILED', `a ${migProfile} instance counts ${units} GPU unit(s): leave gpu out or set it to ${units}`);
    if (input.workers > 1) throw new AppError('VALIDATION_FAILED', 'a gang cannot run on a MIG instance: ask for whole GPUs per worker');
    return { ...input, resources: { ...input.resources, gpu: units } };
  }
  if (gpu > 0 && gpu < 1 && input.workers > 1) {
    throw new AppError('VALIDATION_FAILED', 'a gang cannot time-slice a GPU fraction: ask for whole GPUs per worker');
  }
  return input;
};

export interface JobServiceDeps {
  store: Pick<JobStore, 'submit'>;
  /** What the scheduler may hand out (the runner's capacity). */
  capacity: () => ResourceAmounts;
  /** Whether this installation grants GPU fractions and MIG instances (this host's jobs); default true. */
  gpuSharing?: boolean;
  /** Called after a job was queued: schedule soon. */
  onSubmitted: () => void;
  /** Resolves a job's `image` for its tenant (NOT_FOUND for another tenant's private image). Absent: images are refused. */
  images?: {
    resolve(tenantId: string, ref: string): Promise<{ image: string; digest: string }>;
    /** The tenant's default image, used when a submission names none. */
    defaultFor(tenantId: string): Promise<string | undefined>;
  } | undefined;
}

export const createJobService = (deps: JobServiceDeps) => ({
  /**
   * Queues a job for `tenant`: quota, capacity and the queued-job limit are checked and the job inserted
   * (and audited) in one transaction. QUOTA_EXCEEDED / VALIDATION_FAILED as `checkSubmission` says, for the
   * whole gang when `workers` > 1 (a gang that could never be admitted whole is refused now).
   */
  async submit(ctx: RequestContext, tenant: { id: string; tier: IsolationTier }, submitted: SubmitJob): Promise<Job> {
    const input = settleGpuRequest(submitted, deps.gpuSharing ?? true);
    const capacity = deps.capacity();
    let image: { image: string; digest: string } | undefined;
    // The job's own image, else the tenant's default (if any).
    const ref = input.image ?? (await deps.images?.defaultFor(tenant.id));
    if (ref !== undefined) {
      if (deps.images === undefined) throw new AppError('VALIDATION_FAILED', 'this installation runs no jobs on images');
      if (tenant.tier === 'process') throw new AppError('VALIDATION_FAILED', "the 'process' tier runs on the host filesystem and cannot run an image; images need the sandbox or dedicated tier");
      // Resolved now, once: the job runs this digest however the tag moves before it starts.
      const resolved = await deps.images.resolve(tenant.id, ref);
      image = { image: ref, digest: resolved.digest };
    }
    const job = await deps.store.submit(ctx, tenant.id, tenant.tier, input, (quota) => checkSubmission(gangRequest(input.resources, input.workers), quota, capacity), image);
    deps.onSubmitted();
    return job;
  },
});

export type JobService = ReturnType<typeof createJobService>;
