import type { TenantRole } from '../contract/roles.ts';

/**
 * Every action a route can declare. `scope: 'platform'` actions are for platform admins only;
 * `mutates` actions are refused on a suspended tenant even to platform admins (a suspended tenant's own
 * principals are refused everything: authorize.ts).
 */
export const actions = {
  'tenant.read': { scope: 'tenant', mutates: false },
  'members.read': { scope: 'tenant', mutates: false },
  'members.write': { scope: 'tenant', mutates: true },
  'tokens.read': { scope: 'tenant', mutates: false },
  'tokens.write': { scope: 'tenant', mutates: true },
  'audit.read': { scope: 'tenant', mutates: false },
  'quota.read': { scope: 'tenant', mutates: false },
  'usage.read': { scope: 'tenant', mutates: false },
  'tracking.read': { scope: 'tenant', mutates: false },
  'tracking.write': { scope: 'tenant', mutates: true },
  'artifacts.read': { scope: 'tenant', mutates: false },
  'artifacts.write': { scope: 'tenant', mutates: true },
  'datasets.read': { scope: 'tenant', mutates: false },
  'datasets.write': { scope: 'tenant', mutates: true },
  'models.read': { scope: 'tenant', mutates: false },
  'models.write': { scope: 'tenant', mutates: true },
  'jobs.read': { scope: 'tenant', mutates: false },
  'jobs.write': { scope: 'tenant', mutates: true },
  'deployments.read': { scope: 'tenant', mutates: false },
  'deployments.write': { scope: 'tenant', mutates: true },
  'inference.invoke': { scope: 'tenant', mutates: false },
  'images.read': { scope: 'tenant', mutates: false },
  'images.write': { scope: 'tenant', mutates: true },
  'platform.tenants.read': { scope: 'platform', mutates: false },
  'platform.tenants.write': { scope: 'platform', mutates: false },
  // Deleting a tenant: platform admins only, and only once the tenant is suspended (checked by the
  // deletion itself — so not `mutates`, which would refuse it on exactly the tenants it applies to).
  'platform.tenants.delete': { scope: 'platform', mutates: false },
  'platform.quota.write': { scope: 'platform', mutates: false },
  'platform.users.read': { scope: 'platform', mutates: false },
  'platform.users.write': { scope: 'platform', mutates: false },
  'platform.audit.read': { scope: 'platform', mutates: false },
  'platform.kubernetes.read': { scope: 'platform', mutates: false },
  // The platform-wide public image store (issue 17).
  'platform.images.write': { scope: 'platform', mutates: false },
  // Security alerts of the caller's own tenant (GET /api/v1/alerts, marking a false positive): checked by
  // the alert routes themselves, which serve platform admins (all alerts) and tenant admins on one path.
  'alerts.read': { scope: 'tenant', mutates: false },
  'alerts.write': { scope: 'tenant', mutates: true },
} as const satisfies Record<string, { scope: 'tenant' | 'platform'; mutates: boolean }>;

export type Action = keyof typeof actions;

const viewer: readonly Action[] = [
  'tenant.read', 'members.read', 'quota.read', 'usage.read', 'tracking.read', 'artifacts.read', 'datasets.read',
  'models.read', 'jobs.read', 'deployments.read', 'images.read',
];
const member: readonly Action[] = [
  ...viewer, 'tracking.write', 'artifacts.write', 'datasets.write', 'models.write', 'jobs.write', 'deployments.write',
  'inference.invoke', 'images.write',
];
const admin: readonly Action[] = [...member, 'members.write', 'tokens.read', 'tokens.write', 'audit.read', 'alerts.read', 'alerts.write'];
const owner: readonly Action[] = [...admin];

/** The declared role → permission table. Platform admins hold every action. */
export const rolePermissions: Record<TenantRole, ReadonlySet<Action>> = {
  viewer: new Set(viewer),
  member: new Set(member),
  admin: new Set(admin),
  owner: new Set(owner),
};
