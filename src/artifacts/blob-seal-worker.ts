/**
 * The seal worker (a worker thread; see blob-seal-pool.ts): for one blob at a time it hashes the plaintext
 * the main thread puts in the shared ring, has it encrypted and writes the sealed bytes to the blob's temp
 * file by descriptor, so SHA-256, AES-GCM, their output buffers (and their garbage collection) and the
 * write syscalls leave the event loop that parses HTTP. Same format as the inline writer (blob-crypto.ts).
 *
 * Three things run at once here (hashing, encrypting and writing one after another on this one thread
 * capped an upload at 1 / (hash + encrypt + write) per byte; the write alone costs about what a plain copy
 * does, so an upload could never reach half of one):
 * - this thread hashes each piece of the ring and copies it into the current frame (the ring space is
 *   handed back at once);
 * - a full frame goes to WebCrypto's AES-GCM (`frameSealerFor`), which encrypts on libuv's thread pool,
 *   up to MAX_FRAMES_IN_FLIGHT frames at a time; sealed frames are taken back strictly in frame order;
 * - sealed frames are gathered into batches (4 MiB), written asynchronously (thread pool again), one batch
 *   in flight at a time and in order, at the descriptor's position.
 *
 * When the ring is empty and nothing is in flight it blocks on Atomics.wait: it has nothing else to do.
 * With a frame or a write in flight it awaits that instead (completions need this thread's event loop),
 * then looks at the ring again. The file descriptor belongs to the main thread, which closes it only after
 * this worker has answered the job (done, aborted or error), and every answer is sent only once no write
 * is in flight — so a write here can never land in a descriptor number that was reused.
 */
import { createHash } from 'node:crypto';
import { writev } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { frameSealerFor } from './blob-crypto.ts';
import { unwritten } from './blob-writer.ts';
import {
  BIG_CONSUMED, BIG_PRODUCED, BIG_WRITTEN, I32_MAIN_WAITING, I32_SEQ, I32_STATE, I32_WORKER_WAITING, I32_WSEQ, STATE_ABORT, STATE_END,
  controlViews,
} from './blob-seal-protocol.ts';
import type { SealJobMessage, SealJobResult, SealWorkerData } from './blob-seal-protocol.ts';

/** Plaintext taken from the ring per step, then its space is handed back. */
const STEP_BYTES = 1024 * 1024;
/** Frames being encrypted at once (memory: this many sealed frames, plus the frame being filled). */
const MAX_FRAMES_IN_FLIGHT = 4;
/** IOV_MAX is 1024 on Linux; a 4 MiB batch of 1 MiB frames stays far below it, but split anyway. */
const IOV_PIECES = 512;

const writevAsync = (fd: number, buffers: Buffer[]): Promise<number> =>
  new Promise((resolve, reject) => {
    writev(fd, buffers, (error, bytesWritten) => (error === null ? resolve(bytesWritten) : reject(error)));
  });

const writeAll = async (fd: number, buffers: Buffer[], bytes: number): Promise<void> => {
  let done = await writevAsync(fd, buffers);
  // Short writes are rare on regular files; finish the rest rather than lose bytes.
  while (done < bytes) {
    const more = await writevAsync(fd, unwritten(buffers, done));
    if (more === 0) throw new Error('short write to blob file');
    done += more;
  }
};

/** A promise whose rejection is handled later, by whoever awaits it: never reported as unhandled. */
const observed = <T>(promise: Promise<T>): Promise<T> => {
  promise.catch(() => {});
  return promise;
};

