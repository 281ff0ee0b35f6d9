import type { TenantRole, TenantStatus } from '../contract/roles.ts';
import { actions, rolePermissions } from './permissions.ts';
import type { Action } from './permissions.ts';

/** Who is calling, as established by authentication. */
export type Principal =
  | { kind: 'platform_admin'; tokenId: string; userId: string | undefined; label: string }
  | {
    kind: 'tenant'; tokenId: string; tenantId: string; role: TenantRole; userId: string | undefined; label: string; jobId?: string; deploymentId?: string;
    /**
     * What this principal may do when it is not exactly its built-in role's set: a custom role's
     * permissions, or a scoped token's subset. Absent: `rolePermissions[role]`. (A custom-role principal's
     * `role` is `viewer`, the lowest rank, for the rank-based checks such as which built-in role it may grant.)
     */
    permissions?: ReadonlySet<Action>;
    /** The custom role's name, when `permissions` comes from one. */
    customRole?: string;
    /**
     * A token narrowed to named resources: these experiments (ids), registered models and deployments
     * (names). It reaches their union; everything else is NOT_FOUND to it (resource-scope.ts). All three
     * absent: not narrowed.
     */
    experiments?: ReadonlySet<string>;
    models?: ReadonlySet<string>;
    deployments?: ReadonlySet<string>;
  };

export interface TenantRef {
  id: string;
  status: TenantStatus;
}

export type Decision =
  | { allowed: true }
  | { allowed: false; reason: 'not_found' | 'forbidden' | 'suspended' };

const allActions: ReadonlySet<Action> = new Set(Object.keys(actions) as Action[]);

/** The actions a principal holds: every action for a platform admin, else its permission set. */
export const heldBy = (principal: Principal): ReadonlySet<Action> =>
  principal.kind === 'platform_admin' ? allActions : principal.permissions ?? rolePermissions[principal.role];

/**
 * The one authorization decision point. `tenant` is the tenant the request addresses (from its path), or
 * undefined for platform-level routes.
 *
 * - Another tenant's resources are `not_found`, never `forbidden`: nothing reveals that they exist.
 * - Platform-scope actions need a platform admin; tenant principals get `forbidden`.
 * - A tenant principal needs the action in its role's permission set.
 * - A suspended tenant is stopped: its own principals may do nothing (`suspended`; the auth hook refuses
 *   their tokens before this is asked), and platform admins may only read it (mutating actions are `suspended`).
 */
export const authorize = (principal: Principal, tenant: TenantRef | undefined, action: Action): Decision => {
  const spec = actions[action];
  if (principal.kind === 'tenant' && tenant !== undefined && tenant.id !== principal.tenantId) {
    return { allowed: false, reason: 'not_found' };
  }
  if (spec.scope === 'platform') {
    return principal.kind === 'platform_admin' ? { allowed: true } : { allowed: false, reason: 'forbidden' };
  }
  if (tenant === undefined) return { allowed: false, reason: 'forbidden' };
  if (principal.kind === 'tenant' && !heldBy(principal).has(action)) {
    return { allowed: false, reason: 'forbidden' };
  }
  if (tenant.status === 'suspended' && (spec.mutates || principal.kind === 'tenant')) return { allowed: false, reason: 'suspended' };
  return { allowed: true };
};
