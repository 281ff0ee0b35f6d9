-- runs/search ordered by artifact URI (issue 20 item 1): `order_by attributes.artifact_uri` sorted every run
-- of the experiment (45–72 ms for 100 rows at 100k runs, growing with the experiment). A run's URI is
-- unique (it holds the run id), so this index is the order itself: a page reads about a page, in either
-- direction, and resumes in an index range.
--
-- An experiment's artifact location is held to 500 code points since this migration, so a URI fits an index
-- entry; docs/operations.md says how to find longer ones before upgrading. Cost: one more index entry when a
-- run is created and when it ends (that update is not HOT already: migrations 0044, 0045).
CREATE INDEX runs_artifact_uri_idx ON runs (tenant_id, experiment_id, artifact_uri);
