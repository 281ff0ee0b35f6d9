import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Db, Queryable } from '../db/index.ts';
import { withSystem, withTenant } from '../db/index.ts';
import { hmacHex } from '../crypto/index.ts';
import { eventHash, genesisHash } from './audit-hash.ts';
import type { SealableEvent } from './audit-hash.ts';

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
  | 'bad_checkpoint_signature';

export interface AuditProblem {
  kind: AuditProblemKind;
  seq: number;
  message: string;
}

export interface AuditVerification {
  tenantId: string;
  ok: boolean;
  eventsChecked: number;
  headSeq: number;
  headHash: string;
  problems: AuditProblem[];
}

/**
 * Appends one event in the caller's transaction, so the event commits with the change it records (or not
 * at all). No chain work happens here: the sealer links events later, so requests never wait on each other.
 */
export const appendAuditEvent = async (tx: Queryable, event: AuditEventInput): Promise<void> => {
  await tx.query(
    `INSERT INTO audit_events (tenant_id, actor, action, target, outcome, request_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      event.tenantId,
      event.actor,
      event.action,
      event.target ?? '',
      event.outcome,
      event.requestId ?? '',
      JSON.stringify(event.details ?? {}),
    ],
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
}

const eventColumns = `id, tenant_id, chain_seq, (extract(epoch from occurred_at) * 1000000)::bigint::text AS micros,
  occurred_at, actor, action, target, outcome, request_id, details, prev_hash, hash`;

const parseDetails = (details: EventRow['details']): Record<string, unknown> =>
  typeof details === 'string' ? (JSON.parse(details) as Record<string, unknown>) : details;

const toSealable = (row: EventRow, seq: number): SealableEvent => ({
  tenantId: row.tenant_id,
  chainSeq: seq,
  occurredAtMicros: row.micros,
  actor: row.actor,
  action: row.action,
  target: row.target,
  outcome: row.outcome,
  requestId: row.request_id,
  details: parseDetails(row.details),
});

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

type Heads = Record<string, { seq: number; hash: string }>;

export interface AuditLogOptions {
  db: Db;
  /** HMAC key for checkpoints, derived from the master key; it never enters the database. */
  checkpointKey: Buffer;
  /** A file outside the database holding the latest sealed head of every chain. */
  headsFile: string;
}

export interface AuditLog {
  /** Links every unsealed event into its tenant's chain. Safe to call concurrently: one sealer at a time. */
  seal(): Promise<number>;
  /** Recomputes a tenant's chain and compares it with the signed checkpoints and the heads file. */
  verify(tenantId: string): Promise<AuditVerification>;
  /** A tenant's events, newest first, read through row-level security. */
  list(tenantId: string, options?: { limit?: number; beforeId?: number }): Promise<AuditEvent[]>;
}

/**
 * The tamper-evident audit log. Events are inserted by requests (`appendAuditEvent`) and sealed here in
 * order: each tenant's events get a gap-free `chain_seq`, `prev_hash` and `hash`, and each seal writes an
 * HMAC-signed checkpoint row plus the heads file. Editing a row breaks its hash, deleting one leaves a gap
 * or a broken link, reordering breaks links, and deleting the newest rows falls short of the signed
 * checkpoints and of the heads file, which SQL cannot rewrite.
 */
export const createAuditLog = (options: AuditLogOptions): AuditLog => {
  const { db, checkpointKey, headsFile } = options;
  let sealing: Promise<number> | undefined;

  const sign = (tenantId: string, seq: number, hash: string): string => hmacHex(checkpointKey, `${tenantId}:${seq}:${hash}`);

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

  const sealOnce = async (): Promise<number> => {
    const heads = await readHeads();
    let total = 0;
    for (;;) {
      const sealed = await withSystem(db, async (tx) => {
        // One sealer across all servers sharing the database.
        if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7262618)');
        const { rows } = await tx.query<EventRow>(
          `SELECT ${eventColumns} FROM audit_events WHERE chain_seq IS NULL ORDER BY id LIMIT 2000`,
        );
        if (rows.length === 0) return 0;
        const tenants = [...new Set(rows.map((row) => row.tenant_id))];
        const { rows: headRows } = await tx.query<{ tenant_id: string; chain_seq: number; hash: string }>(
          `SELECT DISTINCT ON (tenant_id) tenant_id, chain_seq, hash FROM audit_events
            WHERE tenant_id = ANY($1::uuid[]) AND chain_seq IS NOT NULL ORDER BY tenant_id, chain_seq DESC`,
          [tenants],
        );
        const current = new Map(headRows.map((row) => [row.tenant_id, { seq: row.chain_seq, hash: row.hash }]));
        const ids: number[] = [];
        const seqs: number[] = [];
        const prevs: string[] = [];
        const hashes: string[] = [];
        for (const row of rows) {
          const head = current.get(row.tenant_id) ?? { seq: 0, hash: genesisHash };
          const seq = head.seq + 1;
          const hash = eventHash(head.hash, toSealable(row, seq));
          ids.push(row.id);
          seqs.push(seq);
          prevs.push(head.hash);
          hashes.push(hash);
          current.set(row.tenant_id, { seq, hash });
        }
        await tx.query(
          `UPDATE audit_events a SET chain_seq = u.seq, prev_hash = u.prev, hash = u.hash
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(id, seq, prev, hash)
            WHERE a.id = u.id`,
          [ids, seqs, prevs, hashes],
        );
        const checkpointTenants = tenants.map((tenant) => [tenant, current.get(tenant)!] as const);
        await tx.query(
          `INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature)
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[])`,
          [
            checkpointTenants.map(([tenant]) => tenant),
            checkpointTenants.map(([, head]) => head.seq),
            checkpointTenants.map(([, head]) => head.hash),
            checkpointTenants.map(([tenant, head]) => sign(tenant, head.seq, head.hash)),
          ],
        );
        for (const [tenant, head] of checkpointTenants) {
          const known = heads[tenant];
          if (known === undefined || known.seq < head.seq) heads[tenant] = head;
        }
        return rows.length;
      });
      if (sealed === 0) break;
      total += sealed;
      await writeHeads(heads);
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

  const verify = async (tenantId: string): Promise<AuditVerification> => {
    await seal();
    const problems: AuditProblem[] = [];
    let prevHash = genesisHash;
    let expectedSeq = 1;
    let checked = 0;
    const hashesBySeq = new Map<number, string>();
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
          const seq = row.chain_seq!;
          if (seq !== expectedSeq) {
            problems.push({ kind: 'gap', seq: expectedSeq, message: `events ${expectedSeq}..${seq - 1} are missing` });
          } else if (row.prev_hash !== prevHash) {
            problems.push({ kind: 'broken_link', seq, message: `event ${seq} does not link to the event before it` });
          }
          const recomputed = eventHash(row.prev_hash ?? '', toSealable(row, seq));
          if (recomputed !== row.hash) {
            problems.push({ kind: 'hash_mismatch', seq, message: `event ${seq} was changed after it was sealed` });
          }
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
      for (const checkpoint of checkpoints) {
        if (sign(tenantId, checkpoint.chain_seq, checkpoint.hash) !== checkpoint.signature) {
          problems.push({ kind: 'bad_checkpoint_signature', seq: checkpoint.chain_seq, message: `checkpoint at event ${checkpoint.chain_seq} is not signed by this platform` });
          continue;
        }
        const stored = hashesBySeq.get(checkpoint.chain_seq);
        if (checkpoint.chain_seq > lastSeq) {
          problems.push({ kind: 'truncated', seq: checkpoint.chain_seq, message: `a signed checkpoint covers event ${checkpoint.chain_seq} but the chain ends at ${lastSeq}: newest events were deleted` });
        } else if (stored !== undefined && stored !== checkpoint.hash) {
          problems.push({ kind: 'checkpoint_mismatch', seq: checkpoint.chain_seq, message: `event ${checkpoint.chain_seq} differs from its signed checkpoint` });
        }
      }
    });
    const head = (await readHeads())[tenantId];
    if (head !== undefined) {
      if (head.seq > lastSeq) {
        problems.push({ kind: 'truncated', seq: head.seq, message: `the recorded chain head is event ${head.seq} but the chain ends at ${lastSeq}: newest events were deleted` });
      } else if (hashesBySeq.get(head.seq) !== head.hash) {
        problems.push({ kind: 'checkpoint_mismatch', seq: head.seq, message: `event ${head.seq} differs from the recorded chain head` });
      }
    }
    const unique = new Map(problems.map((problem) => [`${problem.kind}:${problem.seq}`, problem]));
    const sorted = [...unique.values()].sort((a, b) => a.seq - b.seq);
    return { tenantId, ok: sorted.length === 0, eventsChecked: checked, headSeq: lastSeq, headHash: prevHash, problems: sorted };
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

  return { seal, verify, list };
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
