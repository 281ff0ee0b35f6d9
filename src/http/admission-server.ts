/**
 * The raw HTTP server under Fastify, with per-tenant admission (tenant-admission.ts) in front of it: a
 * request whose token belongs to a tenant that is over its request rate, its in-flight limit or its
 * connection limit is answered 429 here, from the request line and headers alone — before routing, the
 * auth hook, content parsing, logging, and before any of its body is read.
 *
 * Close/drain policy (the same as the auth hook's): a refused request that declares a body over 64 KiB,
 * or streams one without a length, is answered with `Connection: close` and its connection is closed once
 * the answer is written, so the body is never read (the kernel drops what arrived). A smaller body is
 * drained (read and discarded) so the keep-alive connection can carry the client's next request: cheaper
 * than a reconnect. A connection refused for the tenant's connection limit is always closed.
 *
 * Hold: a refusal over the tenant's rate or in-flight limit whose body would be dropped is not answered at
 * once. Its socket's reads stop and its 429 is written after `refusalHoldMs` ± 25 % (Retry-After counted
 * from then). The cost of a refusal — accepting, parsing the headers, writing the 429, closing a socket
 * full of unread body — is then paid at most once per connection and hold: a client that floods large
 * bodies over a pool of N connections gets about N refusals per hold instead of one per request, and the
 * event loop every tenant shares stays free. Bounded: a tenant holds at most its connection limit
 * (`maxConnections`) of them, the process at most `maxHeldRefusals`; past either, the refusal is answered
 * at once, as without the hold. A client that opens a fresh connection for every request is bounded only
 * by those caps (docs/operations.md). A held request keeps a graceful shutdown waiting until its answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AdmissionVerdict, TenantAdmission } from './tenant-admission.ts';
import { mlflowCodes } from './error-handler.ts';
import type { ErrorBody } from './error-handler.ts';

/** Held refusals answered per turn of the event loop once their hold is over. */
const ANSWERS_PER_TURN = 4;

/**
 * One hold's length: `holdMs` ± 25 %, at random. A pooled client's refused requests arrive together (its
 * connections were opened together) and would otherwise be answered together and come back together, a
 * burst of connections and header parses in one turn of the event loop every hold.
 */
const heldFor = (holdMs: number): number => holdMs * (0.75 + Math.random() * 0.5);

/** Above this, a refused body is dropped with the connection instead of being drained. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

/** Health endpoints are never refused here (a load balancer's probe may carry a tenant's token). */
const unscreenedPaths = ['/healthz', '/readyz'];

/** The key a token is remembered by: its SHA-256, so the admission map never holds a credential. */
export const admissionTokenKey = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** The token of `Authorization: Bearer <t>` or of basic auth with the token as password (as readToken in auth-hook.ts). */
const rawToken = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined;
  const space = header.indexOf(' ');
  if (space === -1) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).split(' ', 1)[0] ?? '';
  if (scheme === 'bearer') return value.trim() || undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  return undefined;
};

const refusalMessage = (verdict: Extract<AdmissionVerdict, { admit: false }>, admission: TenantAdmission, seconds: number): string => {
  switch (verdict.reason) {
    case 'rate':
      return `this tenant is over its request rate; retry after ${seconds} s`;
    case 'in_flight':
      return `this tenant has ${admission.limits.maxInFlight} requests in flight on this server, its limit (BULKHEAD_TENANT_MAX_IN_FLIGHT); retry after ${seconds} s`;
    case 'connections':
      return `this tenant has ${admission.limits.maxConnections} connections open to this server, its limit (BULKHEAD_TENANT_MAX_CONNECTIONS); retry after ${seconds} s`;
    default: {
      const unreachable: never = verdict.reason;
      throw new Error(`unhandled refusal ${String(unreachable)}`);
    }
  }
};

/** The refusal body in the route family's error format (error-handler.ts renders the same shapes). */
const refusalBody = (url: string, message: string, requestId: string, limit: string): string => {
  if (url.startsWith('/api/2.0/mlflow') || url.startsWith('/ajax-api/2.0/mlflow')) return JSON.stringify({ error_code: mlflowCodes.RATE_LIMITED, message });
  const body: ErrorBody = { code: 'RATE_LIMITED', message, requestId, details: { limit } };
  return JSON.stringify(url.startsWith('/v2/') ? { ...body, error: message } : body);
};

const limitNames = { rate: 'requests_per_second', in_flight: 'in_flight', connections: 'connections' } as const;

type Refusal = Extract<AdmissionVerdict, { admit: false }>;

/** Whether a refused request's body is dropped with its connection (over 64 KiB declared, or no length) rather than drained. */
const dropsBody = (req: IncomingMessage): boolean => {
  const declared = Number(req.headers['content-length'] ?? 0);
  const unbounded = req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined;
  return declared > DRAIN_LIMIT_BYTES || unbounded;
};

