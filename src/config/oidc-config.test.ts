import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './config.ts';
import { isAppError } from '../core/errors.ts';

test('BULKHEAD_OIDC_* build the oidc block with its defaults', () => {
  const config = loadConfig({
    BULKHEAD_OIDC_ISSUER: 'https://idp.example.com/realms/acme',
    BULKHEAD_OIDC_CLIENT_ID: 'bulkhead',
    BULKHEAD_OIDC_CLIENT_SECRET: 'secret-value-never-echoed',
    BULKHEAD_OIDC_SCOPES: 'openid profile groups',
    BULKHEAD_OIDC_ROLE_MAPPINGS: '[{"group":"ml-eng","tenant":"acme","role":"member"}]',
    BULKHEAD_OIDC_PLATFORM_ADMIN_GROUPS: 'ops, sre',
  });
  assert.equal(config.oidc?.issuer, 'https://idp.example.com/realms/acme');
  assert.deepEqual(config.oidc?.scopes, ['openid', 'profile', 'groups']);
  assert.deepEqual(config.oidc?.roleMappings, [{ group: 'ml-eng', tenant: 'acme', role: 'member' }]);
  assert.deepEqual(config.oidc?.platformAdminGroups, ['ops', 'sre']);
  assert.equal(config.oidc?.groupsClaim, 'groups');
  assert.equal(config.oidc?.usernameClaim, 'preferred_username');
  assert.equal(config.oidc?.sessionRefreshSeconds, 900);
  assert.deepEqual(config.oidc?.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  assert.equal(loadConfig({}).oidc, undefined, 'no block: no SSO');
});

test('a bad oidc block lists its problems without echoing the secret; HS256 and none cannot be allowed', () => {
  for (const algorithms of ['HS256', 'none', 'RS256,HS512']) {
    let message = '';
    try {
      loadConfig({ BULKHEAD_OIDC_ISSUER: 'https://idp.example.com', BULKHEAD_OIDC_CLIENT_ID: 'b', BULKHEAD_OIDC_CLIENT_SECRET: 'secret-value-never-echoed', BULKHEAD_OIDC_ALGORITHMS: algorithms });
    } catch (error) {
      assert.ok(isAppError(error) && error.code === 'VALIDATION_FAILED');
      message = error.message;
    }
    assert.match(message, /oidc\.algorithms/, algorithms);
    assert.ok(!message.includes('secret-value-never-echoed'));
  }
  assert.throws(() => loadConfig({ BULKHEAD_OIDC_CLIENT_ID: 'b' }), /oidc\.issuer/);
  assert.throws(() => loadConfig({ BULKHEAD_OIDC_ISSUER: 'https://i', BULKHEAD_OIDC_CLIENT_ID: 'b', BULKHEAD_OIDC_ROLE_MAPPINGS: 'not json' }), /BULKHEAD_OIDC_ROLE_MAPPINGS/);
});
