/**
 * The write end of an upload in ONE stream stage: a Writable that meters, hashes, encrypts (BlobSealer)
 * and writes the sealed bytes to an open file — instead of PassThrough → meter Transform → encrypt
 * Transform → fs.WriteStream, four stages with a hand-off (and a buffer queue) each.
 *
 * - Metering: `admit(total)` is asked for every chunk; it returns undefined when the bytes are already
 *   granted (no promise per chunk) or a promise when the reservation must grow first.
 * - Writes: sealed pieces (no copies: the cipher's output buffers) are gathered and written with one
 *   `writev` per `batchBytes` (4 MiB), one write in flight while the next batch is being sealed, so disk
 *   writes overlap with receiving and encrypting. Backpressure: the Writable callback is held while a
 *   full batch waits behind the write in flight (memory bound ≈ highWaterMark + 2 batches + one frame).
 * - Durability: every `syncEveryBytes` written, a `datasync` is started in the background (not waited
 *   for unless the previous one is still running at the end), so the caller's final fsync has little left
 *   to flush. The caller still fsyncs after `finish`: this only overlaps the flushing with the upload.
 */
import { Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import type { BlobSealer } from './blob-crypto.ts';

/** What of `buffers` a short write of `written` bytes left: the tail to write next. */
export const unwritten = (buffers: readonly Buffer[], written: number): Buffer[] => {
  let skip = written;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) skip -= buffer.length;
    else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return rest;
};

export interface SealingWriterOptions {
  /** Returns undefined when `total` plaintext bytes may be taken now, or a promise settled when they may. */
  admit?: (total: number) => Promise<void> | undefined;
  batchBytes?: number;
  syncEveryBytes?: number;
  highWaterMark?: number;
}

const BATCH_BYTES = 4 * 1024 * 1024;
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

export const createSealingWriter = (handle: FileHandle, sealer: BlobSealer, options: SealingWriterOptions = {}): Writable => {
  const admit = options.admit;
  const batchBytes = options.batchBytes ?? BATCH_BYTES;
  const syncEvery = options.syncEveryBytes ?? SYNC_EVERY_BYTES;
  let received = 0;
  let out: Buffer[] = [];
  let outBytes = 0;
  let writing = false;
  let failed: Error | undefined;
  let written = 0;
  let syncedMark = 0;
  let syncing: Promise<void> | undefined;
  let held: ((error?: Error | null) => void) | undefined;
  let finishing: ((error?: Error | null) => void) | undefined;

  const fail = (error: Error): void => {
    failed ??= error;
    const callbacks = [held, finishing];
    held = undefined;
    finishing = undefined;
    for (const callback of callbacks) callback?.(failed);
  };

  const writeAll = async (buffers: Buffer[], bytes: number): Promise<void> => {
    let { bytesWritten } = await handle.writev(buffers);
    // Short writes are rare on regular files; finish the rest rather than lose bytes.
    while (bytesWritten < bytes) {
      const more = await handle.writev(unwritten(buffers, bytesWritten));
      if (more.bytesWritten === 0) throw new Error('short write to blob file');
      bytesWritten += more.bytesWritten;
    }
  };

  const maybeSync = (): void => {
    if (syncing !== undefined || written - syncedMark < syncEvery) return;
    const mark = written;
    syncing = handle.datasync().then(
      () => {
        syncedMark = mark;
        syncing = undefined;
      },
      (error: unknown) => {
        syncing = undefined;
        fail(error as Error);
      },
    );
  };

  /** Starts a write of everything gathered when there is a batch (or `force`) and none in flight. */
  const pump = (force: boolean): void => {
    if (writing || failed !== undefined) return;
    if (outBytes === 0 || (!force && outBytes < batchBytes)) {
      if (force && finishing !== undefined && outBytes === 0) {
        const done = finishing;
        finishing = undefined;
        void (syncing ?? Promise.resolve()).then(() => done(failed ?? null));
      }
      return;
    }
    const buffers = out;
    const bytes = outBytes;
    out = [];
    outBytes = 0;
    writing = true;
    writeAll(buffers, bytes).then(
      () => {
        writing = false;
        written += bytes;
        maybeSync();
        if (failed !== undefined) return;
        if (finishing !== undefined) return pump(true);
        pump(false);
        if (held !== undefined && outBytes < batchBytes) {
          const callback = held;
          held = undefined;
          callback();
        }
      },
      (error: unknown) => {
        writing = false;
        fail(error as Error);
      },
    );
  };

  const seal = (chunks: readonly Buffer[], callback: (error?: Error | null) => void): void => {
    if (failed !== undefined) return callback(failed);
    try {
      for (const chunk of chunks) {
        const before = out.length;
        sealer.update(chunk, out);
        for (let i = before; i < out.length; i += 1) outBytes += out[i]!.length;
      }
    } catch (error) {
      return callback(error as Error);
    }
    pump(false);
    // Hold the producer while a full batch waits behind the write in flight.
    if (writing && outBytes >= batchBytes) held = callback;
    else callback();
  };

  const accept = (chunks: Buffer[], callback: (error?: Error | null) => void): void => {
    for (const chunk of chunks) received += chunk.length;
    const wait = admit?.(received);
    if (wait === undefined) return seal(chunks, callback);
    wait.then(() => seal(chunks, callback), (error: unknown) => callback(error as Error));
  };

  return new Writable({
    highWaterMark: options.highWaterMark ?? 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      accept([chunk], callback);
    },
    writev(chunks, callback) {
      accept(chunks.map((entry) => entry.chunk as Buffer), callback);
    },
    final(callback) {
      if (failed !== undefined) return callback(failed);
      try {
        const before = out.length;
        sealer.final(out);
        for (let i = before; i < out.length; i += 1) outBytes += out[i]!.length;
      } catch (error) {
        return callback(error as Error);
      }
      finishing = callback;
      pump(true);
    },
    destroy(error, callback) {
      // Let a write in flight settle before the caller closes the file (FileHandle.close waits too).
      failed ??= error ?? new Error('blob writer destroyed');
      held = undefined;
      finishing = undefined;
      callback(error);
    },
  });
};
