import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db-types.ts';

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

  return {
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
    async execAsOwner(sql) {
      await pglite.exec(sql);
    },
    async queryAsOwner<Row>(sql: string, params: readonly unknown[] = []) {
      return normalize<Row>(await pglite.query(sql, params as unknown[]));
    },
    async close() {
      await pglite.close();
    },
  };
};
