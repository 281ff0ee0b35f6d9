import { performance } from 'node:perf_hooks';
import type { Db } from '../db/index.ts';
import { expireLease, heartbeat, resign } from './replica-lease.ts';
import type { ReplicaRecord } from './replica-lease.ts';
import type { Fence } from './fenced-db.ts';

export type ReplicaRole = 'leader' | 'follower';

/** What /readyz and `bulkhead doctor` say about this replica. */
export interface ReplicaStatus {
  replicaId: string;
  role: ReplicaRole;
  /** `single`: embedded PGlite, one replica per home (the home lock), always the leader. `lease`: elected through PostgreSQL. */
  election: 'single' | 'lease';
  leaderId: string | undefined;
  fencingToken: number | undefined;
  /** The last heartbeat the database acknowledged (ISO time), undefined before the first. */
  lastHeartbeatAt: string | undefined;
  liveReplicas: number;
  leaseMs: number;
  /** Writes of leader-only work refused because this replica no longer led (fencing). */
  fencedWrites: number;
}

export interface ReplicaCoordinatorOptions {
  /** The plain (unfenced) database. */
  db: Db;
  replica: ReplicaRecord;
  /** How long a lease lasts without renewal: the bound on failover (plus one heartbeat). */
  leaseMs: number;
  /** How often a replica renews its heartbeat and tries to take or renew the lease (well under leaseMs). */
  heartbeatMs: number;
  /** `single` on PGlite: no election, this process leads from start to stop. */
  election: 'single' | 'lease';
  /** Starts the leader-only work (scheduler, job recovery, sealing); `token` is the term's fencing token. */
  onElected(token: number): Promise<void>;
  /** Stops it: the lease is lost (or given up); writes made from now on are refused. */
  onDeposed(reason: string): Promise<void>;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /**
   * Whether a replica id names a process known to be dead (one of this host whose pid is gone or was
   * reused). Its lease is then ended at once rather than waited out: a restart on the same host leads
   * without delay. Replicas of other hosts are never judged from here: their leases run out.
   */
  isDead?: (replicaId: string) => boolean;
  /** A monotonic clock in ms (tests); default performance.now. */
  clock?: () => number;
}

/**
 * One replica's membership and leadership. Every `heartbeatMs` it records its heartbeat and takes or
 * renews the lease (replica-lease.ts). It leads from a successful take until the lease it last renewed
 * runs out on its own monotonic clock, measured from when that renewal was *sent* (conservative: the
 * database's expiry is later) — so a replica that was paused (SIGSTOP, a long GC, a lost network) has
 * stopped leading before any write it makes can commit, and the fence in the database refuses what slips
 * past. Role changes run one at a time, in order: onDeposed always completes before a later onElected.
 */
