/**
 * `GET /api/v1/platform/scheduler` (platform admins): the job queue and the fair-share view per tenant —
 * jobs queued, admitted and running, the tenant's weight, the share of the pool its weight entitles it to
 * among the tenants with work, and the share of running jobs' CPU it has now.
 */
import { z } from 'zod';

export const schedulerTenantSchema = z.object({
  tenantId: z.string(),
  slug: z.string(),
  name: z.string(),
  status: z.string(),
  weight: z.number(),
  queued: z.number().int(),
  admitted: z.number().int(),
  running: z.number().int(),
  runningCpu: z.number(),
  /** weight / Σ weights of the tenants with jobs queued, admitted or running; 0 without work. */
  entitledShare: z.number(),
  /** running CPU / Σ running CPU of all tenants; 0 when nothing runs. */
  cpuShare: z.number(),
});

export const schedulerViewSchema = z.object({
  queued: z.number().int(),
  admitted: z.number().int(),
  running: z.number().int(),
  runningCpu: z.number(),
  tenants: z.array(schedulerTenantSchema),
});
export type SchedulerView = z.infer<typeof schedulerViewSchema>;
