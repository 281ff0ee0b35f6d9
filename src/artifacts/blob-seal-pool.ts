/**
 * Sealing off the event loop: a small pool of worker threads (blob-seal-worker.ts), each sealing one blob
 * at a time, and the Writable an upload pipes into when a worker is free.
 *
 * The writer's only work per chunk on the main thread is the quota check (`admit`, as in blob-writer.ts)
 * and one copy into the worker's shared ring; the worker hashes, encrypts and writes the file. The write
 * callback is called as soon as the chunk is copied, so the request keeps flowing; when the ring is full
 * the callback waits (Atomics.waitAsync) until the worker hands space back — that is the back-pressure,
 * and memory stays bounded by the ring (8 MiB) plus the worker's write batch.
 *
 * Durability is unchanged: every `syncEveryBytes` the worker has written, a `datasync` is started in the
 * background from the main thread; `final` resolves only after the worker has written everything and any
 * background sync has settled, and the caller fsyncs the file itself before committing. On `destroy`
 * (client gone, quota refused, worker error) the worker is told to stop and the callback waits for its
 * answer, so the caller closes and deletes the temp file only once nothing writes to it any more.
 */
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { BlobSealingKey } from './blob-crypto.ts';
import {
  BIG_CONSUMED, BIG_PRODUCED, BIG_WRITTEN, CONTROL_BYTES, I32_MAIN_WAITING, I32_SEQ, I32_STATE, I32_WORKER_WAITING, I32_WSEQ, RING_BYTES, STATE_ABORT, STATE_END, STATE_RUNNING,
  controlViews,
} from './blob-seal-protocol.ts';
import type { ControlViews, SealJobMessage, SealJobResult } from './blob-seal-protocol.ts';

export interface WorkerSealingWriterOptions {
  /** Returns undefined when `total` plaintext bytes may be taken now, or a promise settled when they may. */
  admit?: (total: number) => Promise<void> | undefined;
  batchBytes?: number;
  syncEveryBytes?: number;
}

/** A Writable that seals into a temp file on a worker; `digest()` and `size()` are valid after `finish`. */
export interface WorkerSealingWriter extends Writable {
  digest(): string;
  size(): number;
}

export interface SealWorkerPool {
  /**
   * A writer for `handle` on a free worker, or undefined when every worker is busy (the caller seals
   * inline then). The handle must stay open until the writer has finished or closed.
   */
  tryWriter(handle: FileHandle, key: BlobSealingKey, options?: WorkerSealingWriterOptions): WorkerSealingWriter | undefined;
  /**
   * Starts one idle worker now, so the first upload does not pay a thread's start-up (loading the worker
   * module) on its request path. Idle workers do not keep the process alive.
   */
  warm(): void;
  /** Terminates the workers (a job still running fails). */
  close(): Promise<void>;
}

const BATCH_BYTES = 4 * 1024 * 1024;
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;
const workerUrl = new URL('./blob-seal-worker.ts', import.meta.url);

/** Atomics.waitAsync (ES2024; Node has it, the project's `lib` predates it). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}).waitAsync;

interface PooledWorker {
  worker: Worker;
  ring: Buffer;
  control: ControlViews;
  busy: boolean;
  /** The running job's result handler. */
  onResult: ((result: SealJobResult) => void) | undefined;
}

const resultError = (result: Extract<SealJobResult, { type: 'error' }>): Error => {
  const error = new Error(result.message) as NodeJS.ErrnoException;
  if (result.code !== undefined) error.code = result.code;
  return error;
};

/** Default size: one worker per core beyond the one running the event loop, at least one, at most four. */
export const createSealWorkerPool = (options: { size?: number } = {}): SealWorkerPool => {
  const size = options.size ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  const workers: PooledWorker[] = [];
  let closed = false;

  const spawnWorker = (): PooledWorker => {
    const ring = new SharedArrayBuffer(RING_BYTES);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const worker = new Worker(workerUrl, { workerData: { ring, control } });
    const pooled: PooledWorker = { worker, ring: Buffer.from(ring), control: controlViews(control), busy: false, onResult: undefined };
    worker.on('message', (result: SealJobResult) => pooled.onResult?.(result));
    const gone = (error?: Error): void => {
      const index = workers.indexOf(pooled);
      if (index >= 0) workers.splice(index, 1);
      pooled.onResult?.({ type: 'error', message: `seal worker ended${error === undefined ? '' : `: ${error.message}`}` });
    };
    worker.on('error', gone);
    worker.on('exit', () => gone());
    // An idle worker does not keep the process alive; a busy one is ref'ed for the job.
    worker.unref();
    workers.push(pooled);
    return pooled;
  };

  const acquire = (): PooledWorker | undefined => {
    if (closed) return undefined;
    const free = workers.find((entry) => !entry.busy) ?? (workers.length < size ? spawnWorker() : undefined);
    if (free === undefined) return undefined;
    free.busy = true;
    free.worker.ref();
    return free;
  };

  const releaseWorker = (pooled: PooledWorker): void => {
    pooled.onResult = undefined;
    pooled.busy = false;
    pooled.worker.unref();
  };

  return {
    tryWriter(handle, key, writerOptions = {}) {
      const pooled = acquire();
      if (pooled === undefined) return undefined;
      return createWriter(pooled, handle, key, writerOptions, () => releaseWorker(pooled));
    },
    warm() {
      if (!closed && workers.length === 0) spawnWorker();
    },
    async close() {
      closed = true;
      await Promise.all(workers.splice(0).map((entry) => entry.worker.terminate()));
    },
  };
};