export const createReplicaCoordinator = (options: ReplicaCoordinatorOptions) => {
  const clock = options.clock ?? (() => performance.now());
  let replica = options.replica;
  let token: number | undefined;
  let leaseValidUntil = 0;
  let leaderId: string | undefined;
  let lastHeartbeatAt: string | undefined;
  let liveReplicas = 1;
  let fencedWrites = 0;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  let roleChanges: Promise<void> = Promise.resolve();

  const change = (step: () => Promise<void>): void => {
    roleChanges = roleChanges.then(step).catch((error: unknown) => options.log.error({ err: String(error) }, 'replica role change failed'));
  };
  // A voluntary step-down (stop) in progress: leader work is stopping while the lease is still renewed.
  let steppingDown = false;
  const depose = (reason: string): void => {
    if (token === undefined) return;
    options.log.info({ replicaId: options.replica.replicaId, fencingToken: token, reason }, 'stepping down as leader');
    token = undefined;
    leaseValidUntil = 0;
    if (!steppingDown) change(() => options.onDeposed(reason));
  };
  const elect = (newToken: number, validUntil: number): void => {
    token = newToken;
    leaseValidUntil = validUntil;
    leaderId = options.replica.replicaId;
    options.log.info({ replicaId: options.replica.replicaId, fencingToken: newToken }, 'elected leader');
    change(() => options.onElected(newToken));
  };

  const beat = async (): Promise<void> => {
    if (stopped) return;
    // Paused past the lease (timers fire late after SIGCONT): step down before anything else runs.
    if (token !== undefined && clock() >= leaseValidUntil) depose('the lease ran out before it was renewed');
    const sentAt = clock();
    try {
      let result = await heartbeat(options.db, replica, options.leaseMs);
      if (result.token === undefined && result.leaderId !== undefined && options.isDead?.(result.leaderId) === true) {
        options.log.info({ replicaId: replica.replicaId, deadLeader: result.leaderId }, 'the leader is a dead process of this host: ending its lease');
        if (await expireLease(options.db, result.leaderId)) result = await heartbeat(options.db, replica, options.leaseMs);
      }
      lastHeartbeatAt = new Date().toISOString();
      liveReplicas = result.liveReplicas;
      leaderId = result.leaderId;
      if (stopped) return;
      if (result.token === undefined) {
        depose(`replica ${result.leaderId ?? '(none)'} holds the lease`);
      } else if (token === undefined) {
        elect(result.token, sentAt + options.leaseMs);
      } else if (result.token !== token) {
        // Our lease expired in the database and we took it again: a new term, after the old one ended.
        depose('the lease expired in the database');
        elect(result.token, sentAt + options.leaseMs);
      } else {
        leaseValidUntil = sentAt + options.leaseMs;
      }
    } catch (error) {
      // The database is unreachable: a leader keeps leading until its lease runs out on its own clock.
      options.log.error({ err: String(error) }, 'replica heartbeat failed');
      if (token !== undefined && clock() >= leaseValidUntil) depose('the lease ran out: heartbeats failed');
    }
  };

  const fence: Fence = {
    active: () => started && options.election === 'lease',
    token: () => (token !== undefined && clock() < leaseValidUntil ? token : undefined),
    refused: () => {
      fencedWrites += 1;
    },
  };

  return {
    fence,
    /** First heartbeat (and, on PGlite, leadership), then the periodic ones. */
    async start(): Promise<void> {
      started = true;
      if (options.election === 'single') {
        token = 1;
        leaseValidUntil = Number.POSITIVE_INFINITY;
        leaderId = options.replica.replicaId;
        lastHeartbeatAt = new Date().toISOString();
        change(() => options.onElected(1));
        await roleChanges;
        return;
      }
      await beat();
      await roleChanges;
      timer = setInterval(() => {
        if (beating !== undefined) return;
        beating = beat().finally(() => {
          beating = undefined;
        });
      }, options.heartbeatMs);
      timer.unref();
    },
    status: (): ReplicaStatus => ({
      replicaId: options.replica.replicaId,
      role: fence.token() === undefined ? 'follower' : 'leader',
      election: options.election,
      leaderId,
      fencingToken: fence.token(),
      lastHeartbeatAt,
      liveReplicas,
      leaseMs: options.leaseMs,
      fencedWrites,
    }),
    /** The URL this replica serves, recorded with its next heartbeat (`bulkhead doctor` lists it). */
    setUrl(url: string): void {
      replica = { ...replica, url };
    },
    /** Live replicas as of the last heartbeat (this one included): what a per-replica share divides by. */
    liveReplicas: (): number => liveReplicas,
    /** Waits for role changes in flight (tests). */
    settled: (): Promise<void> => roleChanges,
    /** Stops heartbeating, steps down (leader-only work stopped first) and resigns, so a follower takes over at once. */
    async stop(): Promise<void> {
      if (stopped) return;
      if (token !== undefined && !steppingDown) {
        // Leader work stops first, still under the lease (heartbeats go on renewing it), so its last writes
        // — its running jobs put back in the queue — commit; then the lease is given up.
        steppingDown = true;
        options.log.info({ replicaId: replica.replicaId, fencingToken: token }, 'stepping down as leader: this replica is stopping');
        change(() => options.onDeposed('this replica is stopping'));
      }
      await roleChanges;
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      await beating;
      token = undefined;
      leaseValidUntil = 0;
      if (started && options.election === 'lease') await resign(options.db, options.replica.replicaId).catch((error: unknown) => options.log.error({ err: String(error) }, 'could not resign'));
    },
  };
};

export type ReplicaCoordinator = ReturnType<typeof createReplicaCoordinator>;
