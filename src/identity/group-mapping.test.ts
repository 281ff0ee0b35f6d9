import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapGroups, ssoUsername } from './group-mapping.ts';

const mappings = [
  { group: 'ml-readers', tenant: 'acme', role: 'viewer' },
  { group: 'ml-engineers', tenant: 'acme', role: 'member' },
  { group: 'ml-loggers', tenant: 'acme', role: 'metrics-writer' },
  { group: 'ml-loggers', tenant: 'globex', role: 'metrics-writer' },
  { group: 'ml-other-custom', tenant: 'globex', role: 'second-custom' },
  { group: 'globex-admins', tenant: 'globex', role: 'admin' },
];

test('groups map to one role per tenant: highest built-in wins, custom only without a built-in', () => {
  assert.deepEqual([...mapGroups(['ml-readers', 'ml-engineers'], mappings, []).tenants], [['acme', 'member']]);
  // Order of the groups in the token does not matter.
  assert.deepEqual([...mapGroups(['ml-engineers', 'ml-readers'], mappings, []).tenants], [['acme', 'member']]);
  assert.deepEqual([...mapGroups(['ml-loggers', 'ml-readers'], mappings, []).tenants], [['acme', 'viewer'], ['globex', 'metrics-writer']]);
  // Among custom roles the first mapping listed wins; a built-in displaces it.
  assert.equal(mapGroups(['ml-other-custom', 'ml-loggers'], mappings, []).tenants.get('globex'), 'metrics-writer');
  assert.equal(mapGroups(['ml-loggers', 'globex-admins'], mappings, []).tenants.get('globex'), 'admin');
});

test('no matching group: nothing; unknown groups are ignored; matching is exact', () => {
  const none = mapGroups(['ML-ENGINEERS', 'unrelated'], mappings, ['platform-ops']);
  assert.equal(none.tenants.size, 0);
  assert.equal(none.platformAdmin, false);
  assert.equal(mapGroups(['platform-ops'], mappings, ['platform-ops']).platformAdmin, true);
});

test('SSO usernames fit the users table or fall back to a digest', () => {
  assert.equal(ssoUsername('Alice.Smith@Example.com', 'abc'), 'alice.smith@example.com');
  assert.equal(ssoUsername('Bob Jones', 'abc'), 'bob-jones');
  assert.equal(ssoUsername('李', '0123456789abcdef0123'), 'sso-0123456789abcdef');
  assert.match(ssoUsername('x'.repeat(200), 'abc'), /^[a-z0-9][a-z0-9._@-]{1,62}$/);
});
