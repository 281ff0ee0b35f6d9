import { redactUrl } from './log-redaction.ts';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ClusterJobScope } from '../jobs/index.ts';
import { AppError } from '../core/errors.ts';
import type { Db } from '../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem, withTenant } from '../db/index.ts';
import { authorize, resourceScopeNeed } from '../authz/index.ts';
import type { Principal } from '../authz/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { IdentityService, SsoService } from '../identity/index.ts';
import { looksLikeJwt } from '../identity/index.ts';
import type { Tenant, TenantService } from '../tenants/index.ts';
import { tenantErrors } from '../tenants/index.ts';
import { sendError } from './error-handler.ts';
import { relayAllows } from '../jobs/index.ts';
import { endpointTokenAllows } from '../serving/index.ts';
import type { EndpointTokenScope } from '../serving/index.ts';
import type { DenialThrottle, SuppressedDenials } from './denial-throttle.ts';

export interface AuthHookDeps {
  db: Db;
  identity: IdentityService;
  tenants: TenantService;
  cacheTtlMs: number;
  /** Job tokens are accepted only on requests their job's relay stamped with this secret. */
  relaySecret: string | undefined;
  /**
   * The per-tenant request-rate guard (the tenant quota's requestsPerSecond), shared with the inference
   * gateway: returns true when it has answered the request with 429.
   */
  rateLimit?: ((request: FastifyRequest) => Promise<{ retryAfterSeconds: number } | undefined>) | undefined;
  /**
   * BULKHEAD_EXECUTOR=kubernetes: a job's pod reaches the API over the cluster network, not through a
   * relay. Its token is then accepted without the relay's stamp while this process runs the job, and
   * limited to what the relay would let through (`relayAllows`: its own run, its run's artifacts).
   */
  clusterJobScope?: ((tenantId: string, jobId: string) => ClusterJobScope | undefined) | undefined;
  /**
   * BULKHEAD_EXECUTOR=kubernetes: an endpoint token (one per generation of a cluster deployment) is accepted
   * while this process serves that generation, and only to GET that generation's model artifact
   * (`endpointTokenAllows`). Undefined scope: the token is refused as if unknown.
   */
  clusterEndpointScope?: ((tenantId: string, deploymentId: string, tokenId: string) => EndpointTokenScope | undefined) | undefined;
  /** Bounds the audit rows refused requests write; without it every refusal is audited. */
  denials?: DenialThrottle | undefined;
  /**
   * The web console's cookie session (src/http/console/): for a request without an Authorization header,
   * the session's access token, or the error that ends the request (expired or revoked session, missing
   * CSRF token on a state-changing request). Undefined: no session cookie.
   */
  consoleSession?: ((request: FastifyRequest) => Promise<{ token: string } | { error: AppError } | undefined>) | undefined;
  /**
   * Told each tenant token (from the Authorization header) that authenticated, with its tenant: the
   * admission layer (admission-server.ts) screens that token's later requests before their body is read.
   */
  learnToken?: ((token: string, tenantId: string) => void) | undefined;
  /**
   * OIDC (issue 14): a Bearer JWT from the configured IdP, `aud` = oidc.audience, acts with the roles its
   * groups map to. Undefined: JWTs are refused like any unknown token.
   */
  sso?: SsoService | undefined;
}

/** The header a JWT mapped to several tenants names one with on the routes whose tenant is not in the path (MLflow). */
export const TENANT_HEADER = 'x-bulkhead-tenant';

/** Above this, a body refused with 429 is dropped with the connection instead of being drained. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

const relayStamped = (request: FastifyRequest, secret: string | undefined): boolean => {
  const header = request.headers['x-bulkhead-relay'];
  if (secret === undefined || typeof header !== 'string') return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(secret);
  return given.length === expected.length && timingSafeEqual(given, expected);
};

/** Reads the token from `Authorization: Bearer <token>` or HTTP basic auth with the token as password. */
export const readToken = (request: FastifyRequest): string | undefined => {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (value === undefined) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  return undefined;
};

