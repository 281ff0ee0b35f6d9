import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { dirname } from 'node:path';
import { Counter, Registry } from 'prom-client';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem, withTenant } from '../db/index.ts';
import { eventHash, genesisHash } from './audit-hash.ts';
import type { SealableEvent } from './audit-hash.ts';
import { eventKeyOf, eventMac, headSignature, macMatches, sealMac } from './audit-mac.ts';
import type { MacedFields } from './audit-mac.ts';
import { checkChainHead } from './audit-head-check.ts';
import type { AuditAlertKind, CheckpointSeen, FileHead } from './audit-head-check.ts';

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditEventInput {
  tenantId: string;
  actor: string;
  action: string;
  target?: string;
  outcome: AuditOutcome;
  requestId?: string;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  id: number;
  tenantId: string;
  seq: number | null;
  occurredAt: string;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  requestId: string;
  details: Record<string, unknown>;
  hash: string | null;
}

export type AuditProblemKind =
  | 'hash_mismatch'
  | 'broken_link'
  | 'gap'
  | 'truncated'
  | 'checkpoint_mismatch'
  | 'bad_checkpoint_signature'
  /** A sealed event whose MAC is missing or wrong: written or changed without the platform's key. */
  | 'bad_event_mac'
  /** A sealed event whose seal MAC does not bind it to its position: moved, or sealed without the key. */
  | 'bad_seal_mac'
  /** The same event (same uid) twice in the chain. */
  | 'duplicate_event'
  /** Sealed events past the last signed checkpoint. */
  | 'missing_checkpoint'
  /** A pending event with no valid MAC, quarantined by the sealer (seq 0: it has no position). */
  | 'forged_event'
  /** A genuine pending event marked quarantined by someone writing the table, so never sealed (seq 0). */
  | 'withheld_event'
  /** The heads file's entry does not carry this platform's signature. */
  | 'bad_head_signature'
  /** The chain could not be read (not a finding about the chain). */
  | 'unverifiable';

export interface AuditProblem {
  kind: AuditProblemKind;
  seq: number;
  message: string;
}

export interface AuditVerification {
  tenantId: string;
  ok: boolean;
  eventsChecked: number;
  /** Events written before event MACs existed, MACed at the first start after the upgrade. */
  adoptedEvents: number;
  headSeq: number;
  headHash: string;
  problems: AuditProblem[];
}

/**
 * Appends one event in the caller's transaction, so the event commits with the change it records (or not
 * at all). No chain work happens here: the sealer links events later, so requests never wait on each other.
 * The event is MACed here, with the key its transaction carries (see `createAuditSigningDb`): the sealer
 * seals only events whose MAC verifies. The time is the writer's clock, so the MAC can cover it.
 */
export const appendAuditEvent = async (tx: Queryable, event: AuditEventInput): Promise<void> => {
  await insertEvent(tx, eventKeyOf(tx), event);
};

/** The columns an appended event fills, in the order of `auditEventValues`. */
export const AUDIT_EVENT_COLUMNS = 'event_uid, tenant_id, occurred_at, actor, action, target, outcome, request_id, details, mac, mac_kind';

/**
 * The values of one new event for AUDIT_EVENT_COLUMNS, MACed with the key its transaction carries (see
 * `createAuditSigningDb`): for a statement that writes an event together with the change it records
 * (runs/create's, tracking-queries.ts). Types, for an INSERT … SELECT: uuid, uuid, timestamptz, text ×5,
 * jsonb, text, text.
 */
export const auditEventValues = (tx: Queryable, event: AuditEventInput): unknown[] => eventValues(eventKeyOf(tx), event);

const eventValues = (key: Buffer | undefined, event: AuditEventInput): unknown[] => {
  const occurredAtMs = Date.now();
  // What the database will give back for details (jsonb of the JSON text), so the MAC matches on reading.
  const detailsJson = JSON.stringify(event.details ?? {});
  const fields: MacedFields = {
    eventUid: randomUUID(),
    tenantId: event.tenantId,
    occurredAtMicros: String(occurredAtMs * 1000),
    actor: event.actor,
    action: event.action,
    target: event.target ?? '',
    outcome: event.outcome,
    requestId: event.requestId ?? '',
    details: JSON.parse(detailsJson) as unknown,
  };
  return [
    fields.eventUid, fields.tenantId, new Date(occurredAtMs).toISOString(), fields.actor, fields.action, fields.target,
    fields.outcome, fields.requestId, detailsJson,
    key === undefined ? null : eventMac(key, 'append', fields), key === undefined ? null : 'append',
  ];
};

