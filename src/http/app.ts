import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { registerAuthHook } from './auth-hook.ts';
import { registerBandwidthHooks } from './bandwidth-hooks.ts';
import { createDenialThrottle } from './denial-throttle.ts';
import { admissionTokenKey, createAdmissionServerFactory } from './admission-server.ts';
import type { TenantAdmission } from './tenant-admission.ts';
import { handleFrameworkError, registerErrorHandling } from './error-handler.ts';
import { registerInputValidation } from './input-validation.ts';
import { redactUrl } from './log-redaction.ts';
import { registerRequestMetering } from '../monitoring/index.ts';
import type { HttpDeps } from './http-deps.ts';
import type { RouteAccess } from './route-config.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { platformRoutes } from './routes/platform-routes.ts';
import { tenantRoutes } from './routes/tenant-routes.ts';
import { consoleRoutes, consoleSessionResolver } from './console/console-routes.ts';
import { createConsoleSessionStore } from './console/console-sessions.ts';
import { oidcRoutes } from './console/oidc-routes.ts';
import { createConsoleAssets } from './console/console-assets.ts';

// Request ids: 8 random bytes each, as hex, drawn from a pool refilled 512 ids at a time (one call into the
// CSPRNG per refill rather than per request; measured ≈ 14 µs of the serving thread per request before).
const REQUEST_ID_POOL_BYTES = 4096;
let requestIdPool = Buffer.alloc(0);
let requestIdOffset = 0;
const nextRequestId = (): string => {
  if (requestIdOffset + 8 > requestIdPool.length) {
    requestIdPool = randomBytes(REQUEST_ID_POOL_BYTES);
    requestIdOffset = 0;
  }
  requestIdOffset += 8;
  return `req_${requestIdPool.toString('hex', requestIdOffset - 8, requestIdOffset)}`;
};

/** One registered route and the access it declared: what the authorization matrix test enumerates. */
export interface RouteEntry {
  method: string;
  url: string;
  access: RouteAccess;
  tenantFrom: 'path' | 'token';
  /** The error body the route answers with (see route-config.ts); `bulkhead` unless declared. */
  errorFormat: 'bulkhead' | 'mlflow' | 'oip';
}

declare module 'fastify' {
  interface FastifyInstance {
    routeCatalog: RouteEntry[];
    /** Per-tenant admission before the body is read (admission-server.ts); undefined when not configured. */
    tenantAdmission: TenantAdmission | undefined;
  }
}

export interface BuildAppOptions {
  /** false in tests that do not want log lines; otherwise structured JSON logs at `deps.logLevel`. */
  logger?: boolean;
  /** Where log lines go (default stdout): a test captures them here. */
  logStream?: { write(line: string): void };
  /** Native HTTPS (PEM key and certificate chain); every response then carries HSTS. */
  https?: { key: Buffer; cert: Buffer } | undefined;
  /** Fastify's trustProxy: which hops' X-Forwarded-For gives `request.ip` (default: none, the socket's peer). */
  trustProxy?: false | number | string | undefined;
}

/** Fastify's trust function for "the nearest `hops` proxies": hop 0 is the socket's peer. */
const hopsTrusted = (hops: number) => (_address: string, hop: number): boolean => hop < hops;

/**
 * Builds the HTTP API (not listening: `main/` starts it; tests use `app.inject()`). Every route declares
 * its access; the auth hook enforces it before the body is read. Logs are JSON with request ids; the
 * Authorization header and cookies are redacted, so are the values of credential-shaped query parameters
 * in the logged URL (signed part URLs, `?token=`: log-redaction.ts), and no handler logs tokens or passwords.
 */
