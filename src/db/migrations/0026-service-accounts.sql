-- Service accounts (issue 14; docs/identity.md): a tenant's non-human principal. No password, no SSO, no
-- user row: it exists only to hold tokens, which always expire (default and maximum set by the operator).
CREATE TABLE service_accounts (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]{1,62}$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON service_accounts TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON service_accounts TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON service_accounts TO bulkhead_app, bulkhead_system;

-- A service account's tokens go with it.
ALTER TABLE api_tokens ADD COLUMN service_account_id uuid REFERENCES service_accounts (id) ON DELETE CASCADE;
CREATE INDEX api_tokens_service_account_idx ON api_tokens (service_account_id) WHERE service_account_id IS NOT NULL;

-- A token narrowed to named experiments (their ids, resolved when the token is made): everything else of
-- its tenant is NOT_FOUND to it (src/authz/experiment-scope.ts). NULL: not narrowed.
ALTER TABLE api_tokens ADD COLUMN scope_experiments text[];
