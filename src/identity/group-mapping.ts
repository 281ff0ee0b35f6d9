import { roleRank } from '../contract/roles.ts';
import type { TenantRole } from '../contract/roles.ts';

export interface RoleMapping {
  group: string;
  /** Tenant slug (or id). */
  tenant: string;
  /** A built-in role or a custom role of that tenant. */
  role: string;
}

export interface MappedAccess {
  platformAdmin: boolean;
  /** Tenant ref → role, one per tenant, in the order the tenants first appear in the mappings. */
  tenants: Map<string, string>;
}

const isBuiltIn = (role: string): role is TenantRole => Object.hasOwn(roleRank, role);

/**
 * A person's groups → what they may reach: pure, so the IdP's group list decides alone (nothing is kept
 * from an earlier sign-in). Per tenant, the highest built-in role among the matching mappings wins; a
 * custom role applies only where no built-in role matched, and among custom roles the first mapping
 * listed wins (order in the config is the tie-break, documented in docs/identity.md). Group names match
 * exactly (case-sensitive, as IdPs send them).
 */
export const mapGroups = (groups: readonly string[], mappings: readonly RoleMapping[], platformAdminGroups: readonly string[]): MappedAccess => {
  const have = new Set(groups);
  const tenants = new Map<string, string>();
  for (const mapping of mappings) {
    if (!have.has(mapping.group)) continue;
    const current = tenants.get(mapping.tenant);
    if (current === undefined) {
      tenants.set(mapping.tenant, mapping.role);
    } else if (isBuiltIn(mapping.role)) {
      if (!isBuiltIn(current) || roleRank[mapping.role] > roleRank[current]) tenants.set(mapping.tenant, mapping.role);
    }
  }
  return { platformAdmin: platformAdminGroups.some((group) => have.has(group)), tenants };
};

/**
 * A username the users table accepts (`^[a-z0-9][a-z0-9._@-]{1,62}$`) from the IdP's claim: lower-cased,
 * other characters replaced by `-`; a claim that still does not fit becomes `sso-` + a digest of the subject.
 */
export const ssoUsername = (hint: string, subjectDigest: string): string => {
  const cleaned = hint.toLowerCase().replace(/[^a-z0-9._@-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63);
  return /^[a-z0-9][a-z0-9._@-]{1,62}$/.test(cleaned) ? cleaned : `sso-${subjectDigest.slice(0, 16)}`;
};
