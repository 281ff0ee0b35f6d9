-- The other searches at scale (issue 20 item 2): experiments/search, registered-models/search and
-- model-versions/search as keyset pages (src/tracking/keyset-page.ts), metrics/get-history pages and
-- get-history-bulk-interval sampling on a million-point series.
--
-- Every index leads with tenant_id, and every query these serve states `tenant_id = $tenant` itself: the
-- share policies (0021 on model versions, 0022 on the run tables) are OR-ed with tenant_isolation, so
-- row-level security no longer hands the planner a plain tenant condition (it still filters every row).
-- Each index's columns are the order the search compiler (search-filter.ts) writes for that `order_by`,
-- its tie-breakers included, so a page reads its rows in order from the index and stops after
-- max_results + 1; the other direction of a mixed order is the same index with an incremental sort over
-- the (tiny) groups of equal times.
--
-- - experiments: the default order (creation_time DESC, id ASC; backwards: creation_time ASC, id DESC)
--   and last_update_time DESC, id DESC. By name: the UNIQUE (tenant_id, name) index; by id: the key.
-- - registered models: last_updated_timestamp / creation_timestamp DESC, then name. By name: the key.
-- - model versions: the default order (last_updated DESC, name, version DESC), the same by creation
--   time, and `run_id = '…'` (MLflow's client looks a run's registered versions up that way).
-- - run_metrics: (tenant_id, run_id, key, step) replaces 0006's (run_id, key), so that a get-history page
--   starts at its token's step and bulk-interval reads only its interval's steps. The cost moves back to
--   ingestion (0006 measured ≈ 30 % more history-insert time for this shape of index); a log-batch still
--   maintains one index on run_metrics.
CREATE INDEX experiments_creation_idx ON experiments (tenant_id, creation_time DESC, id);
CREATE INDEX experiments_updated_idx ON experiments (tenant_id, last_update_time DESC, id DESC);
CREATE INDEX registered_models_updated_idx ON registered_models (tenant_id, last_updated_time DESC, name);
CREATE INDEX registered_models_creation_idx ON registered_models (tenant_id, creation_time DESC, name);
CREATE INDEX model_versions_updated_idx ON model_versions (tenant_id, last_updated_time DESC, name, version DESC);
CREATE INDEX model_versions_creation_idx ON model_versions (tenant_id, creation_time DESC, name, version DESC);
CREATE INDEX model_versions_run_idx ON model_versions (tenant_id, run_id);
CREATE INDEX run_metrics_step_idx ON run_metrics (tenant_id, run_id, key, step, timestamp, value);
DROP INDEX run_metrics_series_idx;
