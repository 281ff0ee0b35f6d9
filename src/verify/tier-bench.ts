/**
 * The `tiers` group with `--bench`: the isolation-tier trade-off table measured on the deployment's own
 * job host, through its API like any tenant — so it measures the operator's kernel, bubblewrap, cgroups
 * and configuration, not ours. For each tier (the `process` tier first, as the baseline, then the tiers
 * asked for) a tenant of that tier runs `rounds` identical jobs of a fixed CPU workload that reports on
 * itself; each figure is the median over the rounds:
 *
 * - start: job `startedAt` (the runner spawned it) → the workload's first instruction (its own clock; the
 *   same host's clock) — the tier's set-up: namespaces, mounts, cgroups, seccomp, the relay;
 * - teardown: the workload's last instruction → job `finishedAt` — killing and removing what was set up;
 * - work: wall time of the fixed CPU loop, and its ratio to the `process` tier's (seccomp and namespace
 *   costs on a CPU-bound loop; near 1 expected);
 * - extra CPU: the job cgroup's CPU time minus the workload's own (getrusage): what the tier's helpers
 *   (bwrap init, the relay) burned;
 * - extra memory: the job cgroup's peak minus the workload's own peak RSS: what the tier's helpers hold.
 *
 * What it cannot tell: costs under contention (one job at a time), I/O costs, the cluster tiers.
 */
import type { VerifyHttp } from './verify-http.ts';
import type { VerifyTenant } from './verify-tenants.ts';
import type { CheckResult, TierBenchRow } from './verify-types.ts';

export interface TierBenchContext {
  http: VerifyHttp;
  tenantFor(tier: string): Promise<VerifyTenant>;
  tiers: readonly string[];
  rounds: number;
  timeoutSeconds: number;
  log(line: string): void;
}

/** Fixed work, then one line with what the job measured of itself (time.time() is the host's clock). */
export const tierWorkload = `
import json, resource, time
first = time.time()
wall = time.perf_counter()
cpu = time.process_time()
x = 0
for i in range(2_000_000):
    x += i * i
work_wall = time.perf_counter() - wall
work_cpu = time.process_time() - cpu
usage = resource.getrusage(resource.RUSAGE_SELF)
last = time.time()
print("VERIFY_TIER " + json.dumps({"firstMs": first * 1000, "lastMs": last * 1000, "workWallMs": work_wall * 1000, "workCpuMs": work_cpu * 1000,
  "ownCpuMs": (usage.ru_utime + usage.ru_stime) * 1000, "ownPeakBytes": usage.ru_maxrss * 1024}), flush=True)
`;

interface Sample { startMs: number; teardownMs: number; workWallMs: number; extraCpuMs: number | undefined; extraMemoryBytes: number | undefined }

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'preempted', 'refused']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const median = (values: readonly number[]): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One sample from a finished job's record and its workload's report line; undefined when either is missing. */
export const sampleOf = (job: { startedAt?: string | null; finishedAt?: string | null; usage?: Record<string, unknown> | null }, report: Record<string, number>): Sample | undefined => {
  if (typeof job.startedAt !== 'string' || typeof job.finishedAt !== 'string') return undefined;
  const started = Date.parse(job.startedAt);
  const finished = Date.parse(job.finishedAt);
  const { firstMs, lastMs, workWallMs, ownCpuMs, ownPeakBytes } = report;
  if (![started, finished, firstMs, lastMs, workWallMs].every((v) => typeof v === 'number' && Number.isFinite(v))) return undefined;
  const cgroupCpuMs = job.usage?.['cpuMs'];
  const cgroupPeak = job.usage?.['peakMemoryBytes'];
  return {
    startMs: firstMs! - started,
    teardownMs: finished - lastMs!,
    workWallMs: workWallMs!,
    extraCpuMs: typeof cgroupCpuMs === 'number' && typeof ownCpuMs === 'number' ? Math.max(0, cgroupCpuMs - ownCpuMs) : undefined,
    extraMemoryBytes: typeof cgroupPeak === 'number' && typeof ownPeakBytes === 'number' ? Math.max(0, cgroupPeak - ownPeakBytes) : undefined,
  };
};

