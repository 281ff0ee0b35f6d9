/**
 * Gang jobs: a job of `workers: N` whose workers must all run at once (distributed training: PyTorch
 * DDP, Horovod, DeepSpeed block until every rank has joined). The scheduler admits a gang as ONE
 * workload whose request is the sum of its workers' requests, so:
 * - all or nothing: a gang is admitted whole or stays queued whole; no worker ever holds capacity while
 *   its siblings wait (the partial holding that deadlocks two gangs each fitting half the pool cannot
 *   arise);
 * - quotas, borrowing and weighted DRF count the whole gang (its dominant share is the gang's), and a
 *   gang counts as one job against maxConcurrentJobs (one workload, as Kueue counts one);
 * - `reserve` backfill holds pool room for a gang DRF serves first, so smaller jobs cannot starve it.
 * Pure: the job service sums the request with `gangRequest`; the executor places the workers.
 */
import type { Resources } from './scheduler-types.ts';

/** The largest gang one job may ask for. */
export const MAX_GANG_WORKERS = 64;

/**
 * The whole gang's request: `workers` × the per-worker request, exact to the millicore (CPU is summed
 * in integer millicores so 3 × 0.1 cores is 0.3, not 0.30000000000000004).
 */
export const gangRequest = (perWorker: Resources, workers: number): Resources => {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_GANG_WORKERS) throw new RangeError(`workers must be an integer in 1..${MAX_GANG_WORKERS}`);
  return {
    cpu: (Math.round(perWorker.cpu * 1000) * workers) / 1000,
    memoryMiB: perWorker.memoryMiB * workers,
    gpu: perWorker.gpu * workers,
  };
};

/** The sentence `explain` adds for a gang: what the whole gang waits for. */
export const gangWaitNote = (workers: number, perWorker: Resources): string =>
  workers <= 1
    ? ''
    : ` It is a gang of ${workers} workers admitted all at once: it waits until ${gangRequest(perWorker, workers).cpu} cores, ` +
      `${perWorker.memoryMiB * workers} MiB${perWorker.gpu > 0 ? ` and ${perWorker.gpu * workers} GPUs` : ''} are free together (${workers} × the per-worker request).`;
