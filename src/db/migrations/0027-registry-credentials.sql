-- Issue 17: pulling images from OCI distribution registries the operator configures.
--
-- registry_credentials: a tenant's login to one configured registry (by its host name as configured).
-- The secret is sealed with AES-256-GCM under the tenant's data key (the same key its artifacts are
-- encrypted with, wrapped by the master key in tenant_data_keys): a database dump alone does not reveal it,
-- and deleting the tenant's key shreds it. The additional authenticated data binds the ciphertext to
-- (tenant, registry), so a row copied to another tenant or registry does not decrypt.
CREATE TABLE registry_credentials (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  registry text NOT NULL CHECK (registry ~ '^[a-z0-9.-]+(:[0-9]{1,5})?$'),
  username text NOT NULL CHECK (length(username) BETWEEN 1 AND 256),
  secret_sealed text NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, registry)
);
ALTER TABLE registry_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registry_credentials TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registry_credentials TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON registry_credentials TO bulkhead_app, bulkhead_system;

-- Deployments on images: the reference as given and the manifest digest it resolved to at creation (the
-- serving workers run on exactly that digest's rootfs; a version update keeps it).
ALTER TABLE deployments ADD COLUMN image text CHECK (length(image) BETWEEN 1 AND 300);
ALTER TABLE deployments ADD COLUMN image_digest text CHECK (image_digest ~ '^sha256:[0-9a-f]{64}$');
