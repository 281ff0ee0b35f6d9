/** Issue 15: the tenant tree view and shares between tenants, as the API and the CLI exchange them. */
import { z } from 'zod';
import { tenantStatuses } from './roles.ts';
import { slugSchema, updateQuotaSchema } from './api-schemas.ts';

const amounts = { cpu: z.number(), memoryMiB: z.number(), gpu: z.number() };
const usage = z.object({ ...amounts, runningJobs: z.number().int() });

export const tenantTreeSchema = z.object({
  tenants: z.array(z.object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    parent: z.string().nullable(),
    depth: z.number().int(),
    status: z.enum(tenantStatuses),
    nominal: z.object(amounts),
    usage,
    /** The tenant's usage plus every descendant's. */
    subtreeUsage: usage,
  })),
});

export const createShareSchema = z.strictObject({
  /** `model:{name}/{version}` (datasets and experiments: not yet). */
  resource: z.string().min(1).max(600),
  /** The grantee tenant's id (or slug); an organization node grants its whole subtree. */
  grantee: z.string().min(1).max(64),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

export const shareSchema = z.object({
  id: z.string(),
  direction: z.enum(['granted', 'received']),
  ownerId: z.string(),
  owner: z.string(),
  granteeId: z.string(),
  grantee: z.string(),
  resource: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  active: z.boolean(),
});

export const shareListSchema = z.object({ shares: z.array(shareSchema) });

export const shareParamsSchema = z.strictObject({ tenant: z.string().min(1).max(64), shareId: z.string().max(64) });

/** An organization admin creates a child of its own tenant: same isolation tier as the organization. */
export const createChildSchema = z.strictObject({ slug: slugSchema, name: z.string().min(1).max(200) });

/** What an organization admin may change of a descendant's quota: the tree-validated amounts and weight. */
export const childQuotaSchema = updateQuotaSchema.pick({ cpu: true, memoryMiB: true, gpu: true, borrowingLimit: true, lendingLimit: true, weight: true });

export const childParamsSchema = z.strictObject({ tenant: z.string().min(1).max(64), child: z.string().min(1).max(64) });
