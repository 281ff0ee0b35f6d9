-- runs/search ordered by end time or by name (issue 20 item 1): `order_by attributes.end_time DESC` (the
-- console's most recently finished runs) and `order_by attributes.run_name` sorted every run of the
-- experiment (no index): ≈ 51 and 54 ms for 100 rows of a 100k-run experiment, ten times that at 1M.
--
-- End time is null while a run is running, and MLflow puts nulls last in both directions, so the order is
-- two segments (src/tracking/run-search.ts): the runs with an end time, walked in runs_end_time_idx order
-- (descending exactly, ascending backwards with the rare ties sorted), then those without, in MLflow's tail
-- order (start_time DESC, run id): runs_running_idx. Two partial indexes, not one: `end_time IS NULL` is
-- not an equality to the planner, so one index's null range would not give the tail's order (it read and
-- sorted every running run). A run has an entry in runs_running_idx while it runs and in runs_end_time_idx
-- once it has ended. The name index gives `run_name` ascending exactly, descending backwards.
--
-- Cost: two more index entries when a run is created (the name, the running index) and two when it ends (the
-- name, the end time; the status change already made that update non-HOT, migration 0044); a rename is no
-- longer a HOT update.
CREATE INDEX runs_end_time_idx ON runs (tenant_id, experiment_id, end_time DESC, start_time DESC, id) WHERE end_time IS NOT NULL;
CREATE INDEX runs_running_idx ON runs (tenant_id, experiment_id, start_time DESC, id) WHERE end_time IS NULL;
CREATE INDEX runs_name_idx ON runs (tenant_id, experiment_id, name, start_time DESC, id);
