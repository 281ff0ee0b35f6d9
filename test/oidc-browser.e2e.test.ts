/**
 * OIDC sign-in through a real OpenID Provider's login page (panva's oidc-provider, in-process) in real
 * Chromium (issue 14): the code flow with PKCE, state and nonce lands in the mapped tenant with the mapped
 * role in a console session; an unmapped person gets an error page naming the cause; a callback that this
 * browser did not start is refused. The device flow signs the CLI in (the person approves in the browser),
 * and a refresh after the person left the group ends their access and their sessions. On PGlite (the
 * OIDC logic is covered on both databases by oidc-bearer.int.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';
import { startTestIdp } from './support/oidc-provider.ts';
import type { TestIdp } from './support/oidc-provider.ts';
import { openBrowser } from './support/browser.ts';
import type { TestBrowser } from './support/browser.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/index.ts';
import { noAdmin } from './support/cli.ts';
import { waitFor } from './support/wait.ts';

describe('OIDC browser and device sign-in', () => {
  let idp: TestIdp;
  let p: TestPlatform;
  let url = '';
  let b: TestBrowser;

  before(async () => {
    idp = await startTestIdp({ redirectUris: () => [`${url}/api/v1/auth/oidc/callback`] });
    p = await createTestPlatform('pglite', {
      oidc: {
        issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, audience: idp.audience,
        scopes: ['openid', 'profile', 'email', 'groups'],
        roleMappings: [{ group: 'acme-eng', tenant: 'sso-acme', role: 'member' }, { group: 'globex-admins', tenant: 'sso-globex', role: 'admin' }],
      },
    });
    await p.createTenant('sso-acme');
    await p.createTenant('sso-globex');
    url = await p.listen();
    idp.groups.set('alice', ['acme-eng']);
    idp.groups.set('mallory', ['not-mapped']);
    idp.groups.set('dave', ['globex-admins']);
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    await p?.close();
    await idp?.close();
  });

  /** Fills the provider's (dev) login form: any password is accepted for a known account id. */
  const signInAtIdp = async (login: string, browser: TestBrowser = b) => {
    await browser.page.locator('input[name="login"]').waitFor();
    await browser.page.locator('input[name="login"]').fill(login);
    await browser.page.locator('input[name="password"]').fill('any-password');
    await browser.page.locator('button[type="submit"]').first().click();
  };

  test('a full sign-in through the provider\'s login page lands in the mapped tenant with the mapped role', async () => {
    await b.page.goto(`${url}/api/v1/auth/oidc/login`);
    assert.ok(b.page.url().startsWith(idp.issuer), `at the IdP: ${b.page.url()}`);
    const authorize = new URL(b.page.url());
    void authorize;
    await signInAtIdp('alice');
    await b.page.waitForURL(/\/ui\/?/);
    const session: any = await b.page.evaluate(async () => (await fetch('/ui/api/session')).json());
    assert.equal(session.signedIn, true, JSON.stringify(session));
    assert.equal(session.tenant?.slug, 'sso-acme');
    assert.equal(session.role, 'member');
    assert.equal(session.actor, 'user:alice');
    // The session reads the tenant's API, and nothing of the other tenant.
    assert.equal(await b.page.evaluate(async () => (await fetch('/api/v1/tenants/sso-acme/quota')).status), 200);
    assert.equal(await b.page.evaluate(async () => (await fetch('/api/v1/tenants/sso-globex/quota')).status), 404);
    // No token in the URL or in page-readable storage.
    assert.ok(!b.page.url().includes('code='));
    assert.equal(await b.page.evaluate(() => (globalThis as any).document.cookie), '');
    const audit = await p.call('GET', '/api/v1/platform/audit?limit=100', adminToken);
    assert.ok(audit.body.events.some((e: any) => e.action === 'auth.sso_login' && e.actor === 'user:alice' && e.details?.via === 'browser'));
    assert.deepEqual(await b.violations(), []);
  });

  test('an unmapped person gets an error page naming the cause; a callback this browser did not start is refused', async () => {
    const fresh = await openBrowser();
    try {
      await fresh.page.goto(`${url}/api/v1/auth/oidc/login`);
      await fresh.page.locator('input[name="login"]').fill('mallory');
      await fresh.page.locator('input[name="password"]').fill('x');
      await fresh.page.locator('button[type="submit"]').first().click();
      await fresh.page.locator('p.error').waitFor();
      assert.equal(await fresh.page.locator('p.error').getAttribute('data-reason'), 'no_mapped_group');
      assert.match(await fresh.page.locator('p.error').innerText(), /none of your groups is mapped/);
      const session: any = await fresh.page.evaluate(async () => (await fetch('/ui/api/session')).json());
      assert.equal(session.signedIn, false);
      // A forged callback (no flow cookie, unknown state): refused, nothing signed in.
      const forged = await fresh.page.goto(`${url}/api/v1/auth/oidc/callback?code=abc&state=forged`);
      assert.equal(forged?.status(), 401);
      assert.equal(await fresh.page.locator('p.error').getAttribute('data-reason'), 'bad_state');
    } finally {
      await fresh.close();
    }
    const audit = await p.call('GET', '/api/v1/platform/audit?limit=100', adminToken);
    const reasons = audit.body.events.filter((e: any) => e.action === 'auth.sso_failure').map((e: any) => e.details?.reason);
    assert.ok(reasons.includes('no_mapped_group') && reasons.includes('bad_state'), JSON.stringify(reasons));
  });

  test('the device flow signs the CLI in; after leaving the group, refresh ends access and the session', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulkhead-sso-cli-'));
    const file = join(home, 'cli.json');
    const printed: string[] = [];
    const output = () => printed.join('');
    // The real CLI in-process, its output read while it waits for the approval.
    const done = runCli(['--url', url, 'login', '--sso', '--tenant', 'sso-globex'], {
      io: { out: (t) => printed.push(t), err: (t) => printed.push(t) }, env: { BULKHEAD_CLI_CONFIG: file },
      runServer: async () => { throw new Error('not used'); }, admin: noAdmin,
    });
    const line = await waitFor('the CLI to print the verification URL', () => /open (https?:\/\/\S+)/.exec(output())?.[1]);
    // A browser with no IdP session (the first test's browser is signed in there as alice).
    const approver = await openBrowser();
    try {
      await approver.page.goto(line);
      // oidc-provider's device pages: confirm the user code, then sign in.
      const submit = approver.page.locator('button[type="submit"], input[type="submit"]').first();
      await submit.waitFor();
      await submit.click();
      await signInAtIdp('dave', approver);
      assert.equal(await done, 0, output());
    } finally {
      await approver.close();
    }
    process.exitCode = 0;
    assert.match(output(), /signed in as user:dave \(admin in sso-globex\)/);
    const settings = JSON.parse(readFileSync(file, 'utf8'));
    // `bulkhead login --refresh`: a new session from the saved refresh token (groups read again).
    const refreshed: string[] = [];
    const refreshCode = await runCli(['--url', url, 'login', '--refresh'], {
      io: { out: (t) => refreshed.push(t), err: (t) => refreshed.push(t) }, env: { BULKHEAD_CLI_CONFIG: file },
      runServer: async () => { throw new Error('not used'); }, admin: noAdmin,
    });
    process.exitCode = 0;
    assert.equal(refreshCode, 0, refreshed.join(''));
    assert.match(refreshed.join(''), /signed in as user:dave \(admin in sso-globex\)/);
    const renewed = JSON.parse(readFileSync(file, 'utf8'));
    assert.notEqual(renewed.token, settings.token);
    assert.equal((await p.call('GET', '/api/v1/me', renewed.token)).body.role, 'admin');
    settings.ssoRefreshToken = renewed.ssoRefreshToken;
    rmSync(home, { recursive: true, force: true });
    assert.equal(settings.tenant, 'sso-globex');
    assert.ok(typeof settings.token === 'string' && settings.token.startsWith('bh_'));
    assert.ok(typeof settings.ssoRefreshToken === 'string');
    const me = await p.call('GET', '/api/v1/me', settings.token);
    assert.equal(me.body.role, 'admin');
    // Refresh while still in the group: a new session.
    const again = await p.call('POST', '/api/v1/auth/oidc/refresh', undefined, { refreshToken: settings.ssoRefreshToken, tenant: 'sso-globex' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    // Out of the group at the IdP: the next refresh is refused and the sessions already minted stop working.
    idp.groups.set('dave', []);
    const refused = await p.call('POST', '/api/v1/auth/oidc/refresh', undefined, { refreshToken: again.body.refreshToken, tenant: 'sso-globex' });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.details.reason, 'no_mapped_group');
    assert.equal((await p.call('GET', '/api/v1/tenants/sso-globex/quota', again.body.token)).status, 401, 'the live session ended at that refresh, not at its expiry');
    idp.groups.set('dave', ['some-other-group', 'acme-eng']);
    const moved = await p.call('POST', '/api/v1/auth/oidc/refresh', undefined, { refreshToken: again.body.refreshToken });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.tenant, 'sso-acme');
    assert.equal((await p.call('GET', '/api/v1/tenants/sso-globex/quota', settings.token)).status, 401, 'the globex session ended with the membership');
    assert.equal((await p.call('GET', '/api/v1/tenants/sso-globex/quota', again.body.token)).status, 401);
  });
});