const refuse = (admission: TenantAdmission, req: IncomingMessage, res: ServerResponse, verdict: Refusal, hsts: boolean): void => {
  const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
  const requestId = `req_${randomBytes(8).toString('hex')}`;
  const body = refusalBody(req.url ?? '/', refusalMessage(verdict, admission, seconds), requestId, limitNames[verdict.reason]);
  const close = verdict.reason === 'connections' || dropsBody(req);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'retry-after': String(seconds),
    'x-request-id': requestId,
  };
  if (hsts) headers['strict-transport-security'] = 'max-age=31536000';
  if (close) {
    // `Connection: close` makes Node end the socket once the answer is flushed. Pausing the socket stops
    // its reads now (the HTTP server turns a pause into readStop on the handle), so no more of the body is
    // taken off the kernel's buffer; what arrived unread is dropped when the socket closes.
    headers['connection'] = 'close';
    req.socket.pause();
  }
  res.writeHead(429, headers);
  res.end(body);
};

/**
 * Screens one request; true when it goes on to Fastify (and is then counted in flight until its response
 * closes), false when it was answered here.
 */
const createScreen = (admission: TenantAdmission, hsts: boolean) => {
  const socketTenant = new WeakMap<Socket, string>();
  // Held refusals whose hold is over, answered a few per turn of the event loop: holds that began together
  // (a client's burst) end together, and answering hundreds of them in one turn would stall every other
  // connection for as long.
  const due: Array<() => void> = [];
  let draining = false;
  const drain = (): void => {
    for (let i = 0; i < ANSWERS_PER_TURN && due.length > 0; i += 1) due.shift()!();
    if (due.length > 0) setImmediate(drain);
    else draining = false;
  };
  /** Holds `verdict`'s refusal (module comment: Hold); false when it is to be answered at once. */
  const hold = (req: IncomingMessage, res: ServerResponse, verdict: Refusal): boolean => {
    if (verdict.reason === 'connections' || !dropsBody(req) || !admission.tryHold(verdict.tenantId)) return false;
    req.socket.pause();
    const since = performance.now();
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      clearTimeout(timer);
      admission.holdEnded(verdict.tenantId);
    };
    const answer = (): void => {
      if (!held) return;
      release();
      if (req.socket.destroyed) return;
      refuse(admission, req, res, { ...verdict, retryAfterMs: Math.max(0, verdict.retryAfterMs - (performance.now() - since)) }, hsts);
    };
    const timer = setTimeout(() => {
      due.push(answer);
      if (!draining) {
        draining = true;
        setImmediate(drain);
      }
    }, heldFor(admission.limits.refusalHoldMs ?? 0));
    // The connection closed during the hold (the server closing its connections, a socket timeout): nothing
    // to answer. A client that leaves is noticed only when the answer is written, since nothing is read.
    res.once('close', release);
    return true;
  };
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '/';
    if (unscreenedPaths.some((path) => url === path || url.startsWith(`${path}?`))) return true;
    const token = rawToken(req.headers.authorization);
    const socket = req.socket;
    const newConnection = !socketTenant.has(socket);
    const verdict = admission.screen(token === undefined ? undefined : admissionTokenKey(token), newConnection);
    if (!verdict.admit) {
      if (!hold(req, res, verdict)) refuse(admission, req, res, verdict, hsts);
      return false;
    }
    const tenantId = verdict.tenantId;
    if (tenantId === undefined) return true;
    if (newConnection) {
      socketTenant.set(socket, tenantId);
      admission.connectionOpened(tenantId);
      socket.once('close', () => admission.connectionClosed(tenantId));
    }
    admission.requestStarted(tenantId);
    res.once('close', () => admission.requestFinished(tenantId));
    return true;
  };
};

/** What Fastify passes to a server factory (the options it would give its own server). */
interface FactoryOptions {
  http?: http.ServerOptions;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

/**
 * A Fastify `serverFactory`: the server Fastify would build (HTTP, or HTTPS with `tls`), with the same
 * timeouts, whose request handler screens every request before Fastify's handler sees it.
 */
export const createAdmissionServerFactory = (admission: TenantAdmission, tls: { key: Buffer; cert: Buffer } | undefined) =>
  (handler: (req: IncomingMessage, res: ServerResponse) => void, options: FactoryOptions): Server => {
    const screen = createScreen(admission, tls !== undefined);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (screen(req, res)) handler(req, res);
    };
    // An HTTPS server is an http.Server to every route and hook; only the listener differs (hence the cast).
    const server = (tls === undefined ? http.createServer(options.http ?? {}, onRequest) : https.createServer(tls, onRequest)) as Server;
    // `Expect: 100-continue` (curl's default for large uploads): screened before the client is told to send
    // its body, so a refused client never sends it. Admitted: continue, as Node does without a listener.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (!screen(req, res)) return;
      res.writeContinue();
      handler(req, res);
    });
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
    if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket !== undefined && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };
