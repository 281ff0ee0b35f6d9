/**
 * Database time as a tenant quota (issue #25): the tenant gate that every `withTenant` / `readAsTenant`
 * runs through once the composition root has attached it to the platform's Db (`withTenantGate`).
 *
 * - Statement timeout (quota `dbStatementTimeoutMs`): passed down as `WorkLimits`; scope.ts sets it as
 *   `statement_timeout` local to the transaction (PostgreSQL), the PGlite driver enforces it with its
 *   watchdog. A statement over it fails with SQLSTATE 57014, which this gate turns into
 *   `DB_STATEMENT_TIMEOUT` (HTTP 429; MLflow routes `RESOURCE_EXHAUSTED`) naming the limit.
 * - Concurrent operations (quota `dbMaxConcurrentOperations`): at most that many of the tenant's
 *   transactions or scoped reads are admitted at once in this process; one more waits up to `queueWaitMs`
 *   for a slot (FIFO), then fails with `DB_CONCURRENCY_LIMITED` (429, retryable). Per process: with R
 *   replicas a tenant may have R × the cap in flight (docs/isolation-tiers.md, "Database time").
 * - Fair slots (searches only, `heavy` work): the quota caps a tenant alone, but two tenants' searches
 *   compete for the database's CPUs, and a tenant running two searches at once on a 2-CPU host takes
 *   both, whatever its cap. While more than one tenant is busy (an operation in flight, or one ended
 *   within `busyWindowMs`), a tenant's searches in flight are held to its share of `fairSlots` (the
 *   database's CPUs: floor(fairSlots / busy tenants), at least 1); one more waits, in order, until one of
 *   its own searches ends. A tenant alone is not held (work-conserving), and ordinary operations (a
 *   runs/get, a log-batch) never wait here: they are short, and holding them would cost latency, not
 *   share CPU. `fairSlots` 0 turns it off. Per process, like the cap.
 * - Database time per second (quota `dbTimeMsPerSecond`, 0 = unlimited): a budget of that many ms of
 *   database time per second, one second of it as the burst. Each operation is charged its wall time when it
 *   ends (the same time `usage` sums, so it may go into debt); an operation that starts while the budget is
 *   in debt waits, before it takes a concurrency slot, until the debt is repaid at the rate — or, when that
 *   would take longer than `queueWaitMs`, fails at once with `DB_TIME_LIMITED` (429, `Retry-After`). An
 *   operator's cap for a tenant whose searches should not take the database's CPUs from the others even
 *   when its fair share would give them (fair slots are work-conserving; this is not). Per process, split
 *   over the live replicas by the caller, like the request rate.
 * - Usage: per-tenant database time (wall time from admission to the end of the operation, waits for the
 *   embedded database's connection included), operations, timeouts and refusals, in memory, read with
 *   `usage()` by the metrics registry.
 *
 * Limits are read from tenant_quotas (across tenants, so not through this gate) and cached for
 * `cacheTtlMs` (default 1 s), then read again in the background while the cached ones still answer: a
 * change made on another replica holds from the first operations after that read (about a second);
 * `invalidate` applies one made in this process to the next operation.
 */
import { AppError } from '../core/errors.ts';
import type { Db, TenantGate, WorkLimits } from './db-types.ts';
import { readAsSystem } from './scope.ts';

export interface DbTimeLimits {
  statementTimeoutMs: number;
  maxConcurrentOperations: number;
  /** ms of database time per second; 0 = unlimited. */
  timeMsPerSecond: number;
}

export interface DbTimeUsage {
  tenantId: string;
  /** Seconds the tenant's admitted database operations took, summed. */
  dbSeconds: number;
  operations: number;
  statementTimeouts: number;
  concurrencyRefusals: number;
  /** Operations admitted now. */
  active: number;
  /** Searches that waited for the tenant's fair share of the database's CPUs (fair slots). */
  fairShareWaits: number;
  /** Operations that waited for the tenant's database time per second to be repaid, and the seconds they waited. */
  timeRateWaits: number;
  timeRateWaitSeconds: number;
  /** Operations refused because that wait would have been longer than the queue wait. */
  timeRateRefusals: number;
}

export interface DbTimeQuotaGate extends TenantGate {
  /** Drops the cached limits of `tenantId` (after a quota change in this process). */
  invalidate(tenantId: string): void;
  /** A snapshot of every tenant's counters since start (for the metrics registry). */
  usage(): DbTimeUsage[];
}

