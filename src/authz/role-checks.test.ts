import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actions, authorize, canGrant, checkRoleDefinition, heldBy, parsePermissions, permissionCatalogue, permissionOf, rolePermissions } from './index.ts';
import type { Action, Principal } from './index.ts';
import { tenantRoles } from '../contract/roles.ts';
import { isAppError } from '../core/errors.ts';

const tenant = { id: '00000000-0000-4000-8000-000000000001', status: 'active' as const };
const base = { kind: 'tenant' as const, tokenId: 't', tenantId: tenant.id, userId: undefined, label: 'x' };
const admin: Principal = { ...base, role: 'admin' };
const platform: Principal = { kind: 'platform_admin', tokenId: 'p', userId: undefined, label: 'p' };
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isAppError(error) ? error.code : 'not an AppError';
  }
};

test('the catalogue is every tenant-scope action, no platform one; built-in roles are sets of it', () => {
  const names = new Set(permissionCatalogue.map((e) => e.name));
  for (const action of Object.keys(actions) as Action[]) {
    assert.equal(names.has(permissionOf(action)), actions[action].scope === 'tenant', action);
  }
  for (const role of tenantRoles) for (const action of rolePermissions[role]) assert.ok(names.has(permissionOf(action)), `${role}: ${action}`);
  assert.deepEqual(parsePermissions(['tracking:read', 'nope:x', 'platform:tenants.read']), { actions: new Set(['tracking.read']), unknown: ['nope:x'], platform: ['platform:tenants.read'] });
});

test('a principal with its own permission set holds exactly that set; without one, its role decides (unchanged)', () => {
  const logger: Principal = { ...base, role: 'viewer', customRole: 'logger', permissions: new Set<Action>(['tracking.read', 'tracking.write']) };
  assert.equal(authorize(logger, tenant, 'tracking.write').allowed, true);
  assert.deepEqual(authorize(logger, tenant, 'artifacts.read'), { allowed: false, reason: 'forbidden' });
  // Another tenant stays not_found, whatever the permissions.
  assert.deepEqual(authorize(logger, { ...tenant, id: '00000000-0000-4000-8000-000000000002' }, 'tracking.read'), { allowed: false, reason: 'not_found' });
  for (const role of tenantRoles) {
    const principal: Principal = { ...base, role };
    for (const action of Object.keys(actions) as Action[]) {
      const expected = actions[action].scope === 'tenant' && rolePermissions[role].has(action);
      assert.equal(authorize(principal, tenant, action).allowed, expected, `${role} ${action}`);
    }
  }
  assert.equal(heldBy(platform).size, Object.keys(actions).length);
});

test('role definitions: unknown names 400, platform names 403, above the creator 403, empty 400', () => {
  assert.equal(codeOf(() => checkRoleDefinition(admin, ['runs:fly'])), 'VALIDATION_FAILED');
  assert.equal(codeOf(() => checkRoleDefinition(platform, ['platform:tenants.read'])), 'FORBIDDEN');
  assert.equal(codeOf(() => checkRoleDefinition(admin, [])), 'VALIDATION_FAILED');
  const narrow: Principal = { ...base, role: 'viewer', permissions: new Set<Action>(['members.write', 'tracking.read']) };
  assert.equal(codeOf(() => checkRoleDefinition(narrow, ['tracking.read', 'artifacts:read'].map((n) => n.replace('.', ':')))), 'FORBIDDEN');
  assert.deepEqual([...checkRoleDefinition(narrow, ['tracking:read'])], ['tracking.read']);
  assert.deepEqual(canGrant(narrow, rolePermissions.viewer).sort(), [...rolePermissions.viewer].filter((a) => a !== 'tracking.read').map(permissionOf).sort());
  assert.deepEqual(canGrant(admin, rolePermissions.owner), []);
});
