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

/**
 * A tenant's cap on concurrent work (its `dbMaxConcurrentOperations`) on one replica: the cap over the live
 * replicas, rounded down, at least 1 (one replica, or a cap of 0: the cap itself) — so the sum over replicas never exceeds the cap, except that a cap
 * below the number of replicas still lets each replica run one operation (a tenant must be able to work
 * on every replica the load balancer sends it to).
 */
export const replicaCountShare = (cap: number, liveReplicas: number): number =>
  liveReplicas <= 1 || cap <= 0 ? cap : Math.max(1, Math.floor(cap / Math.floor(liveReplicas)));

/**
 * A tenant's database time per second (`dbTimeMsPerSecond`) on one replica: the rate over the live replicas
 * (as the request rate), rounded down, at least 1 ms per second; 0 (unlimited) stays 0.
 */
export const replicaTimeShare = (msPerSecond: number, liveReplicas: number): number =>
  msPerSecond <= 0 ? 0 : Math.max(1, Math.floor(replicaShare(msPerSecond, liveReplicas)));

/**
 * A tenant's bandwidth quota on one replica: rate and burst over the live replicas (the same split as the
 * request rate; one replica: the quota itself; a burst share of at least one KiB, never above the quota's).
 */
export const replicaBandwidthShare = (limit: { bytesPerSecond: number; burstBytes: number }, liveReplicas: number): { bytesPerSecond: number; burstBytes: number } =>
  liveReplicas <= 1 ? limit : {
    bytesPerSecond: Math.max(1, Math.floor(replicaShare(limit.bytesPerSecond, liveReplicas))),
    burstBytes: Math.min(limit.burstBytes, Math.max(1024, Math.floor(replicaShare(limit.burstBytes, liveReplicas)))),
  };
