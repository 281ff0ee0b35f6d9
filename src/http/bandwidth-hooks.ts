/**
 * The tenant's bandwidth quota on every HTTP body (docs/bandwidth.md): request bodies are read through the
 * limiter's throttle stream (ingress), response bodies are charged before they are sent — buffers — or
 * sent through it — streams (egress). One pair of hooks covers every route: artifact and dataset uploads
 * and downloads, code bundles fetched by cluster jobs, inference bodies, and the job relay (which forwards
 * in-process through the same app). The bytes are charged to the tenant the auth hook resolved; a
 * platform admin's calls are not charged (as with the request rate: an operator must be able to act on a
 * tenant that uses up its quota). Routes that resolve no tenant (the signed multipart part upload) charge
 * their owner themselves with `throttleUpload`.
 *
 * A body whose declared length would not be through within the limiter's `maxTransferSeconds` at the
 * tenant's rate is refused before any of it is read: `429 RATE_LIMITED` with `Retry-After` and a message
 * naming the limit; the handler never runs, so nothing is written.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { AppError } from '../core/errors.ts';
import { createThrottleStream, formatRate, throttled } from '../bandwidth/index.ts';
import type { BandwidthLimiter, Direction } from '../bandwidth/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The byte limiter the app was built with (undefined: bandwidth is not limited). */
    bandwidth: BandwidthLimiter | undefined;
  }
}

const DRAIN_LIMIT_BYTES = 64 * 1024;
/**
 * A declared body up to this size that the tenant's bucket holds right now is charged at once and not
 * streamed through the throttle (what the default, never-binding quotas cost: nothing per chunk). Larger
 * bodies always go through it, so a quota lowered mid-transfer reaches them within a piece.
 */
const CHARGE_AT_ONCE_BYTES = 8 * 1024 * 1024;
const noun = (direction: Direction) => (direction === 'ingress' ? 'upload' : 'download');

const megabytes = (bytes: number): string => `${Number((bytes / 1e6).toPrecision(3))} MB`;

/** The tenant a body's bytes are charged to, or undefined (no tenant, or a platform admin's call). */
export const chargedTenant = (request: FastifyRequest): string | undefined =>
  request.tenant === undefined || request.principal?.kind === 'platform_admin' ? undefined : request.tenant.id;

/**
 * Refuses (throws 429 RATE_LIMITED; its `details.retryAfterSeconds` becomes the `Retry-After` header in
 * sendError) a body of `bytes` that would not be through within the limiter's bound at the tenant's rate;
 * returns when it may go. Call it before any byte is read or written.
 */
export const admitTransfer = async (limiter: BandwidthLimiter | undefined, tenantId: string, direction: Direction, bytes: number): Promise<void> => {
  if (limiter === undefined || !limiter.enabled || bytes <= 0) return;
  const { verdict, limit } = await limiter.admit(tenantId, direction, bytes);
  if (verdict.allowed) return;
  const rate = formatRate(limit.bytesPerSecond);
  const bound = limiter.maxTransferSeconds;
  const message = verdict.fitsAtThisRate
    ? `this ${noun(direction)} of ${megabytes(bytes)} would not be through within ${bound} s: your tenant's other ${noun(direction)}s hold its ${direction} bandwidth quota of ${rate}; retry after ${verdict.retryAfterSeconds} s`
    : `your ${noun(direction)} of ${megabytes(bytes)} would take ${Math.ceil(verdict.expectedSeconds - 1e-6)} s at ${rate}, your tenant's ${direction} bandwidth quota; one transfer may take at most ${bound} s: send it in parts or ask a platform admin for a higher quota`;
  throw new AppError('RATE_LIMITED', message, {
    details: { limit: `${direction}BytesPerSecond`, bytesPerSecond: limit.bytesPerSecond, burstBytes: limit.burstBytes, declaredBytes: bytes, maxTransferSeconds: bound, retryAfterSeconds: verdict.retryAfterSeconds },
  });
};

/**
 * A download that would not be through within the bandwidth bound at the tenant's egress rate is refused
 * before a byte is sent (the opened stream is closed). Not for a platform admin's call (not charged).
 */
export const refuseOverBound = async (request: FastifyRequest, bytes: number, stream: { destroy(): void }): Promise<void> => {
  const tenantId = chargedTenant(request);
  if (tenantId === undefined) return;
  try {
    await admitTransfer(request.server.bandwidth, tenantId, 'egress', bytes);
  } catch (error) {
    stream.destroy();
    throw error;
  }
};

