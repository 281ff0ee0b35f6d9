/**
 * GPU metering from `nvidia-smi` while a job runs: its granted devices' memory in use and utilization,
 * sampled by UUID (`--id=<uuid,…>`), summarized when the job ends as the peak GPU memory and the mean
 * utilization. The parser is pure (tested on recorded output); the sampler runs `nvidia-smi` with a
 * timeout and never fails the job: where it cannot measure it says why (`gpuMetering`).
 *
 * What a reading means: `memory.used` and `utilization.gpu` are per DEVICE, not per process. For a whole
 * GPU that is the job's own use. For a time-slice it is the whole device, shared with the tenant's other
 * jobs on it (the same tenant's; never another's). MIG instances report no utilization through
 * `--query-gpu` (untested without MIG hardware): they are skipped with that reason.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** One device's reading: `nvidia-smi --query-gpu=uuid,memory.used,utilization.gpu --format=csv,noheader,nounits`. */
export interface GpuReading {
  uuid: string;
  memoryUsedMiB: number;
  utilizationPercent: number;
}

export const gpuQueryArgs = (uuids: readonly string[]): string[] =>
  ['--query-gpu=uuid,memory.used,utilization.gpu', '--format=csv,noheader,nounits', `--id=${uuids.join(',')}`];

/**
 * The readings of one `nvidia-smi` query. A line with a value nvidia-smi could not read (`[N/A]`,
 * `[Not Supported]`) or of an unexpected shape is left out, never guessed. Pure.
 */
export const parseGpuQuery = (text: string): GpuReading[] => {
  const out: GpuReading[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 3) continue;
    const [uuid, memory, utilization] = fields as [string, string, string];
    if (!/^(GPU|MIG)-[0-9A-Za-z/-]+$/.test(uuid) || !/^[0-9]+$/.test(memory) || !/^[0-9]+$/.test(utilization)) continue;
    out.push({ uuid, memoryUsedMiB: Number(memory), utilizationPercent: Number(utilization) });
  }
  return out;
};

/** What the job's usage gets: figures, or why there are none. */
export type GpuMeterSummary =
  | { gpuMemoryPeakBytes: number; gpuUtilizationMeanPercent: number; gpuMeterSamples: number }
  | { gpuMetering: string };

/**
 * The summary of a run's samples: peak memory = the highest sum over the job's devices at one sample
 * (bytes); mean utilization = the mean over samples of the devices' mean. Pure.
 */
export const summarizeGpuSamples = (samples: ReadonlyArray<readonly GpuReading[]>, uuids: readonly string[]): GpuMeterSummary => {
  const complete = samples.filter((s) => uuids.every((u) => s.some((r) => r.uuid === u)));
  if (complete.length === 0) return { gpuMetering: 'skipped: nvidia-smi gave no reading of the granted devices while the job ran' };
  let peak = 0;
  let utilization = 0;
  for (const sample of complete) {
    const mine = sample.filter((r) => uuids.includes(r.uuid));
    peak = Math.max(peak, mine.reduce((sum, r) => sum + r.memoryUsedMiB, 0));
    utilization += mine.reduce((sum, r) => sum + r.utilizationPercent, 0) / mine.length;
  }
  return { gpuMemoryPeakBytes: peak * 1024 * 1024, gpuUtilizationMeanPercent: Math.round((utilization / complete.length) * 10) / 10, gpuMeterSamples: complete.length };
};

/** The `nvidia-smi` executable: a path as given, a bare name searched on PATH; undefined when absent. */
export const findExecutable = (name: string, path = process.env['PATH'] ?? ''): string | undefined => {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter((d) => d.length > 0).map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
};

export interface GpuMeter {
  /** Stops sampling and summarizes (waits for a sample in flight). */
  stop(): Promise<GpuMeterSummary>;
}

/**
 * Samples the devices `uuids` every `intervalMs` until stopped. Where it cannot measure — no nvidia-smi,
 * the devices' UUIDs unknown (no `nvidia-smi -L` at start-up, or fake nodes), a MIG instance — it does
 * not start, and `stop()` says why.
 */
export const startGpuMeter = (options: { nvidiaSmi: string; uuids: readonly string[] | undefined; devices: number; mig: boolean; intervalMs: number }): GpuMeter => {
  const skip = (reason: string): GpuMeter => ({ stop: () => Promise.resolve({ gpuMetering: `skipped: ${reason}` }) });
  const smi = findExecutable(options.nvidiaSmi);
  if (smi === undefined) return skip(`${options.nvidiaSmi} not found on this host (peak GPU memory and utilization need the NVIDIA driver's nvidia-smi)`);
  if (options.mig) return skip('MIG instances report no utilization through nvidia-smi --query-gpu');
  const uuids = options.uuids;
  if (uuids === undefined || uuids.length !== options.devices) return skip("the granted devices' UUIDs are unknown (nvidia-smi -L listed none of them at start-up)");
  const samples: GpuReading[][] = [];
  let inFlight: Promise<void> | undefined;
  const sample = (): void => {
    if (inFlight !== undefined) return;
    inFlight = new Promise<void>((resolve) => {
      execFile(smi, gpuQueryArgs(uuids), { timeout: 5000, encoding: 'utf8' }, (error, stdout) => {
        if (error === null) samples.push(parseGpuQuery(stdout));
        resolve();
      });
    }).finally(() => {
      inFlight = undefined;
    });
  };
  sample();
  const timer = setInterval(sample, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      return summarizeGpuSamples(samples, uuids);
    },
  };
};
