-- Issue 15: organizations of teams (a tenant tree) and audited, read-only sharing between tenants.
--
-- tenants.parent_id / tenants.path: a tenant may have a parent (an organization node). `path` is the
-- chain of ids from the root down to the tenant itself (materialized: parents never change after
-- creation), so the depth limit (≤ 4 levels) is a CHECK the database enforces, and a row-level security
-- policy can ask "is the grantee of this share one of my ancestors or me?" from the caller's own row,
-- which the tenant policy of 0001 already lets it read.
ALTER TABLE tenants ADD COLUMN parent_id uuid REFERENCES tenants (id);
ALTER TABLE tenants ADD COLUMN path uuid[];
UPDATE tenants SET path = ARRAY[id];
ALTER TABLE tenants ALTER COLUMN path SET NOT NULL;
ALTER TABLE tenants ADD CONSTRAINT tenants_path_depth CHECK (cardinality(path) BETWEEN 1 AND 4 AND path[cardinality(path)] = id);
ALTER TABLE tenants ADD CONSTRAINT tenants_parent_not_self CHECK (parent_id IS NULL OR parent_id <> id);
CREATE INDEX tenants_parent_idx ON tenants (parent_id);

-- The database keeps `path` itself: an INSERT without one gets its parent's path plus its own id (so any
-- code that creates tenants, tests included, gets a correct path), and neither the parent nor the path of
-- a tenant may change afterwards.
CREATE FUNCTION bulkhead_tenant_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.path IS NULL THEN
      IF NEW.parent_id IS NULL THEN
        NEW.path := ARRAY[NEW.id];
      ELSE
        NEW.path := (SELECT p.path FROM tenants p WHERE p.id = NEW.parent_id) || NEW.id;
      END IF;
    END IF;
  ELSIF NEW.parent_id IS DISTINCT FROM OLD.parent_id OR NEW.path IS DISTINCT FROM OLD.path THEN
    RAISE EXCEPTION 'a tenant''s parent cannot change' USING ERRCODE = 'raise_exception';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER tenants_path BEFORE INSERT OR UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION bulkhead_tenant_path();

-- tenant_shares: tenant `tenant_id` (the owner) lets tenant `grantee_id` — or, when the grantee is an
-- organization node, every tenant below it — read one object. Rows are never deleted by revocation
-- (revoked_at is set), so the record of who could read what stays.
CREATE TABLE tenant_shares (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  grantee_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  resource_kind text NOT NULL CHECK (resource_kind IN ('model', 'dataset', 'experiment')),
  resource_name text NOT NULL CHECK (length(resource_name) BETWEEN 1 AND 500),
  -- The version for models and datasets; NULL for an experiment (resource_name holds its id).
  resource_version integer CHECK (resource_version IS NULL OR resource_version >= 1),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  CHECK (grantee_id <> tenant_id),
  CHECK ((resource_kind = 'experiment') = (resource_version IS NULL))
);
CREATE INDEX tenant_shares_resource_idx ON tenant_shares (tenant_id, resource_kind, resource_name, resource_version);
CREATE INDEX tenant_shares_grantee_idx ON tenant_shares (grantee_id);

-- The owner sees its shares; a grantee sees the shares granted to it or to one of its ancestors (read
-- from its own tenants row: path). Only the owner may write one (WITH CHECK).
ALTER TABLE tenant_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_shares TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid
         OR grantee_id = ANY (SELECT unnest(t.path) FROM tenants t WHERE t.id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON tenant_shares TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT ON tenant_shares TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_shares TO bulkhead_system;

-- Shared reads, enforced by the database. A second, SELECT-only policy on the shared tables admits a row
-- of another tenant when (1) the transaction names that tenant as the owner it reads from
-- (`bulkhead.shared_owner`, set only by scope.ts withSharedRead: ordinary transactions never see a
-- foreign row, so no query of the grantee's own data can pick one up by name) and (2) a live share —
-- not revoked, not expired, visible to the caller through the tenant_shares policy above, i.e. granted
-- to it or to an ancestor — names exactly that row's object. Permissive policies only widen SELECT:
-- UPDATE and DELETE still need the tenant_isolation policy, so a grantee can never change the row.
CREATE POLICY shared_read ON model_versions FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s
                      WHERE s.tenant_id = model_versions.tenant_id AND s.resource_kind = 'model'
                        AND s.resource_name = model_versions.name AND s.resource_version = model_versions.version
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
CREATE POLICY shared_read ON model_version_tags FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM tenant_shares s
                      WHERE s.tenant_id = model_version_tags.tenant_id AND s.resource_kind = 'model'
                        AND s.resource_name = model_version_tags.name AND s.resource_version = model_version_tags.version
                        AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())));
-- Datasets and experiments get their shared_read policies when their shared read paths are built: until
-- then the service refuses to create such shares (VALIDATION_FAILED), so no row of them is shared.
