/**
 * The `compute` group: for each isolation tier asked for, a tenant of that tier runs the probe job
 * (compute-probe.ts) and every attempt it makes is reported per tier: an admitted attempt fails, except
 * where the platform sets no limit (disk, unless BULKHEAD_JOB_DISK_MIB is below the probe's 64 MiB: reported,
 * skipped; with the limit, the write must fail). The job's token is tried again after
 * the job has ended.
 */
import type { CheckResult } from './verify-types.ts';
import type { VerifyHttp } from './verify-http.ts';
import { probeScript } from './compute-probe.ts';
import type { ProbeTargets } from './compute-probe.ts';
import type { VerifyTenant } from './verify-tenants.ts';

export interface ComputeContext {
  http: VerifyHttp;
  url: string;
  tenantFor(tier: string): Promise<VerifyTenant>;
  /** A tenant path the probe must not reach (the other verify tenant). */
  otherTenantPath: string;
  tiers: readonly string[];
  platformHome?: string | undefined;
  databaseHostPort?: string | undefined;
  timeoutSeconds: number;
  log(line: string): void;
}

interface ProbeLine { probe: string; admitted: boolean; detail: string }

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'preempted', 'refused']);
const memoryMiB = 512;

/** Host directories that only a job seeing the host's root file system can list. */
const hostRootMarkers = ['home', 'root', 'var', 'srv', 'boot', 'mnt'];

