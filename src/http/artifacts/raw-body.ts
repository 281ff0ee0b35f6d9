import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';

/**
 * Makes every content type (and none) arrive as the raw request stream on the routes of `app` (call it
 * inside an encapsulated plugin): uploads are streamed to the blob store, never buffered, and the
 * platform's body limit does not apply to them (the storage quota does).
 */
export const acceptRawBodies = (app: FastifyInstance): void => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request: FastifyRequest, payload: NodeJS.ReadableStream, done: (error: Error | null, body?: unknown) => void) => {
    done(null, payload);
  });
};

/** The upload stream of a request: the parsed raw body, or the request itself when it had none. */
export const uploadStream = (request: FastifyRequest): Readable => (request.body as Readable | undefined) ?? request.raw;

/** The declared Content-Length, if any (a chunked upload has none). */
export const contentLengthOf = (request: FastifyRequest): number | undefined => {
  const header = request.headers['content-length'];
  if (header === undefined || request.headers['transfer-encoding'] !== undefined) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
};

/**
 * After an upload failed before its body was read to the end: keep reading (and discarding) it so the
 * client, still sending, gets to read the error instead of a connection reset; close afterwards.
 */
export const discardRestOfBody = (request: FastifyRequest, reply: FastifyReply): void => {
  if (!request.raw.readableEnded) {
    reply.header('connection', 'close');
    request.raw.resume();
    // A throttled body (http/bandwidth-hooks.ts) is piped from the request: keep that stream flowing too.
    const body = request.body as Readable | undefined;
    if (body !== undefined && body !== request.raw && typeof body.resume === 'function') body.resume();
  }
};
