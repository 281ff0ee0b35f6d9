/**
 * The API contract: request and response schemas shared by the server (validation + OpenAPI), the CLI
 * and the console. Request objects are strict: unknown fields are refused, not ignored.
 */
import { z } from 'zod';
import { isolationTiers, tenantRoles, tenantStatuses } from './roles.ts';

export const slugSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/, 'a slug is 3–40 characters: lowercase letters, digits and hyphens, starting with a letter');

export const usernameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._@-]{1,62}$/, 'a username is 2–63 characters: lowercase letters, digits and . _ @ -');

export const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  requestId: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const tenantSchema = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  tier: z.enum(isolationTiers),
  status: z.enum(tenantStatuses),
  /** The parent tenant's slug (issue 15); null for a root. */
  parent: z.string().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const createTenantSchema = z.strictObject({
  slug: slugSchema,
  name: z.string().min(1).max(200),
  tier: z.enum(isolationTiers).default('sandbox'),
  /** The parent tenant's slug: the new tenant is a child of that organization node (at most 4 levels). */
  parent: slugSchema.optional(),
});

export const updateTenantSchema = z.strictObject({
  status: z.enum(tenantStatuses).optional(),
});

const resources = {
  cpu: z.number().min(0).max(100_000),
  memoryMiB: z.number().int().min(0).max(1024 ** 3),
  gpu: z.number().int().min(0).max(10_000),
};

export const quotaSchema = z.object({
  ...resources,
  borrowingLimit: z.object(resources),
  /** Null per resource: lends all of its unused nominal. */
  lendingLimit: z.object({ cpu: resources.cpu.nullable(), memoryMiB: resources.memoryMiB.nullable(), gpu: resources.gpu.nullable() }),
  maxConcurrentJobs: z.number().int(),
  maxQueuedJobs: z.number().int(),
  storageBytes: z.number().int(),
  requestsPerSecond: z.number(),
  weight: z.number(),
  dbStatementTimeoutMs: z.number().int(),
  dbMaxConcurrentOperations: z.number().int(),
  dbTimeMsPerSecond: z.number().int(),
  ingressBytesPerSecond: z.number().int(),
  ingressBurstBytes: z.number().int(),
  egressBytesPerSecond: z.number().int(),
  egressBurstBytes: z.number().int(),
});

export const updateQuotaSchema = z.strictObject({
  cpu: resources.cpu.optional(),
  memoryMiB: resources.memoryMiB.optional(),
  gpu: resources.gpu.optional(),
  borrowingLimit: z.strictObject({ cpu: resources.cpu.optional(), memoryMiB: resources.memoryMiB.optional(), gpu: resources.gpu.optional() }).optional(),
  /** Per resource: at most the (new) nominal amount; null: lend all (no limit). */
  lendingLimit: z.strictObject({ cpu: resources.cpu.nullable().optional(), memoryMiB: resources.memoryMiB.nullable().optional(), gpu: resources.gpu.nullable().optional() }).optional(),
  maxConcurrentJobs: z.number().int().min(0).max(1_000_000).optional(),
  maxQueuedJobs: z.number().int().min(0).max(10_000_000).optional(),
  storageBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  requestsPerSecond: z.number().min(0).max(1_000_000).optional(),
  weight: z.number().positive().max(1_000_000).optional(),
  dbStatementTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  dbMaxConcurrentOperations: z.number().int().min(1).max(10_000).optional(),
  /** 0 = unlimited (the default). */
  dbTimeMsPerSecond: z.number().int().min(0).max(100_000_000).optional(),
  // Bandwidth (docs/bandwidth.md): at least 1 KiB/s, so a declared body's time at the rate stays finite;
  // a rate given without its burst gets a burst of one second of it.
  ingressBytesPerSecond: z.number().int().min(1024).max(Number.MAX_SAFE_INTEGER).optional(),
  ingressBurstBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  egressBytesPerSecond: z.number().int().min(1024).max(Number.MAX_SAFE_INTEGER).optional(),
  egressBurstBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export const tokenSchema = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  userId: z.string().nullable(),
  name: z.string(),
  role: z.string(),
  kind: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  scope: z.array(z.string()).nullable(),
  /** Experiment ids a narrowed token is limited to (null: not narrowed). */
  experiments: z.array(z.string()).nullable(),
  /** Registered models (names) a narrowed token is limited to (null: not narrowed by model). */
  models: z.array(z.string()).nullable(),
  /** Deployments (names) a narrowed token is limited to (null: not narrowed by deployment). */
  deployments: z.array(z.string()).nullable(),
});

