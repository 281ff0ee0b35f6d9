import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db-types.ts';
import { inlineParams } from './inline-params.ts';

export interface PgliteDriverOptions {
  /** A directory for a persistent database, or undefined for an in-memory one (tests). */
  dataDir?: string;
}

/**
 * A `Db` over embedded PGlite. PGlite has one connection; its `transaction` runs exclusively (other
 * queries wait), which is what keeps one tenant's transaction from seeing another's settings.
 */
export const createPgliteDb = async (options: PgliteDriverOptions = {}): Promise<Db> => {
  const pglite = options.dataDir === undefined ? await PGlite.create() : await PGlite.create({ dataDir: options.dataDir });

  const normalize = <Row>(result: { rows: unknown[]; affectedRows?: number }): QueryResult<Row> => ({
    rows: result.rows as Row[],
    rowCount: result.affectedRows ?? result.rows.length,
  });

  const db: Db = {
    kind: 'pglite',
    async transaction(prelude, fn, options = {}) {
      return pglite.transaction(async (tx) => {
        await tx.exec(`${options.readOnly === true ? 'SET TRANSACTION READ ONLY;' : ''}${prelude}`);
        const queryable: Queryable = {
          async query<Row>(sql: string, params: readonly unknown[] = []) {
            return normalize<Row>(await tx.query(sql, params as unknown[]));
          },
        };
        return fn(queryable);
      });
    },
    async scopedRead<Row>(scope: string, sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const inlined = inlineParams(sql, params);
      if (inlined === undefined) {
        return db.transaction(`${scope};`, async (tx) => tx.query<Row>(sql, params), { readOnly: true });
      }
      // One call into PGlite instead of four (BEGIN, scope, query, COMMIT): the multi-statement string
      // runs as one implicit transaction, so the scope's settings end with it.
      const results = await pglite.exec(`${scope};${inlined}`);
      return normalize<Row>(results.at(-1)!);
    },
    async execAsOwner(sql) {
      await pglite.exec(sql);
    },
    async queryAsOwner<Row>(sql: string, params: readonly unknown[] = []) {
      return normalize<Row>(await pglite.query(sql, params as unknown[]));
    },
    async close() {
      await pglite.close();
    },
    async listen(channel, onNotify) {
      const unlisten = await pglite.listen(channel, (payload) => onNotify(payload));
      return unlisten;
    },
  };
  return db;
};
