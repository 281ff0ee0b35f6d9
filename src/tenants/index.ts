/**
 * Tenants: their records (slug, name, isolation tier, status) and quota records. It owns the quota
 * fields, not their enforcement (the scheduler, artifact store and gateway enforce them).
 */
export { createTenantService, defaultQuota, tenantErrors } from './tenant-service.ts';
export type { Tenant, TenantQuota, TenantQuotaUpdate, TenantService, ResourceAmounts } from './tenant-service.ts';
