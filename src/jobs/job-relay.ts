import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../db/index.ts';
import { withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';

/**
 * One forwarded request, as the relay hands it to the API (in-process, no network). `payload` is the
 * job's body as it arrives (a stream: read as fast as the API reads it, i.e. at the tenant's bandwidth
 * quota), or the buffered body for the routes whose body the relay must inspect (MLflow run writes).
 */
export interface ForwardRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: Buffer | Readable;
}
export interface ForwardResponse {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  /** The API's answer, streamed (downloads reach the job at the tenant's egress quota, never held whole). */
  body: Readable;
}
export type Forwarder = (request: ForwardRequest) => Promise<ForwardResponse>;

export interface RelayTarget {
  jobId: string;
  tenantId: string;
  tenantSlug: string;
  token: string;
  runId: string | null;
  experimentId: string | null;
  /** The job's private directory. */
  dir: string;
  /**
   * Inputs the job fetches through the API itself (cluster jobs' init container): its own job record, the
   * named dataset versions and the code bundle artifact become readable. Local jobs get theirs mounted.
   */
  inputs?: { codeBundle: string | null; datasets: readonly { name: string; version: number }[] };
}

export interface JobRelays {
  /** Opens the job's relay; resolves to its Unix socket (relayed to 127.0.0.1 inside the job's namespace). */
  open(target: RelayTarget): Promise<string>;
  close(jobId: string): Promise<void>;
  /** The per-process secret the relay stamps on forwarded requests; job tokens work only with it. */
  readonly secret: string;
  setForwarder(forwarder: Forwarder): void;
}

export const relayHeader = 'x-bulkhead-relay';
/** Refusals of one job audited one by one; the rest are counted into one summary row when its relay closes. */
export const relayRefusalBurst = 20;

/** One request the relay refused (never the token it presented). */
export interface RelayRefusal {
  status: number;
  code: string;
  reason: string;
  method: string;
  /** The request path without its query string, at most 300 characters. */
  path: string;
}

/**
 * Audits a job's refused relay requests in its tenant's chain as `job.relay_refused` (outcome denied, actor
 * `job:<id>`): the first `relayRefusalBurst` one by one, then one row with the count of the rest when the
 * relay closes — a job looping on a refused request writes a bounded number of rows. Never throws.
 */
export const createRelayRefusalAuditor = (db: Db, log: { error(obj: object, msg: string): void }) => {
  const counts = new Map<string, { seen: number; last: RelayRefusal; tenantId: string }>();
  const write = async (tenantId: string, jobId: string, refusal: RelayRefusal, suppressed?: number): Promise<void> => {
    try {
      await withSystem(db, (tx) => appendAuditEvent(tx, {
        tenantId, actor: `job:${jobId}`, action: 'job.relay_refused', target: `${refusal.method} ${refusal.path}`, outcome: 'denied', requestId: 'relay',
        details: { jobId, status: refusal.status, code: refusal.code, reason: refusal.reason, ...(suppressed === undefined ? {} : { suppressed }) },
      }));
    } catch (error) {
      log.error({ err: (error as Error).message, jobId }, 'could not audit a refused relay request');
    }
  };
  return {
    refused(target: Pick<RelayTarget, 'jobId' | 'tenantId'>, refusal: RelayRefusal): Promise<void> {
      const entry = counts.get(target.jobId) ?? { seen: 0, last: refusal, tenantId: target.tenantId };
      entry.seen += 1;
      entry.last = refusal;
      counts.set(target.jobId, entry);
      return entry.seen <= relayRefusalBurst ? write(target.tenantId, target.jobId, refusal) : Promise.resolve();
    },
    /** The relay of `jobId` closed: one summary row for what the burst left out. */
    async closed(jobId: string): Promise<void> {
      const entry = counts.get(jobId);
      counts.delete(jobId);
      if (entry !== undefined && entry.seen > relayRefusalBurst) await write(entry.tenantId, jobId, entry.last, entry.seen - relayRefusalBurst);
    },
  };
};
export type RelayRefusalAuditor = ReturnType<typeof createRelayRefusalAuditor>;
const maxBody = 256 * 1024 * 1024;

const mlflowRunBodyRoutes = new Set([
  'runs/log-batch', 'runs/log-metric', 'runs/log-parameter', 'runs/set-tag', 'runs/delete-tag', 'runs/update', 'runs/log-inputs',
]);
const mlflowRunQueryRoutes = new Set(['runs/get', 'metrics/get-history']);

/**
 * Whether `relayAllows` needs the body to decide (the MLflow run writes name their run in it): only those
 * bodies are read whole before forwarding (JSON, at most `maxInspectedBody`); every other body is streamed.
 */
