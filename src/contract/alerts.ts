/** Security alerts over the API (GET /api/v1/alerts, POST /api/v1/alerts/{id}/false-positive): shared by server and CLI. */
import { z } from 'zod';

export const alertKindValues = [
  'bola_probing', 'credential_stuffing', 'token_new_source', 'exfiltration', 'deletion_burst', 'sandbox_violation', 'revoked_token_use',
] as const;
export const alertSeverityValues = ['low', 'medium', 'high', 'critical'] as const;
export const alertStatusValues = ['open', 'false_positive'] as const;

export const alertSchema = z.object({
  id: z.string(),
  kind: z.enum(alertKindValues),
  severity: z.enum(alertSeverityValues),
  status: z.enum(alertStatusValues),
  /** Null for a platform-level alert (no tenant known, e.g. credential stuffing with unknown tokens). */
  tenant: z.object({ id: z.string(), slug: z.string() }).nullable(),
  principal: z.string(),
  /** Counts or bytes, window, threshold, baseline, and the audit event ids the alert rests on. */
  evidence: z.record(z.string(), z.unknown()),
  firstEventAt: z.string(),
  detectedAt: z.string(),
  markedBy: z.string().nullable(),
  markedAt: z.string().nullable(),
  webhook: z.object({ state: z.enum(['none', 'pending', 'delivered', 'failed']), attempts: z.number() }),
});
export type Alert = z.infer<typeof alertSchema>;

export const alertListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Alerts detected before this one (its id), for paging. */
  before: z.uuid().optional(),
  kind: z.enum(alertKindValues).optional(),
  status: z.enum(alertStatusValues).optional(),
  /** Platform admins only: one tenant (slug or id), or `platform` for platform-level alerts. */
  tenant: z.string().min(1).max(200).optional(),
});
export type AlertListQuery = z.infer<typeof alertListQuerySchema>;

export const alertListSchema = z.object({ alerts: z.array(alertSchema), nextBefore: z.string().nullable() });

export const falsePositiveSchema = z.strictObject({ note: z.string().max(1000).optional() });
export const alertIdParamsSchema = z.strictObject({ id: z.string().max(64) });
