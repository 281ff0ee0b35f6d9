/**
 * The worker thread that owns the embedded database: it opens PGlite on the directory it is given and
 * runs the statements the driver (pglite-driver.ts) sends, one at a time, in the order received. PGlite
 * executes synchronously on the thread that calls it; here that is this thread, so a slow query blocks
 * only this worker, never the HTTP server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import type { PgliteErrorData, PgliteRequest, PgliteResponse, PgliteResultSet, PgliteWorkerData } from './pglite-protocol.ts';

const port = parentPort!;
const { dataDir, pgliteWasmModule, initdbWasmModule } = workerData as PgliteWorkerData;

const errorData = (error: unknown): PgliteErrorData => {
  const source = error as Partial<PgliteErrorData> & { message?: unknown };
  const data: PgliteErrorData = { message: typeof source.message === 'string' ? source.message : String(error) };
  for (const key of ['code', 'detail', 'constraint', 'table', 'column', 'severity'] as const) {
    const value = source[key];
    if (typeof value === 'string') data[key] = value;
  }
  return data;
};

const toResultSet = (result: { rows: unknown[]; affectedRows?: number }): PgliteResultSet => ({ rows: result.rows, affectedRows: result.affectedRows });

const send = (message: PgliteResponse): void => port.postMessage(message);

let pglite: PGlite;
try {
  pglite = await PGlite.create({ dataDir, pgliteWasmModule, initdbWasmModule });
} catch (error) {
  send({ type: 'open-failed', error: errorData(error) });
  process.exit(1);
}

// Requests are handled strictly in order: each waits for the one before it.
let chain: Promise<void> = Promise.resolve();
port.on('message', (request: PgliteRequest) => {
  chain = chain.then(async () => {
    try {
      switch (request.op) {
        case 'exec':
          send({ id: request.id, type: 'ok', results: (await pglite.exec(request.sql)).map(toResultSet) });
          return;
        case 'query':
          send({ id: request.id, type: 'ok', results: [toResultSet(await pglite.query(request.sql, request.params))] });
          return;
        case 'close':
          await pglite.close();
          send({ id: request.id, type: 'ok', results: [] });
          return;
      }
    } catch (error) {
      send({ id: request.id, type: 'error', error: errorData(error) });
    }
  });
});
send({ type: 'ready' });