/**
 * Answers with one stored file as an attachment (`application/octet-stream`, a safe file name, `nosniff`),
 * after `refuseOverBound`.
 */
export const sendDownload = async (
  request: FastifyRequest, reply: FastifyReply, file: { path: string; size: number }, stream: Readable,
): Promise<FastifyReply> => {
  await refuseOverBound(request, file.size, stream);
  const name = file.path.split('/').at(-1) ?? 'artifact';
  return reply
    .header('content-type', 'application/octet-stream')
    .header('content-length', String(file.size))
    .header('content-disposition', `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"`)
    .header('x-content-type-options', 'nosniff')
    .send(stream);
};

/** A route that resolved no tenant (the signed part upload) throttles its owner's upload itself. */
export const throttleUpload = (request: FastifyRequest, tenantId: string, stream: Readable): Readable => {
  const limiter = request.server.bandwidth;
  return limiter === undefined || !limiter.enabled ? stream : throttled(limiter, tenantId, 'ingress', stream);
};

/** `x-bulkhead-bandwidth`: why a call was slow — "your upload is limited to 50 MB/s by your tenant's bandwidth quota". */
const explain = (limiter: BandwidthLimiter, tenantId: string, direction: Direction): string => {
  const limit = limiter.currentLimit(tenantId, direction);
  const rate = limit === undefined ? 'its rate' : formatRate(limit.bytesPerSecond);
  const share = limiter.shared(direction) ? " (or less: its weighted share of the platform's bandwidth while other tenants transfer)" : '';
  return `your ${noun(direction)} is limited to ${rate}${share} by your tenant's bandwidth quota`;
};

export const registerBandwidthHooks = (app: FastifyInstance, limiter: BandwidthLimiter | undefined): void => {
  app.decorate('bandwidth', limiter);
  if (limiter === undefined) return;
  /** Requests whose body went through the throttle stream (it did not fit in the bucket at once). */
  const throttledBodies = new WeakSet<FastifyRequest>();

  app.addHook('preParsing', async (request, reply, payload) => {
    const tenantId = chargedTenant(request);
    if (tenantId === undefined || !limiter.enabled) return payload;
    const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
    if (!hasBody) return payload;
    const declared = request.headers['transfer-encoding'] === undefined ? Number(request.headers['content-length']) : Number.NaN;
    if (Number.isSafeInteger(declared) && declared > 0) {
      try {
        await admitTransfer(limiter, tenantId, 'ingress', declared);
      } catch (error) {
        // The refused body is not read: closing the connection drops it instead of draining it on the event loop.
        if (declared > DRAIN_LIMIT_BYTES) reply.header('connection', 'close');
        throw error;
      }
    }
    if (Number.isSafeInteger(declared) && declared <= CHARGE_AT_ONCE_BYTES && limiter.tryTake(tenantId, 'ingress', declared)) return payload;
    const throttle = createThrottleStream(limiter, tenantId, 'ingress');
    throttledBodies.add(request);
    payload.on('error', (error) => throttle.destroy(error));
    // Fastify compares the bytes read with Content-Length; they pass unchanged.
    return payload.pipe(throttle);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const tenantId = chargedTenant(request);
    if (tenantId === undefined || !limiter.enabled || payload === null || payload === undefined) return payload;
    const limit = limiter.currentLimit(tenantId, 'ingress');
    if (throttledBodies.has(request) && limit !== undefined) {
      const declared = Number(request.headers['content-length']);
      // A body larger than the burst waited for the rate: say why the call was slow (chunked: no length, say it too).
      if (!Number.isFinite(declared) || declared > limit.burstBytes) reply.header('x-bulkhead-bandwidth', explain(limiter, tenantId, 'ingress'));
    }
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
      const waiting = limiter.acquire(tenantId, 'egress', Buffer.byteLength(payload));
      if (waiting !== undefined) await waiting;
      return payload;
    }
    if (typeof (payload as Readable).pipe === 'function') {
      const length = Number(reply.getHeader('content-length'));
      if (Number.isSafeInteger(length) && length <= CHARGE_AT_ONCE_BYTES && limiter.tryTake(tenantId, 'egress', length)) return payload;
      const egress = limiter.currentLimit(tenantId, 'egress');
      if (egress !== undefined && Number.isFinite(length) && length > egress.burstBytes) reply.header('x-bulkhead-bandwidth', explain(limiter, tenantId, 'egress'));
      return throttled(limiter, tenantId, 'egress', payload as Readable);
    }
    return payload;
  });
};

