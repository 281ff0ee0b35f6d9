/** Roles, tiers and statuses: the vocabulary the API, CLI and console share. */

export const tenantRoles = ['owner', 'admin', 'member', 'viewer'] as const;
export type TenantRole = (typeof tenantRoles)[number];

/** Higher rank can do everything a lower rank can. */
export const roleRank: Record<TenantRole, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

export const isolationTiers = ['process', 'sandbox', 'dedicated'] as const;
export type IsolationTier = (typeof isolationTiers)[number];

export const tenantStatuses = ['active', 'suspended'] as const;
export type TenantStatus = (typeof tenantStatuses)[number];
