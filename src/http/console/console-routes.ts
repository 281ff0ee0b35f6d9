import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { consoleChooseTenantSchema, consoleSessionSchema, consoleSessionStateSchema, consoleSignInSchema } from '../../contract/console-schemas.ts';
import { AppError } from '../../core/errors.ts';
import type { Principal } from '../../authz/index.ts';
import type { HttpDeps } from '../http-deps.ts';
import type { ConsoleAssets } from './console-assets.ts';
import type { ConsoleSessionStore } from './console-sessions.ts';

/**
 * The web console: its page and bundle under /ui/ (GET / redirects there) and its session endpoints under
 * /ui/api/session. Everything else the console shows comes from the public API, authenticated by the
 * session cookie through the auth hook (`consoleSessionResolver`).
 */

export const SESSION_COOKIE = 'bulkhead_session';

/**
 * Only same-origin scripts, styles, images and connections; no inline script, no eval, not framable.
 * `blob:` images: the artifact browser previews an image from the bytes it fetched.
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

export const securityHeaders = (reply: FastifyReply): FastifyReply =>
  reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');

const indexHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bulkhead console</title>
<link rel="stylesheet" href="/ui/assets/app.css">
<script type="module" src="/ui/assets/app.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the Bulkhead console…</p></div>
</body>
</html>
`;

/** The session secret from the request's Cookie header, if any. */
export const readSessionCookie = (request: FastifyRequest): string | undefined => {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
};

/**
 * Behind TLS the cookie is `Secure`: TLS here, or a TLS-terminating proxy's `x-forwarded-proto: https`.
 * Trusting that header is safe for this one purpose: it can only make the cookie stricter.
 */