export const relayNeedsBody = (method: string, rawUrl: string): boolean => {
  if (method !== 'POST') return false;
  const path = decodeURIComponent(new URL(rawUrl, 'http://relay').pathname);
  const mlflow = /^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/.exec(path);
  return mlflow !== null && mlflowRunBodyRoutes.has(mlflow[1]!);
};
/** A run write's JSON body (log-batch and the like) is small; the API's own JSON limit is lower still. */
const maxInspectedBody = 64 * 1024 * 1024;

/**
 * What a job may do through its relay, and nothing else: read who it is, log to its own MLflow run, and
 * read and write its own run's artifacts. Pure: (target, method, path, body) → allowed or why not.
 */
export const relayAllows = (target: RelayTarget, method: string, rawUrl: string, body: Buffer): { ok: true } | { ok: false; why: string } => {
  const url = new URL(rawUrl, 'http://relay');
  const path = decodeURIComponent(url.pathname);
  if (path.includes('..')) return { ok: false, why: 'path traversal' };
  if (method === 'GET' && path === '/api/v1/me') return { ok: true };
  const mlflow = /^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/.exec(path);
  if (mlflow !== null && target.runId !== null) {
    const route = mlflow[1]!;
    if (method === 'POST' && mlflowRunBodyRoutes.has(route)) {
      try {
        const parsed = JSON.parse(body.toString('utf8')) as { run_id?: unknown; run_uuid?: unknown };
        const runId = parsed.run_id ?? parsed.run_uuid;
        return runId === target.runId ? { ok: true } : { ok: false, why: 'a job may only log to its own run' };
      } catch {
        return { ok: false, why: 'body is not JSON' };
      }
    }
    if (method === 'GET' && mlflowRunQueryRoutes.has(route)) {
      const runId = url.searchParams.get('run_id') ?? url.searchParams.get('run_uuid');
      return runId === target.runId ? { ok: true } : { ok: false, why: 'a job may only read its own run' };
    }
    return { ok: false, why: `mlflow route ${route} is not available to jobs` };
  }
  const artifact = /^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/.exec(path)?.[1];
  if (target.inputs !== undefined && method === 'GET') {
    const own = `/api/v1/tenants/${target.tenantSlug}`;
    if (path === `${own}/jobs/${target.jobId}`) return { ok: true };
    const dataset = /^\/api\/v1\/tenants\/([^/]+)\/datasets\/([^/]+)\/versions\/(\d+)(?:\/files\/.+)?$/.exec(path);
    if (dataset !== null && dataset[1] === target.tenantSlug && target.inputs.datasets.some((d) => d.name === dataset[2] && d.version === Number(dataset[3]))) {
      return { ok: true };
    }
    const code = target.inputs.codeBundle;
    if (code !== null && artifact === code) return { ok: true };
  }
  if (artifact !== undefined && target.runId !== null && target.experimentId !== null) {
    const prefix = `${target.experimentId}/${target.runId}/artifacts/`;
    if ((method === 'PUT' || method === 'GET') && artifact.startsWith(prefix)) return { ok: true };
    return { ok: false, why: "a job may only read and write its own run's artifacts" };
  }
  return { ok: false, why: 'not available to jobs' };
};

/**
 * The platform side of each job's only way out: an HTTP server on a Unix socket, which a forwarder inside
 * the job's network namespace (every tier has one) exposes on 127.0.0.1 — bind-mounted into the sandbox
 * tiers, at its host path in the process tier. No host TCP port is opened. It accepts only the job's own token, only the routes `relayAllows`, and forwards them
 * to the API in-process, stamped with a secret header so job tokens work nowhere else.
 */
