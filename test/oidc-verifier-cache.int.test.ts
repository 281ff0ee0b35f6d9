/**
 * The verified-access-token cache of the OIDC verifier (issue 14, item 4), against a real OpenID Provider
 * (panva's oidc-provider, in-process; no database): a token that verified is reused only until its own
 * `exp`; a token differing in one byte is verified in full; a
 * failure is never remembered; with the cache off, the same answers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { createOidcVerifier } from '../src/identity/index.ts';
import type { OidcVerifierOptions } from '../src/identity/index.ts';
import { startTestIdp } from './support/oidc-provider.ts';
import type { TestIdp } from './support/oidc-provider.ts';

describe('OIDC verifier: verified-token cache', () => {
  let idp: TestIdp;
  let clock = Date.now();
  const verifierWith = (extra: Partial<OidcVerifierOptions> = {}) => createOidcVerifier({
    issuer: idp.issuer, audience: idp.audience, clientId: idp.clientId, algorithms: ['RS256'], clockSkewSeconds: 0,
    groupsClaim: 'groups', usernameClaim: 'preferred_username', now: () => clock, ...extra,
  });

  before(async () => {
    idp = await startTestIdp({ machineClients: ['cache-ci'] });
    idp.groups.set('cache-ci', ['g1']);
  });
  after(async () => idp?.close());

  for (const size of [10_000, 0]) {
    test(`a cached token is refused once it expires (cache size ${size})`, async () => {
      clock = Date.now();
      const verifier = verifierWith({ verifiedCacheSize: size });
      const token = await idp.machineToken('cache-ci');
      const exp = decodeJwt(token).exp!;
      const first = await verifier.verifyAccessToken(token);
      assert.equal(first.ok, true);
      const again = await verifier.verifyAccessToken(token);
      assert.deepEqual(again, first, 'the same claims either way');
      clock = exp * 1000 + 1000;
      const late = await verifier.verifyAccessToken(token);
      assert.equal(late.ok, false);
      assert.equal(!late.ok && late.reason, 'token_expired');
    });
  }

  test('one changed byte is verified in full; failures are not remembered', async () => {
    clock = Date.now();
    const verifier = verifierWith();
    const token = await idp.machineToken('cache-ci');
    assert.equal((await verifier.verifyAccessToken(token)).ok, true);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'AB' : 'AA'}`;
    for (let i = 0; i < 2; i += 1) {
      const result = await verifier.verifyAccessToken(flipped);
      assert.equal(!result.ok && result.reason, 'bad_signature');
    }
    // Another payload with the original signature.
    const claims = decodeJwt(token);
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, groups: ['platform-ops'] })).toString('base64url')}.${signature}`;
    assert.equal((await verifier.verifyAccessToken(forged)).ok, false);
    assert.equal((await verifier.verifyAccessToken(token)).ok, true, 'the genuine token still verifies');
  });
});
