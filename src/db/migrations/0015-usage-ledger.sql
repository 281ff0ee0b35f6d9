-- The usage ledger (docs/monitoring.md): what each tenant used, per resource, in hourly buckets. Rows are
-- appended, never updated: each carries the key of the measurement it came from (`source`: a job attempt,
-- one flush of a process's request counters, one storage sample), and the primary key makes writing the
-- same measurement twice (a retry, a restart re-reading what it had already written) a no-op.
-- Quantities are in the unit the resource's name says (cpuCoreSeconds, memoryGiBHours, ...); a bucket's
-- total is the SUM of its rows (memoryPeakBytes: the MAX).
CREATE TABLE usage_ledger (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
  resource text NOT NULL CHECK (resource IN ('cpuCoreSeconds', 'memoryPeakBytes', 'memoryGiBHours', 'memoryUsedGiBHours', 'gpuSeconds',
    'storageGiBHours', 'artifactBytesDownloaded', 'inferenceRequests', 'inferenceSeconds', 'apiRequests')),
  bucket_start timestamptz NOT NULL,
  quantity double precision NOT NULL CHECK (quantity >= 0 AND quantity < 'Infinity'::double precision),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, source, resource, bucket_start)
);
CREATE INDEX usage_ledger_bucket_idx ON usage_ledger (tenant_id, bucket_start);
CREATE INDEX usage_ledger_period_idx ON usage_ledger (bucket_start);

ALTER TABLE usage_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_ledger FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_ledger TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON usage_ledger TO bulkhead_system USING (true) WITH CHECK (true);

-- Append-only for both roles: no UPDATE. The system role writes the cross-tenant flushes and samples and
-- deletes a deleted tenant's rows.
GRANT SELECT, INSERT ON usage_ledger TO bulkhead_app;
GRANT SELECT, INSERT, DELETE ON usage_ledger TO bulkhead_system;
