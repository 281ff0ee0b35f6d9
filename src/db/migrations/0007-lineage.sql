-- Model lineage: where each model version came from (job, run, dataset versions with their digests,
-- code bundle digest, run parameters). One row per model version; it follows the version through
-- renames of its registered model and goes with it when the version is deleted.
-- Tenant-owned: ENABLE + FORCE row-level security, as in 0001 and 0004.

CREATE TABLE model_lineage (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model_name text NOT NULL,
  model_version integer NOT NULL,
  job_id uuid,
  run_id text,
  experiment_id text,
  -- [{ "name": "churn", "version": 1, "digest": "…" }]
  datasets jsonb NOT NULL DEFAULT '[]'::jsonb,
  code_bundle text,
  code_digest text,
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  source text NOT NULL,
  recorded_via text NOT NULL CHECK (recorded_via IN ('register-from-job', 'model-version-create')),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, model_name, model_version),
  FOREIGN KEY (tenant_id, model_name, model_version) REFERENCES model_versions (tenant_id, name, version) ON UPDATE CASCADE ON DELETE CASCADE
);
-- "Which model versions came from this dataset version": containment queries on datasets.
CREATE INDEX model_lineage_datasets_idx ON model_lineage USING gin (datasets jsonb_path_ops);
CREATE INDEX model_lineage_job_idx ON model_lineage (tenant_id, job_id);
-- Automatic recording looks a model version's run up among the tenant's jobs.
CREATE INDEX jobs_run_id_idx ON jobs (tenant_id, run_id) WHERE run_id IS NOT NULL;

ALTER TABLE model_lineage ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_lineage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON model_lineage TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON model_lineage TO bulkhead_system USING (true) WITH CHECK (true);

-- Lineage rows are written once; they change only through the model version's cascade.
GRANT SELECT, INSERT ON model_lineage TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON model_lineage TO bulkhead_system;
