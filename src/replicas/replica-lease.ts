import { withSystem } from '../db/index.ts';
import type { Db } from '../db/index.ts';

/** What one heartbeat learned: whether this replica holds the lease (and with which token), and who is live. */
export interface HeartbeatResult {
  /** The fencing token of this replica's lease, or undefined when another replica (or nobody) holds it. */
  token: number | undefined;
  /** The current holder, as the database has it after this heartbeat. */
  leaderId: string | undefined;
  /** Replicas whose heartbeat is younger than the lease, this one included. */
  liveReplicas: number;
}

export interface ReplicaRecord {
  replicaId: string;
  host: string;
  pid: number;
  url: string | undefined;
}

/**
 * One heartbeat, one transaction: records this replica as alive, then takes the lease if it is free or
 * expired, or renews it if this replica holds it (by the database's clock, never the replica's). A new
 * holder, and an old holder that let the lease expire, gets a new fencing token (the old one + 1): a
 * leader that was paused past its lease starts a new term rather than carrying on the old one.
 */
export const heartbeat = (db: Db, replica: ReplicaRecord, leaseMs: number): Promise<HeartbeatResult> =>
  withSystem(db, async (tx) => {
    await tx.query(
      `INSERT INTO platform_replicas (replica_id, host, pid, url) VALUES ($1, $2, $3, $4)
       ON CONFLICT (replica_id) DO UPDATE SET heartbeat_at = now(), url = EXCLUDED.url`,
      [replica.replicaId, replica.host, replica.pid, replica.url ?? null],
    );
    const { rows } = await tx.query<{ fencing_token: number }>(
      `UPDATE platform_leader_lease
          SET fencing_token = CASE WHEN holder = $1 AND expires_at > clock_timestamp() THEN fencing_token ELSE fencing_token + 1 END,
              acquired_at = CASE WHEN holder = $1 AND expires_at > clock_timestamp() THEN acquired_at ELSE clock_timestamp() END,
              holder = $1,
              expires_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
        WHERE name = 'control' AND (expires_at <= clock_timestamp() OR holder = $1)
        RETURNING fencing_token`,
      [replica.replicaId, leaseMs],
    );
    const live = await tx.query<{ live: number; holder: string | null }>(
      `SELECT (SELECT count(*)::int FROM platform_replicas WHERE heartbeat_at > now() - make_interval(secs => $1::double precision / 1000)) AS live,
              (SELECT holder FROM platform_leader_lease WHERE name = 'control' AND expires_at > clock_timestamp()) AS holder`,
      [leaseMs],
    );
    const row = rows[0];
    return {
      token: row?.fencing_token,
      leaderId: live.rows[0]?.holder ?? undefined,
      liveReplicas: Math.max(1, live.rows[0]?.live ?? 1),
    };
  });

/**
 * Ends the lease of `holderId` at once, if it still holds it: for a holder known to be dead (a process of
 * this host that no longer runs), so a restart does not wait the lease out. Returns whether it did.
 */
export const expireLease = (db: Db, holderId: string): Promise<boolean> =>
  withSystem(db, async (tx) => {
    const { rowCount } = await tx.query(`UPDATE platform_leader_lease SET expires_at = '-infinity' WHERE name = 'control' AND holder = $1 AND expires_at > clock_timestamp()`, [holderId]);
    return rowCount > 0;
  });

/** A clean stop: gives the lease up at once (if held) and removes this replica's row, so nobody waits out a lease. */
export const resign = (db: Db, replicaId: string): Promise<void> =>
  withSystem(db, async (tx) => {
    await tx.query(`UPDATE platform_leader_lease SET expires_at = '-infinity' WHERE name = 'control' AND holder = $1`, [replicaId]);
    await tx.query('DELETE FROM platform_replicas WHERE replica_id = $1', [replicaId]);
  });

/** Every replica that has sent a heartbeat and not resigned, newest heartbeat first, with the lease's holder. */
export const listReplicas = async (db: Db): Promise<Array<ReplicaRecord & { heartbeatAt: string; leader: boolean }>> =>
  withSystem(db, async (tx) => {
    const { rows } = await tx.query<{ replica_id: string; host: string; pid: number; url: string | null; heartbeat_at: Date; leader: boolean }>(
      `SELECT r.replica_id, r.host, r.pid, r.url, r.heartbeat_at,
              coalesce(l.holder = r.replica_id AND l.expires_at > clock_timestamp(), false) AS leader
         FROM platform_replicas r LEFT JOIN platform_leader_lease l ON l.name = 'control'
        ORDER BY r.heartbeat_at DESC`,
    );
    return rows.map((row) => ({ replicaId: row.replica_id, host: row.host, pid: row.pid, url: row.url ?? undefined, heartbeatAt: new Date(row.heartbeat_at).toISOString(), leader: row.leader }));
  }, { readOnly: true });
