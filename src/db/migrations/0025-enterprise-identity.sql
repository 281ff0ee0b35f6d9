-- Enterprise identity (issue 14; docs/identity.md): users made by OIDC single sign-on, memberships kept in
-- step with the IdP's groups, tenant-defined custom roles, and tokens narrowed to a permission subset.

-- A user made just in time by SSO is known by its IdP's (issuer, subject); it has no password.
ALTER TABLE users ADD COLUMN sso_issuer text;
ALTER TABLE users ADD COLUMN sso_subject text;
ALTER TABLE users ADD CONSTRAINT users_sso_pair CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL));
CREATE UNIQUE INDEX users_sso_idx ON users (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;

-- Memberships written by SSO group mapping are re-evaluated at every sign-in; manual ones are left alone.
ALTER TABLE memberships ADD COLUMN source text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'sso'));

-- A membership or token may carry a custom role of its tenant (tenant_roles) as well as a built-in one.
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check CHECK (role ~ '^[a-z][a-z0-9_-]{0,62}$' AND role <> 'platform_admin');
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role ~ '^[a-z][a-z0-9_-]{0,62}$');
-- A token narrowed to a subset of its role's permissions (NULL: the role's own set).
ALTER TABLE api_tokens ADD COLUMN scope_permissions text[];

-- Custom roles: a named set of permissions from the platform's catalogue (src/authz/permissions.ts).
CREATE TABLE tenant_roles (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$' AND name NOT IN ('owner', 'admin', 'member', 'viewer', 'platform_admin')),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  permissions text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name)
);

ALTER TABLE tenant_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_roles TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON tenant_roles TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_roles TO bulkhead_app, bulkhead_system;