const auditDenial = async (deps: AuthHookDeps, request: FastifyRequest, tenantId: string, actor: string, action: string, reason: string): Promise<void> => {
  // A flood of refusals is answered in full but audited up to a burst per key and window; the rest is
  // summed into one row when the window ends (denial-throttle.ts).
  if (deps.denials !== undefined && !deps.denials.admit({ tenantId, actor, action, reason, source: request.ip })) return;
  try {
    await withSystem(deps.db, (tx) =>
      appendAuditEvent(tx, {
        tenantId,
        actor,
        action,
        target: `${request.method} ${request.routeOptions.url ?? redactUrl(request.url)}`,
        outcome: 'denied',
        requestId: String(request.id),
        details: { reason, source: request.ip },
      }),
    );
  } catch (error) {
    request.log.error({ err: error }, 'could not audit a denied request');
  }
};

/** Writes one `audit.denials_suppressed` row per key whose window left refusals out. Never throws. */
export const auditSuppressedDenials = async (db: Db, entries: readonly SuppressedDenials[], log: { error(obj: object, msg: string): void }): Promise<void> => {
  for (const entry of entries) {
    try {
      await withSystem(db, (tx) =>
        appendAuditEvent(tx, {
          tenantId: entry.tenantId,
          actor: entry.actor,
          action: 'audit.denials_suppressed',
          target: entry.action,
          outcome: 'denied',
          requestId: 'denial-throttle',
          details: {
            reason: entry.reason,
            source: entry.source,
            count: entry.count,
            from: new Date(entry.windowStart).toISOString(),
            to: new Date(entry.windowEnd).toISOString(),
          },
        }),
      );
    } catch (error) {
      log.error({ err: error }, 'could not audit suppressed denials');
    }
  }
};

/**
 * Authenticates, resolves the addressed tenant and authorizes every request before its body is read,
 * from the route's declared `access`. Failures are audited (authentication failures in the platform's
 * chain, denials in the caller's chain) and answered with the one error shape. A tenant that does not
 * exist and a tenant the caller may not see get the identical `NOT_FOUND`.
 */
