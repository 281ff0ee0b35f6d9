-- Experiment tracking and the model registry, shaped after MLflow's entities (mlflow/protos/service.proto,
-- model_registry.proto), one set per tenant.
--
-- Keys: names that MLflow keeps unique (experiment names, registered model names) are unique per tenant,
-- so two tenants can both have experiment "Default" and model "churn". Experiment ids are per-tenant
-- integers handed out by tracking_counters (each tenant's "Default" experiment is id 0). Run ids are
-- random 32-hex strings, globally unique; every child table still carries tenant_id and references its
-- parent with (tenant_id, ...), because foreign-key checks bypass row-level security: a composite key is
-- what stops one tenant from attaching rows to another tenant's run even if an id leaked.
--
-- Times are epoch milliseconds (bigint), as MLflow reports them. Metric values are double precision and
-- may be NaN or ±Infinity; is_nan is kept for the search compiler (src/tracking/search-filter.ts).

CREATE TABLE tracking_counters (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  next_experiment_id bigint NOT NULL CHECK (next_experiment_id >= 1)
);

CREATE TABLE experiments (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id bigint NOT NULL CHECK (id >= 0),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
  artifact_location text NOT NULL,
  lifecycle_stage text NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
  creation_time bigint NOT NULL,
  last_update_time bigint NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);

CREATE TABLE experiment_tags (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  experiment_id bigint NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, experiment_id, key),
  FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE runs (
  id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  experiment_id bigint NOT NULL,
  name text NOT NULL DEFAULT '',
  user_id text NOT NULL DEFAULT '',
  status text NOT NULL CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')),
  start_time bigint NOT NULL,
  end_time bigint,
  lifecycle_stage text NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
  deleted_time bigint,
  artifact_uri text NOT NULL,
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX runs_experiment_idx ON runs (tenant_id, experiment_id, start_time DESC);

CREATE TABLE run_params (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, run_id, key),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE run_tags (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, run_id, key),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);

-- The full history: the hot table (log-batch writes up to 1,000 rows per call). Deliberately lean:
-- - no foreign keys: per-row checks cost about as much as the insert itself, and the check against
--   tenants takes a KEY SHARE lock on the tenant's one row, on which concurrent batches contend.
--   Isolation does not depend on them: RLS's WITH CHECK pins tenant_id to the caller's tenant, and the
--   service checks in the same transaction that the run is the caller's own and active. Deleting runs
--   (only ever by cascade from a deleted tenant) removes their points through the statement-level
--   trigger below.
-- - no unique constraint: ON CONFLICT's speculative insertion costs more than the insert itself. MLflow
--   treats an identical (key, value, timestamp, step) logged twice as one point; reads (get-history)
--   apply that with DISTINCT, so a retried batch is harmless to readers too.
CREATE TABLE run_metrics (
  tenant_id uuid NOT NULL,
  run_id text NOT NULL,
  key text NOT NULL,
  step bigint NOT NULL,
  timestamp bigint NOT NULL,
  value double precision NOT NULL,
  is_nan boolean NOT NULL
);
CREATE INDEX run_metrics_history_idx ON run_metrics (tenant_id, run_id, key, step);

CREATE FUNCTION tracking_delete_run_metrics() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM run_metrics m USING deleted_runs d WHERE m.tenant_id = d.tenant_id AND m.run_id = d.id;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER runs_delete_metrics AFTER DELETE ON runs REFERENCING OLD TABLE AS deleted_runs
  FOR EACH STATEMENT EXECUTE FUNCTION tracking_delete_run_metrics();

-- Upserted by every log-batch: referenced through runs only (no per-row lock on the tenant's row).
CREATE TABLE run_latest_metrics (
  tenant_id uuid NOT NULL,
  run_id text NOT NULL,
  key text NOT NULL,
  value double precision NOT NULL,
  timestamp bigint NOT NULL,
  step bigint NOT NULL,
  is_nan boolean NOT NULL,
  PRIMARY KEY (tenant_id, run_id, key),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);

-- Dataset inputs of a run (log-inputs). A dataset is identified within its experiment by (name, digest).
CREATE TABLE run_inputs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id text NOT NULL,
  name text NOT NULL,
  digest text NOT NULL,
  source_type text NOT NULL,
  source text NOT NULL,
  schema text,
  profile text,
  tags jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_time bigint NOT NULL,
  PRIMARY KEY (tenant_id, run_id, name, digest),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE registered_models (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
  creation_time bigint NOT NULL,
  last_updated_time bigint NOT NULL,
  description text NOT NULL DEFAULT '',
  user_id text NOT NULL DEFAULT '',
  -- Versions are numbered from this counter, never reused after a delete (as MLflow).
  next_version integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE registered_model_tags (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, name, key),
  FOREIGN KEY (tenant_id, name) REFERENCES registered_models (tenant_id, name) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE model_versions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  creation_time bigint NOT NULL,
  last_updated_time bigint NOT NULL,
  description text NOT NULL DEFAULT '',
  user_id text NOT NULL DEFAULT '',
  current_stage text NOT NULL DEFAULT 'None' CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived')),
  source text NOT NULL,
  run_id text,
  run_link text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'READY' CHECK (status IN ('PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY')),
  status_message text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, name, version),
  FOREIGN KEY (tenant_id, name) REFERENCES registered_models (tenant_id, name) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE model_version_tags (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  version integer NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant_id, name, version, key),
  FOREIGN KEY (tenant_id, name, version) REFERENCES model_versions (tenant_id, name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  alias text NOT NULL,
  version integer NOT NULL,
  PRIMARY KEY (tenant_id, name, alias),
  FOREIGN KEY (tenant_id, name, version) REFERENCES model_versions (tenant_id, name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

-- Row-level security, exactly as in 0001: ENABLE + FORCE on every table, one tenant policy with USING and
-- WITH CHECK, and the system role's policy.

ALTER TABLE tracking_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE tracking_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tracking_counters TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON tracking_counters TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE experiments ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiments TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON experiments TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE experiment_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_tags TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON experiment_tags TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON runs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON runs TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_params ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_params FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_params TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_params TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_tags TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_tags TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_metrics TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_metrics TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_latest_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_latest_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_latest_metrics TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_latest_metrics TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE run_inputs ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_inputs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_inputs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON run_inputs TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE registered_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE registered_models FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registered_models TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registered_models TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE registered_model_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE registered_model_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registered_model_tags TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registered_model_tags TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE model_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON model_versions TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON model_versions TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE model_version_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_version_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON model_version_tags TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON model_version_tags TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE registered_model_aliases ENABLE ROW LEVEL SECURITY;
ALTER TABLE registered_model_aliases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registered_model_aliases TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registered_model_aliases TO bulkhead_system USING (true) WITH CHECK (true);

-- Privileges. The application reads and writes its tenant's rows (RLS decides which); deletes are real for
-- tags, aliases and versions, soft (lifecycle_stage) for experiments and runs.
GRANT SELECT, INSERT, UPDATE, DELETE ON
  tracking_counters, experiments, experiment_tags, runs,
  run_params, run_tags, run_metrics, run_latest_metrics,
  run_inputs, registered_models, registered_model_tags, model_versions,
  model_version_tags, registered_model_aliases
  TO bulkhead_app, bulkhead_system;
