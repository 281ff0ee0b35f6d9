/**
 * The usage and chargeback contract: metered resources with their units, the usage query and its
 * answer (`GET /api/v1/tenants/{tenant}/usage`), and the chargeback report (`GET /api/v1/usage/report`).
 * Shared by the server (validation + OpenAPI), the CLI and the configuration's rate card.
 */
import { z } from 'zod';

/**
 * Every metered resource, named with its unit (the ledger's `resource` column and the API's field names).
 * `sum`: quantities add up over buckets; `max`: the bucket holds a high-water mark (not billable).
 */
export const meteredResources = {
  cpuCoreSeconds: { unit: 'core-seconds', aggregate: 'sum', billable: true, description: "CPU time measured in the job's cgroup (cpuacct.usage / cpu.stat usage_usec)" },
  memoryPeakBytes: { unit: 'bytes', aggregate: 'max', billable: false, description: "highest memory high-water mark of a job's cgroup ending in the bucket" },
  memoryGiBHours: { unit: 'GiB-hours', aggregate: 'sum', billable: true, description: "memory reserved by jobs (their limit) × wall time" },
  memoryUsedGiBHours: { unit: 'GiB-hours', aggregate: 'sum', billable: true, description: "memory in use by running jobs (their cgroup's memory.usage_in_bytes / memory.current), sampled, × time: the average in use is this over the wall hours" },
  gpuSeconds: { unit: 'GPU-seconds', aggregate: 'sum', billable: true, description: 'GPUs allocated to jobs × wall time' },
  gpuBusySeconds: { unit: 'GPU-seconds', aggregate: 'sum', billable: false, description: "GPU-seconds × the job's mean GPU utilization from nvidia-smi (where it exists): busy / gpuSeconds is the mean utilization" },
  gpuMemoryPeakBytes: { unit: 'bytes', aggregate: 'max', billable: false, description: "highest GPU memory in use on a job's granted devices (nvidia-smi, device-wide) ending in the bucket" },
  storageGiBHours: { unit: 'GiB-hours', aggregate: 'sum', billable: true, description: 'stored artifact and dataset bytes, sampled, × time' },
  artifactBytesDownloaded: { unit: 'bytes', aggregate: 'sum', billable: true, description: 'bytes of artifact and dataset downloads sent' },
  inferenceRequests: { unit: 'requests', aggregate: 'sum', billable: true, description: 'requests to the inference gateway (/v2)' },
  inferenceSeconds: { unit: 'seconds', aggregate: 'sum', billable: true, description: 'time the gateway spent answering inference requests' },
  apiRequests: { unit: 'requests', aggregate: 'sum', billable: true, description: 'authenticated API requests attributed to the tenant (inference excluded)' },
} as const;

export type MeteredResource = keyof typeof meteredResources;
export const meteredResourceNames = Object.keys(meteredResources) as [MeteredResource, ...MeteredResource[]];
export const billableResources = meteredResourceNames.filter((name) => meteredResources[name].billable) as [MeteredResource, ...MeteredResource[]];

/** The rate card of the configuration: a price per unit of each billable resource, in one currency. */
export const rateCardSchema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
  prices: z.partialRecord(z.enum(billableResources), z.number().min(0).finite()),
});
export type RateCard = z.infer<typeof rateCardSchema>;

const isoInstant = z.string().max(40).refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date or date-time');

export const usageQuerySchema = z.strictObject({
  /** Inclusive start (default: 24 hours before `to`). */
  from: isoInstant.optional(),
  /** Exclusive end (default: now). */
  to: isoInstant.optional(),
  granularity: z.enum(['hour', 'day']).default('hour'),
});

const quantities = z.object(Object.fromEntries(meteredResourceNames.map((name) => [name, z.number()])) as Record<MeteredResource, z.ZodNumber>);
export type UsageQuantities = z.infer<typeof quantities>;

export const usageSchema = z.object({
  tenantId: z.string(),
  from: z.string(),
  to: z.string(),
  granularity: z.enum(['hour', 'day']),
  /** The unit of every field of `buckets[]` and `totals`. */
  units: z.record(z.string(), z.string()),
  buckets: z.array(z.object({ start: z.string() }).extend(quantities.shape)),
  totals: quantities,
  /** Storage in use now, reserved by uploads in flight, and the quota (bytes). */
  storageBytes: z.object({ used: z.number(), reserved: z.number(), quota: z.number() }),
  /** Bytes this server process moved for the tenant since it started, and time it spent throttled (docs/bandwidth.md). */
  bandwidth: z.object({ ingressBytes: z.number(), egressBytes: z.number(), throttledSeconds: z.number() }).optional(),
});

/** `?period=2026-11`: one calendar month, UTC. */
export const usageReportQuerySchema = z.strictObject({
  period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month, YYYY-MM'),
});

export const usageReportLineSchema = z.object({
  tenantId: z.string(),
  tenantSlug: z.string(),
  resource: z.string(),
  unit: z.string(),
  quantity: z.number(),
  unitPrice: z.number(),
  /** quantity × unitPrice, rounded to 6 decimals of the currency; the report's totals add these exactly. */
  total: z.number(),
});

export const usageReportSchema = z.object({
  period: z.string(),
  from: z.string(),
  to: z.string(),
  currency: z.string(),
  lines: z.array(usageReportLineSchema),
  /** Per tenant: the sum of its lines. */
  tenantTotals: z.array(z.object({ tenantId: z.string(), tenantSlug: z.string(), total: z.number() })),
  /** Per resource: the metered quantity over the report's tenants (equal to the sum of their lines). */
  meteredTotals: z.record(z.string(), z.number()),
  grandTotal: z.number(),
});
export type UsageReport = z.infer<typeof usageReportSchema>;