export const createJobRelays = (deps: { refusals?: RelayRefusalAuditor | undefined } = {}): JobRelays => {
  const secret = randomBytes(24).toString('base64url');
  const open = new Map<string, { servers: http.Server[]; socketDir: string }>();
  let forward: Forwarder | undefined;
  let socketRoot: string | undefined;

  const handler = (target: RelayTarget) => (request: http.IncomingMessage, response: http.ServerResponse) => {
    const deny = (status: number, code: string, message: string, reason?: string) => {
      // Audited (not the 502/503 of our own unavailability): what the job asked for and why it was refused.
      if (reason !== undefined && deps.refusals !== undefined) {
        const path = (request.url ?? '/').split('?')[0]!.slice(0, 300);
        void deps.refusals.refused(target, { status, code, reason, method: (request.method ?? 'GET').slice(0, 16), path });
      }
      if (response.headersSent) {
        response.destroy();
        return;
      }
      // The job's unread body is not wanted: close the connection after the answer.
      response.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      response.end(JSON.stringify({ code, message, error_code: code === 'FORBIDDEN' ? 'PERMISSION_DENIED' : code, requestId: 'relay' }));
    };
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    // Who and what, from the headers, before a byte of the body is read.
    const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
    const expected = Buffer.from(target.token);
    const given = Buffer.from(presented);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      deny(401, 'UNAUTHENTICATED', "the job relay accepts only this job's own token (MLFLOW_TRACKING_TOKEN)", presented === '' ? 'no token' : 'not this job\'s token');
      return;
    }
    let needsBody: boolean;
    try {
      needsBody = relayNeedsBody(method, url);
    } catch {
      deny(400, 'BAD_REQUEST', 'the job relay could not read this URL');
      return;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    const limit = needsBody ? maxInspectedBody : maxBody;
    if (declared > limit) {
      deny(413, 'PAYLOAD_TOO_LARGE', 'request too large for the job relay', 'request too large');
      return;
    }
    const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, [relayHeader]: secret };
    for (const name of ['content-type', 'accept', ...(needsBody ? [] : ['content-length', 'transfer-encoding'])]) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }

    const send = async (payload: Buffer | Readable): Promise<void> => {
      if (forward === undefined) {
        deny(503, 'UNAVAILABLE', 'the platform API is not ready');
        return;
      }
      const result = await forward({ method, url, headers, payload });
      const outHeaders: Record<string, string> = {};
      for (const name of ['content-type', 'x-request-id', 'content-length', 'retry-after', 'x-bulkhead-bandwidth']) {
        const value = result.headers[name];
        if (typeof value === 'string' || typeof value === 'number') outHeaders[name] = String(value);
      }
      // Answered before the job's body was all read (a refusal from the headers): do not wait for the rest.
      if (!request.complete && method !== 'GET' && method !== 'HEAD') outHeaders['connection'] = 'close';
      response.writeHead(result.statusCode, outHeaders);
      // Back-pressure both ways: the API's answer is read only as fast as the job takes it.
      pipeline(result.body, response, () => undefined);
    };
    const failed = () => deny(502, 'UNAVAILABLE', 'the job relay could not reach the API');

    if (!needsBody) {
      const verdict = relayAllows(target, method, url, Buffer.alloc(0));
      if (!verdict.ok) {
        deny(403, 'FORBIDDEN', `the job relay refused this request: ${verdict.why}`, verdict.why);
        return;
      }
      // Streamed: the API reads it through the tenant's bandwidth throttle, so the job's upload is slowed
      // at its source (the socket) instead of being taken whole into memory here first.
      let size = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          done(size > maxBody ? new Error('request too large for the job relay') : null, chunk);
        },
      });
      if (method === 'GET' || method === 'HEAD') {
        void send(Buffer.alloc(0)).catch(failed);
        return;
      }
      request.on('error', (error) => counted.destroy(error));
      request.pipe(counted);
      void send(counted).catch(failed);
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        deny(413, 'PAYLOAD_TOO_LARGE', 'request too large for the job relay', 'request too large');
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > limit) return;
      const body = Buffer.concat(chunks);
      const verdict = relayAllows(target, method, url, body);
      if (!verdict.ok) {
        deny(403, 'FORBIDDEN', `the job relay refused this request: ${verdict.why}`, verdict.why);
        return;
      }
      void send(body).catch(failed);
    });
  };

  return {
    secret,
    setForwarder(forwarder) {
      forward = forwarder;
    },
    async open(target) {
      // Unix socket paths are limited to 107 bytes: sockets live in a short per-process directory
      // (0711: the job uid may enter, nobody may list), one sub-directory per job.
      socketRoot ??= await mkdtemp(join(tmpdir(), 'bhr-'));
      await chmod(socketRoot, 0o711);
      const socketDir = join(socketRoot, target.jobId.replaceAll('-', '').slice(0, 24));
      await mkdir(socketDir, { mode: 0o711 });
      await chmod(socketDir, 0o711);
      const socketPath = join(socketDir, 'api.sock');
      await rm(socketPath, { force: true });
      const unixServer = http.createServer(handler(target));
      await new Promise<void>((resolve, reject) => unixServer.once('error', reject).listen(socketPath, resolve));
      // The job runs as an unprivileged uid; the token check, not file modes, keeps others out.
      await chmod(socketPath, 0o666);
      open.set(target.jobId, { servers: [unixServer], socketDir });
      return socketPath;
    },
    async close(jobId) {
      const relay = open.get(jobId);
      if (relay === undefined) return;
      open.delete(jobId);
      for (const server of relay.servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await rm(relay.socketDir, { recursive: true, force: true });
      await deps.refusals?.closed(jobId);
    },
  };
};
