/**
 * The replicas module: many `bulkhead up` processes on one PostgreSQL acting as one platform.
 *
 * Owns: membership and leadership (replica-lease.ts: heartbeats and the lease row, by the database's
 * clock; replica-coordinator.ts: the role of this replica and its transitions), fencing of the leader's
 * writes (fenced-db.ts over `bulkhead_fence`, migration 0020), cache invalidation across replicas over
 * LISTEN/NOTIFY and the per-replica share of a tenant's request rate (replica-invalidation.ts).
 * Deliberately does not own: what the leader runs (the composition root starts and stops the job runner
 * and the audit sealer from onElected/onDeposed), the caches it invalidates (identity, tenants, serving),
 * or the single-writer lock of an embedded home (main/home-lock.ts).
 */
export { createReplicaCoordinator } from './replica-coordinator.ts';
export type { ReplicaCoordinator, ReplicaCoordinatorOptions, ReplicaRole, ReplicaStatus } from './replica-coordinator.ts';
export { createFencedDb, isFenceRefusal, replicaErrors } from './fenced-db.ts';
export type { Fence } from './fenced-db.ts';
export { expireLease, heartbeat, listReplicas, resign } from './replica-lease.ts';
export type { HeartbeatResult, ReplicaRecord } from './replica-lease.ts';
export { invalidationChannel, jobsChannel, listenForInvalidations, parseInvalidation, replicaBandwidthShare, replicaCountShare, replicaShare, replicaTimeShare } from './replica-invalidation.ts';
export type { Invalidation } from './replica-invalidation.ts';
