/**
 * Replicas benchmark (issue 16), on PostgreSQL, real `bulkhead up` processes:
 *  1. API throughput and latency with the load on 1, 2 and 3 replicas (three run throughout):
 *     `--concurrency` clients (in this process) send an authenticated tenant read
 *     (`GET /api/v1/tenants/bench/jobs?limit=1`) round-robin over the targets for `--duration` seconds,
 *     `--rounds` interleaved rounds; prints medians of req/s, p50, p99 and the ratios to 1 replica. On a
 *     2-core machine the replicas and the load generator share the cores: the ratio shows the cost of
 *     coordination (heartbeats, the lease, LISTEN, per-replica rate shares), not scaling, which needs cores.
 *  2. Failover: 3 replicas; `--kills` times, SIGKILL the leader and time until another replica reports
 *     itself leader in /readyz (polled every 20 ms); a replacement is started after each kill. All
 *     replicas run on this host, so a survivor sees the leader's pid is gone and ends its lease at once.
 *     Then `--stops` times, SIGSTOP the leader (alive, so nobody may judge it dead: the lease must run
 *     out, as for a leader on another host or behind a partition), time the election, SIGCONT it and
 *     wait until it reports itself a follower. p50/max, at the default lease (3000 ms, heartbeat
 *     1000 ms) unless --lease-ms/--heartbeat-ms say otherwise.
 *  3. Revocation: `--revocations` times, revoke a token through replica 1 and time until replicas 2 and 3
 *     refuse it (auth cache TTL 60 s: only the notification explains a refusal sooner). p50/max.
 *
 * Usage: node bench/replicas.ts [--duration 5] [--rounds 3] [--concurrency 16] [--kills 20] [--stops 10] [--revocations 20]
 *        [--lease-ms 3000] [--heartbeat-ms 1000] [--skip throughput,failover,revocation]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createTestDatabase, serverDatabaseEnv } from '../test/support/databases.ts';
import { callServer, mustServer, startServerProcess } from '../test/support/server-process.ts';
import type { ServerProcess } from '../test/support/server-process.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    kills: { type: 'string', default: '20' },
    stops: { type: 'string', default: '10' },
    revocations: { type: 'string', default: '20' },
    'lease-ms': { type: 'string', default: '3000' },
    'heartbeat-ms': { type: 'string', default: '1000' },
    skip: { type: 'string', default: '' },
  },
});
const skip = new Set(values.skip.split(',').filter(Boolean));
const adminToken = `bh_replica-bench-${'b'.repeat(36)}`;

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const ms = (value: number): string => `${value.toFixed(1)} ms`;

const readiness = async (server: ServerProcess): Promise<{ replica: { role: string; liveReplicas: number } } | undefined> => {
  try {
    const response = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(500) });
    return response.status === 200 ? (await response.json()) as { replica: { role: string; liveReplicas: number } } : undefined;
  } catch {
    return undefined;
  }
};
const until = async <T>(probe: () => Promise<T | undefined>, everyMs = 20, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
};

const database = await createTestDatabase('postgres');
const home = mkdtempSync(join(tmpdir(), 'bulkhead-replica-bench-'));
const env = {
  ...serverDatabaseEnv(database),
  BULKHEAD_HOME: home,
  BULKHEAD_BOOTSTRAP_TOKEN: adminToken,
  BULKHEAD_LEADER_LEASE_MS: values['lease-ms'],
  BULKHEAD_REPLICA_HEARTBEAT_MS: values['heartbeat-ms'],
  BULKHEAD_AUTH_CACHE_TTL_MS: '60000',
};
const servers: ServerProcess[] = [];
const live = () => servers.filter((server) => server.child.exitCode === null && server.child.signalCode === null);
try {
  servers.push(await startServerProcess(env));
  const first = servers[0]!;
  await mustServer(first.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', tier: 'process' });
  await mustServer(first.url, adminToken, 'PUT', '/api/v1/tenants/bench/quota', { requestsPerSecond: 1_000_000 });
  const { token } = await mustServer(first.url, adminToken, 'POST', '/api/v1/tenants/bench/tokens', { name: 'bench', role: 'member' });
  console.log(`replicas benchmark — PostgreSQL, lease ${values['lease-ms']} ms, heartbeat ${values['heartbeat-ms']} ms`);

  if (!skip.has('throughput')) {
    // All three replicas run throughout (the same processes on the machine); the load goes to 1, 2 or 3
    // of them. Rounds interleave the three cases (1, 2, 3, 1, 2, 3, …) so that drift in the machine's load
    // (other jobs on a shared host) spreads over all of them; medians of the rounds are printed.
    const durationMs = Number(values.duration) * 1000;
    const concurrency = Number(values.concurrency);
    while (live().length < 3) servers.push(await startServerProcess(env));
    await until(async () => ((await readiness(live()[0]!))?.replica.liveReplicas ?? 0) >= 3 ? true : undefined);
    const results = new Map<number, Array<{ rps: number; p50: number; p99: number; errors: number }>>();
    for (let round = 0; round < Number(values.rounds); round += 1) {
      for (const count of [1, 2, 3]) {
        const targets = live().slice(0, count);
        // Warm-up: connections and caches.
        for (const server of targets) for (let i = 0; i < 20; i += 1) await callServer(server.url, token, 'GET', '/api/v1/tenants/bench/jobs?limit=1');
        const latencies: number[] = [];
        let errors = 0;
        const started = performance.now();
        await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
          for (let i = worker; performance.now() - started < durationMs; i += 1) {
            const at = performance.now();
            const response = await callServer(targets[i % count]!.url, token, 'GET', '/api/v1/tenants/bench/jobs?limit=1');
            latencies.push(performance.now() - at);
            if (response.status !== 200) errors += 1;
          }
        }));
        const elapsed = (performance.now() - started) / 1000;
        latencies.sort((a, b) => a - b);
        const list = results.get(count) ?? [];
        list.push({ rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors });
        results.set(count, list);
      }
    }
    const median = (numbers: number[]): number => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)] ?? Number.NaN;
    const base = median(results.get(1)!.map((r) => r.rps));
    const baseP99 = median(results.get(1)!.map((r) => r.p99));
    for (const [count, list] of results) {
      const rps = median(list.map((r) => r.rps));
      const p99 = median(list.map((r) => r.p99));
      console.log(`  load on ${count} replica${count === 1 ? ' ' : 's'}: ${rps.toFixed(0)} req/s (×${(rps / base).toFixed(2)}), p50 ${ms(median(list.map((r) => r.p50)))}, p99 ${ms(p99)} (×${(p99 / baseP99).toFixed(2)}), errors ${list.reduce((sum, r) => sum + r.errors, 0)}; rounds: ${list.map((r) => r.rps.toFixed(0)).join(', ')} req/s`);
    }
  }

  if (!skip.has('failover')) {
    while (live().length < 3) servers.push(await startServerProcess(env));
    const kills = Number(values.kills);
    const times: number[] = [];
    for (let i = 0; i < kills; i += 1) {
      const leader = await until(async () => {
        for (const server of live()) if ((await readiness(server))?.replica.role === 'leader') return server;
        return undefined;
      });
      const killedAt = performance.now();
      await leader.kill('SIGKILL');
      await until(async () => {
        for (const server of live()) if ((await readiness(server))?.replica.role === 'leader') return server;
        return undefined;
      }, 20);
      times.push(performance.now() - killedAt);
      servers.splice(servers.indexOf(leader), 1);
      servers.push(await startServerProcess(env));
    }
    times.sort((a, b) => a - b);
    const stopTimes: number[] = [];
    const leaderNow = () => until(async () => {
      for (const server of live()) if ((await readiness(server))?.replica.role === 'leader') return server;
      return undefined;
    }, 20);
    for (let i = 0; i < Number(values.stops); i += 1) {
      const leader = await leaderNow();
      const stoppedAt = performance.now();
      leader.child.kill('SIGSTOP');
      await until(async () => {
        for (const server of live()) if (server !== leader && (await readiness(server))?.replica.role === 'leader') return server;
        return undefined;
      }, 20);
      stopTimes.push(performance.now() - stoppedAt);
      leader.child.kill('SIGCONT');
      await until(async () => ((await readiness(leader))?.replica.role === 'follower' ? true : undefined));
    }
    stopTimes.sort((a, b) => a - b);
    if (stopTimes.length > 0) console.log(`  failover over ${stopTimes.length} leader SIGSTOPs (lease runs out): p50 ${ms(percentile(stopTimes, 50))}, max ${ms(stopTimes.at(-1) ?? Number.NaN)}`);
    console.log(`  failover over ${kills} leader SIGKILLs: p50 ${ms(percentile(times, 50))}, max ${ms(times.at(-1) ?? Number.NaN)} (bound: lease + heartbeat = ${Number(values['lease-ms']) + Number(values['heartbeat-ms'])} ms)`);
  }

  if (!skip.has('revocation')) {
    while (live().length < 3) servers.push(await startServerProcess(env));
    const [r1, r2, r3] = live() as [ServerProcess, ServerProcess, ServerProcess];
    const times: number[] = [];
    for (let i = 0; i < Number(values.revocations); i += 1) {
      const created = await mustServer(r1.url, adminToken, 'POST', '/api/v1/tenants/bench/tokens', { name: `r${i}`, role: 'member' });
      for (const server of [r2, r3]) await mustServer(server.url, created.token, 'GET', '/api/v1/tenants/bench/jobs?limit=1');
      const revokedAt = performance.now();
      await mustServer(r1.url, adminToken, 'DELETE', `/api/v1/tenants/bench/tokens/${created.id}`);
      for (const server of [r2, r3]) {
        await until(async () => ((await callServer(server.url, created.token, 'GET', '/api/v1/tenants/bench/jobs?limit=1')).status === 401 ? true : undefined), 2);
        times.push(performance.now() - revokedAt);
      }
    }
    times.sort((a, b) => a - b);
    console.log(`  revocation on replica 1 → refused on replicas 2 and 3 (auth cache TTL 60 s): p50 ${ms(percentile(times, 50))}, max ${ms(times.at(-1) ?? Number.NaN)} over ${times.length}`);
  }
} finally {
  for (const server of servers) {
    server.child.kill('SIGCONT');
    await server.kill('SIGKILL');
  }
  await database.drop();
  rmSync(home, { recursive: true, force: true });
}
