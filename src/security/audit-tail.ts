/**
 * Reads the audit table by id, in order, without losing late commits. Ids come from a sequence, so a
 * transaction can commit after a later id is already visible: a plain "id > last" reader would skip it.
 * The tail remembers the ids it skipped over (gaps) and asks for them again until they appear or `graceMs`
 * has passed (a rolled-back transaction leaves a gap for ever). Its durable cursor is just below the oldest
 * open gap, so a restart re-reads at most the gaps' span (the alerts' dedupe keys make that harmless).
 */
import type { Queryable } from '../db/index.ts';
import { isRelevantEvent, relevantEventSql } from './anomaly-detector.ts';
import type { DetectorEvent } from './anomaly-detector.ts';

interface TailRow {
  id: string | number;
  tenant_id: string;
  at_ms: string | number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown> | string;
}

const selectColumns = `id, tenant_id, (extract(epoch from occurred_at) * 1000)::float8 AS at_ms, actor, action, target, outcome, details`;

export const toDetectorEvent = (row: TailRow): DetectorEvent => ({
  id: Number(row.id),
  tenantId: row.tenant_id,
  at: Number(row.at_ms),
  actor: row.actor,
  action: row.action,
  target: row.target,
  outcome: row.outcome,
  details: typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
});

export interface AuditTail {
  /** New events (and late ones that filled a gap), in id order. */
  read(tx: Queryable, now: number): Promise<DetectorEvent[]>;
  /** Every id at or below this has been read (or given up on). */
  cursor(): number;
  /** Gaps still awaited. */
  openGaps(): number;
}

export const createAuditTail = (startAfter: number, options: { batchSize?: number; graceMs?: number; maxGaps?: number } = {}): AuditTail => {
  const batchSize = options.batchSize ?? 2000;
  const graceMs = options.graceMs ?? 60_000;
  const maxGaps = options.maxGaps ?? 10_000;
  let maxSeen = startAfter;
  const gaps = new Map<number, number>();

  return {
    async read(tx, now) {
      const events: DetectorEvent[] = [];
      if (gaps.size > 0) {
        const { rows } = await tx.query<TailRow>(`SELECT ${selectColumns} FROM audit_events WHERE id = ANY($1::bigint[]) ORDER BY id`, [[...gaps.keys()]]);
        for (const row of rows) {
          gaps.delete(Number(row.id));
          const event = toDetectorEvent(row);
          if (isRelevantEvent(event)) events.push(event);
        }
        for (const [id, noticed] of gaps) if (now - noticed > graceMs) gaps.delete(id);
      }
      // Every id (for the gaps), but the columns only of events the detector can act on.
      const { rows } = await tx.query<TailRow & { relevant: boolean }>(
        `SELECT id, relevant,
                CASE WHEN relevant THEN tenant_id END AS tenant_id,
                CASE WHEN relevant THEN (extract(epoch from occurred_at) * 1000)::float8 END AS at_ms,
                CASE WHEN relevant THEN actor END AS actor, CASE WHEN relevant THEN action END AS action,
                CASE WHEN relevant THEN target END AS target, CASE WHEN relevant THEN outcome END AS outcome,
                CASE WHEN relevant THEN details END AS details
           FROM (SELECT *, ${relevantEventSql} AS relevant FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2) AS batch
          ORDER BY id`,
        [maxSeen, batchSize],
      );
      for (const row of rows) {
        const id = Number(row.id);
        // Ids skipped over are either uncommitted (they will appear) or rolled back (they never will).
        if (id - maxSeen - 1 <= maxGaps - gaps.size) for (let missing = maxSeen + 1; missing < id; missing += 1) gaps.set(missing, now);
        maxSeen = id;
        if (row.relevant) events.push(toDetectorEvent(row));
      }
      return events;
    },
    cursor() {
      let lowest = maxSeen;
      for (const id of gaps.keys()) if (id - 1 < lowest) lowest = id - 1;
      return lowest;
    },
    openGaps: () => gaps.size,
  };
};

/** Events for the warm-up: ids in (`fromId`, `toId`] in batches, in id order. */
export const readRange = async (tx: Queryable, fromId: number, toId: number, filter: 'all' | 'sources', onBatch: (events: DetectorEvent[]) => void): Promise<void> => {
  let after = fromId;
  for (;;) {
    const { rows } = await tx.query<TailRow>(
      `SELECT ${selectColumns} FROM audit_events WHERE id > $1 AND id <= $2 ${filter === 'sources' ? "AND action IN ('security.new_source', 'security.alert', 'security.alert.false_positive')" : `AND ${relevantEventSql}`} ORDER BY id LIMIT 5000`,
      [after, toId],
    );
    if (rows.length === 0) return;
    onBatch(rows.map(toDetectorEvent));
    after = Number(rows.at(-1)!.id);
  }
};

/** The first audit id at or after a time (undefined when none): where a warm-up starts. */
export const firstIdSince = async (tx: Queryable, sinceMs: number): Promise<number | undefined> => {
  const { rows } = await tx.query<{ id: string | number | null }>('SELECT min(id) AS id FROM audit_events WHERE occurred_at >= $1::timestamptz', [new Date(sinceMs).toISOString()]);
  return rows[0]?.id === null || rows[0]?.id === undefined ? undefined : Number(rows[0].id);
};

export const maxAuditId = async (tx: Queryable): Promise<number> => {
  const { rows } = await tx.query<{ id: string | number | null }>('SELECT max(id) AS id FROM audit_events');
  return rows[0]?.id === null || rows[0]?.id === undefined ? 0 : Number(rows[0].id);
};
