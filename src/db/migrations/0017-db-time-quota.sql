-- Database time as a tenant quota (issue #25): the longest one statement of the tenant may run, and how
-- many of the tenant's database operations (transactions or scoped reads) may be admitted at once in one
-- platform process. Existing tenants get the same defaults as new ones (tenant-service.ts defaultQuota).
-- tenant_quotas keeps its row-level security from 0001; the new columns need no policy of their own.
ALTER TABLE tenant_quotas
  ADD COLUMN db_statement_timeout_ms integer NOT NULL DEFAULT 10000
    CHECK (db_statement_timeout_ms BETWEEN 1 AND 3600000),
  ADD COLUMN db_max_concurrent_operations integer NOT NULL DEFAULT 8
    CHECK (db_max_concurrent_operations BETWEEN 1 AND 10000);
