import { Worker } from 'node:worker_threads';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, Queryable, QueryOptions, QueryResult, WorkLimits } from './db-types.ts';
import { TransactionRolledBack } from './db-types.ts';
import { inlineParams } from './inline-params.ts';
import { createFairLock } from './fair-lock.ts';
import type { PgliteCall, PgliteErrorData, PgliteRequest, PgliteResponse, PgliteResultSet, PgliteWorkerData, WasmModule } from './pglite-protocol.ts';

export interface PgliteDriverOptions {
  /** A directory for a persistent database, or undefined for a throw-away one (tests), removed on close. */
  dataDir?: string;
  /** How long `close()` lets a running statement finish before it ends the worker. Default 5000 ms. */
  closeGraceMs?: number;
}

const workerUrl = new URL('./pglite-worker.ts', import.meta.url);

/**
 * PGlite's two WebAssembly modules, compiled once per process: each worker (every database, and every
 * replacement the watchdog starts) would otherwise compile them again — seconds of CPU on this class of
 * machine, during which every tenant's database work waits.
 */
let wasmModules: Promise<{ pgliteWasmModule: WasmModule; initdbWasmModule: WasmModule }> | undefined;
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } };
const compiledWasm = () => (wasmModules ??= (async () => {
  const dist = new URL('.', import.meta.resolve('@electric-sql/pglite'));
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all(['pglite.wasm', 'initdb.wasm'].map(async (file) => wasm.compile(await readFile(new URL(file, dist)))));
  return { pgliteWasmModule: pgliteWasmModule!, initdbWasmModule: initdbWasmModule! };
})());

/** The error a statement ended by the watchdog fails with: PostgreSQL's own for a statement timeout. */
const statementTimeoutError = (): Error =>
  Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });

const workerEndedError = (why: string): Error =>
  Object.assign(new Error(`the embedded database worker ended (${why}); the statement's transaction was rolled back`), { code: '57P01' });

const toError = (data: PgliteErrorData): Error => Object.assign(new Error(data.message), data);

const normalize = <Row>(result: PgliteResultSet): QueryResult<Row> => ({
  rows: result.rows as Row[],
  rowCount: result.affectedRows ?? result.rows.length,
});

interface Pending {
  resolve: (results: PgliteResultSet[]) => void;
  reject: (error: Error) => void;
}

/** One worker thread and the one request it is answering. */
interface Connection {
  worker: Worker;
  /** Increments with each worker: a transaction begun on one is gone once it is replaced. */
  generation: number;
  pending: Pending | undefined;
  ended: boolean;
}

/**
 * A `Db` over embedded PGlite running in a worker thread (pglite-worker.ts), so no query blocks the event
 * loop. PGlite has one connection: a fair lock (fair-lock.ts: by owner, time-fair) gives it to one
 * transaction or statement at a time, from BEGIN to COMMIT, which keeps one tenant's transaction from
 * seeing another's settings, exactly as PGlite's own `transaction()` did on the main thread.
 *
 * PGlite has no working `statement_timeout` (it needs signals, which WebAssembly does not deliver: a
 * `SET statement_timeout = 200` query ran its full 6.6 s here). The tenant's statement timeout is
 * therefore a watchdog: when a statement has not answered within it, the worker is terminated, the
 * statement fails with SQLSTATE 57014 ("canceling statement due to statement timeout", as on PostgreSQL)
 * and the next caller gets a new worker on the same directory. Terminating is a crash of the database:
 * the transaction in progress is rolled back by recovery at reopen; every transaction whose COMMIT was
 * answered is on disk (PGlite writes through to the files), which test/db-worker.int.test.ts checks.
 * Other callers' work waits for the reopen (≈ 0.2–1 s) and then runs normally.
 */
