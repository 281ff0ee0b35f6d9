-- Issue 15: fair share on decayed usage. One row per tenant that has ever held capacity: its decayed
-- usage as of `as_of` (dominant share·seconds and, per resource, core·seconds, MiB·seconds, GPU·seconds,
-- each halving every BULKHEAD_FAIR_SHARE_HALF_LIFE) and what it held from then on (`rate_*`, per
-- second). The job runner (the leader) rewrites a tenant's row whenever its holding changes, so a restart
-- or a new leader continues from it (src/jobs/fair-share-store.ts, docs/scheduler.md).
CREATE TABLE fair_share_usage (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  dominant double precision NOT NULL CHECK (dominant >= 0 AND dominant < 'Infinity'::double precision),
  cpu double precision NOT NULL CHECK (cpu >= 0 AND cpu < 'Infinity'::double precision),
  memory_mib double precision NOT NULL CHECK (memory_mib >= 0 AND memory_mib < 'Infinity'::double precision),
  gpu double precision NOT NULL CHECK (gpu >= 0 AND gpu < 'Infinity'::double precision),
  rate_dominant double precision NOT NULL CHECK (rate_dominant >= 0 AND rate_dominant < 'Infinity'::double precision),
  rate_cpu double precision NOT NULL CHECK (rate_cpu >= 0 AND rate_cpu < 'Infinity'::double precision),
  rate_memory_mib double precision NOT NULL CHECK (rate_memory_mib >= 0 AND rate_memory_mib < 'Infinity'::double precision),
  rate_gpu double precision NOT NULL CHECK (rate_gpu >= 0 AND rate_gpu < 'Infinity'::double precision),
  as_of timestamptz NOT NULL
);

ALTER TABLE fair_share_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE fair_share_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fair_share_usage TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON fair_share_usage TO bulkhead_system USING (true) WITH CHECK (true);

-- A tenant may read its own row; only the scheduler (system role) writes, and tenant deletion removes it.
GRANT SELECT ON fair_share_usage TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON fair_share_usage TO bulkhead_system;