const runOne = async (ctx: TierBenchContext, tenant: VerifyTenant): Promise<{ sample?: Sample; error?: string }> => {
  const jobsPath = `/api/v1/tenants/${tenant.slug}/jobs`;
  const created = await ctx.http.call({ method: 'POST', path: jobsPath, token: tenant.tokens.member, body: { name: 'verify-tier-bench', command: ['python3', '-c', tierWorkload], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: ctx.timeoutSeconds } } });
  if (created.status !== 201) return { error: `submit answered ${created.status} ${created.text.slice(0, 160)}` };
  const jobId = (created.body as { id: string }).id;
  const deadline = Date.now() + (ctx.timeoutSeconds + 60) * 1000;
  let job: { status?: string; reason?: string | null; startedAt?: string | null; finishedAt?: string | null; usage?: Record<string, unknown> | null } = {};
  while (Date.now() < deadline) {
    job = (await ctx.http.call({ method: 'GET', path: `${jobsPath}/${jobId}`, token: tenant.tokens.viewer })).body as typeof job;
    if (terminal.has(job.status ?? '')) break;
    await sleep(200);
  }
  if (job.status !== 'succeeded') return { error: `job ${jobId} ${job.status ?? 'unknown'}${job.reason ? `: ${job.reason}` : ''}` };
  const logs = await ctx.http.call({ method: 'GET', path: `${jobsPath}/${jobId}/logs`, token: tenant.tokens.viewer });
  const line = logs.text.split('\n').find((l) => l.includes('VERIFY_TIER '));
  if (line === undefined) return { error: `job ${jobId} printed no report` };
  const sample = sampleOf(job, JSON.parse(line.slice(line.indexOf('VERIFY_TIER ') + 12)) as Record<string, number>);
  return sample === undefined ? { error: `job ${jobId}: no start/finish times` } : { sample };
};

const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(0)} ms`);
const mib = (v: number | undefined): string => (v === undefined ? 'n/a' : `${(v / 1048576).toFixed(1)} MiB`);

/** Runs the table; one check row per tier (pass = measured, skip = the host does not provide the tier). */
export const runTierBench = async (ctx: TierBenchContext): Promise<{ results: CheckResult[]; table: TierBenchRow[] }> => {
  const results: CheckResult[] = [];
  const table: TierBenchRow[] = [];
  let baselineWork: number | undefined;
  for (const tier of ['process', ...ctx.tiers.filter((t) => t !== 'process')]) {
    const tenant = await ctx.tenantFor(tier);
    const samples: Sample[] = [];
    let error: string | undefined;
    for (let round = 0; round < ctx.rounds && error === undefined; round += 1) {
      const one = await runOne(ctx, tenant);
      if (one.sample !== undefined) samples.push(one.sample);
      else error = one.error;
    }
    const reproduce = `bulkhead job submit (tenant ${tenant.slug}, tier ${tier}): python3 -c <workload from src/verify/tier-bench.ts>`;
    if (samples.length === 0) {
      results.push({ group: 'tiers', check: 'tier trade-off', target: `tier ${tier}`, expectation: 'measured', result: 'skip', evidence: error ?? 'no sample', reproduce });
      continue;
    }
    const work = median(samples.map((s) => s.workWallMs))!;
    if (tier === 'process') baselineWork = work;
    const row: TierBenchRow = {
      tier,
      rounds: samples.length,
      startMs: median(samples.map((s) => s.startMs))!,
      teardownMs: median(samples.map((s) => s.teardownMs))!,
      workMs: work,
      workRatio: baselineWork === undefined ? null : work / baselineWork,
      extraCpuMs: median(samples.flatMap((s) => (s.extraCpuMs === undefined ? [] : [s.extraCpuMs]))) ?? null,
      extraMemoryBytes: median(samples.flatMap((s) => (s.extraMemoryBytes === undefined ? [] : [s.extraMemoryBytes]))) ?? null,
    };
    table.push(row);
    ctx.log(`tiers: ${tier}: ${JSON.stringify(row)}`);
    results.push({
      group: 'tiers', check: `tier trade-off (median of ${row.rounds})`, target: `tier ${tier}`, expectation: 'measured', result: 'pass',
      evidence: `start ${ms(row.startMs)}, teardown ${ms(row.teardownMs)}, work ${ms(row.workMs)}${row.workRatio === null ? '' : ` (${row.workRatio.toFixed(2)}× process)`}, extra CPU ${ms(row.extraCpuMs ?? undefined)}, extra memory ${mib(row.extraMemoryBytes ?? undefined)}`,
      reproduce,
    });
  }
  return { results, table };
};

/** The trade-off table as text (after the tiers group's checks). */
export const renderTierTable = (rows: readonly TierBenchRow[]): string[][] => [
  ['tier', 'start', 'teardown', 'CPU work', 'vs process', 'extra CPU', 'extra memory'],
  ...rows.map((r) => [r.tier, ms(r.startMs), ms(r.teardownMs), ms(r.workMs), r.workRatio === null ? 'n/a' : `${r.workRatio.toFixed(2)}×`, ms(r.extraCpuMs ?? undefined), mib(r.extraMemoryBytes ?? undefined)]),
];
