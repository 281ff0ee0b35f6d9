/**
 * The shared-memory contract between an upload's writer on the main thread (blob-seal-pool.ts) and the
 * seal worker (blob-seal-worker.ts). Neither side imports the other; both import this.
 *
 * Per worker: a ring (SharedArrayBuffer) the main thread copies plaintext into, and a small control block.
 * Counters are monotonic byte counts (BigInt64, so a blob may exceed 4 GiB); positions in the ring are
 * counter mod ring size.
 *   PRODUCED  plaintext bytes the main thread has put in the ring          (main writes)
 *   CONSUMED  bytes the worker no longer needs: hashed and sealed          (worker writes)
 *   WRITTEN   sealed bytes the worker has written to the file              (worker writes)
 *   STATE     RUNNING, END (no more input: seal the final frame) or ABORT  (main writes)
 *   SEQ       bumped by main after PRODUCED or STATE changed; the worker waits on it
 *   WSEQ      bumped after CONSUMED changed or the job ended; the main thread waits on it (waitAsync)
 *   MAIN_WAITING / WORKER_WAITING  set by a side before it waits: the other side calls Atomics.notify only
 *             then (a notify that wakes the event loop is not free, and mostly nobody waits)
 * Every wait re-reads its counter after loading the sequence number and setting its flag, so no wake-up is
 * lost: a bump that comes before the flag is seen by the re-read, one after it sees the flag.
 */
export const RING_BYTES = 8 * 1024 * 1024;
export const CONTROL_BYTES = 64;

export const I32_SEQ = 0;
export const I32_WSEQ = 1;
export const I32_STATE = 2;
export const I32_MAIN_WAITING = 3;
export const I32_WORKER_WAITING = 4;
export const BIG_PRODUCED = 0;
export const BIG_CONSUMED = 1;
export const BIG_WRITTEN = 2;

export const STATE_RUNNING = 0;
export const STATE_END = 1;
export const STATE_ABORT = 2;

export interface ControlViews {
  i32: Int32Array;
  big: BigInt64Array;
}

export const controlViews = (control: SharedArrayBuffer): ControlViews => ({
  i32: new Int32Array(control, 0, 8),
  big: new BigInt64Array(control, 32, 3),
});

/** Sent to the worker to start one blob. The worker never sees the tenant data key, only this file's key. */
export interface SealJobMessage {
  type: 'seal';
  fd: number;
  header: Uint8Array;
  fileKey: Uint8Array;
  batchBytes: number;
}

export type SealJobResult =
  | { type: 'done'; digest: string; size: number; written: number }
  | { type: 'aborted' }
  | { type: 'error'; message: string; code?: string | undefined };

export interface SealWorkerData {
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
}
