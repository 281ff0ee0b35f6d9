-- runs/search ordered by status (issue 20 item 1): the console's run table sorts by its Status column with
-- `order_by attributes.status`, and that order sorted every run of the experiment (no index), so a page of
-- a 100k-run experiment took ≈ 65 ms, of a 1M-run one ten times that.
--
-- A run's status is one of five values (runs_status_check), so the order is five segments, one per status
-- in the order's direction, each MLflow's tail (start_time DESC, run id) inside: this index's order for
-- one status, in both directions (src/tracking/run-search.ts). Cost: one more index entry per run, and a
-- run's status change (RUNNING → FINISHED at its end) is no longer a HOT update.
CREATE INDEX runs_status_idx ON runs (tenant_id, experiment_id, status, start_time DESC, id);