const createWriter = (
  pooled: PooledWorker, handle: FileHandle, key: BlobSealingKey, options: WorkerSealingWriterOptions, done: () => void,
): WorkerSealingWriter => {
  const { i32, big } = pooled.control;
  const ring = pooled.ring;
  const ringBytes = ring.length;
  const admit = options.admit;
  const syncEvery = options.syncEveryBytes ?? SYNC_EVERY_BYTES;
  let received = 0;
  let produced = 0;
  let failed: Error | undefined;
  let result: SealJobResult | undefined;
  let syncedMark = 0;
  let syncing: Promise<void> | undefined;
  let settled: () => void = () => {};
  const jobEnded = new Promise<void>((resolve) => {
    settled = resolve;
  });

  Atomics.store(big, BIG_PRODUCED, 0n);
  Atomics.store(big, BIG_CONSUMED, 0n);
  Atomics.store(big, BIG_WRITTEN, 0n);
  Atomics.store(i32, I32_STATE, STATE_RUNNING);
  Atomics.store(i32, I32_MAIN_WAITING, 0);
  pooled.onResult = (message) => {
    if (result !== undefined) return;
    result = message;
    if (message.type === 'error') failed ??= resultError(message);
    else if (message.type === 'aborted') failed ??= new Error('blob writer aborted');
    done();
    settled();
    // Wake a write waiting for ring space: it must see the failure instead of waiting forever.
    Atomics.add(i32, I32_WSEQ, 1);
    Atomics.notify(i32, I32_WSEQ);
  };
  // Fresh copies (a Buffer may be a view of a larger pooled ArrayBuffer, which a message would clone whole).
  const job: SealJobMessage = { type: 'seal', fd: handle.fd, header: new Uint8Array(key.header), fileKey: new Uint8Array(key.fileKey), batchBytes: options.batchBytes ?? BATCH_BYTES };
  pooled.worker.postMessage(job);
  job.fileKey.fill(0);

  const signal = (): void => {
    Atomics.add(i32, I32_SEQ, 1);
    if (Atomics.load(i32, I32_WORKER_WAITING) !== 0) Atomics.notify(i32, I32_SEQ);
  };

  const maybeSync = (): void => {
    if (syncing !== undefined) return;
    const mark = Number(Atomics.load(big, BIG_WRITTEN));
    if (mark - syncedMark < syncEvery) return;
    syncing = handle.datasync().then(
      () => {
        syncedMark = mark;
        syncing = undefined;
      },
      (error: unknown) => {
        syncing = undefined;
        failed ??= error as Error;
      },
    );
  };

  /** Copies `chunks` (from `chunkIndex`, `offset`) into the ring, waiting for space when it is full. */
  const copyIn = (chunks: readonly Buffer[], chunkIndex: number, offset: number, callback: (error?: Error | null) => void): void => {
    let index = chunkIndex;
    let at = offset;
    while (index < chunks.length) {
      if (failed !== undefined) return callback(failed);
      const chunk = chunks[index]!;
      if (at >= chunk.length) {
        index += 1;
        at = 0;
        continue;
      }
      let free = ringBytes - (produced - Number(Atomics.load(big, BIG_CONSUMED)));
      if (free <= 0) {
        // Flag first, then re-read: a release after the flag notifies us, one before it is seen here.
        const seen = Atomics.load(i32, I32_WSEQ);
        Atomics.store(i32, I32_MAIN_WAITING, 1);
        free = ringBytes - (produced - Number(Atomics.load(big, BIG_CONSUMED)));
        if (free <= 0 && failed === undefined) {
          const wait = waitAsync(i32, I32_WSEQ, seen);
          if (wait.async) {
            const resumeIndex = index;
            const resumeAt = at;
            void wait.value.then(() => {
              Atomics.store(i32, I32_MAIN_WAITING, 0);
              copyIn(chunks, resumeIndex, resumeAt, callback);
            });
            return;
          }
        }
        Atomics.store(i32, I32_MAIN_WAITING, 0);
        continue;
      }
      const position = produced % ringBytes;
      const n = Math.min(free, chunk.length - at, ringBytes - position);
      chunk.copy(ring, position, at, at + n);
      at += n;
      produced += n;
      Atomics.store(big, BIG_PRODUCED, BigInt(produced));
      signal();
    }
    maybeSync();
    callback();
  };

  const accept = (chunks: Buffer[], callback: (error?: Error | null) => void): void => {
    if (failed !== undefined) return callback(failed);
    for (const chunk of chunks) received += chunk.length;
    const wait = admit?.(received);
    if (wait === undefined) return copyIn(chunks, 0, 0, callback);
    wait.then(() => copyIn(chunks, 0, 0, callback), (error: unknown) => callback(error as Error));
  };

  const writer = new Writable({
    // Chunks are copied into the ring at once: no queue of our own beyond the stream's.
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      accept([chunk], callback);
    },
    writev(chunks, callback) {
      accept(chunks.map((entry) => entry.chunk as Buffer), callback);
    },
    final(callback) {
      if (failed !== undefined) return callback(failed);
      Atomics.store(i32, I32_STATE, STATE_END);
      signal();
      void jobEnded
        .then(() => syncing)
        .then(() => callback(failed ?? null));
    },
    destroy(error, callback) {
      failed ??= error ?? new Error('blob writer destroyed');
      if (result === undefined) {
        // Stop the worker and wait for its answer: the caller closes the file after this callback.
        Atomics.store(i32, I32_STATE, STATE_ABORT);
        signal();
      }
      void jobEnded
        .then(() => syncing)
        .then(() => callback(error));
    },
  }) as WorkerSealingWriter;
  writer.digest = () => {
    if (result?.type !== 'done') throw new Error('digest read before the blob was sealed');
    return result.digest;
  };
  writer.size = () => {
    if (result?.type !== 'done') throw new Error('size read before the blob was sealed');
    return result.size;
  };
  return writer;
};
