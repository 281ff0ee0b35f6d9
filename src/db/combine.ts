import type { Db, Queryable } from './db-types.ts';
import { TransactionRolledBack } from './db-types.ts';
import { withTenant } from './scope.ts';

/**
 * Write combining (group commit in the platform): small commit-ahead writes of one tenant that arrive
 * while earlier ones of that tenant are still in the database share one transaction — one BEGIN + scope,
 * one COMMIT and one WAL flush for all of them, on one pooled connection — instead of one each. Measured
 * on PostgreSQL with the ingest path's statements (bench/ingest-statements.ts): eight runs created and
 * logged to in two transactions cost the backend 575–825 µs of CPU per run, against 900–975 µs with two
 * transactions per run (docs/benchmarks.md).
 *
 * - Only one tenant's work shares a transaction (its scope: row-level security as that tenant, its
 *   statement timeout, its database-time quota, which counts the shared transaction as one operation).
 *   Another tenant's writes never wait in this tenant's queue.
 * - Nothing waits for company: a write starts at once while fewer than MAX_IN_FLIGHT (2) of the tenant's
 *   combined transactions are in the database; otherwise it waits for the next one to end and goes with
 *   everything that queued meanwhile (at most MAX_UNITS, 32). With 8 clients creating and logging runs
 *   (bench/tracking-ingest.ts), two at a time and one at a time did the same runs/s (788–814 against
 *   768–828): one at a time made bigger transactions (≈ 3.9 writes against ≈ 2.1) and spent ≈ 8 % less CPU
 *   per run, but left the machine idler; two keep a second lane open while one transaction is slow.
 * - Each unit is a commit-ahead `fn` (TransactionOptions.commitAhead): it issues its statements before
 *   its first await and fails only by an SQL error. Its answer is reported only once the shared COMMIT is
 *   answered, so an acknowledged write is durable.
 * - All or nothing per unit, as alone: when a statement of one unit fails, the database rolls the whole
 *   shared transaction back (the driver then reports TransactionRolledBack: nothing was kept) and every
 *   unit is run again in a transaction of its own, so only the failing one fails. Any other failure (a
 *   connection lost while committing: kept or not is unknown) is every unit's answer, as it would be
 *   alone; nothing is run twice.
 * - Units are issued in `order` (a run id), so two shared transactions lock the rows of the runs they
 *   share in the same order and cannot deadlock each other.
 */
/** A tenant's combined transactions in the database at once. */
const MAX_IN_FLIGHT = 2;
/** Writes per shared transaction, at most. */
const MAX_UNITS = 32;

interface Unit {
  fn: (tx: Queryable) => Promise<unknown>;
  order: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface TenantQueue {
  inFlight: number;
  waiting: Unit[];
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const queues = new WeakMap<Db, Map<string, TenantQueue>>();

const alone = (db: Db, tenantId: string, unit: Unit): Promise<void> =>
  withTenant(db, tenantId, unit.fn, { commitAhead: true }).then(unit.resolve, unit.reject);

const runShared = async (db: Db, tenantId: string, units: readonly Unit[]): Promise<void> => {
  if (units.length === 1) {
    await alone(db, tenantId, units[0] as Unit);
    return;
  }
  // In `order`, stable (arrival order among equal ones, e.g. writes to one run).
  const ordered = [...units].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  let outcomes: Outcome[];
  try {
    // The shared fn never fails on a unit's behalf: each unit's answer is kept apart. Whether the
    // transaction was kept is the driver's to say (it checks COMMIT's answer).
    outcomes = await withTenant(db, tenantId, (tx) => Promise.all(ordered.map((unit) => {
      let pending: Promise<unknown>;
      try {
        pending = unit.fn(tx);
      } catch (error) {
        pending = Promise.reject(error);
      }
      return pending.then((value): Outcome => ({ ok: true, value }), (error: unknown): Outcome => ({ ok: false, error }));
    })), { commitAhead: true });
  } catch (error) {
    if (!(error instanceof TransactionRolledBack)) {
      for (const unit of units) unit.reject(error);
      return;
    }
    // A unit's statement failed and nothing was kept: each unit again, alone.
    await Promise.all(units.map((unit) => alone(db, tenantId, unit)));
    return;
  }
  // Committed: every unit's own answer (a unit that failed after its statements succeeded was kept, as alone).
  for (const [i, unit] of ordered.entries()) {
    const outcome = outcomes[i] as Outcome;
    if (outcome.ok) unit.resolve(outcome.value);
    else unit.reject(outcome.error);
  }
};

const pump = (db: Db, tenantId: string, tenants: Map<string, TenantQueue>, queue: TenantQueue): void => {
  while (queue.inFlight < MAX_IN_FLIGHT && queue.waiting.length > 0) {
    const units = queue.waiting.splice(0, MAX_UNITS);
    queue.inFlight += 1;
    void runShared(db, tenantId, units).finally(() => {
      queue.inFlight -= 1;
      if (queue.inFlight === 0 && queue.waiting.length === 0) tenants.delete(tenantId);
      else pump(db, tenantId, tenants, queue);
    });
  }
};

/**
 * Runs commit-ahead `fn` as tenant `tenantId`, in a transaction it may share with the tenant's other
 * combined writes (see above). Resolves with `fn`'s answer once that transaction committed. `order` places
 * it among the shared transaction's writes: the key of the rows it locks (a run id).
 */
export const withTenantCombined = <T>(db: Db, tenantId: string, order: string, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    let tenants = queues.get(db);
    if (tenants === undefined) {
      tenants = new Map();
      queues.set(db, tenants);
    }
    let queue = tenants.get(tenantId);
    if (queue === undefined) {
      queue = { inFlight: 0, waiting: [] };
      tenants.set(tenantId, queue);
    }
    queue.waiting.push({ fn, order, resolve: resolve as (value: unknown) => void, reject });
    pump(db, tenantId, tenants, queue);
  });
