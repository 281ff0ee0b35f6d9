-- Issue 15, the rest of experiment sharing: an `experiment:{id}` share now also admits, read-only and in
-- the same shared-read scope as 0021/0022 (`bulkhead.shared_owner`, set only by scope.ts withSharedRead),
--   * the experiment row itself and its tags (experiments/get, get-by-name and search answer it as
--     `{owner}/{name}` with id `{owner}/{id}`), and
--   * the artifact files of the shared experiment's runs: a file of the owner is visible when one of the
--     owner's runs — visible itself only through the runs policy of 0022, i.e. in a live shared
--     experiment — has its artifact root (`artifact_uri` without `mlflow-artifacts:/`) as a prefix of the
--     file's path. The run is found by the path's segments (the run id is one of them: roots are
--     `{location}/{run id}/artifacts`), so the check is a primary-key probe per path segment of a candidate
--     file, not a scan of the owner's runs (written as a join over the segments so that the planner
--     probes runs_pkey; `r.id = ANY (segments)` was planned as a scan of the owner's runs by tenant). Nothing else of the owner's artifact store (logged models, job outputs, other
--     experiments' runs) matches. Blobs are decrypted by the platform with the owner's key once the row
--     is visible (src/artifacts/artifact-service.ts): the grantee never names a digest or holds a key.
-- Revocation and expiry close all of it at once: every policy asks tenant_shares on each statement.
CREATE POLICY shared_read ON experiments FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s
                      WHERE s.tenant_id = experiments.tenant_id AND s.resource_kind = 'experiment'
                        AND s.resource_name = experiments.id::text
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
CREATE POLICY shared_read ON experiment_tags FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM experiments e WHERE e.tenant_id = experiment_tags.tenant_id AND e.id = experiment_tags.experiment_id));
CREATE POLICY shared_read ON artifact_files FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM unnest(string_to_array(artifact_files.path, '/')) AS segment (id)
                        JOIN runs r ON r.id = segment.id
                      WHERE length(segment.id) = 32 AND r.tenant_id = artifact_files.tenant_id
                        AND r.artifact_uri LIKE 'mlflow-artifacts:/%'
                        AND starts_with(artifact_files.path, substr(r.artifact_uri, 19) || '/')));

-- Cross-tenant lineage edges (issue 15): one row per (owner, grantee, shared object, kind of use) the
-- first time the grantee used a shared object in its own work — a deployment loaded a shared model
-- version, a job mounted a shared dataset version — and the last time it did. Written only by the
-- platform (system role) at the moment of use, after the shared read the share policies admitted. The
-- owner reads its rows (tenant_id) and learns which tenant used the object and how, never the names of
-- the grantee's deployments or jobs (none are stored); the grantee reads its own rows (grantee_id) and
-- joins its own deployments and jobs for their names. Rows stay after revocation: they are history.
CREATE TABLE shared_uses (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  grantee_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  resource_kind text NOT NULL CHECK (resource_kind IN ('model', 'dataset')),
  resource_name text NOT NULL,
  resource_version integer NOT NULL,
  use_kind text NOT NULL CHECK (use_kind IN ('deployment', 'job')),
  first_used_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, resource_kind, resource_name, resource_version, grantee_id, use_kind)
);
CREATE INDEX shared_uses_grantee_idx ON shared_uses (grantee_id, resource_kind, resource_name, resource_version);

ALTER TABLE shared_uses ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared_uses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON shared_uses TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
-- The grantee's side of the edge; every read of it names `grantee_id = $me` (an index condition).
CREATE POLICY grantee_read ON shared_uses FOR SELECT TO bulkhead_app
  USING (grantee_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON shared_uses TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT ON shared_uses TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON shared_uses TO bulkhead_system;