export const registerAuthHook = (app: FastifyInstance, deps: AuthHookDeps): { resolveTenant(ref: string): Promise<Tenant | undefined> } => {
  const tenantCache = new Map<string, { tenant: Tenant | undefined; at: number }>();
  deps.tenants.onChange(() => tenantCache.clear());

  const resolveTenant = async (ref: string): Promise<Tenant | undefined> => {
    const cached = tenantCache.get(ref);
    if (cached !== undefined && Date.now() - cached.at < deps.cacheTtlMs) return cached.tenant;
    const tenant = await deps.tenants.find(ref);
    if (deps.cacheTtlMs > 0) {
      if (tenantCache.size > 10_000) tenantCache.clear();
      tenantCache.set(ref, { tenant, at: Date.now() });
    }
    return tenant;
  };

  const denials = deps.denials;
  if (denials !== undefined) {
    const flush = () => auditSuppressedDenials(deps.db, denials.drain(), app.log);
    const timer = setInterval(() => void flush(), 10_000);
    timer.unref();
    app.addHook('onClose', async () => {
      clearInterval(timer);
      await auditSuppressedDenials(deps.db, denials.drain(true), app.log);
    });
  }

  app.decorateRequest('principal', undefined);
  app.decorateRequest('jobScope', undefined);
  // A cluster job's token reaches only what its relay would have let through.
  app.addHook('preHandler', async (request, reply) => {
    const scope = request.jobScope;
    if (scope === undefined || request.principal?.kind !== 'tenant') return;
    const body = request.body === undefined || Buffer.isBuffer(request.body) || typeof request.body !== 'object' ? Buffer.from('{}') : Buffer.from(JSON.stringify(request.body));
    const verdict = relayAllows(
      { jobId: scope.jobId, tenantId: request.principal.tenantId, tenantSlug: scope.tenantSlug, token: '', runId: scope.runId, experimentId: scope.experimentId, inputs: scope.inputs, dir: '' },
      request.method, request.url, body,
    );
    if (!verdict.ok) {
      await auditDenial(deps, request, request.principal.tenantId, request.principal.label, 'auth.job_scope', verdict.why);
      return sendError(reply, request, new AppError('FORBIDDEN', `a job token may not do this: ${verdict.why}`));
    }
  });
  app.decorateRequest('tenant', undefined);
  // A token narrowed to named experiments, models and deployments reaches those (and the experiments' runs
  // and artifacts) only; the rest of its tenant is NOT_FOUND to it, as another tenant's resources are.
  // Checked once the body is parsed (MLflow names runs, experiments and models in it).
  const none: ReadonlySet<string> = new Set();
  app.addHook('preHandler', async (request, reply) => {
    const principal = request.principal;
    if (principal?.kind !== 'tenant' || (principal.experiments === undefined && principal.models === undefined && principal.deployments === undefined)) return;
    const experiments = principal.experiments ?? none;
    const models = principal.models ?? none;
    const deployments = principal.deployments ?? none;
    const need = resourceScopeNeed(request.method, request.url, request.body);
    let inside: boolean;
    switch (need.kind) {
      case 'allow':
        inside = true;
        break;
      case 'deny':
        inside = false;
        break;
      case 'experiments':
        inside = need.ids.every((id) => experiments.has(id));
        break;
      case 'models':
        inside = need.names.every((name) => models.has(name)) && (need.deployments ?? []).every((name) => deployments.has(name));
        break;
      case 'deployments':
        inside = need.names.every((name) => deployments.has(name));
        break;
      case 'experiment_name':
      case 'run': {
        if (experiments.size === 0) {
          inside = false;
          break;
        }
        const sql = need.kind === 'run' ? 'SELECT experiment_id::text AS id FROM runs WHERE id = $1' : 'SELECT id::text AS id FROM experiments WHERE name = $1';
        const key = need.kind === 'run' ? need.id : need.name;
        const rows = await withTenant(deps.db, principal.tenantId, async (tx) => (await tx.query<{ id: string }>(sql, [key])).rows, { readOnly: true });
        inside = rows[0] !== undefined && experiments.has(rows[0].id);
        break;
      }
      default: {
        const unreachable: never = need;
        throw new Error(`unhandled scope need ${String(unreachable)}`);
      }
    }
    if (inside) return;
    await auditDenial(deps, request, principal.tenantId, principal.label, 'auth.resource_scope', 'outside_token_scope');
    return sendError(reply, request, new AppError('NOT_FOUND', 'not found (this token is narrowed to other experiments, models or deployments)'));
  });

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;

    let token = readToken(request);
    const headerToken = token;
    if (token === undefined && deps.consoleSession !== undefined) {
      const session = await deps.consoleSession(request);
      if (session !== undefined && 'error' in session) return sendError(reply, request, session.error);
      token = session?.token;
    }
    let principal: Principal | undefined;
    if (token !== undefined && deps.sso !== undefined && looksLikeJwt(token)) {
      const outcome = await ssoPrincipal(deps.sso, request, token);
      if ('error' in outcome) {
        if (outcome.reason !== undefined) {
          await auditDenial(deps, request, PLATFORM_TENANT_ID, 'anonymous', 'auth.failure', `oidc_${outcome.reason}`);
          reply.header('www-authenticate', `Bearer realm="bulkhead", error="invalid_token"`);
        }
        return sendError(reply, request, outcome.error);
      }
      principal = outcome.principal;
    } else principal = token === undefined ? undefined : await deps.identity.authenticate(token);
    if (principal === undefined) {
      // A revoked or expired token is audited in its own tenant's chain, as that token (the anomaly detector
      // alerts on its use); any other failure in the platform's chain, anonymously.
      const rejected = token === undefined ? undefined : await deps.identity.findRejectedToken(token).catch(() => undefined);
      if (rejected !== undefined) await auditDenial(deps, request, rejected.tenantId ?? PLATFORM_TENANT_ID, `token:${rejected.tokenId}`, 'auth.failure', rejected.reason);
      else await auditDenial(deps, request, PLATFORM_TENANT_ID, 'anonymous', 'auth.failure', token === undefined ? 'missing_token' : 'invalid_token');
      reply.header('www-authenticate', 'Bearer realm="bulkhead"');
      return sendError(reply, request, new AppError('UNAUTHENTICATED', token === undefined ? 'missing bearer token' : 'invalid, expired or revoked token'));
    }
    let ownTenant: Tenant | undefined;
    if (principal.kind === 'tenant') {
      // Suspension stops every credential of the tenant at once — user, job and endpoint tokens, on every
      // route (API, MLflow, inference, /me) — before anything else is looked at. Audited like every
      // refusal, through the denial throttle, so a client retrying in a loop writes a bounded number of rows.
      const own = await resolveTenant(principal.tenantId);
      ownTenant = own;
      if (own === undefined) {
        // Deleted while this process still had the token cached: an authentication failure like any other.
        await auditDenial(deps, request, PLATFORM_TENANT_ID, 'anonymous', 'auth.failure', 'tenant_gone');
        reply.header('www-authenticate', 'Bearer realm="bulkhead"');
        return sendError(reply, request, new AppError('UNAUTHENTICATED', 'invalid, expired or revoked token'));
      }
      if (own.status === 'suspended') {
        await auditDenial(deps, request, principal.tenantId, principal.label, 'auth.tenant_suspended', 'tenant_suspended');
        return sendError(reply, request, new AppError('TENANT_SUSPENDED', 'this tenant is suspended: its tokens are refused until a platform admin resumes it'));
      }
    }
    if (principal.kind === 'tenant' && principal.jobId !== undefined && !relayStamped(request, deps.relaySecret)) {
      const scope = deps.clusterJobScope?.(principal.tenantId, principal.jobId);
      if (scope === undefined) {
        await auditDenial(deps, request, principal.tenantId, principal.label, 'auth.job_token_outside_relay', 'job_token_outside_relay');
        return sendError(reply, request, new AppError('UNAUTHENTICATED', 'job tokens work only from inside their job'));
      }
      // Checked once the body is parsed (a log-batch names its run in the body): see the preHandler below.
      request.jobScope = { jobId: principal.jobId, tenantSlug: ownTenant?.slug ?? '', ...scope };
    }
    if (principal.kind === 'tenant' && principal.deploymentId !== undefined) {
      // An endpoint pod's token: its generation's model artifact, and only while this process serves it.
      const scope = deps.clusterEndpointScope?.(principal.tenantId, principal.deploymentId, principal.tokenId);
      if (scope === undefined) {
        await auditDenial(deps, request, principal.tenantId, principal.label, 'auth.endpoint_token_not_serving', 'endpoint_token_not_serving');
        reply.header('www-authenticate', 'Bearer realm="bulkhead"');
        return sendError(reply, request, new AppError('UNAUTHENTICATED', 'this endpoint token belongs to no generation this server runs'));
      }
      const verdict = endpointTokenAllows(scope, request.method, request.url);
      if (!verdict.ok) {
        await auditDenial(deps, request, principal.tenantId, principal.label, 'auth.endpoint_scope', verdict.why);
        return sendError(reply, request, new AppError('FORBIDDEN', `an endpoint token may not do this: ${verdict.why}`));
      }
    }
    request.principal = principal;
    // An IdP's JWT may act in several tenants (the tenant comes from the path): only opaque tokens, bound to
    // one tenant, are learned.
    if (principal.kind === 'tenant' && headerToken !== undefined && !looksLikeJwt(headerToken)) deps.learnToken?.(headerToken, principal.tenantId);
    if (access === 'authenticated') return;

    const params = request.params as Record<string, string | undefined>;
    let ref = params['tenant'];
    if (request.routeOptions.config.tenantFrom === 'token') {
      if (principal.kind !== 'tenant') {
        return sendError(reply, request, new AppError('FORBIDDEN', 'this API acts for one tenant: use a tenant token, not a platform-admin token'));
      }
      ref = principal.tenantId;
    }
    // The caller's own tenant was looked up above: a request addressing it costs no second lookup.
    const tenant = ref === undefined ? undefined
      : ownTenant !== undefined && (ref === ownTenant.id || ref === ownTenant.slug) ? ownTenant : await resolveTenant(ref);
    if (ref !== undefined && tenant === undefined) {
      await auditDenial(deps, request, principal.kind === 'tenant' ? principal.tenantId : PLATFORM_TENANT_ID, principal.label, access, 'no_such_tenant');
      return sendError(reply, request, tenantErrors.notFound(ref));
    }
    const decision = authorize(principal, tenant, access);
    if (!decision.allowed) {
      await auditDenial(deps, request, principal.kind === 'tenant' ? principal.tenantId : PLATFORM_TENANT_ID, principal.label, access, decision.reason);
      switch (decision.reason) {
        case 'not_found':
          return sendError(reply, request, tenantErrors.notFound(ref ?? ''));
        case 'forbidden':
          return sendError(reply, request, new AppError('FORBIDDEN', `your role may not perform ${access}`));
        case 'suspended':
          return sendError(reply, request, new AppError('TENANT_SUSPENDED', 'this tenant is suspended: a platform admin may read it, suspend, resume or delete it, nothing else'));
        default: {
          const unreachable: never = decision.reason;
          throw new Error(`unhandled denial ${String(unreachable)}`);
        }
      }
    }
    request.tenant = tenant;
    // MLflow 3.10+ clients may name a workspace (MLflow's own tenancy). Every MLflow-format route — the
    // tracking API and the artifact API alike — accepts only the token's own tenant; any other name is a
    // workspace that does not exist. No audit row: nothing of another tenant was reached.
    const workspace = request.headers['x-mlflow-workspace'];
    if (workspace !== undefined && request.routeOptions.config.errorFormat === 'mlflow' && (tenant === undefined || workspace !== tenant.slug)) {
      return sendError(reply, request, new AppError('NOT_FOUND', `Workspace '${String(workspace).slice(0, 100)}' does not exist.`));
    }
    // One tenant's script cannot slow the API for the others: over its rate, 429 before any work.
    const limited = deps.rateLimit === undefined ? undefined : await deps.rateLimit(request);
    if (limited !== undefined) {
      reply.header('retry-after', String(limited.retryAfterSeconds));
      // A refused request's large body is not read: closing the connection drops it unread, where
      // keep-alive would make the server read (and discard) every byte of a flood on the event loop all
      // tenants share. Small bodies cost less to drain than the client's reconnect would.
      const length = Number(request.headers['content-length'] ?? 0);
      if (length > DRAIN_LIMIT_BYTES || (request.headers['transfer-encoding'] !== undefined && request.headers['content-length'] === undefined)) {
        reply.header('connection', 'close');
      }
      return sendError(reply, request, new AppError('RATE_LIMITED', `this tenant is over its request rate; retry after ${limited.retryAfterSeconds} s`));
    }
  });

  /**
   * A JWT's principal. Its tenant: the one the path addresses when the token maps to it (when it does not,
   * the principal is of a mapped tenant and `authorize` answers NOT_FOUND, as for any other tenant's
   * resource); on routes without a tenant in the path, the X-Bulkhead-Tenant header or the single mapped
   * tenant. Failures name their reason (`details.reason`), never the token.
   */
  const ssoPrincipal = async (sso: SsoService, request: FastifyRequest, token: string): Promise<{ principal: Principal } | { error: AppError; reason?: string }> => {
    const outcome = await sso.authenticateBearer(token);
    if (!outcome.ok) {
      const code = outcome.reason === 'idp_unreachable' ? 'UNAVAILABLE' : 'UNAUTHENTICATED';
      return { error: new AppError(code, `SSO token refused: ${outcome.message}`, { details: { reason: outcome.reason } }), reason: outcome.reason };
    }
    const { access } = outcome;
    const credential = access.claims.tokenId;
    if (access.platformAdmin) return { principal: { kind: 'platform_admin', tokenId: `oidc:${credential}`, userId: access.user.id, label: `user:${access.user.username}` } };
    const pathRef = (request.params as Record<string, string | undefined>)['tenant'];
    const header = request.headers[TENANT_HEADER];
    const named = typeof header === 'string' && header !== '' ? header : undefined;
    const byToken = request.routeOptions.config.tenantFrom === 'token' || pathRef === undefined;
    const ref = byToken ? named : pathRef;
    let entry = access.tenants[0];
    if (ref !== undefined) {
      const tenant = await resolveTenant(ref);
      const mapped = tenant === undefined ? undefined : access.tenants.find((t) => t.tenantId === tenant.id);
      if (mapped !== undefined) entry = mapped;
      else if (byToken) return { error: tenantErrors.notFound(ref) };
    } else if (byToken && access.tenants.length > 1 && request.routeOptions.config.access !== 'authenticated') {
      return { error: new AppError('BAD_REQUEST', `your groups map to several tenants: name one in the ${TENANT_HEADER} header`, { details: { tenants: access.tenants.map((t) => t.slug) } }) };
    }
    if (entry === undefined) return { error: new AppError('UNAUTHENTICATED', 'SSO token refused: none of your groups is mapped to a Bulkhead tenant or role', { details: { reason: 'no_mapped_group' } }), reason: 'no_mapped_group' };
    const principal = await sso.principalFor(access, entry.tenantId, credential);
    if (principal === undefined) {
      return { error: new AppError('UNAUTHENTICATED', `SSO token refused: your mapped role '${entry.role}' does not exist in tenant '${entry.slug}'`, { details: { reason: 'unknown_role' } }), reason: 'unknown_role' };
    }
    return { principal };
  };

  return { resolveTenant };
};