/** A built-in role (owner, admin, member, viewer) or a custom role of the tenant (GET .../roles). */
export const roleNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be a role name (lower-case letters, digits, - and _)');
export const permissionNameSchema = z.string().regex(/^[a-z]+:[a-z.]+$/, 'must be a permission name such as tracking:read').max(100);

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(100),
  role: roleNameSchema,
  expiresInSeconds: z.number().int().min(60).max(10 * 365 * 86400).optional(),
  /** Narrows the token to these permissions of its role (GET /api/v1/permissions). */
  scope: z.array(permissionNameSchema).min(1).max(100).optional(),
  /** Narrows the token to these experiments (names, existing in the tenant): the rest of the tenant is NOT_FOUND to it. */
  experiments: z.array(z.string().min(1).max(500)).min(1).max(100).optional(),
  /** Narrows the token to these registered models (names, existing in the tenant). */
  models: z.array(z.string().min(1).max(500)).min(1).max(100).optional(),
  /** Narrows the token to these deployments (names, existing in the tenant; OIP calls them models). */
  deployments: z.array(z.string().min(1).max(63)).min(1).max(100).optional(),
});

export const createPlatformTokenSchema = z.strictObject({
  name: z.string().min(1).max(100),
  expiresInSeconds: z.number().int().min(60).max(10 * 365 * 86400).optional(),
});

export const createdTokenSchema = tokenSchema.extend({ token: z.string() });

export const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string(),
  isPlatformAdmin: z.boolean(),
  status: z.string(),
  createdAt: z.string(),
});

export const createUserSchema = z.strictObject({
  username: usernameSchema,
  password: z.string().min(12, 'passwords have at least 12 characters').max(1024).optional(),
  displayName: z.string().max(200).optional(),
  isPlatformAdmin: z.boolean().optional(),
});

export const memberSchema = z.object({ user: userSchema, role: z.string(), createdAt: z.string() });

export const setMemberSchema = z.strictObject({ role: roleNameSchema });

export const permissionEntrySchema = z.object({ name: z.string(), action: z.string(), description: z.string(), builtInRoles: z.array(z.enum(tenantRoles)) });
export const permissionCatalogueSchema = z.object({ permissions: z.array(permissionEntrySchema) });

export const customRoleSchema = z.object({ name: z.string(), description: z.string(), permissions: z.array(z.string()), createdAt: z.string(), updatedAt: z.string() });
export const roleListSchema = z.object({
  builtIn: z.array(z.object({ name: z.enum(tenantRoles), permissions: z.array(z.string()) })),
  custom: z.array(customRoleSchema),
});
export const createRoleSchema = z.strictObject({
  name: roleNameSchema,
  description: z.string().max(500).optional(),
  permissions: z.array(permissionNameSchema).min(1).max(100),
});
export const updateRoleSchema = z.strictObject({
  description: z.string().max(500).optional(),
  permissions: z.array(permissionNameSchema).min(1).max(100),
});
export const serviceAccountSchema = z.object({ id: z.string(), name: z.string(), description: z.string(), createdAt: z.string() });
export const serviceAccountListSchema = z.object({ serviceAccounts: z.array(serviceAccountSchema) });
export const createServiceAccountSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'must be 2–63 lower-case letters, digits and hyphens, starting with a letter'),
  description: z.string().max(500).optional(),
});
export const serviceAccountParamsSchema = z.strictObject({ tenant: z.string().min(1).max(64), account: z.string().min(1).max(63) });
/** A service account's token: like any token, but it always expires (the operator's default when none is given). */
export const createServiceAccountTokenSchema = createTokenSchema;
export const roleParamsSchema = z.strictObject({ tenant: z.string().min(1).max(64), role: roleNameSchema });

