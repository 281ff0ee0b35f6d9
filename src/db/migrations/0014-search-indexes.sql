-- Run search that stays fast at a million runs (issue 20). Indexes for the plans that
-- src/tracking/search-runs-sql.ts writes, and a way for the application to keep planner statistics fresh.
--
-- Every index leads with tenant_id: row-level security adds `tenant_id = <the scope's tenant>` to every
-- query, and that condition is an index condition here, so one tenant's search walks only its own part of
-- each index (another tenant's million runs are not in its range).
--
-- - runs, default order (start_time DESC, then run id): a search of one experiment reads the first rows of
--   its range and stops at the page size. The id makes the order total, which keyset pages need.
-- - run_latest_metrics / run_params / run_tags by (key, value): an `order_by` on a metric, param or tag walks
--   its key's range in value order (and stops at the page size); a filter on one may start from the
--   matching range instead of from the runs. Param and tag values may be 6,000 / 5,000 characters, more
--   than a B-tree entry can hold (≈ 2,700 bytes), so those two index `value_prefix`, the first 200
--   characters, kept by PostgreSQL as a stored generated column; the compiled SQL compares and orders by
--   it first, then by the whole value. A column rather than an expression index on `left(value, 200)`:
--   under row-level security the planner may only use conditions built from leakproof functions as
--   index conditions, and `left()` is not leakproof (measured: the expression index was ignored and
--   `tags.t = 'x42'` read all of run_tags). Comparisons of text are leakproof. The column's collation is
--   ucs_basic (code point order, the "C" order of UTF-8) so that a LIKE prefix is a range of it and the
--   order is the same on every database whatever its default collation.
CREATE INDEX runs_search_idx ON runs (tenant_id, experiment_id, start_time DESC, id);
DROP INDEX runs_experiment_idx;
CREATE INDEX run_latest_metrics_search_idx ON run_latest_metrics (tenant_id, key, value, run_id);
ALTER TABLE run_params ADD COLUMN value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED;
ALTER TABLE run_tags ADD COLUMN value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED;
CREATE INDEX run_params_search_idx ON run_params (tenant_id, key, value_prefix, run_id);
CREATE INDEX run_tags_search_idx ON run_tags (tenant_id, key, value_prefix, run_id);

-- Planner statistics. Neither PGlite nor the PostgreSQL of these machines runs autovacuum, and tables that
-- were never ANALYZEd give the planner no idea how selective a filter is (measured: 36-71 s instead of
-- 0.1 s for one search at 10k runs). ANALYZE needs the table's owner, which the application is not, so
-- this function (owned by the schema owner, SECURITY DEFINER) analyzes the search tables that were never
-- analyzed, grew by a fifth since, or whose rows changed by more than autovacuum's default threshold
-- (50 rows + 10 %) since their last analyze, and returns their names. It takes no table name from its caller and reads no rows for it: statistics are
-- shown by pg_stats only to roles that RLS does not restrict on the table, so they reveal nothing to the
-- application role. Only the system role may call it (the platform's statistics keeper).
CREATE FUNCTION tracking_refresh_statistics() RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  t record;
  done text[] := '{}';
BEGIN
  FOR t IN
    SELECT c.relname FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND c.relname IN ('runs', 'run_latest_metrics', 'run_params', 'run_tags', 'experiments', 'experiment_tags',
                         'registered_models', 'registered_model_tags', 'model_versions', 'model_version_tags', 'run_inputs')
       AND (
         -- never analyzed, and not empty
         (c.reltuples < 0 AND pg_relation_size(c.oid) > 0)
         -- grew by more than 20 % (+ 8 pages) since the last analyze: works where the activity counters
         -- below lag (PostgreSQL flushes them up to 10 s late) or are never flushed (PGlite)
         OR pg_relation_size(c.oid) / current_setting('block_size')::bigint > 1.2 * c.relpages + 8
         -- autovacuum's rule on the activity counters
         OR coalesce(s.n_mod_since_analyze, 0) > 50 + 0.1 * greatest(c.reltuples, 0))
     ORDER BY c.relname
  LOOP
    EXECUTE format('ANALYZE %I', t.relname);
    done := done || t.relname::text;
  END LOOP;
  RETURN done;
END
$fn$;
REVOKE ALL ON FUNCTION tracking_refresh_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracking_refresh_statistics() TO bulkhead_system;
