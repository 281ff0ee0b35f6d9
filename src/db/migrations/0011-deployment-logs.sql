-- Deployment logs (rollouts, worker output, crashes and restarts), kept in the database so they survive a
-- platform restart; the deployment service keeps the newest 2,000 lines per deployment. A global
-- sequence orders them (monotonic across restarts and processes). Deleting the deployment deletes them.
CREATE TABLE deployment_logs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  seq bigserial NOT NULL,
  line text NOT NULL,
  logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (deployment_id, seq)
);

ALTER TABLE deployment_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployment_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deployment_logs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON deployment_logs TO bulkhead_system USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, DELETE ON deployment_logs TO bulkhead_app;
GRANT SELECT, DELETE ON deployment_logs TO bulkhead_system;
GRANT USAGE ON SEQUENCE deployment_logs_seq_seq TO bulkhead_app;