/** The limits of a tenant with no quota row (being created or deleted): the defaults of new tenants. */
export const defaultDbTimeLimits: DbTimeLimits = { statementTimeoutMs: 10_000, maxConcurrentOperations: 8, timeMsPerSecond: 0 };

export const dbTimeErrors = {
  statementTimeout: (ms: number, cause: unknown) =>
    new AppError('DB_STATEMENT_TIMEOUT', `a database statement ran longer than your tenant's database statement timeout (dbStatementTimeoutMs = ${ms} ms) and was cancelled; narrow the query (filters, smaller pages) or ask a platform admin to raise the quota`, {
      cause, details: { limit: 'dbStatementTimeoutMs', value: ms },
    }),
  concurrency: (max: number) =>
    new AppError('DB_CONCURRENCY_LIMITED', `your tenant already has ${max} database operations running (dbMaxConcurrentOperations = ${max}); retry shortly`, {
      details: { limit: 'dbMaxConcurrentOperations', value: max },
    }),
  timeRate: (msPerSecond: number, waitMs: number) => {
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new AppError('DB_TIME_LIMITED', `your tenant has used its database time (dbTimeMsPerSecond = ${msPerSecond} ms per second) ahead by ${(waitMs / 1000).toFixed(1)} s; retry after ${retryAfterSeconds} s, or ask a platform admin to raise the quota`, {
      details: { limit: 'dbTimeMsPerSecond', value: msPerSecond, retryAfterSeconds },
    });
  },
};

/**
 * The database-time budget of one tenant (ms, at most `rate`: one second's worth) at `now`, from what it was
 * at `at`, refilled at `rate` ms per second. Pure; the gate keeps `credit` and `at` per tenant.
 */
export const refilledCredit = (credit: number, at: number, now: number, rate: number): number =>
  Math.min(rate, credit + (Math.max(0, now - at) * rate) / 1000);

/** How long (ms) an operation arriving at a budget of `credit` waits at `rate`: until the debt is repaid. */
export const creditWaitMs = (credit: number, rate: number): number => (credit >= 0 || rate <= 0 ? 0 : (-credit * 1000) / rate);

/** SQLSTATE 57014 from a statement timeout (PostgreSQL) or the PGlite watchdog, not from an admin's cancel. */
export const isStatementTimeout = (error: unknown): boolean => {
  const candidate = error as { code?: unknown; message?: unknown };
  return candidate.code === '57014' && typeof candidate.message === 'string' && candidate.message.includes('statement timeout');
};

interface TenantState {
  limits: DbTimeLimits | undefined;
  loadedAt: number;
  loading: Promise<DbTimeLimits> | undefined;
  active: number;
  waiters: Array<{ admit: () => void }>;
  /** Searches in flight, and those waiting for the fair share (fair slots). */
  heavyActive: number;
  heavyWaiters: Array<() => void>;
  /** When the tenant's last operation ended (the gate's clock); busy while active or within busyWindowMs. */
  lastEndedAt: number;
  /** The database-time budget (ms; negative: in debt) as of `creditAt` (dbTimeMsPerSecond). */
  credit: number | undefined;
  creditAt: number;
  usage: DbTimeUsage;
}

