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
  // Shares of the tenant's objects with other tenants (issue 15): tenant admins.
  'shares.read': { scope: 'tenant', mutates: false },
  'shares.write': { scope: 'tenant', mutates: true },
  // An organization's admins create children under it and set its descendants' quotas (issue 15).
  'subtree.write': { scope: 'tenant', mutates: true },
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
const admin: readonly Action[] = [...member, 'members.write', 'tokens.read', 'tokens.write', 'audit.read', 'alerts.read', 'alerts.write', 'shares.read', 'shares.write', 'subtree.write'];
const owner: readonly Action[] = [...admin];

/** The declared role → permission table. Platform admins hold every action. */
export const rolePermissions: Record<TenantRole, ReadonlySet<Action>> = {
  viewer: new Set(viewer),
  member: new Set(member),
  admin: new Set(admin),
  owner: new Set(owner),
};

/**
 * The permission catalogue (GET /api/v1/permissions): every tenant-scope action, named `area:verb`. The
 * four built-in roles are predefined sets of it (`rolePermissions`); a custom role is any subset. Platform
 * actions are not in it, so no tenant role can ever hold one.
 */
export type Permission = `${string}:${string}`;

export const permissionOf = (action: Action): Permission => action.replace('.', ':') as Permission;

const permissionDescriptions: Partial<Record<Action, string>> = {
  'tenant.read': "read the tenant's record",
  'members.read': 'list members', 'members.write': 'add, change and remove members',
  'tokens.read': 'list API tokens and service accounts', 'tokens.write': 'create and revoke API tokens and service accounts',
  'audit.read': "read the tenant's audit log", 'quota.read': 'read the quota', 'usage.read': 'read metered usage',
  'tracking.read': 'read experiments, runs, metrics and params', 'tracking.write': 'create runs, log metrics, params and tags',
  'artifacts.read': 'download artifacts', 'artifacts.write': 'upload artifacts',
  'datasets.read': 'read datasets', 'datasets.write': 'create dataset versions',
  'models.read': 'read the model registry', 'models.write': 'register models and versions',
  'jobs.read': 'read jobs and their logs', 'jobs.write': 'submit and cancel jobs',
  'deployments.read': 'read deployments', 'deployments.write': 'create, change and delete deployments',
  'inference.invoke': 'call deployed models', 'alerts.read': "read the tenant's security alerts", 'alerts.write': 'mark alerts',
};

export interface PermissionEntry {
  name: Permission;
  action: Action;
  description: string;
  /** The built-in roles that hold it. */
  builtInRoles: TenantRole[];
}

export const permissionCatalogue: readonly PermissionEntry[] = (Object.keys(actions) as Action[])
  .filter((action) => actions[action].scope === 'tenant')
  .map((action) => ({
    name: permissionOf(action),
    action,
    description: permissionDescriptions[action] ?? action,
    builtInRoles: (Object.keys(rolePermissions) as TenantRole[]).filter((role) => rolePermissions[role].has(action)),
  }));

const byName = new Map<string, Action>(permissionCatalogue.map((entry) => [entry.name, entry.action]));
const platformNames = new Set((Object.keys(actions) as Action[]).filter((a) => actions[a].scope === 'platform').map(permissionOf));

/**
 * Permission names → actions. Unknown names and platform-level names are reported, not dropped: a role
 * definition that names one is refused whole.
 */
export const parsePermissions = (names: readonly string[]): { actions: Set<Action>; unknown: string[]; platform: string[] } => {
  const out = new Set<Action>();
  const unknown: string[] = [];
  const platform: string[] = [];
  for (const name of names) {
    const action = byName.get(name);
    if (action !== undefined) out.add(action);
    else if (platformNames.has(name as Permission)) platform.push(name);
    else unknown.push(name);
  }
  return { actions: out, unknown, platform };
};

export const isBuiltInRole = (role: string): role is TenantRole => Object.hasOwn(rolePermissions, role);
