-- Issue 24 (continued): GPU fractions as same-tenant time-slicing, MIG profiles, nvidia-smi metering.
--
-- Fractions. A job may ask for `gpu: 0.5` (any fraction below one, in hundredths). It time-slices ONE
-- device with other jobs of the SAME tenant: time-slicing gives no memory or fault isolation, so a device
-- holding a fraction is never shared across tenants. The guarantee stays in the database, across
-- processes and replicas:
--   - the device is still held by ONE gpu_grants row (device_id is the primary key, so one tenant per
--     device), now with a mode: 'whole' (one job, as before) or 'shared' (job_id NULL, units_used = the
--     hundredths its tenant's fraction jobs hold together, never above 100);
--   - each fraction job's part is a gpu_shares row (one per job).
-- Joining a shared device is one `INSERT … ON CONFLICT (device_id) DO UPDATE … WHERE tenant matches AND
-- mode = 'shared' AND units_used + n <= 100`: the row lock serializes concurrent joiners, a device held
-- whole or by another tenant (invisible under RLS, or refused by its policy) is never joined, and the
-- admission fails whole (the job stays queued).
ALTER TABLE jobs ALTER COLUMN gpu TYPE numeric(6, 2);
ALTER TABLE jobs ADD CONSTRAINT jobs_gpu_fraction CHECK (gpu >= 1 AND gpu = trunc(gpu) OR gpu < 1);

ALTER TABLE gpu_grants ALTER COLUMN job_id DROP NOT NULL;
ALTER TABLE gpu_grants ALTER COLUMN ordinal DROP NOT NULL;
ALTER TABLE gpu_grants ADD COLUMN mode text NOT NULL DEFAULT 'whole' CHECK (mode IN ('whole', 'shared'));
ALTER TABLE gpu_grants ADD COLUMN units_used integer NOT NULL DEFAULT 100 CHECK (units_used BETWEEN 0 AND 100);
ALTER TABLE gpu_grants ADD CONSTRAINT gpu_grants_mode_holder CHECK (
  (mode = 'whole' AND job_id IS NOT NULL AND ordinal IS NOT NULL AND units_used = 100)
  OR (mode = 'shared' AND job_id IS NULL AND ordinal IS NULL)
);
-- A shared device's row is updated as its tenant's fraction jobs come and go (its own rows only: RLS).
GRANT UPDATE ON gpu_grants TO bulkhead_app;

CREATE TABLE gpu_shares (
  job_id uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- The shared device (its gpu_grants row must exist while the share does).
  device_id text NOT NULL REFERENCES gpu_grants (device_id),
  units integer NOT NULL CHECK (units BETWEEN 1 AND 99),
  granted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gpu_shares_device_idx ON gpu_shares (device_id);
CREATE INDEX gpu_shares_tenant_idx ON gpu_shares (tenant_id);

ALTER TABLE gpu_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE gpu_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gpu_shares TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON gpu_shares TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON gpu_shares TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON gpu_shares TO bulkhead_system;

-- MIG: a job may ask for a MIG profile (`mig-3g`); it is granted one MIG instance of that profile whole
-- (a gpu_grants row, mode 'whole'), which is the only way a physical GPU is shared across tenants.
ALTER TABLE jobs ADD COLUMN gpu_mig_profile text CHECK (gpu_mig_profile ~ '^mig-[1-7]g(\.[0-9]+gb)?$');

-- GPU metering from nvidia-smi (where it exists): two more ledger resources, neither billed by default.
-- gpuBusySeconds = GPU-seconds × the job's mean utilization (a sum); gpuMemoryPeakBytes a high-water mark.
ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_resource_check;
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_resource_check CHECK (resource IN ('cpuCoreSeconds', 'memoryPeakBytes', 'memoryGiBHours',
  'memoryUsedGiBHours', 'gpuSeconds', 'gpuBusySeconds', 'gpuMemoryPeakBytes', 'storageGiBHours', 'artifactBytesDownloaded', 'inferenceRequests',
  'inferenceSeconds', 'apiRequests'));
