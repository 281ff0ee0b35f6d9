-- runs/search in one experiment of a tenant that has others (issue 20 item 1).
--
-- 0014's run_latest_metrics_search_idx is (tenant_id, key, value, run_id): the tenant's values of a key in
-- one range, whatever the run's experiment. A search in a small experiment ordered by a metric walked it in
-- value order and dropped the rows of the tenant's other experiments one by one, and a metric filter read
-- its range across all of them. Measured through the API on PostgreSQL, a tenant with experiments of 200,000,
-- 20,000 and 2,000 runs, 100 rows: `order_by metrics.m0 DESC` in the 2,000-run experiment 73.5 ms (11.1 ms in
-- the 200,000-run one), `params.a = '3'` + `order_by metrics.m0` 668 ms: the smaller the experiment, the more
-- of the others' rows a page read.
--
-- The metric rows now carry their run's experiment and start time, as 0040's param and tag rows do (both
-- fixed for a run's life, copied from the run), and the index leads with the experiment after the key: a
-- search's walk or range covers its own experiment's rows only. It replaces 0014's index of the same name,
-- so the rows a run writes keep the same number of index entries. The search statements name the
-- experiment (`run_experiment_id = r.experiment_id`, src/tracking/run-search.ts and search-filter.ts).
-- The start time is in no index yet: it is there because 0040's trigger function fills both columns, and
-- it is what a metric order's ties would need to become index ranges (docs/tracking.md, "Limits").
ALTER TABLE run_latest_metrics
  ADD COLUMN run_experiment_id bigint,
  ADD COLUMN run_start_time bigint;

-- The platform's metric statement copies the two columns from the run it already reads (INSERT_METRICS_SQL);
-- 0040's trigger function fills them for any other writer.
CREATE TRIGGER run_latest_metrics_from_run BEFORE INSERT ON run_latest_metrics FOR EACH ROW
  WHEN (NEW.run_experiment_id IS NULL OR NEW.run_start_time IS NULL) EXECUTE FUNCTION run_key_row_from_run();

UPDATE run_latest_metrics m SET run_experiment_id = r.experiment_id, run_start_time = r.start_time
  FROM runs r WHERE r.tenant_id = m.tenant_id AND r.id = m.run_id;

DROP INDEX run_latest_metrics_search_idx;
CREATE INDEX run_latest_metrics_search_idx ON run_latest_metrics (tenant_id, key, run_experiment_id, value, run_id);

-- The same for a param or tag filter (`tags.t = 'x42'`), and an order whose first key is a param or tag and
-- that has more keys (0040's order indexes serve an order by that key alone): 0014's indexes were the
-- tenant's values of the key, whatever the experiment. Measured on PostgreSQL, an experiment of 1,000 runs
-- beside one of 100,000: `order_by params.a, metrics.m0 DESC` read 40,810 rows for a page of 100, and
-- `tags.t = 'x42'` 2,020 (the big experiment's matches, then each run to drop it).
DROP INDEX run_params_search_idx;
CREATE INDEX run_params_search_idx ON run_params (tenant_id, key, run_experiment_id, value_prefix, run_id);
DROP INDEX run_tags_search_idx;
CREATE INDEX run_tags_search_idx ON run_tags (tenant_id, key, run_experiment_id, value_prefix, run_id);
