import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { SsoAccess, SsoFailure, SsoService } from '../../identity/index.ts';
import type { HttpDeps } from '../http-deps.ts';
import type { ConsoleSessionStore } from './console-sessions.ts';
import { behindTls, securityHeaders, sessionCookie } from './console-routes.ts';

/**
 * OIDC sign-in (issue 14, docs/identity.md): the browser's authorization code flow with PKCE, state and
 * nonce ending in a console session, and the device authorization grant (RFC 8628) plus refresh for
 * `bulkhead login --sso`. Every route is public (the person is not signed in yet) and answers 404
 * SSO_NOT_CONFIGURED-style NOT_FOUND when no `oidc` block is configured.
 */

/** The flow cookie: binds the IdP's redirect back to the browser that started it (login CSRF). */
export const FLOW_COOKIE = 'bulkhead_oidc';
const CALLBACK_PATH = '/api/v1/auth/oidc/callback';

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const readCookie = (request: FastifyRequest, name: string): string | undefined => {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
};

// Lax, not Strict: the IdP's redirect back is a cross-site top-level navigation, which must carry it.
const flowCookie = (request: FastifyRequest, value: string, maxAge: number): string =>
  `${FLOW_COOKIE}=${value}; Path=${CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${behindTls(request) ? '; Secure' : ''}`;

const page = (reply: FastifyReply, status: number, title: string, body: string, refreshTo?: string): FastifyReply =>
  securityHeaders(reply).code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>${refreshTo === undefined ? '' : `<meta http-equiv="refresh" content="0;url=${escapeHtml(refreshTo)}">`}
