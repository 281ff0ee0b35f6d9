/**
 * Authorization: the declared role → permission table and the one decision point `authorize`. It owns
 * no IO and no authentication (identity/ does that); routes declare their action and the HTTP layer
 * calls `authorize` before any handler runs.
 */
export { authorize, heldBy } from './authorize.ts';
export type { Principal, TenantRef, Decision } from './authorize.ts';
export { actions, rolePermissions, permissionCatalogue, permissionOf, parsePermissions, isBuiltInRole } from './permissions.ts';
export type { Action, Permission, PermissionEntry } from './permissions.ts';
export { checkRoleDefinition, canGrant } from './role-checks.ts';
export { resourceScopeNeed } from './resource-scope.ts';
export type { ResourceScopeNeed } from './resource-scope.ts';