const targetsFor = (ctx: ComputeContext): ProbeTargets => {
  const platform = new URL(ctx.url);
  const port = platform.port === '' ? (platform.protocol === 'https:' ? '443' : '80') : platform.port;
  const connects = [`127.0.0.1:${port}`, `${platform.hostname === 'localhost' ? '127.0.0.1' : platform.hostname}:${port}`, ctx.databaseHostPort ?? '127.0.0.1:5432', '127.0.0.1:22', '192.0.2.1:443', '1.1.1.1:443'];
  return {
    files: ['/etc/shadow', ...(ctx.platformHome === undefined ? [] : [`${ctx.platformHome}/master.key`, `${ctx.platformHome}/initial-admin-token`])],
    dirs: ['/', ...(ctx.platformHome === undefined ? [] : [ctx.platformHome])],
    connects: [...new Set(connects)],
    memoryBytes: memoryMiB * 3 * 1024 * 1024,
    pids: 600,
    diskBytes: 64 * 1024 * 1024,
    otherTenantPath: ctx.otherTenantPath,
  };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A probe job that ran: the audit group looks for its denials in its own tenant's chain. */
export interface ProbeJob { tenantSlug: string; jobId: string; tier: string }

export const runComputeChecks = async (ctx: ComputeContext): Promise<{ results: CheckResult[]; probeJobs: ProbeJob[] }> => {
  const results: CheckResult[] = [];
  const probeJobs: ProbeJob[] = [];
  const targets = targetsFor(ctx);
  for (const tier of ctx.tiers) {
    const tenant = await ctx.tenantFor(tier);
    const jobsPath = `/api/v1/tenants/${tenant.slug}/jobs`;
    const submit = { method: 'POST', path: jobsPath, token: tenant.tokens.member, body: { name: 'verify-probe', command: ['python3', '-c', probeScript], env: { VERIFY_TARGETS: JSON.stringify(targets) }, resources: { cpu: 1, memoryMiB, timeoutSeconds: ctx.timeoutSeconds } } };
    const created = await ctx.http.call(submit);
    const reproduce = `bulkhead job submit (tenant ${tenant.slug}, tier ${tier}): python3 -c <probe from src/verify/compute-probe.ts>`;
    if (created.status !== 201 && created.status !== 200) {
      results.push({ group: 'compute', check: 'probe job', target: `tier ${tier}`, expectation: 'the probe job runs', result: 'fail', evidence: `submit answered ${created.status} ${created.text.slice(0, 200)}`, reproduce });
      continue;
    }
    const jobId = (created.body as { id: string }).id;
    probeJobs.push({ tenantSlug: tenant.slug, jobId, tier });
    ctx.log(`compute: tier ${tier}: probe job ${jobId}`);
    const deadline = Date.now() + (ctx.timeoutSeconds + 60) * 1000;
    let status = 'queued';
    let reason = '';
    while (Date.now() < deadline) {
      const job = await ctx.http.call({ method: 'GET', path: `${jobsPath}/${jobId}`, token: tenant.tokens.viewer });
      const body = job.body as { status?: string; statusReason?: string; reason?: string } | undefined;
      status = body?.status ?? status;
      reason = body?.statusReason ?? body?.reason ?? '';
      if (terminal.has(status)) break;
      await sleep(250);
    }
    const logs = await ctx.http.call({ method: 'GET', path: `${jobsPath}/${jobId}/logs`, token: tenant.tokens.viewer });
    const lines = logs.text.split('\n');
    if (status === 'refused') {
      results.push({ group: 'compute', check: 'probe job', target: `tier ${tier}`, expectation: 'the host provides the tier', result: 'skip', evidence: `refused: ${reason}`, reproduce });
      continue;
    }
    const probes: ProbeLine[] = lines.filter((l) => l.includes('VERIFY_PROBE ')).map((l) => JSON.parse(l.slice(l.indexOf('VERIFY_PROBE ') + 13)) as ProbeLine);
    if (probes.length === 0) {
      results.push({ group: 'compute', check: 'probe job', target: `tier ${tier}`, expectation: 'the probe job reports', result: 'fail', evidence: `job ${status} ${reason}; output: ${logs.text.slice(-300)}`, reproduce });
      continue;
    }
    for (const probe of probes) {
      let admitted = probe.admitted;
      let detail = probe.detail;
      if (probe.probe === 'list /') {
        const names = (/entries: (.*)$/.exec(detail)?.[1] ?? '').split(',');
        const hostDirs = hostRootMarkers.filter((m) => names.includes(m));
        admitted = hostDirs.length > 0;
        detail = admitted ? `the host's root file system is visible (${hostDirs.join(', ')}): ${detail}` : detail;
      }
      const unlimited = probe.probe.startsWith('write ');
      results.push({
        group: 'compute', check: probe.probe, target: `tier ${tier}`, expectation: 'refused',
        result: admitted ? (unlimited ? 'skip' : 'fail') : 'pass',
        evidence: admitted && unlimited ? `admitted: no disk limit at or below ${targets.diskBytes >> 20} MiB on a job's workspace (BULKHEAD_JOB_DISK_MIB unset or larger) (${detail})` : `${admitted ? 'ADMITTED' : 'refused'}: ${detail}`,
        reproduce: `${reproduce} (job ${jobId})`,
      });
    }
    if (lines.some((l) => l.includes('VERIFY_MEMORY_START')) && !probes.some((p) => p.probe.startsWith('allocate'))) {
      results.push({ group: 'compute', check: `allocate ${(targets.memoryBytes >> 20)} MiB`, target: `tier ${tier}`, expectation: 'refused', result: 'pass', evidence: `refused: the job ended ${status} past its ${memoryMiB} MiB`, reproduce: `${reproduce} (job ${jobId})` });
    }
    const ended = lines.some((l) => l.includes('VERIFY_DONE'));
    results.push({ group: 'compute', check: 'probe job ran to its end', target: `tier ${tier}`, expectation: 'every probe reported (the job may end oom_killed at the memory probe)', result: ended || lines.some((l) => l.includes('VERIFY_MEMORY_START')) ? 'pass' : 'fail', evidence: `job ${status}${reason === '' ? '' : ` (${reason})`}; last output: ${lines.filter((l) => l.trim() !== '' && !l.includes('[bulkhead]')).at(-1)?.slice(0, 160) ?? 'none'}`, reproduce: `${reproduce} (job ${jobId})` });
    const tokenLine = lines.find((l) => l.includes('VERIFY_JOB_TOKEN '));
    if (tokenLine !== undefined) {
      const jobToken = tokenLine.slice(tokenLine.indexOf('VERIFY_JOB_TOKEN ') + 17).trim();
      const after = await ctx.http.call({ method: 'GET', path: '/api/2.0/mlflow/experiments/search?max_results=1', token: jobToken });
      results.push({ group: 'compute', check: 'job token after its run', target: `tier ${tier}`, expectation: '401', result: after.status === 401 ? 'pass' : 'fail', evidence: `${after.status}`, reproduce: `curl -H 'authorization: Bearer $JOB_TOKEN' ${ctx.url}/api/2.0/mlflow/experiments/search (job ${jobId})` });
    } else {
      results.push({ group: 'compute', check: 'job token after its run', target: `tier ${tier}`, expectation: '401', result: 'skip', evidence: 'the probe found no job token' });
    }
  }
  return { results, probeJobs };
};