<link rel="stylesheet" href="/ui/assets/app.css"></head>
<body><main class="sso"><h1>${escapeHtml(title)}</h1>${body}</main></body></html>
`);

/** The tenant a sign-in lands in: the one asked for if mapped, else the first mapped; a platform admin's session otherwise. */
export const landingTenant = (access: SsoAccess, asked: string | undefined): string | null | undefined => {
  if (asked !== undefined) {
    const match = access.tenants.find((t) => t.slug === asked || t.tenantId === asked);
    if (match !== undefined) return match.tenantId;
  }
  if (access.platformAdmin) return null;
  return access.tenants[0]?.tenantId;
};

const failureStatus = (failure: SsoFailure): number => (failure.reason === 'idp_unreachable' ? 503 : 401);

const notConfigured = () => new AppError('NOT_FOUND', 'single sign-on is not configured on this platform (docs/identity.md)');

const deviceStartSchema = z.object({ deviceCode: z.string(), userCode: z.string(), verificationUri: z.string(), verificationUriComplete: z.string().optional(), interval: z.number(), expiresIn: z.number() });
const loopbackStartSchema = z.object({ url: z.string(), flow: z.string() });

/** RFC 8252 §7.3: an `http` redirect to a loopback IP literal with an explicit port, no credentials, query or fragment. */
export const isLoopbackRedirect = (value: string): boolean => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]') && url.port !== ''
    && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
};

const ssoSessionSchema = z.object({
  status: z.literal('signed_in'), token: z.string(), expiresAt: z.string().nullable(), refreshToken: z.string().optional(),
  actor: z.string(), tenant: z.string().nullable(), role: z.string(),
});
const pendingSchema = z.object({ status: z.enum(['pending', 'slow_down']) });

export const oidcRoutes = (deps: HttpDeps, console: { sessions: ConsoleSessionStore; absoluteSeconds: number }): FastifyPluginAsyncZod => async (app) => {
  const sso = (): SsoService => {
    if (deps.sso === undefined) throw notConfigured();
    return deps.sso;
  };
  const redirectUri = (request: FastifyRequest): string =>
    deps.sso?.config.redirectUri ?? `${behindTls(request) ? 'https' : request.protocol}://${request.host}${CALLBACK_PATH}`;

  app.get('/api/v1/auth/oidc/login', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'Start single sign-on in the browser (redirects to the identity provider: code flow with PKCE, state and nonce)', querystring: z.object({ tenant: z.string().max(64).optional() }) },
  }, async (request, reply) => {
    const { url, binding } = await sso().beginLogin(redirectUri(request), request.query.tenant);
    return securityHeaders(reply).header('set-cookie', flowCookie(request, binding, 600)).header('cache-control', 'no-store').redirect(url, 302);
  });

  app.get(CALLBACK_PATH, {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: "The identity provider's redirect back: ends single sign-on with a console session, or an error page naming the cause", querystring: z.object({ code: z.string().max(2048).optional(), state: z.string().max(512).optional(), error: z.string().max(200).optional(), error_description: z.string().max(1000).optional(), iss: z.string().max(500).optional() }) },
  }, async (request, reply) => {
    const service = sso();
    reply.header('set-cookie', flowCookie(request, '', 0));
    const fail = async (failure: SsoFailure) => {
      await service.auditFailure(failure, 'browser', request.ip, String(request.id));
      return page(reply, failureStatus(failure), 'Sign-in failed', `<p class="error" data-reason="${escapeHtml(failure.reason)}">${escapeHtml(failure.message)}</p><p>Reason: <code>${escapeHtml(failure.reason)}</code></p><p><a href="/api/v1/auth/oidc/login">Try again</a></p>`);
    };
    const { code, state, error } = request.query;
    if (error !== undefined) return fail({ ok: false, reason: 'idp_error', message: `the identity provider refused: ${error}` });
    // RFC 9207: where the IdP names itself in the response, it must be ours (mix-up defence).
    if (request.query.iss !== undefined && request.query.iss !== service.config.issuer) return fail({ ok: false, reason: 'wrong_issuer', message: 'the response came from another issuer' });
    if (code === undefined || state === undefined) return fail({ ok: false, reason: 'bad_state', message: 'the response carries no code or state' });
    const outcome = await service.finishLogin({ code, state, binding: readCookie(request, FLOW_COOKIE), redirectUri: redirectUri(request), source: request.ip });
    if (!outcome.ok) return fail(outcome);
    const tenantId = landingTenant(outcome.access, outcome.tenant);
    if (tenantId === undefined) return fail({ ok: false, reason: 'no_mapped_group', message: 'none of your groups is mapped to a Bulkhead tenant or role' });
    const { token, record } = await service.mintSession(outcome.access, tenantId, 'browser');
    const session = await console.sessions.create({
      token, tokenId: record.id, ownsToken: true,
      audit: { tenantId, actor: `user:${outcome.access.user.username}`, requestId: String(request.id), source: request.ip },
    });
    // The session cookie is SameSite=Strict: a page (not a 302) takes the browser on to the console, so
    // that the next navigation is same-site and carries it.
    reply.header('set-cookie', [flowCookie(request, '', 0), sessionCookie(request, session.secret, Math.min(console.absoluteSeconds, service.config.sessionRefreshSeconds))]);
    return page(reply, 200, 'Signed in', '<p><a href="/ui/">Continue to the console</a></p>', '/ui/');
  });

  const signedIn = async (service: SsoService, access: SsoAccess, tenant: string | undefined, refreshToken: string | undefined, via: 'device' | 'loopback') => {
    const tenantId = landingTenant(access, tenant);
    if (tenantId === undefined) throw new AppError('UNAUTHENTICATED', 'none of your groups is mapped to a Bulkhead tenant or role', { details: { reason: 'no_mapped_group' } });
    const { token, record } = await service.mintSession(access, tenantId, via);
    return {
      status: 'signed_in' as const, token, expiresAt: record.expiresAt, ...(refreshToken === undefined ? {} : { refreshToken }),
      actor: `user:${access.user.username}`, tenant: tenantId === null ? null : access.tenants.find((t) => t.tenantId === tenantId)?.slug ?? null, role: record.role,
    };
  };

  const refuse = async (service: SsoService, failure: SsoFailure, via: string, request: FastifyRequest): Promise<never> => {
    await service.auditFailure(failure, via, request.ip, String(request.id));
    throw new AppError(failure.reason === 'idp_unreachable' ? 'UNAVAILABLE' : 'UNAUTHENTICATED', `single sign-on failed: ${failure.message}`, { details: { reason: failure.reason } });
  };

  app.post('/api/v1/auth/oidc/device', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'CLI single sign-on: start the device authorization grant (RFC 8628) with the identity provider', response: { 200: deviceStartSchema } },
  }, async (request) => {
    const service = sso();
    const started = await service.startDevice();
    // Not a failed sign-in: the IdP has no device endpoint, and the CLI takes the loopback redirect instead.
    if ('ok' in started && started.reason === 'device_flow_unsupported') throw new AppError('NOT_IMPLEMENTED', `single sign-on: ${started.message}`, { details: { reason: started.reason } });
    if ('ok' in started) return refuse(service, started, 'device', request);
    return started;
  });

  app.post('/api/v1/auth/oidc/device/token', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'CLI single sign-on: poll for the session once the person approved (pending until then)', body: z.strictObject({ deviceCode: z.string().min(1).max(2048), tenant: z.string().max(64).optional() }), response: { 200: ssoSessionSchema, 202: pendingSchema } },
  }, async (request, reply) => {
    const service = sso();
    const outcome = await service.pollDevice(request.body.deviceCode, request.ip);
    if (outcome.ok === 'pending') return reply.code(202).send({ status: outcome.slowDown ? 'slow_down' as const : 'pending' as const });
    if (outcome.ok !== true) return refuse(service, outcome, 'device', request);
    return signedIn(service, outcome.access, request.body.tenant, outcome.refreshToken, 'device');
  });

  // CLI single sign-on where the IdP has no device authorization endpoint (RFC 8252, OAuth for native apps):
  // the CLI listens on an ephemeral loopback port and is the redirect target; the code is redeemed here,
  // where the client secret lives, against the binding only the CLI that started the flow holds.
  app.post('/api/v1/auth/oidc/loopback', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'CLI single sign-on without the device flow: start the code flow (PKCE) with a loopback redirect (http://127.0.0.1:<port>/...)', body: z.strictObject({ redirectUri: z.string().max(200), tenant: z.string().max(64).optional() }), response: { 200: loopbackStartSchema } },
  }, async (request) => {
    const service = sso();
    if (!isLoopbackRedirect(request.body.redirectUri)) {
      throw new AppError('VALIDATION_FAILED', 'redirectUri must be a loopback address: http://127.0.0.1:<port>/<path> or http://[::1]:<port>/<path> (RFC 8252 §7.3)');
    }
    const { url, binding } = await service.beginLogin(request.body.redirectUri, request.body.tenant, { offline: true });
    return { url, flow: binding };
  });

  app.post('/api/v1/auth/oidc/loopback/token', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: 'CLI single sign-on without the device flow: redeem the code the loopback redirect received for a session and refresh token', body: z.strictObject({ code: z.string().min(1).max(2048), state: z.string().min(1).max(512), flow: z.string().min(1).max(512), redirectUri: z.string().max(200), iss: z.string().max(500).optional(), tenant: z.string().max(64).optional() }), response: { 200: ssoSessionSchema } },
  }, async (request) => {
    const service = sso();
    const { code, state, flow, redirectUri, iss } = request.body;
    // RFC 9207: where the IdP names itself in the response, it must be ours (mix-up defence).
    if (iss !== undefined && iss !== service.config.issuer) return refuse(service, { ok: false, reason: 'wrong_issuer', message: 'the response came from another issuer' }, 'loopback', request);
    if (!isLoopbackRedirect(redirectUri)) return refuse(service, { ok: false, reason: 'bad_state', message: 'not a loopback redirect' }, 'loopback', request);
    const outcome = await service.finishLogin({ code, state, binding: flow, redirectUri, source: request.ip, via: 'loopback' });
    if (!outcome.ok) return refuse(service, outcome, 'loopback', request);
    return signedIn(service, outcome.access, request.body.tenant ?? outcome.tenant, outcome.refreshToken, 'loopback');
  });

  app.post('/api/v1/auth/oidc/refresh', {
    config: { access: 'public' },
    schema: { tags: ['auth'], summary: "CLI single sign-on: a new session from the identity provider's refresh token (groups are read again)", body: z.strictObject({ refreshToken: z.string().min(1).max(4096), tenant: z.string().max(64).optional() }), response: { 200: ssoSessionSchema } },
  }, async (request) => {
    const service = sso();
    const outcome = await service.refresh(request.body.refreshToken, request.ip);
    if (!outcome.ok) return refuse(service, outcome, 'refresh', request);
    return signedIn(service, outcome.access, request.body.tenant, outcome.refreshToken, 'device');
  });
};
