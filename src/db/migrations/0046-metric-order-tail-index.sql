-- runs/search ordered by a metric whose values tie (issue 20 item 1): the console's first click on a metric
-- column is `order_by metrics.k DESC`, and a metric logged with few distinct values (an epoch count, an
-- accuracy over a small evaluation set, a setting logged as a metric) has groups of thousands of runs
-- sharing one value. 0043's index ordered a group by run id, and MLflow orders it by start time (descending)
-- then run id, so a page read its whole first group through the runs and sorted it: linear in the
-- experiment's runs when one value is shared by many.
--
-- The metric rows carry their run's start time (0043); the index now holds it after the value, in the
-- descending order's direction: `value DESC, run_start_time DESC, run_id` is exactly MLflow's order for
-- `metrics.k DESC`, and for the NaN values (segment 1: start time, then run id, in both directions).
-- Ascending walks it backwards and sorts each group of equal values by start time (src/tracking/run-search.ts).
-- It replaces 0043's index of the same name: same entry count, 8 bytes wider.
DROP INDEX run_latest_metrics_search_idx;
CREATE INDEX run_latest_metrics_search_idx ON run_latest_metrics (tenant_id, key, run_experiment_id, value DESC, run_start_time DESC, run_id);
