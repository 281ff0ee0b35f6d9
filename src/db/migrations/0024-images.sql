-- Issue 17: job environments as OCI images.
--
-- images: a tenant's private image store — one row per name and manifest digest, with the tags that
-- currently point at it; the blobs and unpacked rootfs live in the host's content-addressed store
-- ($BULKHEAD_HOME/images). Moving a tag to a new import leaves the old digest in the store, untagged
-- (tags = '{}'): jobs that ran it can be rerun by digest until it is deleted by name@digest.
-- Two tenants importing the same image share its files on disk, never its row: which digests a tenant
-- may use is exactly what these rows (under RLS) say. size_bytes counts against the tenant's storage
-- quota (storage_usage.used_bytes) from import to delete.
CREATE TABLE images (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  digest text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  -- A tag is on at most one digest of a name: the service moves it (row lock on the name's rows).
  tags text[] NOT NULL DEFAULT '{}',
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, digest)
);

ALTER TABLE images ENABLE ROW LEVEL SECURITY;
ALTER TABLE images FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON images TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON images TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON images TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON images TO bulkhead_system;

-- The platform-wide public store (operator only): readable by every tenant, written by the platform.
-- No tenant_id: it is nobody's data and counts against no tenant's quota.
CREATE TABLE public_images (
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  digest text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  tags text[] NOT NULL DEFAULT '{}',
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, digest)
);
GRANT SELECT ON public_images TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON public_images TO bulkhead_system;

-- The image a job asked for (as given) and the manifest digest it resolved to at submission: the job
-- runs exactly that digest, however the tag moves later (`bulkhead job rerun` pins it).
ALTER TABLE jobs ADD COLUMN image text;
ALTER TABLE jobs ADD COLUMN image_digest text CHECK (image_digest ~ '^sha256:[0-9a-f]{64}$');

-- A tenant's default image: the reference a job without `image` runs on (resolved at each submission, so
-- it follows its tag; the job records the digest). One row per tenant at most.
CREATE TABLE image_defaults (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  image text NOT NULL CHECK (length(image) BETWEEN 1 AND 300),
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE image_defaults ENABLE ROW LEVEL SECURITY;
ALTER TABLE image_defaults FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON image_defaults TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON image_defaults TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON image_defaults TO bulkhead_app, bulkhead_system;