const runJob = async (data: SealWorkerData, job: SealJobMessage): Promise<SealJobResult> => {
  const { i32, big } = controlViews(data.control);
  const ring = Buffer.from(data.ring);
  const ringBytes = ring.length;
  const sealer = await frameSealerFor({ header: Buffer.from(job.header), fileKey: Buffer.from(job.fileKey.buffer, job.fileKey.byteOffset, job.fileKey.byteLength) });
  // The sealer holds the key as a CryptoKey now; the copy that came with the message is not needed.
  job.fileKey.fill(0);
  const hash = createHash('sha256');
  const frameSize = sealer.frameSize;
  // The frame being filled (WebCrypto copies it when called, so one buffer serves every frame).
  const frame = Buffer.allocUnsafe(frameSize);
  let fill = 0;
  let index = 0;
  let processed = 0;
  /** Frames handed to WebCrypto, oldest first. */
  const sealing: Array<Promise<Buffer>> = [];
  let out: Buffer[] = [sealer.header];
  let outBytes = sealer.header.length;
  let written = 0;
  /** The batch being written (at most one), settled only after `written` counts it. */
  let inflight: Promise<void> | undefined;

  const writeBatch = async (buffers: Buffer[], bytes: number): Promise<void> => {
    for (let i = 0; i < buffers.length; i += IOV_PIECES) {
      const part = buffers.slice(i, i + IOV_PIECES);
      await writeAll(job.fd, part, part.reduce((sum, piece) => sum + piece.length, 0));
    }
    written += bytes;
    Atomics.store(big, BIG_WRITTEN, BigInt(written));
  };
  /** Waits for the write in flight (rethrowing its error), then starts writing what is gathered. */
  const flush = async (): Promise<void> => {
    if (inflight !== undefined) {
      const previous = inflight;
      inflight = undefined;
      await previous;
    }
    if (outBytes === 0) return;
    const buffers = out;
    const bytes = outBytes;
    out = [];
    outBytes = 0;
    inflight = observed(writeBatch(buffers, bytes));
  };
  /** Takes the oldest sealed frame into the write batch; writes the batch when it is full. */
  const collectOne = async (): Promise<void> => {
    const sealed = await sealing.shift()!;
    out.push(sealed);
    outBytes += sealed.length;
    if (outBytes >= job.batchBytes) await flush();
  };
  const sealFrame = async (final: boolean): Promise<void> => {
    if (sealing.length >= MAX_FRAMES_IN_FLIGHT) await collectOne();
    sealing.push(observed(sealer.seal(frame.subarray(0, fill), index, final)));
    index += 1;
    fill = 0;
  };
  const release = (): void => {
    Atomics.store(big, BIG_CONSUMED, BigInt(processed));
    Atomics.add(i32, I32_WSEQ, 1);
    if (Atomics.load(i32, I32_MAIN_WAITING) !== 0) Atomics.notify(i32, I32_WSEQ);
  };

  try {
    for (;;) {
      const seq = Atomics.load(i32, I32_SEQ);
      const state = Atomics.load(i32, I32_STATE);
      if (state === STATE_ABORT) return { type: 'aborted' };
      const produced = Number(Atomics.load(big, BIG_PRODUCED));
      if (produced > processed) {
        const end = Math.min(produced, processed + STEP_BYTES);
        while (processed < end) {
          // A full frame is sealed as not final only now that we know more bytes follow it.
          if (fill === frameSize) await sealFrame(false);
          const at = processed % ringBytes;
          const n = Math.min(end - processed, ringBytes - at, frameSize - fill);
          const piece = ring.subarray(at, at + n);
          hash.update(piece);
          piece.copy(frame, fill);
          fill += n;
          processed += n;
        }
        release();
        continue;
      }
      if (state === STATE_END) {
        await sealFrame(true);
        while (sealing.length > 0) await collectOne();
        await flush();
        const last = inflight;
        inflight = undefined;
        await last;
        return { type: 'done', digest: hash.digest('hex'), size: processed, written };
      }
      // Nothing to read right now: take what is sealed and write it instead of waiting with it, or let
      // what is in flight finish (its completion runs on this thread's event loop, which Atomics.wait blocks).
      if (sealing.length > 0) {
        await collectOne();
        continue;
      }
      if (outBytes > 0 || inflight !== undefined) {
        await flush();
        const current = inflight;
        inflight = undefined;
        await current;
        continue;
      }
      Atomics.store(i32, I32_WORKER_WAITING, 1);
      Atomics.wait(i32, I32_SEQ, seq);
      Atomics.store(i32, I32_WORKER_WAITING, 0);
    }
  } finally {
    // Never answer (and so let the main thread close the descriptor) while a write is in flight.
    await inflight?.catch(() => {});
  }
};

const port = parentPort;
if (port === null) throw new Error('blob-seal-worker.ts runs as a worker thread');
const data = workerData as SealWorkerData;
port.on('message', async (job: SealJobMessage) => {
  let result: SealJobResult;
  try {
    result = await runJob(data, job);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    result = { type: 'error', message: failure.message, code: failure.code };
  }
  port.postMessage(result);
});
