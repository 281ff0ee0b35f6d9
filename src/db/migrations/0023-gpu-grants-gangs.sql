-- Issue 24: GPUs are granted as specific devices, never counted only; gang jobs (jobs.workers, at the end).
--
-- gpu_grants: one row per device a running (or admitted) job holds on this installation's GPU host. The
-- device id is the primary key, so no device is ever granted twice at once — whatever process, replica
-- or restart tries: the database refuses the second INSERT even when row-level security hides the
-- holder's row from the second tenant. A grant is inserted in the same transaction as the job's `admit`
-- transition and deleted in the transition that takes the job out of admitted/running.
CREATE TABLE gpu_grants (
  device_id text PRIMARY KEY CHECK (device_id ~ '^(nvidia[0-9]+|nvidia-caps/nvidia-cap[0-9]+)$'),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  -- The device's number inside the job (CUDA_VISIBLE_DEVICES ordinal).
  ordinal integer NOT NULL CHECK (ordinal >= 0),
  granted_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, ordinal)
);
CREATE INDEX gpu_grants_tenant_idx ON gpu_grants (tenant_id);

-- The job's last grant, in ordinal order, kept after it ends (`jobs get` shows what it ran on).
ALTER TABLE jobs ADD COLUMN gpu_devices jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE gpu_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE gpu_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gpu_grants TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON gpu_grants TO bulkhead_system USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, DELETE ON gpu_grants TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON gpu_grants TO bulkhead_system;

-- Gang jobs: how many workers run the job at once (its resources are per worker). The scheduler admits
-- the whole gang or nothing.
ALTER TABLE jobs ADD COLUMN workers integer NOT NULL DEFAULT 1 CHECK (workers BETWEEN 1 AND 64);
