-- Bandwidth quotas: ingress and egress bytes per second, each with a burst, on the tenant's quota record
-- (docs/bandwidth.md). The defaults (10 GiB/s, 10 GiB burst) never bind on today's installations, so existing
-- tenants are not slowed; a platform admin lowers them per tenant. tenant_quotas keeps its row-level security
-- (ENABLE + FORCE, tenant_isolation and system_access from 0001); the new columns need no policy of their own.
ALTER TABLE tenant_quotas
  ADD COLUMN ingress_bytes_per_second bigint NOT NULL DEFAULT 10737418240 CHECK (ingress_bytes_per_second > 0),
  ADD COLUMN ingress_burst_bytes bigint NOT NULL DEFAULT 10737418240 CHECK (ingress_burst_bytes >= 0),
  ADD COLUMN egress_bytes_per_second bigint NOT NULL DEFAULT 10737418240 CHECK (egress_bytes_per_second > 0),
  ADD COLUMN egress_burst_bytes bigint NOT NULL DEFAULT 10737418240 CHECK (egress_burst_bytes >= 0);
