/**
 * Alert rows (migration 0016): raising (idempotent, with its `security.alert` audit event in the same
 * transaction), listing through row-level security, marking a false positive (audited, which is how the
 * detector learns it), the webhook outbox, and the detector's durable cursor.
 */
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, isUuid, withSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Alert, AlertListQuery } from '../contract/alerts.ts';
import type { AlertCandidate } from './anomaly-detector.ts';

interface AlertRow {
  id: string;
  tenant_id: string;
  tenant_slug: string;
  kind: Alert['kind'];
  severity: Alert['severity'];
  principal: string;
  detector_key: string;
  evidence: Record<string, unknown> | string;
  first_event_at: Date | string;
  detected_at: Date | string;
  status: Alert['status'];
  marked_by: string | null;
  marked_at: Date | string | null;
  webhook_state: Alert['webhook']['state'];
  webhook_attempts: number;
}

const columns = `id, tenant_id, tenant_slug, kind, severity, principal, detector_key, evidence, first_event_at, detected_at, status,
  marked_by, marked_at, webhook_state, webhook_attempts`;

const iso = (value: Date | string): string => new Date(value).toISOString();

export const toAlert = (row: AlertRow): Alert => ({
  id: row.id,
  kind: row.kind,
  severity: row.severity,
  status: row.status,
  tenant: row.tenant_id === PLATFORM_TENANT_ID ? null : { id: row.tenant_id, slug: row.tenant_slug },
  principal: row.principal,
  evidence: typeof row.evidence === 'string' ? (JSON.parse(row.evidence) as Record<string, unknown>) : row.evidence,
  firstEventAt: iso(row.first_event_at),
  detectedAt: iso(row.detected_at),
  markedBy: row.marked_by,
  markedAt: row.marked_at === null ? null : iso(row.marked_at),
  webhook: { state: row.webhook_state, attempts: Number(row.webhook_attempts) },
});

export const alertErrors = {
  notFound: (id: string) => new AppError('NOT_FOUND', `alert '${id.slice(0, 64)}' not found`),
};

/**
 * Inserts the alerts that are new (by dedupe key) and appends one `security.alert` event for each in its
 * tenant's chain (the platform's for platform-level ones), in the caller's system transaction. Returns the
 * alerts actually inserted.
 */
export const insertAlerts = async (tx: Queryable, candidates: readonly AlertCandidate[], webhook: boolean): Promise<Alert[]> => {
  const inserted: Alert[] = [];
  for (const candidate of candidates) {
    const { rows: slugs } = await tx.query<{ slug: string }>('SELECT slug FROM tenants WHERE id = $1', [candidate.tenantId]);
    const { rows } = await tx.query<AlertRow>(
      `INSERT INTO security_alerts (id, tenant_id, tenant_slug, kind, severity, principal, detector_key, dedupe_key, evidence, first_event_at,
         webhook_state, webhook_next_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, $11, CASE WHEN $11 = 'pending' THEN clock_timestamp() END)
       ON CONFLICT (dedupe_key) DO NOTHING RETURNING ${columns}`,
      [randomUUID(), candidate.tenantId, slugs[0]?.slug ?? '', candidate.kind, candidate.severity, candidate.principal, candidate.key,
        candidate.dedupeKey, JSON.stringify(candidate.evidence), new Date(candidate.firstEventAt).toISOString(), webhook ? 'pending' : 'none'],
    );
    const row = rows[0];
    if (row === undefined) continue;
    const alert = toAlert(row);
    await appendAuditEvent(tx, {
      tenantId: candidate.tenantId, actor: 'system:anomaly-detector', action: 'security.alert', target: `alert:${alert.id}`, outcome: 'success',
      requestId: 'anomaly-detector',
      details: { alertId: alert.id, kind: alert.kind, severity: alert.severity, principal: alert.principal, key: candidate.key, eventIds: candidate.evidence.eventIds.slice(0, 20) },
    });
    inserted.push(alert);
  }
  return inserted;
};

/** Who lists or marks: everything (platform admin) or one tenant through row-level security. */
export type AlertScope = { kind: 'platform' } | { kind: 'tenant'; tenantId: string };

const inScope = <T>(db: Db, scope: AlertScope, fn: (tx: Queryable) => Promise<T>, readOnly = false): Promise<T> =>
  scope.kind === 'platform' ? withSystem(db, fn, { readOnly }) : withTenant(db, scope.tenantId, fn, { readOnly });

/**
 * Newest first. `tenantId` (platform scope only) narrows to one tenant, or to platform-level alerts with the
 * platform's nil id. In tenant scope row-level security alone decides what is visible.
 */
