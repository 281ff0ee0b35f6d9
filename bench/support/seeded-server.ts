/**
 * The real server (`bulkhead up` as a child process) with tenants whose data a benchmark seeds in bulk as
 * the schema owner, on PostgreSQL or PGlite: the search benchmarks' common start. One process at a time
 * owns a PGlite directory, so there the server is stopped while the data is seeded and started again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPgliteDb } from '../../src/db/index.ts';
import type { Db } from '../../src/db/index.ts';
import { createTestDatabase, serverDatabaseEnv } from '../../test/support/databases.ts';
import { startServerProcess } from '../../test/support/server-process.ts';
import { createBenchTenant } from './http-client.ts';
import { benchServerNodeArgs } from './process-cpu.ts';
import type { BenchTenant } from './http-client.ts';

export interface SeededServer {
  url: string;
  tenants: BenchTenant[];
  /** Seconds the seeding took. */
  seedSeconds: number;
  /** The server's last 20,000 characters of stdout and stderr (e.g. `--trace-gc` lines). */
  output(): string;
  close(): Promise<void>;
}

export const startSeededServer = async (o: {
  kind: 'postgres' | 'pglite';
  adminToken: string;
  /** (tenant slug, name of the experiment created for it[, names of more experiments]), in order. */
  tenants: readonly (readonly [string, string, ...string[]])[];
  seed: (owner: Db, tenants: BenchTenant[]) => Promise<void>;
  /** More server environment (limits, flags). */
  env?: Record<string, string>;
  /** Node flags for the server process; default: BENCH_SERVER_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`). */
  nodeArgs?: readonly string[];
}): Promise<SeededServer> => {
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-bench-'));
  const database = o.kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
  const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: o.adminToken, BULKHEAD_LOG_LEVEL: 'error', BULKHEAD_DATABASE_POOL_SIZE: '20', ...o.env };
  if (database !== undefined) Object.assign(env, serverDatabaseEnv(database));
  const nodeArgs = o.nodeArgs ?? benchServerNodeArgs();
  let server = await startServerProcess(env, 120_000, nodeArgs);
  const close = async (): Promise<void> => {
    await server.kill('SIGTERM');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const tenants: BenchTenant[] = [];
    for (const [slug, experiment, ...more] of o.tenants) tenants.push(await createBenchTenant(server.url, o.adminToken, slug, experiment, more));
    const timed = async (owner: Db): Promise<number> => {
      const started = performance.now();
      await o.seed(owner, tenants);
      return (performance.now() - started) / 1000;
    };
    let seedSeconds: number;
    if (database !== undefined) seedSeconds = await timed(database.owner);
    else {
      await server.kill('SIGTERM');
      const owner = await createPgliteDb({ dataDir: join(home, 'db') });
      seedSeconds = await timed(owner);
      await owner.close();
      server = await startServerProcess(env, 300_000, nodeArgs);
    }
    return { url: server.url, tenants, seedSeconds, output: () => server.output(), close };
  } catch (error) {
    await close();
    throw error;
  }
};
