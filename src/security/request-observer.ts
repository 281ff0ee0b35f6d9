/**
 * Puts into the audit log what the detector needs and the request path did not audit: a token used from an
 * address or user agent this process has not seen it use, bytes downloaded, 404s inside the caller's own
 * tenant (ids it does not own), and failed password logins. It never writes on the request path: `record`
 * (called after the response is sent) only updates in-memory counters, and `flush` (a timer, every
 * `flushIntervalMs`) writes one summary event per principal and kind in one transaction. A process that dies
 * loses at most one interval of these summaries, never a request's own audit event.
 */
import type { Db } from '../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { AuditEventInput } from '../audit/index.ts';

/** What the observer needs of a finished request (built from Fastify's request and reply by the HTTP layer). */
export interface ObservedRequest {
  principal: { kind: 'platform_admin' | 'tenant'; tokenId: string; tenantId?: string; label: string } | undefined;
  /** The tenant the request addressed after authorization (undefined when refused before that). */
  tenantId: string | undefined;
  source: string;
  userAgent: string;
  method: string;
  /** The route template (never a raw path). */
  route: string;
  access: string | undefined;
  statusCode: number;
  /** Response body bytes when known (content-length). */
  bytes: number;
}

export interface RequestObserver {
  record(request: ObservedRequest): void;
  /** Writes the pending summaries; never throws (a failure is logged and the counts are kept for the next try). */
  flush(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export interface RequestObserverOptions {
  db: Db;
  flushIntervalMs: number;
  log: { error(obj: object, msg: string): void };
  /** Distinct tokens whose sources are remembered (least recently used forgotten first). */
  maxTokens?: number;
  /** Distinct source/agent pairs remembered per token. */
  maxSourcesPerToken?: number;
}

const downloadAccess = new Set(['artifacts.read', 'datasets.read']);
const loginRoute = '/api/v1/auth/login';
const maxSamples = 20;

interface Counter {
  tenantId: string;
  actor: string;
  count: number;
  bytes: number;
  samples: string[];
  tokenId: string;
}

export const createRequestObserver = (options: RequestObserverOptions): RequestObserver => {
  const maxTokens = options.maxTokens ?? 50_000;
  const maxSourcesPerToken = options.maxSourcesPerToken ?? 32;
  /** tokenId → source/agent pairs seen (Map order = least recently used first). */
  const seen = new Map<string, Set<string>>();
  let pending: AuditEventInput[] = [];
  const downloads = new Map<string, Counter>();
  const notFounds = new Map<string, Counter>();
  const loginFailures = new Map<string, Counter>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  const bump = (map: Map<string, Counter>, key: string, init: Omit<Counter, 'count' | 'bytes' | 'samples'>, bytes: number, sample: string | undefined): void => {
    let counter = map.get(key);
    if (counter === undefined) {
      counter = { ...init, count: 0, bytes: 0, samples: [] };
      map.set(key, counter);
    }
    counter.count += 1;
    counter.bytes += bytes;
    if (sample !== undefined && counter.samples.length < maxSamples && !counter.samples.includes(sample)) counter.samples.push(sample);
  };

  const record = (request: ObservedRequest): void => {
    const principal = request.principal;
    if (principal === undefined) {
      if (request.route === loginRoute && request.statusCode === 401) {
        bump(loginFailures, request.source, { tenantId: PLATFORM_TENANT_ID, actor: 'anonymous', tokenId: '' }, 0, undefined);
      }
      return;
    }
    const tenantId = principal.tenantId ?? PLATFORM_TENANT_ID;
    const pair = `${request.source}\n${request.userAgent}`;
    let pairs = seen.get(principal.tokenId);
    if (pairs !== undefined) {
      seen.delete(principal.tokenId);
      seen.set(principal.tokenId, pairs);
    }
    if (pairs === undefined || !pairs.has(pair)) {
      if (pairs === undefined) {
        if (seen.size >= maxTokens) seen.delete(seen.keys().next().value!);
        pairs = new Set();
        seen.set(principal.tokenId, pairs);
      }
      if (pairs.size < maxSourcesPerToken) pairs.add(pair);
      // Bounded: a process whose flush never runs (or keeps failing) does not grow without limit.
      if (pending.length < 10_000) pending.push({
        tenantId, actor: principal.label, action: 'security.new_source', target: `token:${principal.tokenId}`, outcome: 'success',
        requestId: 'request-observer', details: { tokenId: principal.tokenId, source: request.source, userAgent: request.userAgent },
      });
    }
    const key = `${tenantId}\n${principal.label}\n${principal.tokenId}`;
    if (request.method === 'GET' && request.statusCode < 300 && request.access !== undefined && downloadAccess.has(request.access) && request.bytes > 0) {
      bump(downloads, key, { tenantId, actor: principal.label, tokenId: principal.tokenId }, request.bytes, undefined);
    }
    // A 404 after authorization passed: an id inside the caller's own scope that it does not own (a
    // foreign tenant's run, job or artifact id, or one that never existed). The auth hook audits the other
    // kind (another tenant's name in the path) itself.
    if (request.statusCode === 404 && request.tenantId !== undefined && principal.kind === 'tenant') {
      bump(notFounds, key, { tenantId, actor: principal.label, tokenId: principal.tokenId }, 0, `${request.method} ${request.route}`);
    }
  };

  const summaries = (): AuditEventInput[] => {
    const events = pending;
    pending = [];
    for (const counter of downloads.values()) {
      events.push({ tenantId: counter.tenantId, actor: counter.actor, action: 'security.download', target: `token:${counter.tokenId}`, outcome: 'success', requestId: 'request-observer', details: { tokenId: counter.tokenId, count: counter.count, bytes: counter.bytes } });
    }
    for (const counter of notFounds.values()) {
      events.push({ tenantId: counter.tenantId, actor: counter.actor, action: 'security.not_found', target: `token:${counter.tokenId}`, outcome: 'denied', requestId: 'request-observer', details: { tokenId: counter.tokenId, count: counter.count, routes: counter.samples } });
    }
    for (const [source, counter] of loginFailures) {
      events.push({ tenantId: PLATFORM_TENANT_ID, actor: 'anonymous', action: 'security.login_failure', target: `POST ${loginRoute}`, outcome: 'denied', requestId: 'request-observer', details: { source, count: counter.count } });
    }
    downloads.clear();
    notFounds.clear();
    loginFailures.clear();
    return events;
  };

  const flushOnce = async (): Promise<void> => {
    const events = summaries();
    if (events.length === 0) return;
    try {
      await withSystem(options.db, async (tx) => {
        for (const event of events) await appendAuditEvent(tx, event);
      });
    } catch (error) {
      // Kept for the next interval (the detector sums summaries, so two for one principal are fine), bounded.
      pending = [...events, ...pending].slice(0, 10_000);
      options.log.error({ err: (error as Error).message, events: events.length }, 'request observer could not write its audit summaries');
    }
  };

  const flush = async (): Promise<void> => {
    while (flushing !== undefined) await flushing;
    flushing = flushOnce();
    try {
      await flushing;
    } finally {
      flushing = undefined;
    }
  };

  return {
    record,
    flush,
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => void flush(), options.flushIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
};