export const listAlerts = async (db: Db, scope: AlertScope, query: AlertListQuery & { tenantId?: string }): Promise<{ alerts: Alert[]; nextBefore: string | null }> => {
  if (query.before !== undefined && !isUuid(query.before)) return { alerts: [], nextBefore: null };
  const rows = await inScope(db, scope, async (tx) => (await tx.query<AlertRow>(
    `SELECT ${columns} FROM security_alerts
      WHERE ($1::uuid IS NULL OR (detected_at, id) < (SELECT detected_at, id FROM security_alerts WHERE id = $1))
        AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR tenant_id = $4)
      ORDER BY detected_at DESC, id DESC LIMIT $5`,
    [query.before ?? null, query.kind ?? null, query.status ?? null, query.tenantId ?? null, query.limit],
  )).rows, true);
  const alerts = rows.map(toAlert);
  return { alerts, nextBefore: alerts.length === query.limit ? alerts.at(-1)!.id : null };
};

/**
 * Marks an alert a false positive and appends `security.alert.false_positive` (kind, detector key) to the
 * alert's tenant's chain in the same transaction: the detector reads it from the audit stream and raises
 * that principal's threshold for that rule. Another tenant's alert (or a platform-level one, in tenant
 * scope) is NOT_FOUND, exactly like a missing one. Marking twice is a no-op that returns the alert.
 */
export const markFalsePositive = async (db: Db, scope: AlertScope, ctx: RequestContext, id: string, note: string | undefined): Promise<Alert> => {
  if (!isUuid(id)) throw alertErrors.notFound(id);
  return inScope(db, scope, async (tx) => {
    const { rows } = await tx.query<AlertRow>(`SELECT ${columns} FROM security_alerts WHERE id = $1`, [id]);
    const row = rows[0];
    if (row === undefined) throw alertErrors.notFound(id);
    if (row.status === 'false_positive') return toAlert(row);
    const { rows: updated } = await tx.query<AlertRow>(
      `UPDATE security_alerts SET status = 'false_positive', marked_by = $2, marked_at = clock_timestamp() WHERE id = $1 RETURNING ${columns}`,
      [id, ctx.actor],
    );
    await appendAuditEvent(tx, {
      tenantId: row.tenant_id, actor: ctx.actor, action: 'security.alert.false_positive', target: `alert:${id}`, outcome: 'success', requestId: ctx.requestId,
      details: { alertId: id, kind: row.kind, key: row.detector_key, ...(note === undefined ? {} : { note }) },
    });
    return toAlert(updated[0]!);
  });
};

/** The detector's durable cursor: every audit event with an id at or below it has been read. */
export const readCursor = async (tx: Queryable, name: string): Promise<number | undefined> => {
  const { rows } = await tx.query<{ cursor_id: string | number }>('SELECT cursor_id FROM security_detector_state WHERE name = $1', [name]);
  return rows[0] === undefined ? undefined : Number(rows[0].cursor_id);
};

export const writeCursor = async (tx: Queryable, name: string, cursor: number): Promise<void> => {
  await tx.query(
    `INSERT INTO security_detector_state (name, cursor_id) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET cursor_id = GREATEST(security_detector_state.cursor_id, EXCLUDED.cursor_id), updated_at = clock_timestamp()`,
    [name, cursor],
  );
};

/** A webhook delivery due now: the alert as the API shows it. */
export interface DueDelivery {
  alert: Alert;
}

/** Claims up to `limit` pending deliveries that are due, pushing their next attempt `leaseMs` out (a crashed sender's claim expires). */
export const claimDueDeliveries = async (db: Db, limit: number, leaseMs: number): Promise<Alert[]> =>
  withSystem(db, async (tx) => {
    const { rows } = await tx.query<AlertRow>(
      `UPDATE security_alerts SET webhook_next_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
        WHERE id IN (SELECT id FROM security_alerts WHERE webhook_state = 'pending' AND webhook_next_at <= clock_timestamp()
                      ORDER BY webhook_next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING ${columns}`,
      [limit, leaseMs],
    );
    return rows.map(toAlert);
  });

export const recordDelivery = async (db: Db, id: string, result: { delivered: true } | { delivered: false; error: string; retryInMs: number | undefined }): Promise<void> => {
  await withSystem(db, async (tx) => {
    if (result.delivered) {
      await tx.query(`UPDATE security_alerts SET webhook_state = 'delivered', webhook_attempts = webhook_attempts + 1, webhook_next_at = NULL, webhook_last_error = NULL WHERE id = $1`, [id]);
    } else if (result.retryInMs === undefined) {
      await tx.query(`UPDATE security_alerts SET webhook_state = 'failed', webhook_attempts = webhook_attempts + 1, webhook_next_at = NULL, webhook_last_error = $2 WHERE id = $1`, [id, result.error]);
    } else {
      await tx.query(
        `UPDATE security_alerts SET webhook_attempts = webhook_attempts + 1, webhook_last_error = $2,
            webhook_next_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000) WHERE id = $1`,
        [id, result.error, result.retryInMs],
      );
    }
  });
};
