import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Db, Queryable, QueryOptions } from '../db/index.ts';
import { canonicalJson } from './audit-hash.ts';

/**
 * How an event got its MAC: `append` when the writing transaction computed it (every event since
 * migration 0012), `adopted` when the first start after that upgrade MACed an event written before it
 * (see docs/audit.md). The kind is inside the MAC, so it cannot be flipped.
 */
export type EventMacKind = 'append' | 'adopted';

/** What an event's MAC covers: every field a reader sees, the tenant, and the event's unique id. */
export interface MacedFields {
  eventUid: string;
  tenantId: string;
  occurredAtMicros: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  requestId: string;
  details: unknown;
}

// A KeyObject per key: createHmac with a raw Buffer sets the key up on every call (measured ~35 µs per
// MAC against ~5 µs with a KeyObject), which would make MACs the sealer's main cost.
const keyObjects = new WeakMap<Buffer, KeyObject>();
const hmac = (key: Buffer, message: string): string => {
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    keyObject = createSecretKey(key);
    keyObjects.set(key, keyObject);
  }
  return createHmac('sha256', keyObject).update(message).digest('hex');
};

/** Constant-time comparison of two hex MACs; a missing one never matches. */
export const macMatches = (expected: string, actual: string | null | undefined): boolean => {
  if (typeof actual !== 'string' || actual.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(actual));
};

/**
 * MAC of one event at append time. `eventUid` (random, unique per event) makes a copied row a duplicate
 * rather than a second genuine event; the chain position is not known yet and is bound by `sealMac`.
 */
export const eventMac = (key: Buffer, kind: EventMacKind, fields: MacedFields): string =>
  hmac(key, canonicalJson([
    'bulkhead.audit.event.v1', kind, fields.eventUid, fields.tenantId, fields.occurredAtMicros, fields.actor,
    fields.action, fields.target, fields.outcome, fields.requestId, fields.details,
  ]));

/** MAC of a sealed event's place in its chain: tenant, position, link, hash, and the event's own MAC. */
export const sealMac = (key: Buffer, seal: { tenantId: string; seq: number; prevHash: string; hash: string; eventUid: string; mac: string }): string =>
  hmac(key, canonicalJson(['bulkhead.audit.seal.v1', seal.tenantId, seal.seq, seal.prevHash, seal.hash, seal.eventUid, seal.mac]));

/** Signature of a chain head (checkpoint rows and heads-file entries): the same format since migration 0001. */
export const headSignature = (key: Buffer, tenantId: string, seq: number, hash: string): string => hmac(key, `${tenantId}:${seq}:${hash}`);

const signerKey = Symbol('bulkhead.audit.eventKey');
type SigningQueryable = Queryable & { [signerKey]?: Buffer };

/** The event key a transaction of an audit-signing Db carries, or undefined (its events get no MAC). */
export const eventKeyOf = (tx: Queryable): Buffer | undefined => (tx as SigningQueryable)[signerKey];

/**
 * A Db whose transactions carry the event key, so `appendAuditEvent(tx, …)` can MAC what it writes in
 * the caller's transaction without every service holding the key. The composition root wraps the
 * platform's Db once; events written through an unwrapped Db have no MAC and are refused by the sealer.
 */
export const createAuditSigningDb = (db: Db, eventKey: Buffer): Db => ({
  kind: db.kind,
  transaction: (prelude, fn, options) =>
    db.transaction(prelude, (tx) => fn({ query: <Row>(sql: string, params?: readonly unknown[], queryOptions?: QueryOptions) => tx.query<Row>(sql, params, queryOptions), [signerKey]: eventKey } as SigningQueryable), options),
  scopedRead: <Row>(scope: string, sql: string, params?: readonly unknown[]) => db.scopedRead<Row>(scope, sql, params),
  execAsOwner: (sql) => db.execAsOwner(sql),
  queryAsOwner: <Row>(sql: string, params?: readonly unknown[]) => db.queryAsOwner<Row>(sql, params),
  close: () => db.close(),
  interrupt: async () => db.interrupt?.(),
});