export const behindTls = (request: FastifyRequest): boolean =>
  request.protocol === 'https' || String(request.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() === 'https';

export const sessionCookie = (request: FastifyRequest, value: string, maxAgeSeconds: number): string =>
  `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${behindTls(request) ? '; Secure' : ''}`;

const signedOut = (reason: 'unknown' | 'expired' | 'revoked'): AppError =>
  new AppError('UNAUTHENTICATED', reason === 'expired' ? 'your console session has expired: sign in again' : 'you are signed out: sign in again');

/**
 * For the auth hook: a request that carries the session cookie (and no Authorization header) acts with the
 * session's access token. State-changing methods need the session's CSRF token in `x-csrf-token`.
 */
export const consoleSessionResolver = (store: ConsoleSessionStore) => async (request: FastifyRequest): Promise<{ token: string } | { error: AppError } | undefined> => {
  const secret = readSessionCookie(request);
  if (secret === undefined) return undefined;
  const stateChanging = request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS';
  const csrf = request.headers['x-csrf-token'];
  const session = await store.resolve(secret, { stateChanging, csrf: typeof csrf === 'string' ? csrf : undefined });
  if (!session.ok) return { error: signedOut(session.reason) };
  if (!session.csrfOk) return { error: new AppError('FORBIDDEN', 'this request needs the console session\'s x-csrf-token header') };
  return { token: session.token };
};

export interface ConsoleRouteDeps {
  sessions: ConsoleSessionStore;
  assets: ConsoleAssets;
  absoluteSeconds: number;
}

export const consoleRoutes = (deps: HttpDeps, console: ConsoleRouteDeps): FastifyPluginAsyncZod => async (app) => {
  const describe = async (principal: Principal, csrf: string, expiresAt: Date) => {
    if (principal.kind === 'platform_admin') return { signedIn: true as const, csrf, kind: principal.kind, actor: principal.label, role: 'platform_admin', expiresAt: expiresAt.toISOString() };
    const tenant = await deps.tenants.find(principal.tenantId);
    return {
      signedIn: true as const, csrf, kind: principal.kind, actor: principal.label, role: principal.customRole ?? principal.role, expiresAt: expiresAt.toISOString(),
      ...(tenant === undefined ? {} : { tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name, status: tenant.status } }),
    };
  };

  /** A token the console may act with: a user's or an API token of a tenant that is not suspended. */
  const usable = async (token: string): Promise<Principal> => {
    const principal = await deps.identity.authenticate(token);
    if (principal === undefined) throw new AppError('UNAUTHENTICATED', 'invalid, expired or revoked token');
    if (principal.kind === 'tenant') {
      if (principal.jobId !== undefined || principal.deploymentId !== undefined) throw new AppError('UNAUTHENTICATED', 'job and endpoint tokens cannot sign in to the console');
      const tenant = await deps.tenants.find(principal.tenantId);
      if (tenant === undefined) throw new AppError('UNAUTHENTICATED', 'invalid, expired or revoked token');
      if (tenant.status === 'suspended') throw new AppError('TENANT_SUSPENDED', 'this tenant is suspended: its tokens are refused until a platform admin resumes it');
    }
    return principal;
  };

  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 302));

  app.post('/ui/api/session', {
    config: { access: 'public' },
    schema: { tags: ['console'], summary: 'Sign in to the web console (sets the session cookie); a user of several tenants without one named gets the list to pick from', body: consoleSignInSchema, response: { 200: consoleChooseTenantSchema, 201: consoleSessionSchema } },
  }, async (request, reply) => {
    const body = request.body;
    let token: string;
    let ownsToken: boolean;
    if ('token' in body) {
      token = body.token;
      ownsToken = false;
    } else {
      let tenantId: string | undefined;
      if (body.tenant !== undefined) {
        const tenant = await deps.tenants.find(body.tenant);
        if (tenant === undefined) throw new AppError('UNAUTHENTICATED', 'invalid username, password or tenant');
        tenantId = tenant.id;
      }
      if (tenantId === undefined) {
        // No tenant named: a platform admin signs in as one, a member of one tenant into it; a member of
        // several gets their tenants to pick from (no session yet).
        const outcome = await deps.identity.loginOrChoose({ username: body.username, password: body.password, ttlSeconds: console.absoluteSeconds });
        if ('choose' in outcome) {
          securityHeaders(reply).header('cache-control', 'no-store');
          return reply.code(200).send({
            signedIn: false as const, reason: 'choose_tenant' as const, message: 'you are a member of several tenants: pick one',
            tenants: outcome.choose.map((t) => ({ slug: t.slug, name: t.name, status: t.status, role: t.role })),
          });
        }
        token = outcome.token;
      } else token = (await deps.identity.login({ username: body.username, password: body.password, tenantId, ttlSeconds: console.absoluteSeconds })).token;
      ownsToken = true;
    }
    const principal = await usable(token);
    const session = await console.sessions.create({
      token, tokenId: principal.tokenId, ownsToken,
      audit: { tenantId: principal.kind === 'tenant' ? principal.tenantId : null, actor: principal.label, requestId: String(request.id), source: request.ip },
    });
    securityHeaders(reply).header('set-cookie', sessionCookie(request, session.secret, console.absoluteSeconds)).header('cache-control', 'no-store');
    return reply.code(201).send(await describe(principal, session.csrf, session.expiresAt));
  });

  app.get('/ui/api/session', {
    config: { access: 'public' },
    schema: { tags: ['console'], summary: 'The console session of this browser with its CSRF token, or why there is none', response: { 200: consoleSessionStateSchema } },
  }, async (request, reply) => {
    securityHeaders(reply).header('cache-control', 'no-store');
    const secret = readSessionCookie(request);
    if (secret === undefined) return { signedIn: false as const, reason: 'none' as const, message: 'you are not signed in' };
    const session = await console.sessions.resolve(secret, { stateChanging: false, csrf: undefined });
    if (!session.ok) return { signedIn: false as const, reason: session.reason, message: signedOut(session.reason).message };
    let principal: Principal;
    try {
      principal = await usable(session.token);
    } catch (error) {
      // A suspended tenant stays an error (403 TENANT_SUSPENDED, said as such); a token gone is signed out.
      if (error instanceof AppError && error.code === 'UNAUTHENTICATED') return { signedIn: false as const, reason: 'token_invalid' as const, message: error.message };
      throw error;
    }
    return describe(principal, session.csrf, session.expiresAt);
  });

  app.delete('/ui/api/session', {
    config: { access: 'public' },
    schema: { tags: ['console'], summary: 'Sign out: revokes the session server-side (CSRF-protected)' },
  }, async (request, reply) => {
    // Idempotent: signing out without a (live) session succeeds and clears the cookie.
    const secret = readSessionCookie(request);
    const cleared = () => securityHeaders(reply).header('set-cookie', sessionCookie(request, '', 0)).code(204).send();
    if (secret === undefined) return cleared();
    const csrf = request.headers['x-csrf-token'];
    const session = await console.sessions.resolve(secret, { stateChanging: true, csrf: typeof csrf === 'string' ? csrf : undefined });
    if (session.ok && !session.csrfOk) throw new AppError('FORBIDDEN', 'this request needs the console session\'s x-csrf-token header');
    const principal = session.ok ? await deps.identity.authenticate(session.token) : undefined;
    const revoked = session.ok
      ? await console.sessions.revoke(secret, principal === undefined ? undefined : { tenantId: principal.kind === 'tenant' ? principal.tenantId : null, actor: principal.label, requestId: String(request.id), source: request.ip })
      : undefined;
    if (revoked?.ownsToken === true) {
      // The session token that password sign-in minted ends with the session.
      if (principal !== undefined) {
        await deps.identity.revokeToken({ actor: principal.label, requestId: String(request.id) }, principal.kind === 'tenant' ? principal.tenantId : null, revoked.tokenId);
      }
    }
    return cleared();
  });

  const page = async (_request: FastifyRequest, reply: FastifyReply) => securityHeaders(reply).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(indexHtml);
  app.get('/ui', { config: { access: 'public' }, schema: { hide: true } }, page);
  app.get('/ui/*', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    if (rest.startsWith('assets/')) {
      const asset = await console.assets.get(rest.slice('assets/'.length));
      if (asset === undefined) throw new AppError('NOT_FOUND', 'no such console asset');
      return securityHeaders(reply).header('cache-control', 'no-cache').type(asset.type).send(asset.body);
    }
    if (rest.startsWith('api/')) throw new AppError('NOT_FOUND', 'no such console endpoint');
    return page(request, reply);
  });
};
