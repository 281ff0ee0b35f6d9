import type { Db } from '../db/index.ts';

/** The channel migration 0020's triggers notify on, with payloads `token:<id>`, `tenant:<id>`, `quota:<tenant id>`, `role:<tenant id>`. */
export const invalidationChannel = 'bulkhead_invalidate';
/** Notified after a job is inserted: the leader schedules at once. */
export const jobsChannel = 'bulkhead_jobs';

export type Invalidation =
  | { kind: 'token' | 'tenant' | 'quota' | 'role'; id: string }
  /** Notifications may have been missed (the listening session was lost): drop everything cached. */
  | { kind: 'all' };

/** A notification's payload → what to drop. Anything unrecognised drops everything (safe, only slower). */
export const parseInvalidation = (payload: string | undefined): Invalidation => {
  const match = payload === undefined ? null : /^(token|tenant|quota|role):([0-9a-f-]{36})$/.exec(payload);
  if (match === null) return { kind: 'all' };
  return { kind: match[1] as 'token' | 'tenant' | 'quota' | 'role', id: match[2]! };
};

/**
 * Listens for committed changes to what the auth path and the rate guard cache, from every replica
 * (this one included), and hands each to `onInvalidate`. Returns a function that stops, or undefined
 * where the driver cannot listen (the caches' TTL is then the only bound).
 */
export const listenForInvalidations = async (db: Db, onInvalidate: (invalidation: Invalidation) => void): Promise<(() => Promise<void>) | undefined> =>
  db.listen === undefined ? undefined : db.listen(invalidationChannel, (payload) => onInvalidate(parseInvalidation(payload)));

/**
 * A tenant's request rate on one replica: its quota divided among the live replicas. Each replica
 * enforces its share locally (no round trip per request); with requests spread evenly by the load
 * balancer the sum stays within the quota, and it can only fall short, never exceed, when they are not.
 */
export const replicaShare = (rate: number, liveReplicas: number): number => rate / Math.max(1, Math.floor(liveReplicas));
