/**
 * Authorization: the declared role → permission table and the one decision point `authorize`. It owns
 * no IO and no authentication (identity/ does that); routes declare their action and the HTTP layer
 * calls `authorize` before any handler runs.
 */
export { authorize } from './authorize.ts';
export type { Principal, TenantRef, Decision } from './authorize.ts';
export { actions, rolePermissions } from './permissions.ts';
export type { Action } from './permissions.ts';
