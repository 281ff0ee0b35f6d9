-- runs/search ordered by one param or tag (issue 20 item 1): the first page without reading a tie group.
--
-- MLflow orders `order_by tags.t DESC` by the value, then start_time DESC, then the run id. Many runs share a
-- value (a tag with 200 values over 1M runs: 5,000 runs each), and 0014's run_tags_search_idx orders by value
-- only: a page read the whole first group of ties, joined each run for its start time and sorted them
-- (measured at 1M runs: 185 ms for 100 rows). These indexes hold the rest of the order too, per experiment:
-- each param and tag row carries its run's experiment and start time (both fixed for a run's life: MLflow
-- has no call that moves a run or changes its start), copied from the run itself. `value_long` marks values longer than value_prefix (200 characters): for the
-- others the value is the prefix, so (prefix, start_time DESC, run id) is their whole order and an index
-- walk gives it. One index per direction of the value (start_time is DESC in both, a B-tree walked
-- backwards flips every column).
ALTER TABLE run_params
  ADD COLUMN run_experiment_id bigint,
  ADD COLUMN run_start_time bigint,
  ADD COLUMN value_long boolean GENERATED ALWAYS AS (length(value) > 200) STORED;
ALTER TABLE run_tags
  ADD COLUMN run_experiment_id bigint,
  ADD COLUMN run_start_time bigint,
  ADD COLUMN value_long boolean GENERATED ALWAYS AS (length(value) > 200) STORED;

-- The platform's own statements copy the two columns from the run as they insert (src/tracking/tracking-queries.ts:
-- one join per statement); the trigger fills them for any other writer, reading the run as the inserting
-- role, under its row-level security (it sees only its own tenant's run, which the row's foreign key names
-- anyway). The WHEN clause is checked without calling the function: a plpgsql call and a lookup per row
-- measured ≈ 20 µs of backend CPU per row (bench/ingest-statements.ts: 1,025–1,033 µs per run of three rows
-- without the clause, 942–1,008 with it).
CREATE FUNCTION run_key_row_from_run() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
BEGIN
  SELECT r.experiment_id, r.start_time INTO NEW.run_experiment_id, NEW.run_start_time
    FROM runs r WHERE r.tenant_id = NEW.tenant_id AND r.id = NEW.run_id;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER run_params_from_run BEFORE INSERT ON run_params FOR EACH ROW
  WHEN (NEW.run_experiment_id IS NULL OR NEW.run_start_time IS NULL) EXECUTE FUNCTION run_key_row_from_run();
CREATE TRIGGER run_tags_from_run BEFORE INSERT ON run_tags FOR EACH ROW
  WHEN (NEW.run_experiment_id IS NULL OR NEW.run_start_time IS NULL) EXECUTE FUNCTION run_key_row_from_run();

UPDATE run_params p SET run_experiment_id = r.experiment_id, run_start_time = r.start_time
  FROM runs r WHERE r.tenant_id = p.tenant_id AND r.id = p.run_id;
UPDATE run_tags t SET run_experiment_id = r.experiment_id, run_start_time = r.start_time
  FROM runs r WHERE r.tenant_id = t.tenant_id AND r.id = t.run_id;

CREATE INDEX run_params_order_asc_idx ON run_params (tenant_id, key, run_experiment_id, value_long, value_prefix, run_start_time DESC, run_id);
CREATE INDEX run_params_order_desc_idx ON run_params (tenant_id, key, run_experiment_id, value_long, value_prefix DESC, run_start_time DESC, run_id);
CREATE INDEX run_tags_order_asc_idx ON run_tags (tenant_id, key, run_experiment_id, value_long, value_prefix, run_start_time DESC, run_id);
CREATE INDEX run_tags_order_desc_idx ON run_tags (tenant_id, key, run_experiment_id, value_long, value_prefix DESC, run_start_time DESC, run_id);
