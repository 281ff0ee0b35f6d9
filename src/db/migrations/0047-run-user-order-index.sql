-- runs/search ordered by user (issue 20 item 1): `order_by attributes.user_id` sorted every run of the
-- experiment. A user's runs share one value, so a group is often most of the experiment; this index holds
-- each user's runs in MLflow's tail order (start_time DESC, run id), so ascending is the index's own order
-- (a page resumes in index ranges) and descending is read group by group: the users walked downwards, one
-- index descent each, and each user's runs forward (src/tracking/run-search.ts, groupRows).
--
-- Cost: one more index entry when a run is created and when it ends (that update is not HOT already:
-- migrations 0044, 0045); docs/operations.md has the build time.
CREATE INDEX runs_user_idx ON runs (tenant_id, experiment_id, user_id, start_time DESC, id);
