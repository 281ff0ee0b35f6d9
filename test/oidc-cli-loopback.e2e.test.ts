/**
 * CLI single sign-on against an IdP without the device flow, and the CLI's automatic refresh (issue 14),
 * through a real OpenID Provider (panva's oidc-provider, in-process, configured with no device
 * authorization grant) and real Chromium: `bulkhead login --sso` falls back to the authorization code flow
 * with PKCE and a loopback redirect to an ephemeral 127.0.0.1 port, and saves a session plus the IdP's
 * refresh token; when that session has expired, the next command refreshes once (refresh grant) and
 * retries; a refresh the IdP's groups no longer allow ends in a clear error after one attempt; a token
 * from BULKHEAD_TOKEN is never "refreshed". On PGlite (the OIDC logic is covered on both databases by
 * oidc-bearer.int.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';
import { startTestIdp } from './support/oidc-provider.ts';
import type { TestIdp } from './support/oidc-provider.ts';
import { openBrowser } from './support/browser.ts';
import { runCli } from '../src/cli/index.ts';
import { noAdmin } from './support/cli.ts';
import { waitFor } from './support/wait.ts';
import { hashToken } from '../src/identity/tokens.ts';

describe('CLI single sign-on without the device flow, and automatic refresh', () => {
  let idp: TestIdp;
  let p: TestPlatform;
  let url = '';
  let home = '';
  let file = '';

  /** The real CLI in-process; returns its exit code and what it printed (stdout, stderr). */
  const cli = (args: string[], env: Record<string, string> = {}, printed: { out: string[]; err: string[] } = { out: [], err: [] }) => {
    const done = runCli(args, {
      io: { out: (t) => printed.out.push(t), err: (t) => printed.err.push(t) }, env: { BULKHEAD_CLI_CONFIG: file, ...env },
      runServer: async () => { throw new Error('not used'); }, admin: noAdmin,
    }).finally(() => { process.exitCode = 0; });
    return { done, printed };
  };
  const saved = () => JSON.parse(readFileSync(file, 'utf8')) as { url: string; token: string; ssoRefreshToken?: string; tenant?: string };
  /** The saved session's expiry moved into the past, as if its 15 minutes had gone by. */
  const expireSavedSession = async (token: string) => {
    const { rowCount } = await p.database.owner.queryAsOwner("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hashToken(token)]);
    assert.equal(rowCount, 1);
    assert.equal((await p.call('GET', '/api/v1/me', token)).status, 401);
  };
  const refreshFailures = async () =>
    (await p.call('GET', '/api/v1/platform/audit?limit=500', adminToken)).body.events.filter((e: any) => e.action === 'auth.sso_failure' && e.target === 'refresh').length;

  before(async () => {
    // A native client: its registered loopback redirect matches 127.0.0.1 on any port (RFC 8252 §7.3).
    idp = await startTestIdp({ deviceFlow: false, nativeClient: true, redirectUris: ['http://127.0.0.1/callback'] });
    p = await createTestPlatform('pglite', {
      oidc: {
        issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, audience: idp.audience,
        scopes: ['openid', 'profile', 'email', 'groups'],
        roleMappings: [{ group: 'acme-eng', tenant: 'lb-acme', role: 'member' }],
      },
    });
    await p.createTenant('lb-acme');
    url = await p.listen();
    idp.groups.set('erin', ['acme-eng']);
    home = mkdtempSync(join(tmpdir(), 'bulkhead-sso-loopback-'));
    file = join(home, 'cli.json');
  });
  after(async () => {
    await p?.close();
    await idp?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('the platform says the device flow is unavailable; a loopback flow is only started for a loopback redirect', async () => {
    const device = await p.call('POST', '/api/v1/auth/oidc/device', undefined);
    assert.equal(device.status, 501, JSON.stringify(device.body));
    assert.equal(device.body.details.reason, 'device_flow_unsupported');
    for (const redirectUri of ['https://evil.example/callback', 'http://localhost:4000/callback', 'http://127.0.0.1/callback', 'http://127.0.0.1:4000/callback?x=1', 'http://user:pw@127.0.0.1:4000/cb']) {
      const refused = await p.call('POST', '/api/v1/auth/oidc/loopback', undefined, { redirectUri });
      assert.equal(refused.status, 400, `${redirectUri}: ${JSON.stringify(refused.body)}`);
    }
    const started = await p.call('POST', '/api/v1/auth/oidc/loopback', undefined, { redirectUri: 'http://127.0.0.1:4000/callback' });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const at = new URL(started.body.url);
    assert.equal(at.origin, idp.issuer);
    assert.equal(at.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(at.searchParams.get('scope')?.split(' ').includes('offline_access'));
    // A code redeemed with another flow's binding (someone else's redirect to this port): refused.
    const forged = await p.call('POST', '/api/v1/auth/oidc/loopback/token', undefined, { code: 'abc', state: at.searchParams.get('state'), flow: 'not-the-binding', redirectUri: 'http://127.0.0.1:4000/callback' });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.details.reason, 'bad_state');
  });

  test('bulkhead login --sso signs in through the loopback redirect and saves a refreshable session', async () => {
    const run = cli(['--url', url, 'login', '--sso', '--tenant', 'lb-acme']);
    const link = await waitFor('the CLI to print the sign-in URL', () => /open (https?:\/\/\S+) in a browser/.exec(run.printed.out.join(''))?.[1]);
    const browser = await openBrowser();
    try {
      await browser.page.goto(link);
      await browser.page.locator('input[name="login"]').waitFor();
      await browser.page.locator('input[name="login"]').fill('erin');
      await browser.page.locator('input[name="password"]').fill('any-password');
      await browser.page.locator('button[type="submit"]').first().click();
      // The consent page (offline_access asks for it), then the redirect to the CLI's loopback listener.
      await waitFor('the redirect to the CLI', async () => {
        if (/^http:\/\/127\.0\.0\.1:\d+\/callback/.test(browser.page.url())) return true;
        const consent = browser.page.locator('button[type="submit"]').first();
        if (await consent.isVisible().catch(() => false)) await consent.click().catch(() => {});
        return false;
      }, 30_000, 200);
      assert.equal(await run.done, 0, run.printed.out.join('') + run.printed.err.join(''));
      assert.match(await browser.page.locator('body').innerText(), /received the sign-in/);
    } finally {
      await browser.close();
    }
    assert.match(run.printed.out.join(''), /signed in as user:erin \(member in lb-acme\)/);
    const settings = saved();
    assert.ok(settings.token.startsWith('bh_'));
    assert.equal(typeof settings.ssoRefreshToken, 'string');
    assert.equal(settings.tenant, 'lb-acme');
    assert.equal((await p.call('GET', '/api/v1/tenants/lb-acme/quota', settings.token)).status, 200);
    const audit = await p.call('GET', '/api/v1/platform/audit?limit=200', adminToken);
    assert.ok(audit.body.events.some((e: any) => e.action === 'auth.sso_login' && e.actor === 'user:erin' && e.details?.via === 'loopback'));
    assert.ok(!JSON.stringify(audit.body).includes(settings.ssoRefreshToken!), 'no refresh token in the audit log');
  });

  test('an expired session is refreshed once and the command retried; a refused refresh is one attempt and a clear error', async () => {
    const before = saved();
    await expireSavedSession(before.token);
    const ok = cli(['--json', 'whoami']);
    assert.equal(await ok.done, 0, ok.printed.err.join(''));
    assert.equal(JSON.parse(ok.printed.out.join('')).actor, 'user:erin');
    assert.match(ok.printed.err.join(''), /single sign-on session renewed/);
    const after = saved();
    assert.notEqual(after.token, before.token);
    assert.equal((await p.call('GET', '/api/v1/me', after.token)).status, 200);
    // A token from BULKHEAD_TOKEN is the caller's to manage: no refresh, the 401 as it is.
    const failuresBefore = await refreshFailures();
    const explicit = cli(['--url', url, 'whoami'], { BULKHEAD_TOKEN: before.token });
    assert.notEqual(await explicit.done, 0);
    assert.match(explicit.printed.err.join(''), /invalid, expired or revoked token/);
    assert.equal(saved().token, after.token, 'the saved login untouched');
    // Out of every mapped group at the IdP: the refresh is refused, once, and the CLI says what to do.
    idp.groups.set('erin', []);
    await expireSavedSession(after.token);
    const refused = cli(['whoami']);
    assert.notEqual(await refused.done, 0);
    assert.match(refused.printed.err.join(''), /could not be renewed.*bulkhead login --sso/s);
    assert.ok(!refused.printed.err.join('').includes(after.ssoRefreshToken!), 'no refresh token in the message');
    assert.equal(await refreshFailures(), failuresBefore + 1, 'exactly one refresh attempt');
  });
});
