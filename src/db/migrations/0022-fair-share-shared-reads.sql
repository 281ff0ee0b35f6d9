-- Issue 15: fair share on decayed usage. One row per tenant that has ever held capacity: its decayed
-- usage as of `as_of` (dominant share·seconds and, per resource, core·seconds, MiB·seconds, GPU·seconds,
-- each halving every BULKHEAD_FAIR_SHARE_HALF_LIFE) and what it held from then on (`rate_*`, per
-- second). The job runner (the leader) rewrites a tenant's row whenever its holding changes, so a restart
-- or a new leader continues from it (src/jobs/fair-share-store.ts, docs/scheduler.md).
CREATE TABLE fair_share_usage (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  dominant double precision NOT NULL CHECK (dominant >= 0 AND dominant < 'Infinity'::double precision),
  cpu double precision NOT NULL CHECK (cpu >= 0 AND cpu < 'Infinity'::double precision),
  memory_mib double precision NOT NULL CHECK (memory_mib >= 0 AND memory_mib < 'Infinity'::double precision),
  gpu double precision NOT NULL CHECK (gpu >= 0 AND gpu < 'Infinity'::double precision),
  rate_dominant double precision NOT NULL CHECK (rate_dominant >= 0 AND rate_dominant < 'Infinity'::double precision),
  rate_cpu double precision NOT NULL CHECK (rate_cpu >= 0 AND rate_cpu < 'Infinity'::double precision),
  rate_memory_mib double precision NOT NULL CHECK (rate_memory_mib >= 0 AND rate_memory_mib < 'Infinity'::double precision),
  rate_gpu double precision NOT NULL CHECK (rate_gpu >= 0 AND rate_gpu < 'Infinity'::double precision),
  as_of timestamptz NOT NULL
);

ALTER TABLE fair_share_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE fair_share_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fair_share_usage TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON fair_share_usage TO bulkhead_system USING (true) WITH CHECK (true);

-- A tenant may read its own row; only the scheduler (system role) writes, and tenant deletion removes it.
GRANT SELECT ON fair_share_usage TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON fair_share_usage TO bulkhead_system;

-- Issue 15, sharing experiments: `experiment:{id}` shares admit the experiment's runs and what hangs off
-- them (params, tags, metrics, dataset inputs) to the grantee, read-only, exactly as 0021 does for model
-- versions: a row of another tenant is visible only in a transaction that names that tenant as the owner
-- it reads from (`bulkhead.shared_owner`, set only by withSharedRead) and while a live share visible to
-- the caller (tenant_shares policy: granted to it or an ancestor) names the run's experiment. The run
-- tables' policies ask `runs` — itself under these policies — so a run's rows follow its run. Logged-model
-- links (run_model_links) and the experiment rows themselves are not shared.
CREATE POLICY shared_read ON runs FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s
                      WHERE s.tenant_id = runs.tenant_id AND s.resource_kind = 'experiment'
                        AND s.resource_name = runs.experiment_id::text
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
CREATE POLICY shared_read ON run_params FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_params.tenant_id AND r.id = run_params.run_id));
CREATE POLICY shared_read ON run_tags FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_tags.tenant_id AND r.id = run_tags.run_id));
CREATE POLICY shared_read ON run_metrics FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_metrics.tenant_id AND r.id = run_metrics.run_id));
CREATE POLICY shared_read ON run_latest_metrics FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_latest_metrics.tenant_id AND r.id = run_latest_metrics.run_id));
CREATE POLICY shared_read ON run_inputs FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_inputs.tenant_id AND r.id = run_inputs.run_id));

-- Issue 15, sharing dataset versions: `dataset:{name}/{version}` shares admit, in the same shared-read
-- scope, the dataset's row (its name and description: the share names it anyway), exactly the shared
-- versions, and those versions' file lists. Files are read by the platform with the owner's data key once
-- the row is visible; nothing else of the owner's storage is reachable.
CREATE POLICY shared_read ON datasets FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s
                      WHERE s.tenant_id = datasets.tenant_id AND s.resource_kind = 'dataset' AND s.resource_name = datasets.name
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
CREATE POLICY shared_read ON dataset_versions FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s JOIN datasets d ON d.id = dataset_versions.dataset_id AND d.tenant_id = s.tenant_id
                      WHERE s.tenant_id = dataset_versions.tenant_id AND s.resource_kind = 'dataset' AND s.resource_name = d.name
                        AND s.resource_version = dataset_versions.version
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
CREATE POLICY shared_read ON dataset_files FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM dataset_versions v
                      WHERE v.tenant_id = dataset_files.tenant_id AND v.dataset_id = dataset_files.dataset_id AND v.version = dataset_files.version));
