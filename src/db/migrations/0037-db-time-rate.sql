-- Database time per second as a tenant quota (issue #25): on average at most this many milliseconds of
-- database time (the wall time of the tenant's admitted operations, summed, as bulkhead_tenant_db_seconds_total
-- counts it) per second, with one second of it as the burst; an operation that finds the budget spent waits
-- until it is repaid, or is refused (429 DB_TIME_LIMITED) when that would take longer than the queue wait.
-- 0 = unlimited, the default for existing and new tenants (src/db/db-time-quota.ts).
--
-- Compatible one version back: the previous version never names the column and its inserts get the default.
ALTER TABLE tenant_quotas
  ADD COLUMN db_time_ms_per_second integer NOT NULL DEFAULT 0
    CHECK (db_time_ms_per_second BETWEEN 0 AND 100000000);
