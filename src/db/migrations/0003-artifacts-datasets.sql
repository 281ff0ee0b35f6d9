-- Encrypted per-tenant artifact storage, datasets, and the storage quota's accounting.
--
-- Blobs are files under $BULKHEAD_HOME/blobs/<tenant-id>/, content-addressed by the SHA-256 of their
-- plaintext and encrypted with the tenant's own data key. The key is stored here only WRAPPED by a key
-- derived from the master key, which never enters the database. Every table is tenant-scoped with the
-- same row-level security pattern as 0001.

-- One random 256-bit data key per tenant, wrapped (AES-256-GCM, tenant id as associated data).
CREATE TABLE tenant_data_keys (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  wrapped_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Bytes a tenant stores: the sum of the sizes of its blobs with at least one reference. One row per
-- tenant; it is also the lock that serializes quota decisions of one tenant.
CREATE TABLE storage_usage (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Bytes promised to uploads in flight. A crashed server's reservations expire on their own; a live
-- upload renews its reservation every time it grows it.
CREATE TABLE storage_reservations (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  expires_at timestamptz NOT NULL
);
CREATE INDEX storage_reservations_tenant_idx ON storage_reservations (tenant_id, expires_at);

-- One row per distinct blob of a tenant. refcount counts artifact_files + dataset_files rows pointing at it;
-- a row at 0 is garbage, collected together with its file.
CREATE TABLE blobs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  refcount integer NOT NULL CHECK (refcount >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, digest)
);
CREATE INDEX blobs_garbage_idx ON blobs (tenant_id) WHERE refcount = 0;

-- The artifact namespace of a tenant: logical path → blob. Paths are validated and normalized by the
-- application (no '..', no leading '/', no backslash or NUL); the CHECK is a second line.
CREATE TABLE artifact_files (
  tenant_id uuid NOT NULL,
  path text NOT NULL CHECK (length(path) BETWEEN 1 AND 1024 AND path !~ '(^/|\\|(^|/)\.\.?(/|$)|//|/$)'),
  digest text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, path),
  FOREIGN KEY (tenant_id, digest) REFERENCES blobs (tenant_id, digest)
);
CREATE INDEX artifact_files_prefix_idx ON artifact_files (tenant_id, path text_pattern_ops);

-- Multipart uploads (MLflow mpu/...): parts are staged encrypted files, counted by a reservation.
CREATE TABLE multipart_uploads (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  path text NOT NULL,
  num_parts integer NOT NULL CHECK (num_parts BETWEEN 1 AND 10000),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

CREATE TABLE multipart_parts (
  upload_id uuid NOT NULL REFERENCES multipart_uploads (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL,
  part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
  size bigint NOT NULL CHECK (size >= 0),
  etag text NOT NULL,
  staged_file text NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);

-- Datasets: named; versions are immutable sets of files with a content digest.
CREATE TABLE datasets (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE dataset_versions (
  dataset_id uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  file_count integer NOT NULL,
  total_bytes bigint NOT NULL,
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset_id, version)
);

CREATE TABLE dataset_files (
  dataset_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  version integer NOT NULL,
  path text NOT NULL CHECK (length(path) BETWEEN 1 AND 1024 AND path !~ '(^/|\\|(^|/)\.\.?(/|$)|//|/$)'),
  digest text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  PRIMARY KEY (dataset_id, version, path),
  FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions (dataset_id, version) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, digest) REFERENCES blobs (tenant_id, digest)
);

-- Dataset versions are immutable: no role the platform uses may change one once written.
CREATE FUNCTION bulkhead_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'dataset versions are immutable' USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER dataset_versions_immutable BEFORE UPDATE ON dataset_versions FOR EACH ROW EXECUTE FUNCTION bulkhead_refuse_change();
CREATE TRIGGER dataset_files_immutable BEFORE UPDATE ON dataset_files FOR EACH ROW EXECUTE FUNCTION bulkhead_refuse_change();

-- Row-level security, as in 0001.
ALTER TABLE tenant_data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_data_keys TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE storage_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage_usage TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE storage_reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage_reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage_reservations TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE blobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON blobs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE artifact_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE artifact_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON artifact_files TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE multipart_uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE multipart_uploads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON multipart_uploads TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE multipart_parts ENABLE ROW LEVEL SECURITY;
ALTER TABLE multipart_parts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON multipart_parts TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE datasets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON datasets TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE dataset_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE dataset_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dataset_versions TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

ALTER TABLE dataset_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE dataset_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dataset_files TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);

CREATE POLICY system_access ON tenant_data_keys TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON storage_usage TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON storage_reservations TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON blobs TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON artifact_files TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON multipart_uploads TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON multipart_parts TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON datasets TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON dataset_versions TO bulkhead_system USING (true) WITH CHECK (true);
CREATE POLICY system_access ON dataset_files TO bulkhead_system USING (true) WITH CHECK (true);

-- Privileges. A tenant's data key is created once and never changed by the application.
GRANT SELECT, INSERT ON tenant_data_keys TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE ON storage_usage TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON storage_reservations, blobs, artifact_files, multipart_uploads, multipart_parts TO bulkhead_app;
-- UPDATE only so a push can lock the dataset row (SELECT ... FOR UPDATE) to number versions gap-free.
GRANT SELECT, INSERT, UPDATE, DELETE ON datasets TO bulkhead_app;
-- Versions and their files: insert and read only (immutable; the trigger refuses UPDATE for any role).
GRANT SELECT, INSERT ON dataset_versions, dataset_files TO bulkhead_app;
GRANT SELECT ON tenant_data_keys, storage_usage, storage_reservations, blobs, artifact_files, multipart_uploads,
  multipart_parts, datasets, dataset_versions, dataset_files TO bulkhead_system;
GRANT DELETE ON storage_reservations, multipart_uploads, multipart_parts TO bulkhead_system;
