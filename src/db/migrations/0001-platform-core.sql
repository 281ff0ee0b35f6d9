-- Platform core: tenants, identity, memberships, tokens, quotas, the audit log.
--
-- Row-level security model (see docs/architecture.md):
--   bulkhead_app     the role every tenant-scoped transaction runs as (SET LOCAL ROLE in withTenant).
--                    Its policies admit only rows whose tenant matches the transaction-local setting
--                    bulkhead.tenant_id. With no setting it sees nothing.
--   bulkhead_system  the role of the few cross-tenant paths (withSystem): token lookup, tenant admin,
--                    the audit sealer. Greppable, rare.
-- Both are NOLOGIN. The login role the platform connects with is granted both and owns nothing.
-- They are created only when missing: CREATE ROLE checks CREATEROLE before it checks whether the role
-- exists, so an owner with only LOGIN (roles made by a superuser beforehand, README) must not reach it.
-- A change to an applied migration: safe here, since it only matters to databases not yet migrated.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulkhead_app') THEN
    CREATE ROLE bulkhead_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulkhead_system') THEN
    CREATE ROLE bulkhead_system NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  tier text NOT NULL CHECK (tier IN ('process', 'sandbox', 'dedicated')),
  status text NOT NULL CHECK (status IN ('active', 'suspended')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_quotas (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  cpu numeric NOT NULL CHECK (cpu >= 0),
  memory_mib bigint NOT NULL CHECK (memory_mib >= 0),
  gpu integer NOT NULL CHECK (gpu >= 0),
  borrow_cpu numeric NOT NULL CHECK (borrow_cpu >= 0),
  borrow_memory_mib bigint NOT NULL CHECK (borrow_memory_mib >= 0),
  borrow_gpu integer NOT NULL CHECK (borrow_gpu >= 0),
  max_concurrent_jobs integer NOT NULL CHECK (max_concurrent_jobs >= 0),
  max_queued_jobs integer NOT NULL CHECK (max_queued_jobs >= 0),
  storage_bytes bigint NOT NULL CHECK (storage_bytes >= 0),
  requests_per_second numeric NOT NULL CHECK (requests_per_second >= 0),
  weight numeric NOT NULL CHECK (weight > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,62}$'),
  display_name text NOT NULL DEFAULT '',
  password_hash text,
  is_platform_admin boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  -- NULL only for platform-admin tokens, which belong to no tenant.
  tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer', 'platform_admin')),
  kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session', 'job')),
  -- The token itself is never stored: only its SHA-256, and a short prefix to recognise it in lists.
  token_hash text NOT NULL UNIQUE,
  display_prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant_id);

-- The audit log. Requests insert events in their own transaction (no chain work, no contention); the
-- sealer (withSystem, one at a time) assigns each tenant's events a gap-free chain_seq in insertion order
-- and hash-links them. Events of the platform itself (failed authentication without a tenant, tenant
-- administration) use the nil tenant id.
CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL DEFAULT '',
  outcome text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
  request_id text NOT NULL DEFAULT '',
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  chain_seq bigint,
  prev_hash text,
  hash text,
  UNIQUE (tenant_id, chain_seq)
);
CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE chain_seq IS NULL;
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant_id, id);

-- Signed chain heads, one row per seal per tenant. The signing key lives outside the database
-- (derived from the master key file), so rows here cannot be forged from SQL.
CREATE TABLE audit_checkpoints (
  tenant_id uuid NOT NULL,
  chain_seq bigint NOT NULL,
  hash text NOT NULL,
  signature text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, chain_seq)
);

-- Row-level security: ENABLE + FORCE on every tenant table, one policy per role with USING and WITH CHECK.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO bulkhead_app
  USING (id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE tenant_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_quotas TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

-- Users are shared across tenants; a tenant sees only the users who are its members.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users TO bulkhead_app
  USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id
                 AND m.tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid))
  WITH CHECK (false);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

-- The system role sees every row of every table: it is only reachable through withSystem.
CREATE POLICY system_access ON tenants TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON tenant_quotas TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON memberships TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON users TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON api_tokens TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON audit_events TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON audit_checkpoints TO bulkhead_system USING (true) WITH CHECK (true);

-- Privileges. Tenants read their own record; only the system role creates or changes tenants.
GRANT SELECT ON tenants, tenant_quotas, users TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships, api_tokens TO bulkhead_app;
-- The audit log is append-only for the application: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON audit_events TO bulkhead_app;
GRANT SELECT ON audit_checkpoints TO bulkhead_app;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO bulkhead_app, bulkhead_system;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, tenant_quotas, users, memberships, api_tokens TO bulkhead_system;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO bulkhead_system;
-- The sealer may only fill in the chain columns; no role the platform uses can rewrite an event.
GRANT UPDATE (chain_seq, prev_hash, hash) ON audit_events TO bulkhead_system;
