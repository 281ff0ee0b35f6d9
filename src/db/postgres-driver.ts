import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, Queryable, QueryOptions, QueryResult } from './db-types.ts';
import { TransactionRolledBack } from './db-types.ts';
import { inlineParams } from './inline-params.ts';

// bigint (int8) as JavaScript numbers: our counters and epoch-milliseconds stay far below 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

export interface PostgresDriverOptions {
  connectionString: string;
  maxConnections?: number;
}

/**
 * Statements pipelined in one synchronous stretch (BEGIN + scope + a transaction's first queries, or the
 * several writes of one batch) leave in one socket write instead of one each: the connection's stream is
 * corked until the next tick. Each write is a system call, and on this platform's VMs those were a large
 * share of the server's CPU per request (profile in docs/benchmarks.md). Nothing waits longer: the
 * uncork runs before any I/O is polled.
 */
const corked = new WeakSet<object>();
const holdWrites = (client: pg.PoolClient): void => {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  if (stream?.cork === undefined || stream.uncork === undefined || corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork?.();
  });
};

// Names of prepared statements (QueryOptions.prepare), one per distinct SQL text: a digest, so two texts
// never share a name. The texts are constants of the code base, so this map stays small.
const statementNames = new Map<string, string>();
const statementName = (sql: string): string => {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `bh_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    statementNames.set(sql, name);
  }
  return name;
};

/** A `Db` over a `pg` pool. Each transaction holds one pooled connection from BEGIN to COMMIT. */
export const createPostgresDb = (options: PostgresDriverOptions): Db => {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: 'bulkhead',
    // Queries issued before the previous one answers go on the wire at once (one round trip for
    // BEGIN + scope + query); see transaction() below.
    pipeline: true,
    // No JIT: the platform's statements are short, index-driven OLTP queries, and the row-level security
    // policies (the shared_read lookups then ORed into the policies of the shareable tables, migrations
    // 0021, 0022, 0030, 0034) inflated plan costs past jit_above_cost — PostgreSQL then spent 200–400 ms
    // compiling a run search that runs in 30 ms.
    // No parallel query: one tenant's database operation is one backend, i.e. at most one core of the
    // database server, which is what the per-tenant cap on concurrent operations (dbMaxConcurrentOperations)
    // counts. Once the share policies left bulkhead_app's plans (migration 0035) the planner began to run
    // run searches with two parallel workers (a tenant's 100-row search on three cores of a 2-vCPU server:
    // 73 ms, and the other tenant's calls waited for CPU).
    options: '-c jit=off -c max_parallel_workers_per_gather=0',
  });
  // An idle connection that dies (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const wrap = (client: pg.PoolClient): Queryable => ({
    async query<Row>(sql: string, params: readonly unknown[] = [], queryOptions?: QueryOptions): Promise<QueryResult<Row>> {
      holdWrites(client);
      const result = queryOptions?.prepare === true
        ? await client.query({ name: statementName(sql), text: sql, values: params as unknown[] })
        : await client.query(sql, params as unknown[]);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  });

  /**
   * TransactionOptions.commitAhead: BEGIN + scope, `fn`'s statements and COMMIT leave in one write. Queries
   * `fn` issues after its synchronous part are refused: they would run after the COMMIT.
   */
  const commitAhead = async <T>(prelude: string, fn: (tx: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    holdWrites(client);
    const begin = client.query(`BEGIN;${prelude}`);
    const inner = wrap(client);
    let sent = false;
    const tx: Queryable = {
      query: <Row>(sql: string, params?: readonly unknown[], queryOptions?: QueryOptions) => (sent
        ? Promise.reject(new Error('a commit-ahead transaction issued a query after its COMMIT was sent'))
        : inner.query<Row>(sql, params, queryOptions)),
    };
    let pending: Promise<T>;
    try {
      pending = fn(tx);
    } catch (error) {
      pending = Promise.reject(error);
    }
    sent = true;
    const commit = client.query('COMMIT');
    const [begun, done, committed] = await Promise.allSettled([begin, pending, commit]);
    if (committed.status === 'rejected') {
      // The COMMIT itself failed (the transaction is rolled back) or the connection broke: not reused.
      client.release(true);
      throw done.status === 'rejected' ? done.reason : committed.reason;
    }
    client.release();
    if (begun.status === 'rejected') throw begun.reason;
    if (done.status === 'rejected') throw done.reason;
    // PostgreSQL answers COMMIT with ROLLBACK when a statement of the transaction failed; fn saw that
    // failure unless it swallowed it, and its result must not be reported as written.
    if (committed.value.command !== 'COMMIT') throw new TransactionRolledBack();
    return done.value;
  };

  // LISTEN needs a session of its own (a pooled connection goes back to others): one client for all
  // channels, reconnected after a loss.
  const listeners = new Map<string, Set<(payload: string | undefined) => void>>();
  let listenClient: Promise<pg.Client> | undefined;
  let closing = false;
  const connectListener = (): Promise<pg.Client> => (listenClient ??= (async () => {
    const client = new pg.Client({ connectionString: options.connectionString, application_name: 'bulkhead-listen' });
    let dead = false;
    const lost = () => {
      if (dead) return;
      dead = true;
      listenClient = undefined;
      client.end().catch(() => {});
      if (closing) return;
      // Whatever was notified while no session listened is lost: tell everyone, then listen again.
      for (const set of listeners.values()) for (const fn of set) fn(undefined);
      const retry = (): void => {
        if (closing || listeners.size === 0) return;
        connectListener().catch(() => setTimeout(retry, 500).unref());
      };
      setTimeout(retry, 100).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      for (const fn of listeners.get(message.channel) ?? []) fn(message.payload ?? '');
    });
    try {
      await client.connect();
      for (const channel of listeners.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      dead = true;
      listenClient = undefined;
      client.end().catch(() => {});
      throw error;
    }
    return client;
  })());

  return {
    kind: 'postgres',
    async listen(channel, onNotify) {
      const known = listeners.has(channel);
      const set = listeners.get(channel) ?? new Set();
      set.add(onNotify);
      listeners.set(channel, set);
      const client = await connectListener();
      if (!known) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        set.delete(onNotify);
        if (set.size > 0) return;
        listeners.delete(channel);
        const current = listenClient;
        if (current !== undefined) await (await current).query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
      };
    },
    async transaction(prelude, fn, options = {}) {
      if (options.commitAhead === true && options.readOnly !== true) return commitAhead(prelude, fn);
      const client = await pool.connect();
      // Pipelined: BEGIN + scope settings go on the wire together with fn's first queries, so a scoped
      // single read costs one round trip, not three. If the prelude fails, the transaction is aborted
      // and every query behind it fails too: none runs outside its scope.
      holdWrites(client);
      const begin = client.query(`BEGIN${options.readOnly === true ? ' READ ONLY' : ''};${prelude}`);
      begin.catch(() => {});
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn(wrap(client));
        await begin;
      } catch (error) {
        await begin.catch(() => {});
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch {
          client.release(true);
        }
        throw error;
      }
      if (options.readOnly === true) {
        // Nothing to commit durably: answer now, hand the connection back once COMMIT has run.
        client.query('COMMIT').then(() => client.release(), () => client.release(true));
        return result;
      }
      let committed: pg.QueryResult;
      try {
        committed = await client.query('COMMIT');
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
      // A statement failed and fn swallowed it: PostgreSQL rolled the transaction back at COMMIT.
      if (committed.command !== 'COMMIT') throw new TransactionRolledBack();
      return result;
    },
    async scopedRead<Row>(scope: string, sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const inlined = inlineParams(sql, params);
      if (inlined === undefined) {
        return this.transaction(`${scope};`, (tx) => tx.query<Row>(sql, params), { readOnly: true });
      }
      // A multi-statement simple query runs as one implicit transaction: the set_config(…, true) of the
      // scope statement holds for the read and ends with it.
      const results = (await pool.query(`${scope};${inlined}`)) as unknown as pg.QueryResult[];
      const last = results.at(-1)!;
      return { rows: last.rows as Row[], rowCount: last.rowCount ?? 0 };
    },
    async execAsOwner(sql) {
      await pool.query(sql);
    },
    async queryAsOwner<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await pool.query(sql, params as unknown[]);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    async close() {
      closing = true;
      const client = listenClient;
      listenClient = undefined;
      if (client !== undefined) await (await client.catch(() => undefined))?.end().catch(() => {});
      await pool.end();
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
};
