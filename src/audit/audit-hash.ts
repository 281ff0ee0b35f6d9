import { createHash } from 'node:crypto';

/** The fields of an event that its hash covers, in the form they are read back from the database. */
export interface SealableEvent {
  tenantId: string;
  chainSeq: number;
  occurredAtMicros: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  requestId: string;
  details: unknown;
}

export const genesisHash = '0'.repeat(64);

/** JSON with object keys sorted at every level, so the same content always hashes the same. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
};

/** hash_n = SHA-256(prev_hash ‖ canonical event n). Position (chainSeq) is covered, so reordering shows. */
export const eventHash = (prevHash: string, event: SealableEvent): string =>
  createHash('sha256')
    .update(prevHash)
    .update(
      canonicalJson([
        event.tenantId,
        event.chainSeq,
        event.occurredAtMicros,
        event.actor,
        event.action,
        event.target,
        event.outcome,
        event.requestId,
        event.details,
      ]),
    )
    .digest('hex');
