/**
 * Keeps the planner statistics of the search tables fresh. Neither PGlite nor the PostgreSQL of these
 * machines runs autovacuum, and without statistics PostgreSQL plans a metric filter at 100k runs as a
 * nested loop over every pair of rows (measured: minutes, against milliseconds after ANALYZE; see
 * docs/tracking.md "Search at scale"). Searches call {@link StatisticsKeeper.refreshIfDue} first: at most
 * once per interval it asks the database function `tracking_refresh_statistics()` (migration 0014, owned by
 * the schema owner) to ANALYZE the search tables whose rows changed by more than 50 + 10 % since their last
 * analyze — autovacuum's default rule. The check is one cheap statement; an ANALYZE samples at most
 * 30,000 rows per table (default_statistics_target 100), so its cost is bounded whatever the table size.
 *
 * This is maintenance, not a data path: it runs through withSystem (the function needs no tenant and
 * reads no rows for the caller) and searches themselves stay in their tenant's withTenant scope.
 */
import type { Db } from '../db/index.ts';
import { withSystem } from '../db/index.ts';

export interface StatisticsKeeper {
  /**
   * Refreshes the statistics if the interval has passed since the last check (concurrent callers share one
   * refresh and wait for it, so a search never plans against statistics known to be stale). Never throws:
   * a failed refresh leaves the statistics as they were and is retried after the interval.
   */
  refreshIfDue(): Promise<void>;
  /** Checks now, whatever the interval (tests, and after a bulk load). Returns the tables analyzed. */
  refreshNow(): Promise<string[]>;
}

export const createStatisticsKeeper = (db: Db, options: { intervalMs?: number } = {}): StatisticsKeeper => {
  const intervalMs = options.intervalMs ?? 10_000;
  let lastCheck = Number.NEGATIVE_INFINITY;
  let running: Promise<string[]> | undefined;

  const refreshNow = (): Promise<string[]> => {
    running ??= withSystem(db, async (tx) => {
      const { rows } = await tx.query<{ tables: string[] | null }>('SELECT tracking_refresh_statistics() AS tables');
      return rows[0]?.tables ?? [];
    }).finally(() => {
      lastCheck = performance.now();
      running = undefined;
    });
    return running;
  };

  return {
    async refreshIfDue() {
      if (running === undefined && performance.now() - lastCheck < intervalMs) return;
      await refreshNow().catch(() => undefined);
    },
    refreshNow,
  };
};

const keepers = new WeakMap<Db, StatisticsKeeper>();

/**
 * The one keeper of `db` at the default interval, shared by every service that searches it (runs,
 * registry, logged models): the database function checks all the search tables at once, so one check per
 * interval serves them all, and two services never run it side by side.
 */
export const statisticsKeeperOf = (db: Db): StatisticsKeeper => {
  let keeper = keepers.get(db);
  if (keeper === undefined) {
    keeper = createStatisticsKeeper(db);
    keepers.set(db, keeper);
  }
  return keeper;
};