export const buildApp = async (deps: HttpDeps, options: BuildAppOptions = {}): Promise<FastifyInstance> => {
  const admission = deps.admission;
  const app = Fastify({
    logger: options.logger === false ? false : {
      level: deps.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' },
      // Fastify's own request serializer, with the URL's credentials taken out (every request line logs it).
      serializers: {
        req: (req: FastifyRequest) => ({
          method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, ...(req.socket?.remotePort === undefined ? {} : { remotePort: req.socket.remotePort }),
        }),
      },
      ...(options.logStream === undefined ? {} : { stream: options.logStream }),
    },
    bodyLimit: deps.bodyLimitBytes,
    genReqId: nextRequestId,
    // Query strings parse as flat key → string maps; no prototype keys.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: handleFrameworkError,
    // A hop count trusts that many proxies nearest the server; a list trusts those addresses only.
    ...(options.trustProxy === undefined || options.trustProxy === false ? {}
      : { trustProxy: typeof options.trustProxy === 'number' ? hopsTrusted(options.trustProxy) : options.trustProxy.split(',') }),
    // With per-tenant admission, the server is ours (HTTP or HTTPS) and screens each request before Fastify.
    ...(admission === undefined
      // An HTTPS server is an http.Server to every route and hook; only the listener differs (hence the cast).
      ? ((options.https === undefined ? {} : { https: options.https }) as Record<never, never>)
      : { serverFactory: createAdmissionServerFactory(admission, options.https) }),
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: Fastify's default text/plain parser would let a wrong content type reach validation.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  // Before the auth hook (it looks up the :tenant parameter) and before validation and handlers: text
  // storage cannot hold, over-long strings, non-finite numbers.
  registerInputValidation(app);
  // Request metrics (route template, never the raw path) and per-tenant usage counts, on every route.
  if (deps.requestMetering !== undefined) registerRequestMetering(app, deps.requestMetering);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
  });
  if (options.https !== undefined) {
    app.addHook('onSend', async (_request, reply) => {
      reply.header('strict-transport-security', 'max-age=31536000');
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Bulkhead API', version: '1', description: 'Multi-tenant MLOps platform API. Errors: { code, message, requestId, details? }.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  // Every route must declare its access; a route without one fails start-up, not a request.
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/documentation')) return;
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access`);
    const tenantFrom = route.config?.tenantFrom ?? 'path';
    const errorFormat = route.config?.errorFormat ?? 'bulkhead';
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, access, tenantFrom, errorFormat });
  });
  app.decorate('routeCatalog', routes);
  app.decorate('tenantAdmission', admission);

  // The web console's cookie sessions (src/http/console/): the auth hook accepts a session cookie where no
  // Authorization header is given.
  const consoleLifetimes = deps.consoleSessions ?? { idleSeconds: 1800, absoluteSeconds: 43_200 };
  const consoleSessions = createConsoleSessionStore({ db: deps.db, ...consoleLifetimes });
  registerAuthHook(app, { db: deps.db, identity: deps.identity, tenants: deps.tenants, cacheTtlMs: deps.authCacheTtlMs, relaySecret: deps.relaySecret, clusterJobScope: deps.clusterJobScope, clusterEndpointScope: deps.clusterEndpointScope, rateLimit: deps.rateLimit, denials: createDenialThrottle(), consoleSession: consoleSessionResolver(consoleSessions), sso: deps.sso,
    // A tenant's token, once authenticated, is screened by the admission layer on its later requests.
    learnToken: admission === undefined ? undefined : (token, tenantId) => admission.learn(admissionTokenKey(token), tenantId) });
  // After the auth hook (it resolves the tenant the bytes are charged to), before every route's body is read.
  registerBandwidthHooks(app, deps.bandwidth);

  const observe = deps.requestObserver;
  if (observe !== undefined) app.addHook('onResponse', async (request, reply) => observe(request, reply));

  await app.register(healthRoutes(deps));
  await app.register(platformRoutes(deps));
  await app.register(tenantRoutes(deps));
  for (const module of deps.modules) await app.register(module);
  await app.register(consoleRoutes(deps, { sessions: consoleSessions, assets: createConsoleAssets(), absoluteSeconds: consoleLifetimes.absoluteSeconds }));
  await app.register(oidcRoutes(deps, { sessions: consoleSessions, absoluteSeconds: consoleLifetimes.absoluteSeconds }));

  app.get('/api/v1/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  // Every registered route with its declared access (OpenAPI hides the MLflow and OIP routes): what
  // `bulkhead verify` enumerates, so a route added tomorrow is attacked tomorrow. Platform admins only.
  app.get('/api/v1/platform/routes', { config: { access: 'platform.tenants.read' }, schema: { hide: true } }, async () => ({ routes: routes.map((r) => ({ ...r })) }));

  return app;
};