export interface DbTimeQuotaGateOptions {
  /** Reads a tenant's limits; undefined when it has no quota row. Must not go through this gate. */
  loadLimits: (tenantId: string) => Promise<DbTimeLimits | undefined>;
  cacheTtlMs?: number;
  /** How long an operation over the concurrency cap waits for a slot before it is refused. Default 30 s (config dbQueueWaitMs). */
  queueWaitMs?: number;
  /** The database's CPUs that busy tenants' searches share (config dbFairSlots); 0 = off. Default 0. */
  fairSlots?: number;
  /** How long after its last operation a tenant still counts as busy. Default 1000 ms. */
  busyWindowMs?: number;
  /** Time in ms (default performance.now) and a wait of `ms` (default a timer): tests drive both. */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const createDbTimeQuotaGate = (options: DbTimeQuotaGateOptions): DbTimeQuotaGate => {
  const cacheTtlMs = options.cacheTtlMs ?? 1000;
  const queueWaitMs = options.queueWaitMs ?? 30_000;
  const fairSlots = options.fairSlots ?? 0;
  const busyWindowMs = options.busyWindowMs ?? 1000;
  const clock = options.clock ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const tenants = new Map<string, TenantState>();

  const stateOf = (tenantId: string): TenantState => {
    let state = tenants.get(tenantId);
    if (state === undefined) {
      state = {
        limits: undefined, loadedAt: 0, loading: undefined, active: 0, waiters: [], heavyActive: 0, heavyWaiters: [], lastEndedAt: -Infinity,
        credit: undefined, creditAt: 0,
        usage: { tenantId, dbSeconds: 0, operations: 0, statementTimeouts: 0, concurrencyRefusals: 0, active: 0, fairShareWaits: 0, timeRateWaits: 0, timeRateWaitSeconds: 0, timeRateRefusals: 0 },
      };
      tenants.set(tenantId, state);
    }
    return state;
  };

  const load = (state: TenantState, tenantId: string): Promise<DbTimeLimits> => {
    state.loading ??= options.loadLimits(tenantId).then(
      (limits) => {
        state.limits = limits ?? defaultDbTimeLimits;
        state.loadedAt = clock();
        state.loading = undefined;
        return state.limits;
      },
      (error: unknown) => {
        state.loading = undefined;
        throw error;
      },
    );
    return state.loading;
  };

  /**
   * The tenant's limits. Once known, an expired entry is answered from the cache while it is read again in
   * the background: on the embedded database that read waits for the one connection like any other, and
   * the tenant's own operation should not wait for it as well.
   */
  const limitsOf = async (state: TenantState, tenantId: string): Promise<DbTimeLimits> => {
    if (state.limits === undefined) return load(state, tenantId);
    if (clock() - state.loadedAt >= cacheTtlMs) load(state, tenantId).catch(() => {});
    return state.limits;
  };

  /** Admits one operation, waiting up to queueWaitMs for a slot; refuses past that. */
  const admit = async (state: TenantState, max: number): Promise<void> => {
    if (state.active < max) {
      state.active += 1;
      return;
    }
    if (queueWaitMs <= 0) throw dbTimeErrors.concurrency(max);
    await new Promise<void>((resolve, reject) => {
      const waiter = { admit: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        state.waiters.splice(state.waiters.indexOf(waiter), 1);
        reject(dbTimeErrors.concurrency(max));
      }, queueWaitMs);
      state.waiters.push(waiter);
    });
  };

  /**
   * Tenants busy now (an operation in flight or waiting, or one ended within busyWindowMs), counted up to
   * `enough`: past fairSlots tenants every share is 1, so the walk over every tenant stops there.
   */
  const busyTenants = (now: number, enough: number): number => {
    let busy = 0;
    for (const state of tenants.values()) {
      if (state.active > 0 || state.heavyActive > 0 || now - state.lastEndedAt < busyWindowMs) busy += 1;
      if (busy >= enough) break;
    }
    return busy;
  };

  /** The tenant's share of the fair slots now; Infinity when it is the only busy tenant (or fair slots are off). */
  const fairShare = (): number => {
    if (fairSlots <= 0) return Infinity;
    const busy = busyTenants(clock(), Math.max(2, fairSlots + 1));
    return busy <= 1 ? Infinity : Math.max(1, Math.floor(fairSlots / busy));
  };

  /**
   * Admits one search within the tenant's fair share, waiting (in order) for one of its own searches to
   * end while it is over. Counts the search in `heavyActive` before it may wait, so the tenant is busy.
   */
  const enterHeavy = async (state: TenantState): Promise<void> => {
    state.heavyActive += 1;
    if (state.heavyWaiters.length === 0 && state.heavyActive - 1 < fairShare()) return;
    state.usage.fairShareWaits += 1;
    // Waits until `heavyActive - waiting` (the searches running) is under the share again.
    await new Promise<void>((resolve) => {
      state.heavyWaiters.push(resolve);
    });
  };

  const leaveHeavy = (state: TenantState): void => {
    state.heavyActive -= 1;
    // Wake waiting searches while the running ones are under the share (re-read: tenants come and go).
    const share = fairShare();
    while (state.heavyWaiters.length > 0 && state.heavyActive - state.heavyWaiters.length < share) {
      (state.heavyWaiters.shift() as () => void)();
    }
  };

  /** The tenant's budget now (a full one the first time, or after the quota was off). */
  const creditNow = (state: TenantState, rate: number, now: number): number => {
    const credit = state.credit === undefined ? rate : refilledCredit(state.credit, state.creditAt, now, rate);
    state.credit = credit;
    state.creditAt = now;
    return credit;
  };