export const loginSchema = z.strictObject({
  username: usernameSchema,
  password: z.string().min(1).max(1024),
  tenant: slugSchema.optional(),
});

export const auditEventSchema = z.object({
  id: z.number(),
  tenantId: z.string(),
  seq: z.number().nullable(),
  occurredAt: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  outcome: z.string(),
  requestId: z.string(),
  details: z.record(z.string(), z.unknown()),
  hash: z.string().nullable(),
});

export const auditListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(1).optional(),
});

export const auditVerificationSchema = z.object({
  tenantId: z.string(),
  ok: z.boolean(),
  eventsChecked: z.number(),
  headSeq: z.number(),
  headHash: z.string(),
  problems: z.array(z.object({ kind: z.string(), seq: z.number(), message: z.string() })),
});

export const meSchema = z.object({
  kind: z.enum(['platform_admin', 'tenant']),
  tokenId: z.string(),
  actor: z.string(),
  tenant: tenantSchema.optional(),
  role: z.string(),
});

export const tenantParamsSchema = z.strictObject({ tenant: z.string().min(1).max(64) });

/** `DELETE /api/v1/tenants/{tenant}?confirm=<slug>`: the slug, typed again, is the confirmation. */
export const deleteTenantQuerySchema = z.strictObject({ confirm: z.string().max(64).optional() });

const tenantFilesSchema = z.object({ bytes: z.number(), files: z.number() });

export const tenantDeletionSummarySchema = z.object({
  tenant: z.object({ id: z.string(), slug: z.string() }),
  resumed: z.boolean(),
  jobsCancelled: z.number(),
  deploymentsStopped: z.number(),
  kubernetes: z.union([z.literal('not configured'), z.object({ namespace: z.string(), deleted: z.array(z.string()) })]),
  rowsDeleted: z.record(z.string(), z.number()),
  artifacts: tenantFilesSchema,
  auditEventsKept: z.number(),
  modelPlaintext: z.object({ models: z.number(), filesRemoved: z.number(), filesRemaining: z.number() }),
});

export const tenantDeletionPlanSchema = z.object({
  tenant: tenantSchema,
  deletionStartedAt: z.string().nullable(),
  activeJobs: z.number(),
  deployments: z.number(),
  rows: z.record(z.string(), z.number()),
  artifacts: tenantFilesSchema,
  kubernetes: z.union([z.literal('not configured'), z.object({ namespace: z.string() })]),
  auditEventsKept: z.number(),
});

// Lists and path parameters of the tenant and platform routes.
export const tenantListSchema = z.object({ tenants: z.array(tenantSchema) });
export const memberListSchema = z.object({ members: z.array(memberSchema) });
export const tokenListSchema = z.object({ tokens: z.array(tokenSchema) });
export const userListSchema = z.object({ users: z.array(userSchema) });
export const auditEventPageSchema = z.object({ events: z.array(auditEventSchema), nextBefore: z.number().nullable() });
export const memberParamsSchema = tenantParamsSchema.extend({ username: usernameSchema });
export const tenantTokenParamsSchema = tenantParamsSchema.extend({ tokenId: z.string().max(64) });
export const platformTokenParamsSchema = z.strictObject({ tokenId: z.string().max(64) });
export const tenantIdParamsSchema = z.object({ id: z.uuid() });
export const healthSchema = z.object({ status: z.literal('ok') });
/** What /readyz says about the replica that answered (issue 16): its id, role, election and last heartbeat. */
export const replicaStatusSchema = z.object({
  replicaId: z.string(),
  role: z.enum(['leader', 'follower']),
  election: z.enum(['single', 'lease']),
  leaderId: z.string().optional(),
  fencingToken: z.number().optional(),
  lastHeartbeatAt: z.string().optional(),
  liveReplicas: z.number(),
  leaseMs: z.number(),
  fencedWrites: z.number(),
});
export const readinessSchema = z.object({ status: z.literal('ready'), database: z.string(), rlsMode: z.string(), replica: replicaStatusSchema.optional() });
