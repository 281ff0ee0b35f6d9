-- Model deployments: the desired state of each tenant's endpoints. Replica processes, their restarts
-- and readiness are runtime state held by the serving supervisor, not rows.

CREATE TABLE deployments (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  model text NOT NULL,
  version text NOT NULL,
  replicas integer NOT NULL CHECK (replicas BETWEEN 0 AND 16),
  cpu numeric NOT NULL CHECK (cpu > 0),
  memory_mib integer NOT NULL CHECK (memory_mib > 0),
  max_concurrency integer NOT NULL CHECK (max_concurrency > 0),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deployments TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON deployments TO bulkhead_system USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON deployments TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON deployments TO bulkhead_system;
