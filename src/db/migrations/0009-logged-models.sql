-- MLflow 3 logged models (mlflow/protos/service.proto: LoggedModel, LoggedModelInfo, LoggedModelData,
-- LoggedModelTag, LoggedModelParameter, ModelInput, ModelOutput), one set per tenant.
--
-- A logged model belongs to an experiment and owns an artifact directory
-- (`<experiment artifact_location>/models/<model_id>/artifacts`, served by the artifacts module). Model ids
-- are `m-` + 32 hex characters, random and globally unique, as MLflow makes them; every child table still
-- carries tenant_id and references its parent with (tenant_id, ...), because foreign-key checks bypass
-- row-level security (see 0002): a leaked id of another tenant's model or run cannot be attached to.
--
-- Deleting a logged model is soft (lifecycle_stage), as in MLflow's SQL store; its rows and artifacts stay.
-- Status names are those of the Python entity (PENDING, READY, FAILED); the API answers the proto names.

CREATE TABLE logged_models (
  id text PRIMARY KEY CHECK (id ~ '^m-[0-9a-f]{32}$'),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  experiment_id bigint NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
  artifact_location text NOT NULL,
  creation_time bigint NOT NULL,
  last_updated_time bigint NOT NULL,
  model_type text,
  source_run_id text,
  status text NOT NULL CHECK (status IN ('PENDING', 'READY', 'FAILED')),
  status_message text,
  lifecycle_stage text NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE,
  -- Runs are only ever deleted with their tenant; the model row outlives that statement by one step.
  FOREIGN KEY (tenant_id, source_run_id) REFERENCES runs (tenant_id, id) ON DELETE SET NULL (source_run_id)
);
-- search-logged-models: by experiment, newest first (MLflow's default order).
CREATE INDEX logged_models_experiment_idx ON logged_models (tenant_id, experiment_id, creation_time DESC);

CREATE TABLE logged_model_tags (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model_id text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, model_id, key),
  FOREIGN KEY (tenant_id, model_id) REFERENCES logged_models (tenant_id, id) ON DELETE CASCADE
);

-- Immutable once logged (a different value for a logged key is refused, as for run params).
CREATE TABLE logged_model_params (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model_id text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, model_id, key),
  FOREIGN KEY (tenant_id, model_id) REFERENCES logged_models (tenant_id, id) ON DELETE CASCADE
);

-- Metric points logged to a run with a `model_id` (log-metric / log-batch in MLflow 3): the run's history
-- (run_metrics) keeps them as before; this table links them to the model, with the dataset they were
-- computed on. Only metrics that carry a model id land here, so the run ingest path is unchanged otherwise.
-- As in run_metrics, an identical point logged twice is stored twice and read once (SELECT DISTINCT).
CREATE TABLE logged_model_metrics (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model_id text NOT NULL,
  run_id text NOT NULL,
  key text NOT NULL,
  value double precision NOT NULL,
  timestamp bigint NOT NULL,
  step bigint NOT NULL,
  is_nan boolean NOT NULL,
  dataset_name text,
  dataset_digest text,
  FOREIGN KEY (tenant_id, model_id) REFERENCES logged_models (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX logged_model_metrics_model_idx ON logged_model_metrics (model_id, key);

-- Runs' logged-model inputs (log-inputs `models`) and outputs (runs/outputs: the models a run produced,
-- with the step). One row per (run, model, direction); logging the same link again updates its step.
CREATE TABLE run_model_links (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id text NOT NULL,
  model_id text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('input', 'output')),
  step bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, run_id, model_id, direction),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, model_id) REFERENCES logged_models (tenant_id, id) ON DELETE CASCADE
);

-- Model versions registered from a logged model (model-versions/create with `model_id`, or a
-- `models:/<model_id>` source): the model id, and where its files were when the version was created
-- (get-download-uri answers it, as MLflow's SQL registry answers its storage_location).
ALTER TABLE model_versions ADD COLUMN model_id text;
ALTER TABLE model_versions ADD COLUMN storage_location text;

-- Row-level security, exactly as in 0002: ENABLE + FORCE on every table, one tenant policy with USING and
-- WITH CHECK, and the system role's policy.

ALTER TABLE logged_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE logged_models FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logged_models TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON logged_models TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE logged_model_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE logged_model_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logged_model_tags TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON logged_model_tags TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE logged_model_params ENABLE ROW LEVEL SECURITY;
ALTER TABLE logged_model_params FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logged_model_params TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON logged_model_params TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE logged_model_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE logged_model_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logged_model_metrics TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON logged_model_metrics TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_model_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_model_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_model_links TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_model_links TO bulkhead_system USING (true) WITH CHECK (true);

-- Privileges as in 0002: the application reads and writes its tenant's rows (RLS decides which); the
-- system role may delete them (tenant deletion, src/db/tenant-tables.ts).
GRANT SELECT, INSERT, UPDATE, DELETE ON
  logged_models, logged_model_tags, logged_model_params, logged_model_metrics, run_model_links
  TO bulkhead_app, bulkhead_system;
