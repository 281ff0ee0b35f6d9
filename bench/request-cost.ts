/**
 * What one request costs the serving process, in CPU (user and system time from /proc/<pid>/stat), by kind,
 * against `/healthz` (no authentication, no database) measured in the same run (issue 20 item 4: where the
 * server's share of a run's CPU goes). The real server (`bulkhead up`, child process) on PostgreSQL, 8
 * clients with one request in flight each, `--seconds` per kind, the kinds alternated `--rounds` times:
 *   - healthz: no authentication, no database;
 *   - me: `GET /api/v1/me` as a tenant's member — the auth hooks (token and tenant from their caches) and one
 *     scoped read (the tenant record);
 *   - runs/get: an MLflow run read (one read transaction);
 *   - log-metric: an MLflow write (a commit-ahead transaction, combined with other writes of the tenant).
 * Also the load generator's own CPU per request. Linux only.
 *
 * Usage: node bench/request-cost.ts [--seconds 4] [--rounds 2] [--kinds healthz,me,runs/get,log-metric]
 *   (BENCH_SERVER_NODE_ARGS: node flags for the server, e.g. `--perf-basic-prof` for `perf record`)
 */
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createTestDatabase, serverDatabaseEnv } from '../test/support/databases.ts';
import { startServerProcess } from '../test/support/server-process.ts';
import { createBenchClient, must } from './support/http-client.ts';
import { benchServerNodeArgs, processCpu } from './support/process-cpu.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '2' }, kinds: { type: 'string' } } });
const seconds = Number(values.seconds);
/** User and system CPU (ms) of the server so far. */
const serverCpu = (pid: number): [number, number] => {
  const cpu = processCpu(pid);
  if (cpu === undefined) throw new Error('the server process is gone');
  return [cpu.user, cpu.system];
};
const adminToken = `bh_bench-admin-${'x'.repeat(40)}`;
const database = await createTestDatabase('postgres');
const home = mkdtempSync(join(tmpdir(), 'bh-reqcost-'));
const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_LOG_LEVEL: 'error', BULKHEAD_DATABASE_POOL_SIZE: '20', ...serverDatabaseEnv(database) };
const server = await startServerProcess(env, 60_000, benchServerNodeArgs());
const pid = server.child.pid;
if (pid === undefined) throw new Error('the server process has no pid');
const admin = createBenchClient(server.url, adminToken);
let client: ReturnType<typeof createBenchClient> | undefined;
try {
  await must(admin, 'POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', tier: 'sandbox' });
  await must(admin, 'PUT', '/api/v1/tenants/bench/quota', { requestsPerSecond: 1_000_000 });
  const { token } = await must(admin, 'POST', '/api/v1/tenants/bench/tokens', { name: 'bench', role: 'member' });
  client = createBenchClient(server.url, token, 16);
  const tenantClient = client;
  const { experiment_id } = await must(tenantClient, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'e' });
  const { run } = await must(tenantClient, 'POST', '/api/2.0/mlflow/runs/create', { experiment_id, start_time: 1 });
  const runId = run.info.run_id;
  let step = 0; // log-metric: a new step each call
  const kinds: Record<string, () => Promise<{ status: number }>> = {
    healthz: () => tenantClient.request('GET', '/healthz'),
    me: () => tenantClient.request('GET', '/api/v1/me'),
    'runs/get': () => tenantClient.request('GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`),
    'log-metric': () => tenantClient.request('POST', '/api/2.0/mlflow/runs/log-metric', JSON.stringify({ run_id: runId, key: 'm', value: 1, timestamp: 1, step: step++ })),
  };
  const chosen = Object.entries(kinds).filter(([kind]) => values.kinds === undefined || values.kinds.split(',').includes(kind));
  console.log(`request cost benchmark: PostgreSQL, 8 clients, ${seconds} s per kind, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let round = 0; round < Number(values.rounds); round += 1) {
    let baseline: number | undefined;
    for (const [name, call] of chosen) {
      let requests = 0;
      const end = performance.now() + seconds * 1000;
      const [user0, sys0] = serverCpu(pid);
      const own0 = process.cpuUsage();
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (performance.now() < end) {
          const { status } = await call();
          if (status !== 200) throw new Error(`${name} answered ${status}`);
          requests += 1;
        }
      }));
      const [user1, sys1] = serverCpu(pid);
      const own = process.cpuUsage(own0);
      const perRequest = (user1 - user0 + sys1 - sys0) / requests * 1000;
      if (name === 'healthz') baseline = perRequest;
      console.log(`round ${round + 1} ${name.padEnd(10)} ${(requests / seconds).toFixed(0).padStart(6)} req/s; server CPU ${perRequest.toFixed(0)} µs per request ` +
        `(user ${((user1 - user0) / requests * 1000).toFixed(0)}, system ${((sys1 - sys0) / requests * 1000).toFixed(0)})` +
        `${baseline === undefined || name === 'healthz' ? '' : `, ×${(perRequest / baseline).toFixed(2)} /healthz`}; load generator ${((own.user + own.system) / requests).toFixed(0)} µs`);
    }
  }
} finally {
  client?.close();
  admin.close();
  await server.kill('SIGTERM');
  await database.drop();
  rmSync(home, { recursive: true, force: true });
}
