/**
 * The seal worker (a worker thread; see blob-seal-pool.ts): for one blob at a time it hashes and encrypts
 * the plaintext the main thread puts in the shared ring and writes the sealed bytes to the blob's temp
 * file by descriptor, so SHA-256, AES-GCM, their output buffers (and their garbage collection) and the
 * write syscalls leave the event loop that parses HTTP. Same format as the inline writer (blob-crypto.ts).
 *
 * It blocks on Atomics.wait while the ring is empty: it has nothing else to do. The file descriptor
 * belongs to the main thread, which closes it only after this worker has answered the job (done, aborted
 * or error) — so a write here can never land in a descriptor number that was reused.
 */
import { writevSync } from 'node:fs';
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

const writeAllSync = (fd: number, buffers: Buffer[], bytes: number): void => {
  let done = writevSync(fd, buffers);
  // Short writes are rare on regular files; finish the rest rather than lose bytes.
  while (done < bytes) {
    const more = writevSync(fd, unwritten(buffers, done));
    if (more === 0) throw new Error('short write to blob file');
    done += more;
  }
};

const runJob = (data: SealWorkerData, job: SealJobMessage): SealJobResult => {
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

  const collect = (from: number): void => {
    for (let i = from; i < out.length; i += 1) outBytes += out[i]!.length;
  };
  const flush = (): void => {
    if (outBytes === 0) return;
    // IOV_MAX is 1024 on Linux; a 4 MiB batch of 64 KiB pieces stays far below it, but split anyway.
    for (let i = 0; i < out.length; i += 512) {
      const part = out.slice(i, i + 512);
      writeAllSync(job.fd, part, part.reduce((sum, piece) => sum + piece.length, 0));
    }
    written += outBytes;
    out = [];
    outBytes = 0;
    Atomics.store(big, BIG_WRITTEN, BigInt(written));
  };
  const release = (): void => {
    // The sealer still holds views of the unsealed frame: that part of the ring stays taken.
    Atomics.store(big, BIG_CONSUMED, BigInt(processed - sealer.pendingBytes()));
    Atomics.add(i32, I32_WSEQ, 1);
    if (Atomics.load(i32, I32_MAIN_WAITING) !== 0) Atomics.notify(i32, I32_WSEQ);
  };

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
      if (outBytes >= job.batchBytes) flush();
      release();
      continue;
    }
    if (state === STATE_END) {
      const before = out.length;
      sealer.final(out);
      collect(before);
      flush();
      release();
      return { type: 'done', digest: sealer.digest(), size: sealer.size(), written };
    }
    // Nothing to read right now: write what is sealed instead of waiting with it.
    if (outBytes > 0) {
      flush();
      continue;
    }
    Atomics.store(i32, I32_WORKER_WAITING, 1);
    Atomics.wait(i32, I32_SEQ, seq);
    Atomics.store(i32, I32_WORKER_WAITING, 0);
  }
};

const port = parentPort;
if (port === null) throw new Error('blob-seal-worker.ts runs as a worker thread');
const data = workerData as SealWorkerData;
port.on('message', (job: SealJobMessage) => {
  let result: SealJobResult;
  try {
    result = runJob(data, job);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    result = { type: 'error', message: failure.message, code: failure.code };
  }
  port.postMessage(result);
});
