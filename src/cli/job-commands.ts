import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import type { CommandContext } from './program.ts';
import { keyValues, table } from './output.ts';

interface JobView {
  id: string;
  name: string;
  status: string;
  resources: { cpu: number; memoryMiB: number; gpu: number; timeoutSeconds: number };
  createdAt: string;
  reason: string | null;
  [key: string]: unknown;
}

/** What a rerun copies from the original job (GET .../jobs/{id}). */
export interface RerunSource {
  id: string;
  name: string;
  command: string[];
  env: Record<string, string>;
  resources: { cpu: number; memoryMiB: number; gpu: number; timeoutSeconds: number };
  priority: number;
  datasets: Array<{ name: string; version: number }>;
  codeBundle: string | null;
  image: string | null;
  imageDigest: string | null;
  /** A MIG job's profile: the rerun asks for the same kind of instance. */
  gpuMigProfile?: string | null;
}

/**
 * The submission that reruns `job`: its image pinned by the digest it resolved to (`name@sha256:…`, so a
 * moved tag cannot change it), its dataset versions as recorded, its code bundle, command, environment,
 * resources and priority. Pure.
 */
export function rerunBody(job: RerunSource): Record<string, unknown> {
  const imageName = job.image === null ? undefined : job.image.split(/[:@]/)[0];
  return {
    ...(job.name === '' ? {} : { name: `${job.name} (rerun)`.slice(0, 200) }),
    command: job.command,
    env: job.env,
    resources: job.gpuMigProfile === null || job.gpuMigProfile === undefined ? job.resources : { ...job.resources, migProfile: job.gpuMigProfile },
    priority: job.priority,
    datasets: job.datasets.map((d) => ({ name: d.name, version: d.version })),
    ...(job.codeBundle === null ? {} : { codeBundle: job.codeBundle }),
    ...(job.imageDigest === null || imageName === undefined ? {} : { image: `${imageName}@${job.imageDigest}` }),
  };
}

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

/** `bulkhead job submit|list|show|logs|cancel|explain|outputs`, for the tenant given by --tenant or the token's. */
export const registerJobCommands = (program: Command, ctx: CommandContext): void => {
  const job = program.command('job').description('submit and follow training jobs');
  const jobsPath = async (tenant: string | undefined) => `${ctx.tenantPath(await ctx.resolveTenant(tenant))}/jobs`;

  job
    .command('submit')
    .description('submit a job: bulkhead job submit --tenant acme [--cpu 2 --memory 4096 --dataset name:version --timeout 3600] -- python3 train.py')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--name <name>', 'a name to recognise the job by')
    .option('--cpu <cores>', 'CPU cores', Number, 1)
    .option('--memory <mib>', 'memory limit in MiB', Number, 512)
    .option('--gpu <count>', 'GPUs (per worker); a fraction below 1 (0.5) time-slices one GPU with this tenant\'s own jobs, with no memory or fault isolation between them', Number, 0)
    .option('--mig <profile>', 'one MIG instance of this profile (mig-3g) instead of whole GPUs; counts its compute slices as GPU units')
    .option('--workers <n>', 'a gang of n workers (cpu, memory and gpu per worker), started all at once on one private network', Number, 1)
    .option('--timeout <seconds>', 'wall-clock limit', Number, 3600)
    .option('--priority <n>', 'order among this tenant\'s jobs (higher first)', Number, 0)
    .option('--dataset <name:version...>', 'input dataset versions, mounted read-only under /data/<name>')
    .option('--code <artifact>', 'code bundle (an uploaded artifact), mounted read-only at /code')
    .option('--env <NAME=value...>', 'environment variables')
    .option('--image <ref>', 'run on an OCI image (name:tag or name@sha256:…) instead of the host\'s /usr')
    .option('-f, --follow', 'stream the logs until the job ends')
    .argument('<command...>', 'the command to run, after --')
    .action(async (command: string[], o: { tenant?: string; name?: string; cpu: number; memory: number; gpu: number; mig?: string; workers: number; timeout: number; priority: number; dataset?: string[]; code?: string; env?: string[]; image?: string; follow?: boolean }) => {
      const env: Record<string, string> = {};
      for (const pair of o.env ?? []) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new AppError('VALIDATION_FAILED', `--env wants NAME=value, got '${pair}'`);
        env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const body = {
        command,
        resources: { cpu: o.cpu, memoryMiB: o.memory, gpu: o.gpu, timeoutSeconds: o.timeout, ...(o.mig === undefined ? {} : { migProfile: o.mig }) },
        env,
        datasets: o.dataset ?? [],
        priority: o.priority,
        ...(o.workers === 1 ? {} : { workers: o.workers }),
        ...(o.name === undefined ? {} : { name: o.name }),
        ...(o.code === undefined ? {} : { codeBundle: o.code }),
        ...(o.image === undefined ? {} : { image: o.image }),
      };
      const created = await ctx.client().request<JobView>('POST', (await jobsPath(o.tenant)), body);
      ctx.print(created, () => `submitted job ${created.id} (${created.status})`);
      if (o.follow === true) await followLogs(ctx, `${(await jobsPath(o.tenant))}/${created.id}`);
    });

  job
    .command('rerun <id>')
    .description('run a job again with the same image digest, dataset versions, code bundle, command, environment and resources')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('-f, --follow', 'stream the logs until the job ends')
    .action(async (id: string, o: { tenant?: string; follow?: boolean }) => {
      const path = await jobsPath(o.tenant);
      const original = await ctx.client().request<RerunSource>('GET', `${path}/${encodeURIComponent(id)}`);
      const created = await ctx.client().request<JobView>('POST', path, rerunBody(original));
      ctx.print(created, () => `submitted job ${created.id} (${created.status}), a rerun of ${original.id}${original.imageDigest === null ? '' : ` on ${original.imageDigest}`}`);
      if (o.follow === true) await followLogs(ctx, `${path}/${created.id}`);
    });

  job
    .command('list')
    .description("list the tenant's jobs, newest first")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--status <status>', 'only jobs in this state')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { tenant?: string; status?: string; limit: string }) => {
      const query = new URLSearchParams({ limit: o.limit, ...(o.status === undefined ? {} : { status: o.status }) });
      const { jobs } = await ctx.client().request<{ jobs: JobView[] }>('GET', `${(await jobsPath(o.tenant))}?${query}`);
      ctx.print(jobs, () => table(jobs.map((j) => ({ id: j.id, name: j.name, status: j.status, cpu: j.resources.cpu, memoryMiB: j.resources.memoryMiB, created: j.createdAt, reason: j.reason })), ['id', 'name', 'status', 'cpu', 'memoryMiB', 'created', 'reason']));
    });

  job.command('show <id>').description('show one job').option('--tenant <slug>', "tenant (default: the token's)").action(async (id: string, o: { tenant?: string }) => {
    const shown = await ctx.client().request<JobView>('GET', `${(await jobsPath(o.tenant))}/${encodeURIComponent(id)}`);
    ctx.print(shown, () => keyValues(shown));
  });

  job
    .command('logs <id>')
    .description("print a job's output")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('-f, --follow', 'keep streaming until the job ends')
    .action(async (id: string, o: { tenant?: string; follow?: boolean }) => {
      await followLogs(ctx, `${(await jobsPath(o.tenant))}/${encodeURIComponent(id)}`, o.follow === true);
    });

  job.command('cancel <id>').description('cancel a job; its whole process tree is killed').option('--tenant <slug>', "tenant (default: the token's)").action(async (id: string, o: { tenant?: string }) => {
    const cancelled = await ctx.client().request<JobView>('POST', `${(await jobsPath(o.tenant))}/${encodeURIComponent(id)}/cancel`);
    ctx.print(cancelled, () => `cancel requested for ${id} (${cancelled.status})`);
  });

  job.command('explain <id>').description('why is this job waiting?').option('--tenant <slug>', "tenant (default: the token's)").action(async (id: string, o: { tenant?: string }) => {
    const explained = await ctx.client().request<{ summary: string; blockers?: Array<{ reason: string; requested?: number; inUse?: number; limit?: number }>; globalPosition?: number; tenant?: { weightedDominantShare: number } }>('GET', `${(await jobsPath(o.tenant))}/${encodeURIComponent(id)}/explain`);
    ctx.print(explained, () => [
      explained.summary,
      ...(explained.blockers ?? []).map((b) => `  blocked by ${b.reason}${b.limit === undefined ? '' : `: wants ${String(b.requested)}, in use ${String(b.inUse)}, limit ${String(b.limit)}`}`),
    ].join('\n'));
  });

  job.command('outputs <id>').description('files the job wrote to /outputs').option('--tenant <slug>', "tenant (default: the token's)").action(async (id: string, o: { tenant?: string }) => {
    const { outputs } = await ctx.client().request<{ outputs: Array<{ path: string; size: number }> }>('GET', `${(await jobsPath(o.tenant))}/${encodeURIComponent(id)}/outputs`);
    ctx.print(outputs, () => table(outputs, ['path', 'size']));
  });
};

/** Prints a job's logs; with `follow`, the server streams until the job ends. */
const followLogs = async (ctx: CommandContext, jobPath: string, follow = true): Promise<void> => {
  const settings = ctx.settings();
  if (settings.url === undefined || settings.token === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL or token: pass --url/--token or run `bulkhead login`');
  const response = await fetch(new URL(`${jobPath}/logs?follow=${follow}`, settings.url), { headers: { authorization: `Bearer ${settings.token}` } });
  if (!response.ok || response.body === null) {
    const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new AppError(body.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'INTERNAL', body.message ?? `HTTP ${response.status}`);
  }
  const decoder = new TextDecoder();
  for await (const chunk of response.body) process.stdout.write(decoder.decode(chunk as Uint8Array, { stream: true }));
  if (follow) {
    const final = await ctx.client().request<{ status: string; reason: string | null }>('GET', jobPath);
    if (terminal.has(final.status)) ctx.io.err(`job ${final.status}${final.reason === null ? '' : `: ${final.reason}`}`);
    if (final.status !== 'succeeded') process.exitCode = 1;
  }
};
