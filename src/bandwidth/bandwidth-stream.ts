import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Direction } from './bandwidth-core.ts';
import type { BandwidthLimiter } from './bandwidth-limiter.ts';

/**
 * A pass-through stream that charges every byte to the tenant's bucket and holds each piece until the
 * limiter lets it pass. Holding a piece stops the stream from reading more: the back-pressure reaches
 * the sender (TCP window, the reading side of a file), nothing is buffered beyond the stream's own
 * high-water mark. Bytes pass unchanged; a transfer is slowed, never failed.
 */
export const createThrottleStream = (limiter: BandwidthLimiter, tenantId: string, direction: Direction): Transform =>
  new Transform({
    // Room for a few socket reads (64 KiB each) on both sides: a smaller buffer pauses and resumes the
    // source on every chunk, which cost a quarter of the throughput when no limit binds.
    highWaterMark: 256 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      // Chunks are charged in pieces (limiter.pieceBytes), so a large chunk does not pass as one burst.
      const pieceBytes = limiter.pieceBytes(tenantId, direction);
      if (chunk.length <= pieceBytes) {
        const waiting = limiter.acquire(tenantId, direction, chunk.length);
        if (waiting === undefined) return callback(null, chunk);
        void waiting.then(() => callback(null, chunk), callback);
        return undefined;
      }
      void (async () => {
        for (let offset = 0; offset < chunk.length; offset += pieceBytes) {
          const piece = chunk.subarray(offset, offset + pieceBytes);
          await limiter.acquire(tenantId, direction, piece.length);
          this.push(piece);
        }
      })().then(() => callback(), callback);
      return undefined;
    },
  });

/** `source` through a throttle stream; errors of either side destroy the other. */
export const throttled = (limiter: BandwidthLimiter, tenantId: string, direction: Direction, source: Readable): Readable => {
  const throttle = createThrottleStream(limiter, tenantId, direction);
  source.on('error', (error) => throttle.destroy(error));
  throttle.on('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  return source.pipe(throttle);
};

/**
 * Charges `bytes` in pieces and resolves when all of them may have passed: for a copy the platform makes
 * itself (a dataset materialized for a local job), which is then paid for before it starts.
 */
export const chargeBytes = async (limiter: BandwidthLimiter, tenantId: string, direction: Direction, bytes: number): Promise<void> => {
  for (let left = bytes; left > 0;) {
    const piece = Math.min(left, limiter.pieceBytes(tenantId, direction));
    await limiter.acquire(tenantId, direction, piece);
    left -= piece;
  }
};
