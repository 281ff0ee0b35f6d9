/**
 * The messages between the PGlite driver (main thread) and its worker thread (pglite-worker.ts). The
 * driver sends one request at a time and waits for its answer: the worker never sees two callers'
 * statements interleaved, so the single connection's transaction state belongs to one caller at a time.
 */

import type { PGliteOptions } from '@electric-sql/pglite';

export interface PgliteWorkerData {
  /** The database directory (always on disk, so a worker ended by the watchdog can be replaced). */
  dataDir: string;
  /** PGlite's WebAssembly, compiled once per process and shared: a new worker then starts without compiling. */
  pgliteWasmModule: WasmModule;
  initdbWasmModule: WasmModule;
}

/** A compiled WebAssembly module, as PGlite's options type it (this project's lib settings have no WebAssembly types). */
export type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;

export type PgliteCall =
  | { op: 'exec'; sql: string }
  /** `prepare`: run it as a named statement of the worker's session, parsed once (QueryOptions.prepare). */
  | { op: 'query'; sql: string; params: unknown[]; prepare?: boolean }
  | { op: 'close' };

export type PgliteRequest = PgliteCall & { id: number };

export interface PgliteResultSet {
  rows: unknown[];
  affectedRows: number | undefined;
}

/** The fields of a database error that callers read (`code` for SQLSTATE checks); cloned as plain data. */
export interface PgliteErrorData {
  message: string;
  code?: string;
  detail?: string;
  constraint?: string;
  table?: string;
  column?: string;
  severity?: string;
}

export type PgliteResponse =
  | { type: 'ready' }
  | { type: 'open-failed'; error: PgliteErrorData }
  | { id: number; type: 'ok'; results: PgliteResultSet[] }
  | { id: number; type: 'error'; error: PgliteErrorData };