const insertEvent = async (tx: Queryable, key: Buffer | undefined, event: AuditEventInput): Promise<void> => {
  await tx.query(
    `INSERT INTO audit_events (${AUDIT_EVENT_COLUMNS})
     VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11)`,
    eventValues(key, event),
    // Every audited write runs this one static statement: prepared once per connection (QueryOptions).
    { prepare: true },
  );
};

interface EventRow {
  id: number;
  tenant_id: string;
  chain_seq: number | null;
  micros: string;
  occurred_at: Date | string;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  request_id: string;
  details: Record<string, unknown> | string;
  prev_hash: string | null;
  hash: string | null;
  event_uid: string | null;
  mac: string | null;
  mac_kind: string | null;
  seal_mac: string | null;
}

const eventColumns = `id, tenant_id, chain_seq, (extract(epoch from occurred_at) * 1000000)::bigint::text AS micros,
  occurred_at, actor, action, target, outcome, request_id, details, prev_hash, hash, event_uid, mac, mac_kind, seal_mac`;

const parseDetails = (details: EventRow['details']): Record<string, unknown> =>
  typeof details === 'string' ? (JSON.parse(details) as Record<string, unknown>) : details;

/** The fields of a stored event that both its hash and its MAC cover, as read back from the database. */
const eventFields = (row: EventRow) => ({
  tenantId: row.tenant_id,
  occurredAtMicros: row.micros,
  actor: row.actor,
  action: row.action,
  target: row.target,
  outcome: row.outcome,
  requestId: row.request_id,
  details: parseDetails(row.details),
});

const toSealable = (row: EventRow, seq: number): SealableEvent => ({ ...eventFields(row), chainSeq: seq });

const toMaced = (row: EventRow, eventUid: string): MacedFields => ({ ...eventFields(row), eventUid });

const toEvent = (row: EventRow): AuditEvent => ({
  id: row.id,
  tenantId: row.tenant_id,
  seq: row.chain_seq,
  occurredAt: new Date(row.occurred_at).toISOString(),
  actor: row.actor,
  action: row.action,
  target: row.target,
  outcome: row.outcome,
  requestId: row.request_id,
  details: parseDetails(row.details),
  hash: row.hash,
});

/** The heads file: the newest head this platform sealed per chain, signed like a checkpoint. */
type Heads = Record<string, { seq: number; hash: string; signature?: string }>;

