/**
 * The HTTP hooks that feed the metrics and the usage ledger: every response is counted by route template
 * (never its raw path), method and status class; tenant requests are added to the in-memory usage
 * counters (no database write on the request path: usage-accumulator.ts flushes them); inference
 * requests per deployment; bytes of artifact and dataset downloads as they are sent.
 */
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { openApiRoute } from './metric-labels.ts';
import type { PlatformMetrics } from './platform-metrics.ts';
import type { UsageAccumulator } from './usage-accumulator.ts';

export interface RequestMetering {
  metrics: PlatformMetrics;
  usage: UsageAccumulator | undefined;
}

const downloadAccess = new Set(['artifacts.read', 'datasets.read']);

/** The tenant billed for a request: the caller's own tenant (a platform admin's requests are no tenant's). */
const callerTenant = (request: FastifyRequest): string | undefined =>
  request.principal?.kind === 'tenant' ? request.principal.tenantId : undefined;

const isStream = (payload: unknown): payload is Readable =>
  typeof payload === 'object' && payload !== null && typeof (payload as { pipe?: unknown }).pipe === 'function';

/** Registers the hooks on the root instance (so they apply to every route, whichever plugin declares it). */
export const registerRequestMetering = (app: FastifyInstance, metering: RequestMetering): void => {
  const { metrics, usage } = metering;

  // Route templates are few: each is converted once.
  const routes = new Map<string | undefined, string>();
  const routeOf = (url: string | undefined): string => {
    let route = routes.get(url);
    if (route === undefined) {
      route = openApiRoute(url);
      routes.set(url, route);
    }
    return route;
  };

  // A callback hook, not an async one: most responses are not downloads and pass straight through.
  app.addHook('onSend', (request, reply, payload, done) => {
    const tenantId = request.tenant?.id;
    const access = request.routeOptions.config?.access;
    if (request.method !== 'GET' || tenantId === undefined || access === undefined || !downloadAccess.has(access) || reply.statusCode >= 300) {
      done(null, payload);
      return;
    }
    const count = (bytes: number) => {
      metrics.observeDownload(tenantId, bytes);
      usage?.add(tenantId, 'artifactBytesDownloaded', bytes);
    };
    // File contents come as a stream (or a buffer); a JSON string is a listing or an error, not a download.
    if (Buffer.isBuffer(payload)) count(payload.length);
    else if (isStream(payload)) {
      // Counted as the bytes pass on their way to the socket; an error on the source ends the copy too.
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          count(chunk.length);
          callback(null, chunk);
        },
      });
      payload.on('error', (error) => counter.destroy(error));
      done(null, payload.pipe(counter));
      return;
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = routeOf(request.routeOptions.url);
    const seconds = reply.elapsedTime / 1000;
    const status = reply.statusCode;
    const tenantId = callerTenant(request);
    metrics.observeHttp({ method: request.method, route, status, seconds, tenantId });
    if (route.startsWith('/v2/')) {
      const servedTenant = request.tenant?.id;
      const name = (request.params as Record<string, unknown> | undefined)?.['name'];
      if (servedTenant !== undefined && typeof name === 'string' && route.startsWith('/v2/models/{name}')) {
        metrics.observeInference({ tenantId: servedTenant, deployment: name, status, seconds });
        usage?.add(servedTenant, 'inferenceRequests', 1);
        usage?.add(servedTenant, 'inferenceSeconds', seconds);
      }
    } else if (tenantId !== undefined) {
      usage?.add(tenantId, 'apiRequests', 1);
    }
    done();
  });
};
