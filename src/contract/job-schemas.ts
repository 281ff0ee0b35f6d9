/** The jobs API contract: submission, the job record, its states. Shared by the server, CLI and console. */
import { z } from 'zod';
import { tenantParamsSchema } from './api-schemas.ts';
import { imageReferenceSchema } from './image-schemas.ts';

/** Every state a job can be in; the transitions between them are the jobs module's (jobs/job-state.ts). */
export const jobStates = [
  'queued',
  'admitted',
  'running',
  'succeeded',
  'failed',
  'oom_killed',
  'timed_out',
  'cancelled',
  'preempted',
  'refused',
] as const;

export type JobState = (typeof jobStates)[number];

/** States a job never leaves. */
export const terminalJobStates: ReadonlySet<JobState> = new Set<JobState>([
  'succeeded',
  'failed',
  'oom_killed',
  'timed_out',
  'cancelled',
  'refused',
]);

/** True when no event can move a job out of `state`. */
export function isTerminalJobState(state: JobState): boolean {
  return terminalJobStates.has(state);
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are letters, digits and _');
/** Variables the platform sets itself; a job may not override them. */
export const reservedEnvPrefixes = ['BULKHEAD_', 'MLFLOW_TRACKING_', 'MLFLOW_RUN_ID'] as const;

export const datasetRefSchema = z.union([
  // Versions are `integer` columns: at most 2,147,483,647 (ten digits, checked below).
  z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}:[0-9]{1,10}$/, 'a dataset reference is name:version')
    .refine((ref) => Number(ref.slice(ref.lastIndexOf(':') + 1)) <= 2_147_483_647, 'a dataset version is at most 2147483647'),
  z.strictObject({ name: z.string().min(1).max(100), version: z.number().int().min(1).max(2_147_483_647) }),
]);

export const submitJobSchema = z.strictObject({
  name: z.string().max(200).optional(),
  command: z.array(z.string().max(8192)).min(1).max(256),
  resources: z.strictObject({
    cpu: z.number().positive().max(1024).default(1),
    memoryMiB: z.number().int().min(16).max(4 * 1024 * 1024).default(512),
    /**
     * Whole GPUs (an integer), or a fraction below one in hundredths (`0.5`): same-tenant time-slicing of
     * one device, with no memory or fault isolation from the tenant's other jobs on it.
     */
    gpu: z.number().min(0).max(64).default(0)
      .refine((g) => (g >= 1 ? Number.isInteger(g) : Number.isInteger(Math.round(g * 100)) && Math.abs(g * 100 - Math.round(g * 100)) < 1e-9),
        'gpu is a whole number of GPUs, or a fraction below 1 in hundredths (0.25, 0.5): a time-slice of one device'),
    /**
     * A MIG instance of this profile (`mig-3g`, `mig-1g.10gb`) instead of whole GPUs: granted whole, it
     * counts its compute slices as GPU quota units (a mig-3g counts 3), as KAI-Scheduler counts them.
     */
    migProfile: z.string().regex(/^mig-[1-7]g(\.[0-9]{1,4}gb)?$/, 'a MIG profile is mig-<N>g or mig-<N>g.<M>gb').optional(),
    timeoutSeconds: z.number().int().min(1).max(30 * 86400).default(3600),
  }).default({ cpu: 1, memoryMiB: 512, gpu: 0, timeoutSeconds: 3600 }),
  env: z.record(envName, z.string().max(32 * 1024)).default({}).refine(
    (env) => Object.keys(env).length <= 128 && Object.keys(env).every((key) => !reservedEnvPrefixes.some((prefix) => key.toUpperCase().startsWith(prefix))),
    { message: `at most 128 variables, none starting with ${reservedEnvPrefixes.join(', ')} (the platform sets those)` },
  ),
  datasets: z.array(datasetRefSchema).max(16).default([]),
  codeBundle: z.string().min(1).max(1024).optional(),
  priority: z.number().int().min(-1000).max(1000).default(0),
  /**
   * A gang of this many workers (distributed training), each with `resources`: admitted all at once or
   * not at all, run on one private network with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
   */
  workers: z.number().int().min(1).max(64).default(1),
  experiment: z.string().min(1).max(500).optional(),
  /** An OCI image of the tenant's private store or the public one: `name:tag` or `name@sha256:…` (issue 17). */
  image: imageReferenceSchema.optional(),
});
export type SubmitJob = z.infer<typeof submitJobSchema>;

export const jobSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  status: z.enum(jobStates),
  tier: z.string(),
  command: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  resources: z.object({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number(), timeoutSeconds: z.number() }),
  priority: z.number(),
  /** Gang size: 1 for an ordinary job; `resources` are per worker. */
  workers: z.number(),
  datasets: z.array(z.object({ name: z.string(), version: z.number() })),
  codeBundle: z.string().nullable(),
  codeDigest: z.string().nullable(),
  /** The image reference as submitted, and the manifest digest it resolved to then (what the job runs). */
  image: z.string().nullable(),
  imageDigest: z.string().nullable(),
  runId: z.string().nullable(),
  experimentId: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  queuedAt: z.string(),
  admittedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  attempts: z.number(),
  preemptions: z.number(),
  exitCode: z.number().nullable(),
  reason: z.string().nullable(),
  usage: z.record(z.string(), z.unknown()).nullable(),
  outputs: z.array(z.object({ path: z.string(), size: z.number() })),
  /** The GPU devices granted to the job's current or last run, in ordinal order (CUDA device 0 first). */
  gpuDevices: z.array(z.string()),
  /**
   * How the job's GPUs are shared: `none` (no GPU), `whole` (whole devices, exclusive), `mig` (one MIG
   * instance, exclusive: hardware-partitioned memory and faults), `time-sliced` (a fraction of one device
   * shared with the tenant's own jobs: no memory or fault isolation between them).
   */
  gpuSharing: z.enum(['none', 'whole', 'mig', 'time-sliced']),
  /** The MIG profile asked for (`mig-3g`), when the job runs on a MIG instance. */
  gpuMigProfile: z.string().nullable(),
});
export type Job = z.infer<typeof jobSchema>;

/** A MIG profile's compute slices (`mig-3g` → 3): the GPU quota units its instance counts for. */
export const migProfileUnits = (profile: string): number => Number(/^mig-([1-7])g/.exec(profile)?.[1] ?? 1);

/** How a job with these resources shares its GPUs (what `jobs get` shows as `gpuSharing`). */
export const gpuSharingOf = (gpu: number, migProfile: string | null | undefined): Job['gpuSharing'] =>
  migProfile !== null && migProfile !== undefined ? 'mig' : gpu <= 0 ? 'none' : gpu < 1 ? 'time-sliced' : 'whole';

/** One sentence on what a sharing mode isolates (explain, `job show`, docs/isolation-tiers.md). */
export const gpuIsolationNote = (sharing: Job['gpuSharing']): string | undefined => {
  switch (sharing) {
    case 'none':
      return undefined;
    case 'whole':
      return 'whole GPU(s), exclusive to this job';
    case 'mig':
      return 'a MIG instance: memory, faults and compute slices partitioned by the hardware; shares the physical GPU';
    case 'time-sliced':
      return 'time-sliced: shares one GPU with other jobs of this tenant only, with NO memory or fault isolation between them (one job\'s fault or memory use can kill or starve the others)';
  }
};

/** `…/jobs/{id}` path parameters. */
export const jobParamsSchema = tenantParamsSchema.extend({ id: z.string().max(64) });

/** `GET …/jobs`: newest first, optionally of one status, before a time. */
export const listJobsQuerySchema = z.strictObject({
  status: z.enum(jobStates).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime().refine((v) => !v.startsWith('0000'), 'year 0 is no date PostgreSQL knows').optional(),
});
export const jobListSchema = z.object({ jobs: z.array(jobSchema) });

/** `GET …/jobs/{id}/logs`: `follow=true` streams until the job ends; `after` skips lines up to that sequence number. */
export const jobLogsQuerySchema = z.strictObject({
  follow: z.enum(['true', 'false']).default('false'),
  after: z.coerce.number().int().min(0).max(2_147_483_647).default(0),
});

export const jobOutputsSchema = z.object({ outputs: z.array(z.object({ path: z.string(), size: z.number() })) });
