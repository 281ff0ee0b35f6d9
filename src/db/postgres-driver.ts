import pg from 'pg';
import type { Db, Queryable, QueryResult } from './db-types.ts';

// bigint (int8) as JavaScript numbers: our counters and epoch-milliseconds stay far below 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

export interface PostgresDriverOptions {
  connectionString: string;
  maxConnections?: number;
}

/** A `Db` over a `pg` pool. Each transaction holds one pooled connection from BEGIN to COMMIT. */
export const createPostgresDb = (options: PostgresDriverOptions): Db => {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: 'bulkhead',
  });
  // An idle connection that dies (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const wrap = (client: pg.PoolClient): Queryable => ({
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  });

  return {
    kind: 'postgres',
    async transaction(prelude, fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        // One round trip for BEGIN and the scope settings: a simple-protocol multi-statement query.
        await client.query(`BEGIN;${prelude}`);
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async execAsOwner(sql) {
      await pool.query(sql);
    },
    async queryAsOwner<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await pool.query(sql, params as unknown[]);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    async close() {
      await pool.end();
    },
  };
};
