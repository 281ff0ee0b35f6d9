import { AppError } from '../core/errors.ts';
import type { Db } from '../db/index.ts';

/** Where a fenced Db gets its token, and whom it tells about a refusal. */
export interface Fence {
  /**
   * Whether fencing applies: once this replica takes part in elections. A platform that never started
   * its coordinator (tests driving the runner by hand, admin commands) writes unfenced, as before replicas.
   */
  active(): boolean;
  /** The current leader's fencing token, or undefined when this replica does not (or no longer surely) lead. */
  token(): number | undefined;
  /** Counts a refused write (for /readyz and the logs). */
  refused(): void;
}

export const replicaErrors = {
  notLeader: () => new AppError('UNAVAILABLE', 'this replica is not the leader: leader-only work runs on the leader'),
  fenced: (token: number) => new AppError('UNAVAILABLE', `write refused by fencing: leadership (fencing token ${token}) is no longer current`),
};

/** Whether a database error is bulkhead_fence()'s refusal (SQLSTATE BHFNC, migration 0020). */
export const isFenceRefusal = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && ((error as { code?: unknown }).code === 'BHFNC' || /^fenced: leadership/.test(String((error as { message?: unknown }).message)));

/**
 * A Db for the leader's writes: every read-write transaction first runs `bulkhead_fence(token)`, so it
 * commits only while the token is the lease's current one — and a takeover waits for it to commit. Without a token (not the leader, or the lease ran out on this
 * replica's own clock) the write is refused before it is sent. Reads pass through unfenced.
 */
export const createFencedDb = (db: Db, fence: Fence): Db => ({
  kind: db.kind,
  async transaction(prelude, fn, options = {}) {
    if (options.readOnly === true || !fence.active()) return db.transaction(prelude, fn, options);
    const token = fence.token();
    if (token === undefined) {
      fence.refused();
      throw replicaErrors.notLeader();
    }
    try {
      // The fence is the transaction's first statement (after BEGIN and the scope, on the same pipelined
      // connection), awaited before `fn` runs, so its refusal is the error the caller sees.
      return await db.transaction(prelude, async (tx) => {
        await tx.query('SELECT bulkhead_fence($1)', [token]);
        return fn(tx);
      }, options);
    } catch (error) {
      if (!isFenceRefusal(error)) throw error;
      fence.refused();
      throw replicaErrors.fenced(token);
    }
  },
  scopedRead: (scope, sql, params) => db.scopedRead(scope, sql, params),
  execAsOwner: (sql) => db.execAsOwner(sql),
  queryAsOwner: (sql, params) => db.queryAsOwner(sql, params),
  close: () => db.close(),
});
