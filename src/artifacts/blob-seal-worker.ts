/**
 * The seal worker (a worker thread; see blob-seal-pool.ts): for one blob at a time it hashes and encrypts
 * the plaintext the main thread puts in the shared ring and writes the sealed bytes to the blob's temp
 * file by descriptor, so SHA-256, AES-GCM, their output buffers (and their garbage collection) and the
 * write syscalls leave the event loop that parses HTTP. Same format as the inline writer (blob-crypto.ts).
 *
 * Writes are asynchronous (libuv's thread pool), one batch in flight at a time: while a 4 MiB batch is
 * being written, this thread hashes and encrypts the next one. (Sealing and writing in turn on one thread
 * capped an upload at 1 / (hash + encrypt + write) per byte — the write alone costs about what a plain copy
 * does, so the upload could never reach half of it.) Batches are written strictly in order: a batch is
 * started only after the previous one has completed, at the descriptor's position.
 *
 * When the ring is empty and no write is in flight it blocks on Atomics.wait: it has nothing else to do.
 * With a write in flight it awaits that write instead (its completion needs this thread's event loop),
 * and looks at the ring again right after. The file descriptor belongs to the main thread, which closes it
 * only after this worker has answered the job (done, aborted or error), and every answer is sent only once
 * no write is in flight — so a write here can never land in a descriptor number that was reused.
 */
import { writev } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { sealerFor } from './blob-crypto.ts';
import { unwritten } from './blob-writer.ts';
import {
  BIG_CONSUMED, BIG_PRODUCED, BIG_WRITTEN, I32_MAIN_WAITING, I32_SEQ, I32_STATE, I32_WORKER_WAITING, I32_WSEQ, STATE_ABORT, STATE_END,
  controlViews,
} from './blob-seal-protocol.ts';
import type { SealJobMessage, SealJobResult, SealWorkerData } from './blob-seal-protocol.ts';

/** Plaintext taken from the ring per step: a frame's worth, then space is handed back. */
const STEP_BYTES = 1024 * 1024;
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

const runJob = async (data: SealWorkerData, job: SealJobMessage): Promise<SealJobResult> => {
  const { i32, big } = controlViews(data.control);
  const ring = Buffer.from(data.ring);
  const ringBytes = ring.length;
  const sealer = sealerFor({ header: Buffer.from(job.header), fileKey: Buffer.from(job.fileKey.buffer, job.fileKey.byteOffset, job.fileKey.byteLength) });
  // The sealer holds the key as a KeyObject now; the copy that came with the message is not needed.
  job.fileKey.fill(0);
  let processed = 0;
  let out: Buffer[] = [];
  let outBytes = 0;
  let written = 0;
  /** The batch being written (at most one), settled only after `written` counts it. */
  let inflight: Promise<void> | undefined;

  const collect = (from: number): void => {
    for (let i = from; i < out.length; i += 1) outBytes += out[i]!.length;
  };
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
    inflight = writeBatch(buffers, bytes);
    // Observed here so a failure is never unhandled; it is rethrown by whoever awaits `inflight` next.
    inflight.catch(() => {});
  };
  const drain = async (): Promise<void> => {
    await flush();
    const last = inflight;
    inflight = undefined;
    await last;
  };
  const release = (): void => {
    // The sealer still holds views of the unsealed frame: that part of the ring stays taken.
    Atomics.store(big, BIG_CONSUMED, BigInt(processed - sealer.pendingBytes()));
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
          const at = processed % ringBytes;
          const n = Math.min(end - processed, ringBytes - at);
          const before = out.length;
          sealer.update(ring.subarray(at, at + n), out);
          collect(before);
          processed += n;
        }
        release();
        // A full batch: wait for the one in flight (if any), then let this one go while we seal on.
        if (outBytes >= job.batchBytes) await flush();
        continue;
      }
      if (state === STATE_END) {
        const before = out.length;
        sealer.final(out);
        collect(before);
        release();
        await drain();
        return { type: 'done', digest: sealer.digest(), size: sealer.size(), written };
      }
      // Nothing to read right now: write what is sealed instead of waiting with it, or let the write in
      // flight finish (its callback runs on this thread's event loop, which Atomics.wait would block).
      if (inflight !== undefined || outBytes > 0) {
        await flush();
        if (inflight !== undefined && Number(Atomics.load(big, BIG_PRODUCED)) === processed && Atomics.load(i32, I32_STATE) !== STATE_END) {
          const current = inflight;
          inflight = undefined;
          await current;
        }
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