  /**
   * Waits while the tenant's database-time budget is in debt (others' operations ending meanwhile may add to
   * it, so it looks again after each wait); refuses at once when the wait would pass queueWaitMs in all.
   */
  const awaitTimeBudget = async (state: TenantState, rate: number): Promise<void> => {
    const started = clock();
    let waited = false;
    try {
      for (;;) {
        const now = clock();
        const wait = creditWaitMs(creditNow(state, rate, now), rate);
        if (wait <= 0) return;
        if (now - started + wait > queueWaitMs) {
          state.usage.timeRateRefusals += 1;
          throw dbTimeErrors.timeRate(rate, wait);
        }
        if (!waited) state.usage.timeRateWaits += 1;
        waited = true;
        await sleep(Math.ceil(wait));
      }
    } finally {
      if (waited) state.usage.timeRateWaitSeconds += (clock() - started) / 1000;
    }
  };

  const leave = (state: TenantState): void => {
    // The slot passes straight to the oldest waiter (active stays the same), else it is freed.
    const next = state.waiters.shift();
    if (next !== undefined) next.admit();
    else state.active -= 1;
  };

  return {
    async run(tenantId, work, hints) {
      const state = stateOf(tenantId);
      const limits = await limitsOf(state, tenantId);
      const rate = limits.timeMsPerSecond;
      if (rate > 0) await awaitTimeBudget(state, rate);
      else state.credit = undefined;
      const heavy = hints?.heavy === true && fairSlots > 0;
      if (heavy) await enterHeavy(state);
      try {
        await admit(state, limits.maxConcurrentOperations);
      } catch (error) {
        state.usage.concurrencyRefusals += 1;
        if (heavy) leaveHeavy(state);
        throw error;
      }
      const started = clock();
      const workLimits: WorkLimits = { owner: tenantId, statementTimeoutMs: limits.statementTimeoutMs };
      try {
        return await work(workLimits);
      } catch (error) {
        if (isStatementTimeout(error)) {
          state.usage.statementTimeouts += 1;
          throw dbTimeErrors.statementTimeout(limits.statementTimeoutMs, error);
        }
        throw error;
      } finally {
        const ended = clock();
        state.usage.dbSeconds += (ended - started) / 1000;
        state.usage.operations += 1;
        if (rate > 0) state.credit = creditNow(state, rate, ended) - (ended - started);
        state.lastEndedAt = ended;
        leave(state);
        if (heavy) leaveHeavy(state);
      }
    },
    invalidate(tenantId) {
      const state = tenants.get(tenantId);
      if (state !== undefined) {
        state.limits = undefined;
        state.loading = undefined;
      }
    },
    usage() {
      return [...tenants.values()].map((state) => ({ ...state.usage, active: state.active }));
    },
  };
};

/**
 * The Db the platform hands its services: `db` itself, with `gate` attached as its tenantGate, so every
 * withTenant / readAsTenant on it runs under the tenant's database-time quota.
 */
export const withTenantGate = (db: Db, gate: TenantGate): Db => ({
  kind: db.kind,
  transaction: (prelude, fn, options) => db.transaction(prelude, fn, options),
  scopedRead: <Row>(scope: string, sql: string, params?: readonly unknown[], limits?: WorkLimits) => db.scopedRead<Row>(scope, sql, params, limits),
  execAsOwner: (sql) => db.execAsOwner(sql),
  queryAsOwner: <Row>(sql: string, params?: readonly unknown[]) => db.queryAsOwner<Row>(sql, params),
  close: () => db.close(),
  interrupt: async () => db.interrupt?.(),
  tenantGate: gate,
});

/** Reads a tenant's database-time limits from its quota row, across tenants (not through the gate). */
export const loadDbTimeLimits = async (db: Db, tenantId: string): Promise<DbTimeLimits | undefined> => {
  const { rows } = await readAsSystem<{ db_statement_timeout_ms: number; db_max_concurrent_operations: number; db_time_ms_per_second: number }>(
    db,
    'SELECT db_statement_timeout_ms, db_max_concurrent_operations, db_time_ms_per_second FROM tenant_quotas WHERE tenant_id = $1',
    [tenantId],
  );
  const row = rows[0];
  return row === undefined ? undefined : {
    statementTimeoutMs: Number(row.db_statement_timeout_ms),
    maxConcurrentOperations: Number(row.db_max_concurrent_operations),
    timeMsPerSecond: Number(row.db_time_ms_per_second),
  };
};
