/**
 * A gang job on this host: its N workers run as N executor jobs (each its own sandbox, cgroups and uid)
 * that share ONE private network namespace, with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
 * MASTER_PORT set. The gang is one `RunningJob` to the runner: the first worker that ends other than
 * `succeeded` stops the others and the gang ends with that worker's outcome; it succeeds when every
 * worker does. Each output line is tagged with its rank (`[rank 2] …`): the logs are per rank.
 */
import type { Outcome, RunningJob, Usage } from '../executors/executor-contract.ts';
import type { JobSpec } from '../executors/host-executor-contract.ts';

/** The rendezvous every framework reads (torch.distributed's env://): rank 0 listens here, inside the gang's own namespace. */
export const GANG_MASTER_PORT = 29500;

/** What a gang needs of the host executor: start jobs, and create the shared network namespace. */
export interface GangExecutor {
  start(spec: JobSpec): RunningJob;
  createGangNetwork(): Promise<{ netnsPath: string; close(): void }>;
}

/** The environment of rank `rank` of `workers`: one host, so LOCAL_RANK is the rank. */
export const gangEnvironment = (rank: number, workers: number): Record<string, string> => ({
  RANK: String(rank),
  WORLD_SIZE: String(workers),
  LOCAL_RANK: String(rank),
  LOCAL_WORLD_SIZE: String(workers),
  MASTER_ADDR: '127.0.0.1',
  MASTER_PORT: String(GANG_MASTER_PORT),
});

/** The gang's usage: the longest wall time, the sums of CPU and GPU time and of the workers' memory peaks. */
export const gangUsage = (usages: readonly Usage[]): Usage => {
  const out: Usage = { wallMs: Math.max(0, ...usages.map((u) => u.wallMs)) };
  const total = (key: 'cpuMs' | 'peakMemoryBytes' | 'cpuCoreSeconds' | 'memoryPeakBytes' | 'gpuSeconds'): void => {
    const present = usages.filter((u) => u[key] !== undefined);
    if (present.length > 0) out[key] = present.reduce((sum, u) => sum + (u[key] as number), 0);
  };
  for (const key of ['cpuMs', 'peakMemoryBytes', 'cpuCoreSeconds', 'memoryPeakBytes', 'gpuSeconds'] as const) total(key);
  return out;
};

/**
 * Starts the gang: the network namespace first, then every worker (`specFor(rank)` gives each its own
 * directories, GPUs and — rank 0 only — the API relay). Returns at once; `wait()` never rejects (a
 * namespace that cannot be created ends the gang `refused`).
 */
export const startGang = (executor: GangExecutor, jobId: string, workers: number, specFor: (rank: number) => JobSpec, system: (line: string) => void): RunningJob => {
  const handles: RunningJob[] = [];
  let stop: { how: 'cancel' } | { how: 'preempt'; graceMs: number } | undefined;
  const outcome = (async (): Promise<Outcome> => {
    const started = performance.now();
    let network: { netnsPath: string; close(): void };
    try {
      network = await executor.createGangNetwork();
    } catch (error) {
      return { kind: 'refused', reason: `could not create the gang's network: ${(error as Error).message}`, usage: { wallMs: Math.round(performance.now() - started) } };
    }
    try {
      if (stop !== undefined) return { kind: stop.how === 'cancel' ? 'cancelled' : 'preempted', usage: { wallMs: 0 } };
      for (let rank = 0; rank < workers; rank += 1) {
        const spec = specFor(rank);
        handles.push(executor.start({ ...spec, env: { ...spec.env, ...gangEnvironment(rank, workers) }, network: { netnsPath: network.netnsPath } }));
      }
      let first: { rank: number; outcome: Outcome } | undefined;
      const all = await Promise.all(handles.map(async (handle, rank) => {
        const ended = await handle.wait();
        if (ended.kind !== 'succeeded' && first === undefined) {
          first = { rank, outcome: ended };
          if (stop === undefined) system(`[bulkhead] rank ${rank} ended ${ended.kind}${ended.kind === 'failed' ? ` (exit ${String(ended.exitCode)})` : ''}; stopping the other workers of the gang`);
          for (const other of handles) if (other !== handle) other.cancel();
        }
        return ended;
      }));
      const usage = gangUsage(all.map((o) => o.usage));
      const ended = first as { rank: number; outcome: Outcome } | undefined;
      return ended === undefined ? { kind: 'succeeded', usage } : { ...ended.outcome, usage };
    } finally {
      network.close();
    }
  })();
  return {
    jobId,
    wait: () => outcome,
    cancel() {
      stop ??= { how: 'cancel' };
      for (const handle of handles) handle.cancel();
    },
    preempt(graceMs) {
      stop ??= { how: 'preempt', graceMs };
      for (const handle of handles) handle.preempt(graceMs);
    },
  };
};
