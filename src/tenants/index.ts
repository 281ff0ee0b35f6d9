/**
 * Tenants: their records (slug, name, isolation tier, status) and quota records, and their deletion — the
 * order of its steps and its SQL (tenant-deletion.ts). It owns the quota fields, not their enforcement (the
 * scheduler, artifact store and gateway enforce them); deletion reaches jobs, deployments, files and the
 * cluster only through the ports main/ gives it; so does suspension (tenant-suspension.ts), which stops a
 * suspended tenant's running jobs and pauses its deployments.
 */
export { createTenantService, defaultQuota, maxTreeDepth, readTenantQuota, tenantErrors } from './tenant-service.ts';
export type { Tenant, TenantQuota, TenantQuotaUpdate, TenantService, TenantTreeNode, TenantUsage, ResourceAmounts } from './tenant-service.ts';
export { createTenantDeletion, tenantDeletionErrors } from './tenant-deletion.ts';
export type { KubernetesDeletion, ModelPlaintextWipe, TenantDeletion, TenantDeletionPlan, TenantDeletionPorts, TenantDeletionSummary, TenantFiles } from './tenant-deletion.ts';
export { createTenantSuspension } from './tenant-suspension.ts';
export type { TenantSuspension, TenantSuspensionEffect, TenantSuspensionPorts } from './tenant-suspension.ts';
