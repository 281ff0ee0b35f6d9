import { AppError } from '../core/errors.ts';
import { heldBy } from './authorize.ts';
import type { Principal } from './authorize.ts';
import { parsePermissions, permissionOf } from './permissions.ts';
import type { Action } from './permissions.ts';

/**
 * A custom role definition checked against its creator: every name must be in the catalogue, none may be
 * platform-level, and the creator must hold every permission it grants (no escalation through a role).
 * Returns the actions; throws VALIDATION_FAILED (unknown names, empty set) or FORBIDDEN (platform-level,
 * or above the creator's own), naming the offending permissions.
 */
export const checkRoleDefinition = (creator: Principal, names: readonly string[]): Set<Action> => {
  const parsed = parsePermissions(names);
  if (parsed.unknown.length > 0) {
    throw new AppError('VALIDATION_FAILED', `unknown permission(s): ${parsed.unknown.slice(0, 10).join(', ')} (GET /api/v1/permissions lists the catalogue)`, { details: { unknown: parsed.unknown.slice(0, 50) } });
  }
  if (parsed.platform.length > 0) {
    throw new AppError('FORBIDDEN', `a tenant role cannot hold platform-level permission(s): ${parsed.platform.join(', ')}`);
  }
  if (parsed.actions.size === 0) throw new AppError('VALIDATION_FAILED', 'a role holds at least one permission');
  const missing = canGrant(creator, parsed.actions);
  if (missing.length > 0) {
    throw new AppError('FORBIDDEN', `cannot grant permission(s) you do not hold: ${missing.join(', ')}`, { details: { missing } });
  }
  return parsed.actions;
};

/** The permissions of `wanted` that `grantor` does not hold (empty: it may grant them all). */
export const canGrant = (grantor: Principal, wanted: Iterable<Action>): string[] => {
  const held = heldBy(grantor);
  const missing: string[] = [];
  for (const action of wanted) if (!held.has(action)) missing.push(permissionOf(action));
  return missing;
};