export const createPgliteDb = async (options: PgliteDriverOptions = {}): Promise<Db> => {
  const temporary = options.dataDir === undefined;
  // A throw-away database lives on disk too: a worker the watchdog ends must be replaceable without
  // losing the data.
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'bulkhead-pglite-'));
  const closeGraceMs = options.closeGraceMs ?? 5000;
  const lock = createFairLock();
  let generation = 0;
  let connection: Promise<Connection> | undefined;
  let closed = false;
  let requestId = 0;

  const modules = await compiledWasm();
  const spawn = (): Promise<Connection> => new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: { dataDir, ...modules } satisfies PgliteWorkerData });
    generation += 1;
    const conn: Connection = { worker, generation, pending: undefined, ended: false };
    let ready = false;
    worker.on('message', (message: PgliteResponse) => {
      if (message.type === 'ready') {
        ready = true;
        // An idle worker does not keep the process alive; one answering a request is ref'ed for it.
        worker.unref();
        resolve(conn);
        return;
      }
      if (message.type === 'open-failed') {
        reject(toError(message.error));
        return;
      }
      const pending = conn.pending;
      conn.pending = undefined;
      worker.unref();
      if (pending === undefined) return;
      if (message.type === 'ok') pending.resolve(message.results);
      else pending.reject(toError(message.error));
    });
    const gone = (why: string): void => {
      if (conn.ended) return;
      conn.ended = true;
      if (!ready) reject(workerEndedError(why));
      conn.pending?.reject(workerEndedError(why));
      conn.pending = undefined;
      if (closed) return;
      // A worker that died after opening is replaced at once (after it has fully stopped); one that never
      // opened (its open failed, and said why) is retried by the next request, not in a loop.
      if (ready) connection = worker.terminate().then(spawn, spawn);
      else connection = undefined;
    };
    worker.on('error', (error) => gone(error.message));
    worker.on('exit', (code) => gone(`exit ${code}`));
  });

  const live = (): Promise<Connection> => (connection ??= spawn());
  await live();

  /** Ends the worker now; the request it is answering fails with `error`. */
  const terminate = (conn: Connection, error: Error): void => {
    if (conn.ended) return;
    conn.ended = true;
    conn.pending?.reject(error);
    conn.pending = undefined;
    const stopped = conn.worker.terminate();
    if (!closed) connection = stopped.then(spawn, spawn);
  };

  /**
   * Sends one request and waits for its answer. Callers hold the lock, so the worker is idle when it
   * arrives and starts at once: the watchdog measures the statement itself, not a queue.
   */
  const request = async (message: PgliteCall, timeoutMs?: number, expected?: number): Promise<PgliteResultSet[]> => {
    const conn = await live();
    if (expected !== undefined && conn.generation !== expected) throw workerEndedError('a statement of this transaction was ended');
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
      };
      conn.pending = {
        resolve: (results) => { done(); resolve(results); },
        reject: (error) => { done(); reject(error); },
      };
      conn.worker.ref();
      requestId += 1;
      conn.worker.postMessage({ ...message, id: requestId } satisfies PgliteRequest);
      if (timeoutMs !== undefined && timeoutMs > 0) timer = setTimeout(() => terminate(conn, statementTimeoutError()), timeoutMs);
    });
  };

  const owned = async <T>(owner: string, work: () => Promise<T>): Promise<T> => {
    const release = await lock.acquire(owner);
    try {
      return await work();
    } finally {
      release();
    }
  };

  const db: Db = {
    kind: 'pglite',
    async transaction(prelude, fn, txOptions = {}) {
      const timeoutMs = txOptions.limits?.statementTimeoutMs;
      return owned(txOptions.limits?.owner ?? '', async () => {
        const conn = await live();
        const begun = conn.generation;
        await request({ op: 'exec', sql: `BEGIN${txOptions.readOnly === true ? ' READ ONLY' : ''};${prelude}` }, timeoutMs, begun);
        let open = true;
        // A statement failed (and no ROLLBACK TO SAVEPOINT since): the transaction is aborted, whatever fn
        // does with the failure.
        let failed = false;
        // fn's queries go to the worker one after another, so the watchdog times each statement alone.
        let previous: Promise<unknown> = Promise.resolve();
        const queryable: Queryable = {
          query<Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<Row>> {
            const run = async (): Promise<QueryResult<Row>> => {
              if (!open) throw new Error('query issued after its transaction ended');
              const call = { op: 'query', sql, params: params as unknown[], ...(options?.prepare === true ? { prepare: true } : {}) } as const;
              try {
                const [result] = await request(call, timeoutMs, begun);
                // Back at a savepoint taken before the failure: the transaction goes on, healthy again.
                if (/^\s*ROLLBACK\s+TO\b/i.test(sql)) failed = false;
                return normalize<Row>(result!);
              } catch (error) {
                failed = true;
                throw error;
              }
            };
            const next = previous.then(run, run);
            previous = next.catch(() => {});
            return next;
          },
        };
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn(queryable);
          await previous;
        } catch (error) {
          await previous;
          open = false;
          // On an ended worker the transaction is already gone (rolled back by recovery at reopen): answer
          // now rather than wait for the new worker's start.
          if (!conn.ended) await request({ op: 'exec', sql: 'ROLLBACK' }, undefined, begun).catch(() => {});
          throw error;
        }
        open = false;
        if (failed) {
          // fn swallowed a statement's failure: the transaction is aborted and is rolled back, not committed.
          if (!conn.ended) await request({ op: 'exec', sql: 'ROLLBACK' }, undefined, begun).catch(() => {});
          throw new TransactionRolledBack();
        }
        await request({ op: 'exec', sql: 'COMMIT' }, timeoutMs, begun);
        return result;
      });
    },
    async scopedRead<Row>(scope: string, sql: string, params: readonly unknown[] = [], limits?: WorkLimits): Promise<QueryResult<Row>> {
      const inlined = inlineParams(sql, params);
      if (inlined === undefined) {
        return db.transaction(`${scope};`, async (tx) => tx.query<Row>(sql, params), limits === undefined ? { readOnly: true } : { readOnly: true, limits });
      }
      // One message instead of four (BEGIN, scope, query, COMMIT): the multi-statement string runs as one
      // implicit transaction, so the scope's settings end with it.
      return owned(limits?.owner ?? '', async () => normalize<Row>((await request({ op: 'exec', sql: `${scope};${inlined}` }, limits?.statementTimeoutMs)).at(-1)!));
    },
    async execAsOwner(sql) {
      await owned('', () => request({ op: 'exec', sql }));
    },
    async queryAsOwner<Row>(sql: string, params: readonly unknown[] = []) {
      return owned('', async () => normalize<Row>((await request({ op: 'query', sql, params: params as unknown[] }))[0]!));
    },
    async interrupt() {
      const conn = await live();
      if (conn.pending !== undefined) terminate(conn, workerEndedError('interrupted at shutdown'));
    },
    async close() {
      if (closed) return;
      // Let the statement running now finish within the grace period, then end the worker regardless.
      const idle = lock.close(new Error('the database is closed'));
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise<void>((resolve) => { grace = setTimeout(resolve, closeGraceMs); })]);
      clearTimeout(grace);
      const conn = await live();
      closed = true;
      if (!conn.ended && conn.pending === undefined) await request({ op: 'close' }, closeGraceMs).catch(() => {});
      if (!conn.ended) {
        conn.ended = true;
        conn.pending?.reject(workerEndedError('the database was closed'));
        conn.pending = undefined;
      }
      await conn.worker.terminate();
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return db;
};
