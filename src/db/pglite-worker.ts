/**
 * The worker thread that owns the embedded database: it opens PGlite on the directory it is given and
 * runs the statements the driver (pglite-driver.ts) sends, one at a time, in the order received. PGlite
 * executes synchronously on the thread that calls it; here that is this thread, so a slow query blocks
 * only this worker, never the HTTP server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
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

/**
 * Prepared statements (QueryOptions.prepare): each distinct text is parsed once as a named statement of
 * this worker's session — PGlite's own query() parses and describes every statement anew, which for the
 * platform's row-level-security-laden write statements was most of the embedded database's work — and
 * then bound and executed, with the parameter types the first describe gave. A statement whose parse
 * failed is not remembered; names are never reused, so one that half-succeeded cannot clash. Prepared
 * statements outlive transactions (they are session state), and PostgreSQL re-plans them itself when the
 * schema changes. Values are serialized and rows parsed by PGlite's own type handlers, as in query().
 */
type BackendMessage = Awaited<ReturnType<PGlite['execProtocolStream']>>[number];
const prepared = new Map<string, { name: string; types: number[] }>();
let preparedCount = 0;
const run = async (message: Uint8Array): Promise<BackendMessage[]> => pglite.execProtocolStream(message, { syncToFs: false });
const preparedQuery = async (sql: string, params: readonly unknown[]): Promise<PgliteResultSet> =>
  pglite.runExclusive(async () => {
    const messages: BackendMessage[] = [];
    try {
      let statement = prepared.get(sql);
      if (statement === undefined) {
        preparedCount += 1;
        const name = `bulkhead_${preparedCount}`;
        messages.push(...(await run(protocol.serialize.parse({ name, text: sql }))));
        const types = parse.parseDescribeStatementResults(await run(protocol.serialize.describe({ type: 'S', name })));
        statement = { name, types };
        prepared.set(sql, statement);
      }
      const { name, types } = statement;
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const serializer = pglite.serializers[types[i] as number];
        return serializer === undefined ? String(value) : serializer(value);
      });
      messages.push(...(await run(protocol.serialize.bind({ statement: name, values }))));
      messages.push(...(await run(protocol.serialize.describe({ type: 'P' }))));
      messages.push(...(await run(protocol.serialize.execute({}))));
    } finally {
      // After an error the backend skips to the next Sync; this also ends the extended-protocol exchange.
      messages.push(...(await run(protocol.serialize.sync())));
    }
    await pglite.syncToFs();
    return toResultSet(parse.parseResults(messages, pglite.parsers)[0] as { rows: unknown[]; affectedRows?: number });
  });

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
          send({ id: request.id, type: 'ok', results: [request.prepare === true ? await preparedQuery(request.sql, request.params) : toResultSet(await pglite.query(request.sql, request.params))] });
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
