/** The small surface every query in the platform goes through, the same on PostgreSQL and PGlite. */

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** How a statement may be run; drivers ignore what they cannot do. */
export interface QueryOptions {
  /**
   * Keep the statement prepared on its connection (PostgreSQL: a named statement under a name derived
   * from the SQL text, parsed once per pooled connection, then bound and executed, so PostgreSQL can
   * reuse a cached plan instead of parsing and planning it on every call). For the hot, static SQL of the
   * write paths only: the text must be a constant of this code base (never built from input), since
   * each distinct text stays prepared for the connection's life. Row-level security is unaffected:
   * the policies read the tenant setting when the statement executes, and PostgreSQL re-plans a cached
   * plan when the role differs. PGlite: a named statement of the worker's one session, the same way
   * (pglite-worker.ts).
   */
  prepare?: boolean;
}

/** Something that runs parameterized SQL. Inside `withTenant`/`withSystem` it is one transaction. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<Row>>;
}

export type DbKind = 'postgres' | 'pglite';

/**
 * How strongly row-level security holds on this connection:
 * - `enforced`: the login role is neither superuser nor the tables' owner; even injected SQL cannot leave
 *   the application role.
 * - `guarded`: the session user could `RESET ROLE` (PGlite always; PostgreSQL when connected as a
 *   superuser or owner). RLS still stops application bugs such as a forgotten filter.
 */
export type RlsMode = 'enforced' | 'guarded';

export interface TransactionOptions {
  /**
   * A read-only transaction (the database refuses writes in it). Its result is returned as soon as `fn`
   * resolves; the COMMIT completes in the background before the connection goes back to the pool —
   * there is nothing to lose, and the caller does not wait a round trip for it.
   */
  readOnly?: boolean;
  /** Whose work this is and its statement timeout (set by the tenant gate, db-time-quota.ts). */
  limits?: WorkLimits;
  /**
   * A search that may read many rows (runs, experiments, models, versions, logged models, metric
   * histories): while other tenants use the database too, the tenant gate holds a tenant's searches to its
   * fair share of the database's CPUs (db-time-quota.ts, "fair slots").
   */
  heavy?: boolean;
  /**
   * Commit ahead (PostgreSQL): COMMIT goes on the wire in the same write as BEGIN, the scope and every
   * statement of `fn`, instead of one round trip after `fn` resolves. Only for a transaction whose every
   * failure is an SQL error: `fn` must issue all its statements before its first await (a later query is
   * refused with an error, since the COMMIT is already sent) and may only read their results. A statement
   * that fails aborts the transaction, and the COMMIT behind it then rolls it back, so nothing of it is
   * kept. A check that must undo the writes has to fail in SQL, not in `fn` (see bulkhead_refuse,
   * migration 0041). PGlite ignores the option (it has no round trips to save).
   */
  commitAhead?: boolean;
}

/**
 * What the tenant gate hands the driver for one unit of tenant work: `owner` (the tenant id) for fair
 * ordering where work is serialised (PGlite), and the tenant's statement timeout, which each driver
 * enforces its own way (PostgreSQL: `statement_timeout` local to the transaction; PGlite: a watchdog
 * that ends the worker). A statement over it fails with SQLSTATE 57014, as on PostgreSQL.
 */
export interface WorkLimits {
  owner: string;
  statementTimeoutMs: number;
}

/** Runs tenant work under the tenant's database-time quota (db-time-quota.ts); see `Db.tenantGate`. */
export interface TenantGate {
  run<T>(tenantId: string, work: (limits: WorkLimits) => Promise<T>, hints?: { heavy?: boolean }): Promise<T>;
}

export interface Db {
  readonly kind: DbKind;
  /**
   * Runs `fn` in one transaction. `prelude` (trusted, parameter-free SQL built by this module only) runs in
   * the same round trip as BEGIN. Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(prelude: string, fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * One read statement in one scope, in a single round trip where the driver can: `scope` is a trusted,
   * parameter-free statement that sets the role and tenant with `set_config(…, true)`; on PostgreSQL both
   * statements go out as one simple-protocol message (one implicit transaction, so the settings end with
   * it), with the parameters inlined as escaped literals; parameters that cannot be inlined safely fall
   * back to a pipelined read-only transaction.
   */
  scopedRead<Row = Record<string, unknown>>(scope: string, sql: string, params?: readonly unknown[], limits?: WorkLimits): Promise<QueryResult<Row>>;
  /** Runs trusted multi-statement SQL outside any tenant scope: migrations and bootstrap only. */
  execAsOwner(sql: string): Promise<void>;
  /** Parameterized query as the connection's own user, outside RLS scoping: migrations and probes only. */
  queryAsOwner<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
  close(): Promise<void>;
  /** Connections of the pool (PostgreSQL), for the metrics; absent on PGlite (one connection). */
  poolStats?(): { total: number; idle: number; waiting: number };
  /**
   * LISTEN on `channel`: `onNotify` gets each committed NOTIFY's payload (this process's own included).
   * PostgreSQL: one dedicated connection for all channels, reconnected after a loss, when `onNotify` gets
   * `undefined` (notifications may have been missed: drop what they would have invalidated). Resolves
   * once listening; the returned function stops.
   */
  listen?(channel: string, onNotify: (payload: string | undefined) => void): Promise<() => Promise<void>>;
  /**
   * Ends the statement running now, without waiting for it (shutdown after its grace period). PGlite:
   * the worker thread is terminated — what a crash does: the open transaction is lost, every committed
   * one stays — and a new one starts on the next call. Absent where the statement timeout suffices.
   */
  interrupt?(): Promise<void>;
  /**
   * Present on the platform's Db (composition root): withTenant and readAsTenant run through it, so the
   * tenant's database-time quota (statement timeout, concurrent operations) applies to all tenant work.
   */
  readonly tenantGate?: TenantGate;
}

/**
 * Thrown by a transaction whose `fn` resolved although one of its statements failed (`fn` caught that
 * failure): the database rolled the transaction back, so none of it was kept and the result must not be
 * reported as written. Both drivers check this at COMMIT. Its presence is the one case where a caller
 * knows for certain that nothing of the transaction was kept (write combining redoes the work, combine.ts).
 */
export class TransactionRolledBack extends Error {
  constructor() {
    super('the transaction was rolled back: one of its statements failed');
    this.name = 'TransactionRolledBack';
  }
}