/** Where the sealer's alerts go besides the platform's audit chain. */
export interface AuditAlertLog {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface AuditAlert {
  tenantId: string;
  kind: AuditAlertKind;
  seq: number;
  message: string;
  eventId?: number;
}

export const tamperAlertMetricName = 'bulkhead_audit_tamper_alerts_total';

export interface AuditLogOptions {
  db: Db;
  /**
   * HMAC key for checkpoints and heads-file entries, derived from the master key (HKDF, label
   * `audit-checkpoint`); it never enters the database.
   */
  checkpointKey: Buffer;
  /**
   * HMAC key for events and their seals, derived from the master key under its own label
   * (`audit-event-mac`); the Db's transactions carry the same key (createAuditSigningDb).
   */
  eventKey: Buffer;
  /** A file outside the database holding the latest sealed head of every chain. */
  headsFile: string;
  /** Alert log lines (error level); default: JSON lines on stderr. */
  log?: AuditAlertLog;
  /** Where `bulkhead_audit_tamper_alerts_total{tenant,kind}` is registered; default: a registry of its own. */
  metrics?: Registry;
}

export interface AuditLog {
  /**
   * Links every pending event into its tenant's chain. Safe to call concurrently: one sealer at a time.
   * Seals only events whose MAC verifies onto chains that end at their signed head; anything else raises
   * an alert (event in the platform chain, error log line, metric) and is left unsealed. Returns the number
   * of events sealed.
   */
  seal(): Promise<number>;
  /**
   * Recomputes a tenant's chain and checks every MAC, the signed checkpoints and the heads file. Never
   * throws: a failure to read is reported as a problem of kind `unverifiable`.
   */
  verify(tenantId: string): Promise<AuditVerification>;
  /** A tenant's events, newest first, read through row-level security. */
  list(tenantId: string, options?: { limit?: number; beforeId?: number }): Promise<AuditEvent[]>;
  /**
   * Once, at start-up before any MACed event is written: if no event carries a MAC yet (the first start
   * after migration 0012), MACs every event as `adopted` and records that in the platform's chain.
   * Afterwards a no-op. The first seal calls it too.
   */
  adoptLegacyEvents(): Promise<void>;
}

const stderrLog: AuditAlertLog = {
  error: (fields, message) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'audit', msg: message, ...fields })}\n`),
  warn: (fields, message) => process.stderr.write(`${JSON.stringify({ level: 40, component: 'audit', msg: message, ...fields })}\n`),
};

const tamperCounter = (registry: Registry): Counter<'tenant' | 'kind'> => {
  const existing = registry.getSingleMetric(tamperAlertMetricName);
  if (existing !== undefined) return existing as Counter<'tenant' | 'kind'>;
  return new Counter({
    name: tamperAlertMetricName,
    help: 'Audit chain tampering detected by the sealer (forged events, regressed or unsigned heads), by tenant and kind',
    labelNames: ['tenant', 'kind'] as const,
    registers: [registry],
  });
};

const sealBatchSize = 2000;
/** Events sealed per event-loop turn (see sealBatch). */
const SEAL_SLICE = 100;

interface BatchResult {
  /** Pending events read (sealed, quarantined, or left for a blocked tenant). */
  read: number;
  sealed: number;
  alerts: AuditAlert[];
  heads: Array<[string, { seq: number; hash: string; signature: string }]>;
}

/**
 * The tamper-evident audit log. Events are inserted by requests (`appendAuditEvent`, MACed there) and
 * sealed here in order: each tenant's events get a gap-free `chain_seq`, `prev_hash`, `hash` and a seal
 * MAC, and each seal writes an HMAC-signed checkpoint row plus the heads file. Editing a row breaks its
 * hash and MACs, deleting one leaves a gap or a broken link, reordering breaks links, a row written
 * without the key fails its MAC, and deleting the newest rows falls short of the signed checkpoints and
 * of the heads file, which SQL cannot rewrite. See docs/audit.md for what this does not catch.
 */
export const createAuditLog = (options: AuditLogOptions): AuditLog => {
  const { db, checkpointKey, eventKey, headsFile } = options;
  const log = options.log ?? stderrLog;
  const alertCounter = tamperCounter(options.metrics ?? new Registry());
  /** Alerts already raised by this process: a blocked chain is re-checked every second, alerted once. */
  const alerted = new Set<string>();
  let sealing: Promise<number> | undefined;
  let adoptionChecked = false;

  const sign = (tenantId: string, seq: number, hash: string): string => headSignature(checkpointKey, tenantId, seq, hash);
  const signatureValid = (tenantId: string, seq: number, hash: string, signature: string | undefined): boolean =>
    macMatches(sign(tenantId, seq, hash), signature);
  const eventMacValid = (row: EventRow): boolean => {
    if (row.event_uid === null || (row.mac_kind !== 'append' && row.mac_kind !== 'adopted')) return false;
    return macMatches(eventMac(eventKey, row.mac_kind, toMaced(row, row.event_uid)), row.mac);
  };

  const readHeads = async (): Promise<Heads> => {
    try {
      return JSON.parse(await readFile(headsFile, 'utf8')) as Heads;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  };

  const writeHeads = async (heads: Heads): Promise<void> => {
    await mkdir(dirname(headsFile), { recursive: true });
    const temporary = `${headsFile}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(heads), { mode: 0o600 });
    const handle = await open(temporary, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, headsFile);
  };

  const fileHeadOf = (heads: Heads, tenantId: string): FileHead | undefined => {
    const head = heads[tenantId];
    if (head === undefined) return undefined;
    const valid = head.signature === undefined ? undefined : signatureValid(tenantId, head.seq, head.hash, head.signature);
    return { seq: head.seq, hash: head.hash, valid, ...(head.signature === undefined ? {} : { signature: head.signature }) };
  };

  /**
   * First start after migration 0012: events written before it have no MAC. If no event in the table has
   * one yet (this database was never written by a MAC-aware platform), MAC them all as `adopted` and record
   * that in the platform's chain. Once any event carries a MAC this never runs again, so a row inserted
   * later without one is a forgery, not a legacy event.
   */
  const adoptLegacyEvents = async (): Promise<void> => {
    const adopted = await withSystem(db, async (tx) => {
      if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7262618)');
      // Two statements: after the upgrade the first answers at once, and the second (a full scan when no
      // event lacks a MAC) never runs.
      const { rows: [maced] } = await tx.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_events WHERE mac IS NOT NULL) AS found');
      if (maced === undefined || maced.found) return undefined;
      const { rows: [legacy] } = await tx.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_events WHERE mac IS NULL) AS found');
      if (legacy === undefined || !legacy.found) return undefined;
      let count = 0;
      let sealedCount = 0;
      let after = 0;
      for (;;) {
        const { rows } = await tx.query<EventRow>(`SELECT ${eventColumns} FROM audit_events WHERE mac IS NULL AND id > $1 ORDER BY id LIMIT 5000`, [after]);
        if (rows.length === 0) break;
        const ids: number[] = [];
        const uids: string[] = [];
        const macs: string[] = [];
        const sealMacs: Array<string | null> = [];
        for (const row of rows) {
          const uid = row.event_uid ?? randomUUID();
          const mac = eventMac(eventKey, 'adopted', toMaced(row, uid));
          ids.push(row.id);
          uids.push(uid);
          macs.push(mac);
          if (row.chain_seq !== null && row.hash !== null) sealedCount += 1;
          sealMacs.push(row.chain_seq === null || row.hash === null ? null
            : sealMac(eventKey, { tenantId: row.tenant_id, seq: row.chain_seq, prevHash: row.prev_hash ?? '', hash: row.hash, eventUid: uid, mac }));
          after = row.id;
        }
        await tx.query(
          `UPDATE audit_events a SET event_uid = u.uid, mac = u.mac, mac_kind = 'adopted', seal_mac = u.seal_mac
             FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[]) AS u(id, uid, mac, seal_mac) WHERE a.id = u.id`,
          [ids, uids, macs, sealMacs],
        );
        count += rows.length;
      }
      await insertEvent(tx, eventKey, {
        tenantId: PLATFORM_TENANT_ID, actor: 'system:audit', action: 'audit.mac_upgrade', outcome: 'success',
        details: { adoptedEvents: count, sealed: sealedCount, pending: count - sealedCount, throughEventId: after },
      });
      return { count, sealedCount, throughEventId: after };
    });
    if (adopted !== undefined) {
      log.warn({ adoptedEvents: adopted.count, sealed: adopted.sealedCount, throughEventId: adopted.throughEventId },
        'audit: events written before event MACs existed were MACed at this first start (mac_kind adopted)');
    }
  };

  const sealBatch = async (blocked: ReadonlySet<string>, heads: Heads): Promise<BatchResult> =>
    withSystem(db, async (tx) => {
      // One sealer across all servers sharing the database.
      if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7262618)');
      const { rows } = await tx.query<EventRow>(
        `SELECT ${eventColumns} FROM audit_events
          WHERE chain_seq IS NULL AND quarantined_at IS NULL AND NOT (tenant_id = ANY($1::uuid[])) ORDER BY id LIMIT ${sealBatchSize}`,
        [[...blocked]],
      );
      const result: BatchResult = { read: rows.length, sealed: 0, alerts: [], heads: [] };
      if (rows.length === 0) return result;
      const tenants = [...new Set(rows.map((row) => row.tenant_id))];
      const { rows: headRows } = await tx.query<{ tenant_id: string; chain_seq: number; hash: string | null }>(
        `SELECT DISTINCT ON (tenant_id) tenant_id, chain_seq, hash FROM audit_events
          WHERE tenant_id = ANY($1::uuid[]) AND chain_seq IS NOT NULL ORDER BY tenant_id, chain_seq DESC`,
        [tenants],
      );
      const chainHeads = new Map(headRows.map((row) => [row.tenant_id, { seq: Number(row.chain_seq), hash: row.hash ?? '' }]));
      const { rows: checkpointRows } = await tx.query<{ tenant_id: string; chain_seq: number; hash: string; signature: string }>(
        `SELECT c.tenant_id, c.chain_seq, c.hash, c.signature
           FROM audit_checkpoints c JOIN unnest($1::uuid[], $2::bigint[]) AS h(tenant_id, seq)
             ON c.tenant_id = h.tenant_id AND c.chain_seq >= h.seq`,
        [tenants, tenants.map((tenant) => chainHeads.get(tenant)?.seq ?? 0)],
      );
      const checkpointsOf = new Map<string, CheckpointSeen[]>();
      for (const row of checkpointRows) {
        const seq = Number(row.chain_seq);
        const list = checkpointsOf.get(row.tenant_id) ?? [];
        list.push({ seq, hash: row.hash, valid: signatureValid(row.tenant_id, seq, row.hash, row.signature) });
        checkpointsOf.set(row.tenant_id, list);
      }
      // Heads this process signed that now lie inside the chain: the chain must still pass through them.
      const inside = tenants.filter((tenant) => {
        const head = heads[tenant];
        return head !== undefined && head.seq > 0 && head.seq < (chainHeads.get(tenant)?.seq ?? 0);
      });
      const hashAtFileHead = new Map<string, string>();
      if (inside.length > 0) {
        const { rows: passed } = await tx.query<{ tenant_id: string; hash: string | null }>(
          `SELECT a.tenant_id, a.hash FROM audit_events a JOIN unnest($1::uuid[], $2::bigint[]) AS h(tenant_id, seq)
             ON a.tenant_id = h.tenant_id AND a.chain_seq = h.seq`,
          [inside, inside.map((tenant) => heads[tenant]!.seq)],
        );
        for (const row of passed) hashAtFileHead.set(row.tenant_id, row.hash ?? '');
        // A position inside the chain with no row at all is a gap: it cannot pass through the head either.
        for (const tenant of inside) if (!hashAtFileHead.has(tenant)) hashAtFileHead.set(tenant, '');
      }
      // Per tenant: does the chain end at the head this platform signed? If not, its events wait.
      const sealable = new Set<string>();
      const reasserted: Array<{ tenant: string; seq: number; hash: string; signature: string }> = [];
      for (const tenant of tenants) {
        const verdict = checkChainHead(chainHeads.get(tenant), checkpointsOf.get(tenant) ?? [], fileHeadOf(heads, tenant), hashAtFileHead.get(tenant));
        if (verdict.ok) {
          sealable.add(tenant);
          continue;
        }
        result.alerts.push({ tenantId: tenant, kind: verdict.kind, seq: verdict.seq, message: verdict.message });
        if (verdict.reassert !== undefined) reasserted.push({ tenant, ...verdict.reassert });
      }
      if (reasserted.length > 0) {
        // The database lost a signed head the heads file still has: put the signed checkpoint back, so any
        // verifier holding only the key sees the truncation too. Never replaces a row.
        await tx.query(
          `INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature)
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`,
          [reasserted.map((r) => r.tenant), reasserted.map((r) => r.seq), reasserted.map((r) => r.hash), reasserted.map((r) => r.signature)],
        );
      }
      // Each sealable tenant's events in insertion order; forged ones are quarantined, never sealed.
      const quarantined: number[] = [];
      const planned = new Map<string, Array<{ id: number; seq: number; prev: string; hash: string; sealMac: string }>>();
      const current = new Map<string, { seq: number; hash: string }>();
      for (const [i, row] of rows.entries()) {
        // Three MACs and hashes per event (≈ 20 µs): a batch of a second's events under steady writing
        // would hold the thread that serves every tenant for tens of milliseconds in one piece.
        if (i > 0 && i % SEAL_SLICE === 0) await nextTurn();
        if (!sealable.has(row.tenant_id)) continue;
        if (!eventMacValid(row)) {
          quarantined.push(row.id);
          result.alerts.push({
            tenantId: row.tenant_id, kind: 'forged_event', seq: 0, eventId: row.id,
            message: `event id ${row.id} (${row.action}) has ${row.mac === null ? 'no MAC' : 'a MAC that does not verify'}: written without the platform's key, not sealed`,
          });
          continue;
        }
        const head = current.get(row.tenant_id) ?? chainHeads.get(row.tenant_id) ?? { seq: 0, hash: genesisHash };
        const seq = head.seq + 1;
        const hash = eventHash(head.hash, toSealable(row, seq));
        const list = planned.get(row.tenant_id) ?? [];
        list.push({ id: row.id, seq, prev: head.hash, hash, sealMac: sealMac(eventKey, { tenantId: row.tenant_id, seq, prevHash: head.hash, hash, eventUid: row.event_uid!, mac: row.mac! }) });
        planned.set(row.tenant_id, list);
        current.set(row.tenant_id, { seq, hash });
      }
      if (quarantined.length > 0) {
        await tx.query('UPDATE audit_events SET quarantined_at = now() WHERE id = ANY($1::bigint[])', [quarantined]);
      }
      const writeSeals = async (tenantsToSeal: readonly string[]): Promise<void> => {
        const seals = tenantsToSeal.flatMap((tenant) => planned.get(tenant) ?? []);
        await tx.query(
          `UPDATE audit_events a SET chain_seq = u.seq, prev_hash = u.prev, hash = u.hash, seal_mac = u.seal_mac
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(id, seq, prev, hash, seal_mac)
            WHERE a.id = u.id`,
          [seals.map((s) => s.id), seals.map((s) => s.seq), seals.map((s) => s.prev), seals.map((s) => s.hash), seals.map((s) => s.sealMac)],
        );
        const checkpoints = tenantsToSeal.map((tenant) => [tenant, current.get(tenant)!] as const);
        await tx.query(
          `INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature)
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[])`,
          [checkpoints.map(([tenant]) => tenant), checkpoints.map(([, head]) => head.seq), checkpoints.map(([, head]) => head.hash),
            checkpoints.map(([tenant, head]) => sign(tenant, head.seq, head.hash))],
        );
      };
      const toSeal = [...planned.keys()];
      if (toSeal.length === 0) return result;
      // All tenants in one statement pair; if a conflicting row (a checkpoint or chain position written
      // meanwhile) refuses that, tenant by tenant, so one tenant's conflict never holds back another's.
      const done: string[] = [];
      await tx.query('SAVEPOINT seal_all');
      try {
        await writeSeals(toSeal);
        await tx.query('RELEASE SAVEPOINT seal_all');
        done.push(...toSeal);
      } catch {
        await tx.query('ROLLBACK TO SAVEPOINT seal_all');
        for (const tenant of toSeal) {
          await tx.query('SAVEPOINT seal_one');
          try {
            await writeSeals([tenant]);
            await tx.query('RELEASE SAVEPOINT seal_one');
            done.push(tenant);
          } catch (error) {
            await tx.query('ROLLBACK TO SAVEPOINT seal_one');
            const seq = current.get(tenant)!.seq;
            result.alerts.push({ tenantId: tenant, kind: 'seal_conflict', seq, message: `sealing up to event ${seq} failed on a conflicting row (${(error as Error).message}); nothing of this chain was sealed` });
          }
        }
      }
      for (const tenant of done) {
        const head = current.get(tenant)!;
        result.sealed += planned.get(tenant)!.length;
        result.heads.push([tenant, { seq: head.seq, hash: head.hash, signature: sign(tenant, head.seq, head.hash) }]);
      }
      return result;
    });

  /** Log line, metric and an event in the platform's chain; once per alert per process. */
  const raiseAlerts = async (alerts: readonly AuditAlert[]): Promise<void> => {
    const fresh = alerts.filter((alert) => {
      const key = `${alert.tenantId}:${alert.kind}:${alert.seq}:${alert.eventId ?? ''}`;
      if (alerted.has(key)) return false;
      alerted.add(key);
      return true;
    });
    if (fresh.length === 0) return;
    for (const alert of fresh) {
      log.error({ tenantId: alert.tenantId, kind: alert.kind, seq: alert.seq, ...(alert.eventId === undefined ? {} : { eventId: alert.eventId }) }, `audit tampering: ${alert.message}`);
      alertCounter.inc({ tenant: alert.tenantId, kind: alert.kind });
    }
    await withSystem(db, async (tx) => {
      for (const alert of fresh) {
        await insertEvent(tx, eventKey, {
          tenantId: PLATFORM_TENANT_ID, actor: 'system:audit-sealer', action: 'audit.tamper_alert', target: `tenant:${alert.tenantId}`, outcome: 'failure',
          details: { tenantId: alert.tenantId, kind: alert.kind, seq: alert.seq, message: alert.message, ...(alert.eventId === undefined ? {} : { eventId: alert.eventId }) },
        });
      }
    });
  };

  const sealOnce = async (): Promise<number> => {
    if (!adoptionChecked) {
      await adoptLegacyEvents();
      adoptionChecked = true;
    }
    const heads = await readHeads();
    const blocked = new Set<string>();
    let total = 0;
    for (;;) {
      const batch = await sealBatch(blocked, heads);
      if (batch.read === 0) break;
      for (const alert of batch.alerts) if (alert.kind !== 'forged_event') blocked.add(alert.tenantId);
      for (const [tenant, head] of batch.heads) {
        const known = heads[tenant];
        if (known === undefined || known.seq < head.seq) heads[tenant] = head;
      }
      total += batch.sealed;
      if (batch.heads.length > 0) await writeHeads(heads);
      await raiseAlerts(batch.alerts);
      // A short batch took every event there was when it read: what came since waits for the next pass,
      // so steady writing costs one batch (and one heads-file write) per pass, not one per few events.
      if (batch.read < sealBatchSize) break;
    }
    return total;
  };

  const seal = async (): Promise<number> => {
    // In-process serialisation; across processes the advisory lock above does it.
    while (sealing !== undefined) await sealing.catch(() => {});
    sealing = sealOnce();
    try {
      return await sealing;
    } finally {
      sealing = undefined;
    }
  };

  const verifyChain = async (tenantId: string): Promise<AuditVerification> => {
    const problems: AuditProblem[] = [];
    let prevHash = genesisHash;
    let expectedSeq = 1;
    let checked = 0;
    let adoptedEvents = 0;
    const hashesBySeq = new Map<number, string>();
    const uids = new Set<string>();
    let lastSeq = 0;
    await withSystem(db, async (tx) => {
      let after = 0;
      for (;;) {
        const { rows } = await tx.query<EventRow>(
          `SELECT ${eventColumns} FROM audit_events WHERE tenant_id = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT 5000`,
          [tenantId, after],
        );
        if (rows.length === 0) break;
        for (const row of rows) {
          const seq = Number(row.chain_seq);
          if (seq !== expectedSeq) {
            problems.push({ kind: 'gap', seq: expectedSeq, message: `events ${expectedSeq}..${seq - 1} are missing` });
          } else if (row.prev_hash !== prevHash) {
            problems.push({ kind: 'broken_link', seq, message: `event ${seq} does not link to the event before it` });
          }
          const recomputed = eventHash(row.prev_hash ?? '', toSealable(row, seq));
          if (recomputed !== row.hash) {
            problems.push({ kind: 'hash_mismatch', seq, message: `event ${seq} was changed after it was sealed` });
          }
          if (!eventMacValid(row)) {
            problems.push({ kind: 'bad_event_mac', seq, message: `event ${seq} has ${row.mac === null ? 'no MAC' : 'a MAC that does not verify'}: not written by this platform, or changed` });
          } else if (!macMatches(sealMac(eventKey, { tenantId, seq, prevHash: row.prev_hash ?? '', hash: row.hash ?? '', eventUid: row.event_uid!, mac: row.mac! }), row.seal_mac)) {
            problems.push({ kind: 'bad_seal_mac', seq, message: `event ${seq} was not sealed at this position by this platform` });
          }
          if (row.event_uid !== null) {
            if (uids.has(row.event_uid)) problems.push({ kind: 'duplicate_event', seq, message: `event ${seq} is a copy of an earlier event` });
            uids.add(row.event_uid);
          }
          if (row.mac_kind === 'adopted') adoptedEvents += 1;
          hashesBySeq.set(seq, row.hash ?? '');
          prevHash = row.hash ?? '';
          expectedSeq = seq + 1;
          lastSeq = seq;
          checked += 1;
          after = seq;
        }
      }
      const { rows: checkpoints } = await tx.query<{ chain_seq: number; hash: string; signature: string }>(
        'SELECT chain_seq, hash, signature FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY chain_seq',
        [tenantId],
      );
      let lastSigned = 0;
      for (const checkpoint of checkpoints) {
        const seq = Number(checkpoint.chain_seq);
        if (!signatureValid(tenantId, seq, checkpoint.hash, checkpoint.signature)) {
          problems.push({ kind: 'bad_checkpoint_signature', seq, message: `checkpoint at event ${seq} is not signed by this platform` });
          continue;
        }
        lastSigned = Math.max(lastSigned, seq);
        const stored = hashesBySeq.get(seq);
        if (seq > lastSeq) {
          problems.push({ kind: 'truncated', seq, message: `a signed checkpoint covers event ${seq} but the chain ends at ${lastSeq}: newest events were deleted` });
        } else if (stored !== undefined && stored !== checkpoint.hash) {
          problems.push({ kind: 'checkpoint_mismatch', seq, message: `event ${seq} differs from its signed checkpoint` });
        }
      }
      // Every seal writes a checkpoint at the chain's new head in the same transaction: sealed events past
      // the last signed checkpoint were added, or the checkpoint covering them was deleted.
      if (lastSeq > lastSigned) {
        problems.push({ kind: 'missing_checkpoint', seq: lastSeq, message: `no signed checkpoint covers events ${lastSigned + 1}..${lastSeq}: events were added past the signed head, or its checkpoint was deleted` });
      }
      const { rows: quarantined } = await tx.query<EventRow>(
        `SELECT ${eventColumns} FROM audit_events WHERE tenant_id = $1 AND chain_seq IS NULL AND quarantined_at IS NOT NULL ORDER BY id LIMIT 100`,
        [tenantId],
      );
      for (const row of quarantined) {
        problems.push(eventMacValid(row)
          // Only someone writing the table sets quarantined_at on a genuine event: it hides it from the chain.
          ? { kind: 'withheld_event', seq: 0, message: `event id ${row.id} (${row.action}) is genuine but was marked quarantined, so it was never sealed` }
          : { kind: 'forged_event', seq: 0, message: `event id ${row.id} (${row.action}) was written without the platform's key and was not sealed` });
      }
    });
    const head = fileHeadOf(await readHeads(), tenantId);
    if (head !== undefined) {
      if (head.valid === false) {
        problems.push({ kind: 'bad_head_signature', seq: head.seq, message: `the heads file's entry for this chain is not signed by this platform` });
      } else if (head.seq > lastSeq) {
        problems.push({ kind: 'truncated', seq: head.seq, message: `the recorded chain head is event ${head.seq} but the chain ends at ${lastSeq}: newest events were deleted` });
      } else if (hashesBySeq.get(head.seq) !== head.hash) {
        problems.push({ kind: 'checkpoint_mismatch', seq: head.seq, message: `event ${head.seq} differs from the recorded chain head` });
      }
    }
    const unique = new Map(problems.map((problem) => [`${problem.kind}:${problem.seq}:${problem.message}`, problem]));
    const sorted = [...unique.values()].sort((a, b) => a.seq - b.seq);
    return { tenantId, ok: sorted.length === 0, eventsChecked: checked, adoptedEvents, headSeq: lastSeq, headHash: prevHash, problems: sorted };
  };

  const verify = async (tenantId: string): Promise<AuditVerification> => {
    // Sealing first makes verify see the newest events; a failure there is logged, not the answer.
    await seal().catch((error: unknown) => log.error({ err: (error as Error).message }, 'audit seal before verify failed'));
    try {
      return await verifyChain(tenantId);
    } catch (error) {
      log.error({ tenantId, err: (error as Error).message }, 'audit verify could not read the chain');
      return {
        tenantId, ok: false, eventsChecked: 0, adoptedEvents: 0, headSeq: 0, headHash: '',
        problems: [{ kind: 'unverifiable', seq: 0, message: 'the chain could not be read to the end; see the server log' }],
      };
    }
  };

  const list = async (tenantId: string, listOptions: { limit?: number; beforeId?: number } = {}): Promise<AuditEvent[]> => {
    const limit = Math.min(Math.max(listOptions.limit ?? 100, 1), 1000);
    return withTenant(db, tenantId, async (tx) => {
      const { rows } = await tx.query<EventRow>(
        `SELECT ${eventColumns} FROM audit_events WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`,
        [listOptions.beforeId ?? null, limit],
      );
      return rows.map(toEvent);
    }, { readOnly: true });
  };

  return {
    seal, verify, list,
    adoptLegacyEvents: async () => {
      if (adoptionChecked) return;
      await adoptLegacyEvents();
      adoptionChecked = true;
    },
  };
};

/** The platform's own chain (nil tenant) is read through withSystem by platform admins. */
export const listPlatformAuditEvents = async (db: Db, tenantId: string, options: { limit?: number; beforeId?: number } = {}): Promise<AuditEvent[]> => {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  return withSystem(db, async (tx) => {
    const { rows } = await tx.query<EventRow>(
      `SELECT ${eventColumns} FROM audit_events WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [tenantId, options.beforeId ?? null, limit],
    );
    return rows.map(toEvent);
  });
};
