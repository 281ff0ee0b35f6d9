/**
 * Three `bulkhead up` replicas on one PostgreSQL, real processes, real SIGKILL and SIGSTOP (issue 16):
 *  - exactly one leader; each replica reports its id, role and heartbeat in /readyz;
 *  - jobs submitted round-robin through the three replicas: the leader is SIGKILLed while they run; a
 *    follower is elected, and every job ends — none lost, none started twice (one `job.start` audit event
 *    at most, one start line in its marker file at most); the tenant's audit chain verifies;
 *  - the leader is SIGSTOPped past its lease while a job runs, then SIGCONTed: another replica leads and
 *    has failed the job (its host replica was lost); the woken replica steps down and its late writes are
 *    refused by fencing (counted in its /readyz), and the job stays as the new leader recorded it;
 *  - a token revoked through replica 1 is refused by replicas 2 and 3 while their auth cache TTL (60 s)
 *    still holds it: the revocation arrived over LISTEN/NOTIFY;
 *  - a tenant limited to 100 requests/s, hammered through all three replicas, gets at most 110/s.
 * Jobs: BULKHEAD_TEST_REPLICA_JOBS (default 60; the issue asks 500 — run with 500 on a quiet machine).
 * Failover and revocation delays are printed as diagnostics; bench/replicas.ts measures them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { callServer, mustServer, startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { waitFor } from './support/wait.ts';

const adminToken = `bh_replicas-admin-${'r'.repeat(36)}`;
const jobCount = Number(process.env['BULKHEAD_TEST_REPLICA_JOBS'] ?? 60);
const terminal = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'oom_killed', 'refused']);

interface Readiness { replica: { replicaId: string; role: 'leader' | 'follower'; lastHeartbeatAt?: string; liveReplicas: number; fencedWrites: number; fencingToken?: number } }

/** /readyz of a replica, or undefined when it does not answer within a second (killed, stopped). */
const readiness = async (server: ServerProcess): Promise<Readiness | undefined> => {
  try {
    const response = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(1000) });
    return response.status === 200 ? (await response.json()) as Readiness : undefined;
  } catch {
    return undefined;
  }
};

describe('three replicas on one PostgreSQL', { timeout: 900_000 }, () => {
  let database: TestDatabase;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-replicas-'));
  const markers = mkdtempSync(join(tmpdir(), 'bulkhead-replica-markers-'));
  chmodSync(markers, 0o777);
  const servers: ServerProcess[] = [];
  let env: Record<string, string>;

  before(async () => {
    database = await createTestDatabase('postgres');
    env = {
      ...serverDatabaseEnv(database),
      BULKHEAD_HOME: home,
      BULKHEAD_BOOTSTRAP_TOKEN: adminToken,
      BULKHEAD_CGROUP_PREFIX: `bhrep-${randomBytes(4).toString('hex')}`,
      BULKHEAD_CAPACITY_CPU: '2',
      BULKHEAD_LEADER_LEASE_MS: '2000',
      BULKHEAD_REPLICA_HEARTBEAT_MS: '400',
      BULKHEAD_SCHEDULER_INTERVAL_MS: '200',
      BULKHEAD_PREEMPT_GRACE_MS: '500',
      // Far longer than the 1 s a revocation may take: only the notification can explain a quick refusal.
      BULKHEAD_AUTH_CACHE_TTL_MS: '60000',
    };
    // The first replica bootstraps the admin token; the others start against the same database and home.
    servers.push(await startServerProcess(env));
    servers.push(await startServerProcess(env));
    servers.push(await startServerProcess(env));
  });
  after(async () => {
    for (const server of servers) {
      server.child.kill('SIGCONT');
      await server.kill('SIGKILL');
    }
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
    rmSync(markers, { recursive: true, force: true });
  });

  const live = () => servers.filter((server) => server.child.exitCode === null && server.child.signalCode === null);
  const leaderOf = async (candidates: ServerProcess[]) => {
    for (const server of candidates) if ((await readiness(server))?.replica.role === 'leader') return server;
    return undefined;
  };

  test('each replica reports itself; exactly one leads', async () => {
    const states = await waitFor('three replicas that see each other', async () => {
      const all = await Promise.all(servers.map(readiness));
      return all.every((state) => state?.replica.liveReplicas === 3) ? all as Readiness[] : undefined;
    });
    assert.equal(new Set(states.map((state) => state.replica.replicaId)).size, 3);
    assert.equal(states.filter((state) => state.replica.role === 'leader').length, 1);
    for (const state of states) assert.ok(state.replica.lastHeartbeatAt !== undefined);
  });

  test(`${jobCount} jobs round-robin, leader SIGKILLed while they run: none lost, none started twice, audit chain intact`, async (t) => {
    const [r1, r2, r3] = servers as [ServerProcess, ServerProcess, ServerProcess];
    assert.equal((await callServer(r1.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'rep', name: 'Replicas', tier: 'process' })).status, 201);
    await mustServer(r1.url, adminToken, 'PUT', '/api/v1/tenants/rep/quota', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 6, maxQueuedJobs: 2000, requestsPerSecond: 10_000 });
    const { token } = await mustServer(r1.url, adminToken, 'POST', '/api/v1/tenants/rep/tokens', { name: 't', role: 'member' });
    const ids: string[] = [];
    for (let i = 0; i < jobCount; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, jobCount - i) }, (_, k) => {
        const n = i + k;
        const via = servers[n % 3]!;
        return mustServer(via.url, token, 'POST', '/api/v1/tenants/rep/jobs', {
          command: ['sh', '-c', `echo started >> ${markers}/job-${n}; sleep 0.3`],
          resources: { cpu: 0.25, memoryMiB: 32, timeoutSeconds: 120 },
        });
      }));
      ids.push(...batch.map((job: { id: string }) => job.id));
    }
    const statusOf = async (via: ServerProcess) => {
      const counts = new Map<string, string>();
      for (const id of ids) counts.set(id, (await mustServer(via.url, token, 'GET', `/api/v1/tenants/rep/jobs/${id}`)).status as string);
      return counts;
    };
    // Kill the leader once jobs are running on it (and some have finished).
    const leader = await waitFor('a leader', () => leaderOf([r1, r2, r3]));
    await waitFor('jobs running on the leader', async () => {
      const states = [...(await statusOf(r1.child === leader.child ? r2 : r1)).values()];
      return states.includes('running') && states.filter((s) => s === 'succeeded').length >= 3;
    }, 120_000, 100);
    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    const survivors = [r1, r2, r3].filter((server) => server !== leader);
    const next = await waitFor('a follower to be elected', () => leaderOf(survivors), 30_000, 50);
    t.diagnostic(`failover after SIGKILL: ${Date.now() - killedAt} ms (lease 2000 ms, heartbeat 400 ms)`);
    // Back to three replicas (for what follows), while the jobs run on.
    servers.splice(servers.indexOf(leader), 1, await startServerProcess(env));

    const final = await waitFor('every job to end', async () => {
      const states = await statusOf(next);
      return [...states.values()].every((s) => terminal.has(s)) ? states : undefined;
    }, 600_000, 500);
    const byStatus = new Map<string, number>();
    for (const s of final.values()) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
    t.diagnostic(`job outcomes: ${JSON.stringify(Object.fromEntries(byStatus))}`);
    assert.equal(final.size, jobCount, 'no job is lost');

    // Started at most once: one job.start audit event each, one line in its marker file at most.
    const { rows } = await database.owner.queryAsOwner<{ target: string; starts: number }>(
      `SELECT target, count(*)::int AS starts FROM audit_events WHERE action = 'job.start' GROUP BY target`,
    );
    const starts = new Map(rows.map((row) => [row.target.replace(/^job:/, ''), row.starts]));
    const reasons = new Map<string, number>();
    let lost = 0;
    for (const [index, id] of ids.entries()) {
      assert.ok((starts.get(id) ?? 0) <= 1, `job ${index} started ${starts.get(id)} times`);
      const file = join(markers, `job-${index}`);
      const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
      assert.ok(lines <= 1, `job ${index} ran ${lines} times`);
      const status = final.get(id)!;
      if (status === 'succeeded') assert.equal(starts.get(id), 1);
      if (status !== 'succeeded') {
        const job = await mustServer(next.url, token, 'GET', `/api/v1/tenants/rep/jobs/${id}`);
        reasons.set(job.reason, (reasons.get(job.reason) ?? 0) + 1);
        if (/replica that ran the job was lost/.test(job.reason)) lost += 1;
      }
    }
    // Jobs that did not succeed, by reason: the killed leader's running ones, and whatever the host
    // refused under load (on a loaded 2-core machine, a job's network relay may miss its 10 s start).
    t.diagnostic(`jobs that did not succeed, by reason: ${JSON.stringify(Object.fromEntries(reasons))}`);
    assert.ok(lost <= 6, `only the jobs running on the killed leader (at most its 6 concurrent ones) are lost with it, got ${lost}`);

    const verification = await mustServer(next.url, adminToken, 'GET', '/api/v1/tenants/rep/audit/verify');
    assert.equal(verification.ok, true, JSON.stringify(verification.problems));
    assert.ok(verification.eventsChecked > jobCount);
  });

  test('a leader SIGSTOPped past its lease steps down on SIGCONT; its late writes are refused by fencing', async () => {
    const [r1] = live() as [ServerProcess];
    const { token } = await mustServer(r1.url, adminToken, 'POST', '/api/v1/tenants/rep/tokens', { name: 'stop', role: 'member' });
    const job = await mustServer(r1.url, token, 'POST', '/api/v1/tenants/rep/jobs', { command: ['sleep', '60'], resources: { cpu: 0.25, memoryMiB: 32, timeoutSeconds: 120 } });
    await waitFor('the job to run', async () => (await mustServer(r1.url, token, 'GET', `/api/v1/tenants/rep/jobs/${job.id}`)).status === 'running', 60_000, 100);
    const leader = await waitFor('a leader', () => leaderOf(live()));
    const before = (await readiness(leader))!;
    leader.child.kill('SIGSTOP');
    const others = live().filter((server) => server !== leader);
    const next = await waitFor('another replica to be elected', () => leaderOf(others), 30_000, 50);
    const taken = await waitFor('the new leader to take over the job', async () => {
      const state = await mustServer(next.url, token, 'GET', `/api/v1/tenants/rep/jobs/${job.id}`);
      return state.status === 'failed' ? state : undefined;
    }, 30_000, 100);
    assert.match(taken.reason, /replica that ran the job was lost/);
    assert.ok((await readiness(next))!.replica.fencingToken! > before.replica.fencingToken!, 'the new term has a larger token');

    leader.child.kill('SIGCONT');
    const woken = await waitFor('the woken replica to step down and have a late write refused', async () => {
      const state = await readiness(leader);
      return state?.replica.role === 'follower' && state.replica.fencedWrites > before.replica.fencedWrites ? state : undefined;
    }, 30_000, 100);
    assert.equal(woken.replica.role, 'follower');
    assert.equal((await readiness(next))!.replica.role, 'leader', 'the new leader keeps leading');
    const after = await mustServer(next.url, token, 'GET', `/api/v1/tenants/rep/jobs/${job.id}`);
    assert.equal(after.status, 'failed');
    assert.equal(after.reason, taken.reason, "the old leader's late write did not change the job");
    const { rows } = await database.owner.queryAsOwner<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE target = $1 AND action = 'job.start'`, [`job:${job.id}`]);
    assert.equal(rows[0]?.n, 1);
  });

  test('a token revoked on replica 1 is refused by replicas 2 and 3 well before their cache TTL', async (t) => {
    const [r1, r2, r3] = live() as [ServerProcess, ServerProcess, ServerProcess];
    const created = await mustServer(r1.url, adminToken, 'POST', '/api/v1/tenants/rep/tokens', { name: 'revoke-me', role: 'member' });
    // Cached on every replica (TTL 60 s).
    for (const server of [r1, r2, r3]) assert.equal((await callServer(server.url, created.token, 'GET', '/api/v1/tenants/rep/jobs?limit=1')).status, 200);
    const revokedAt = Date.now();
    assert.equal((await callServer(r1.url, adminToken, 'DELETE', `/api/v1/tenants/rep/tokens/${created.record?.id ?? created.id}`)).status < 300, true);
    for (const server of [r2, r3]) {
      await waitFor('the revocation to reach the replica', async () => (await callServer(server.url, created.token, 'GET', '/api/v1/tenants/rep/jobs?limit=1')).status === 401, 30_000, 10);
      t.diagnostic(`refused on ${server.url} ${Date.now() - revokedAt} ms after the revocation`);
    }
    assert.equal((await callServer(r1.url, created.token, 'GET', '/api/v1/tenants/rep/jobs?limit=1')).status, 401);
  });

  test('a tenant limited to 100 requests/s gets at most 110/s across three replicas', async (t) => {
    const replicas = live();
    assert.equal(replicas.length, 3);
    const [r1] = replicas as [ServerProcess];
    assert.equal((await callServer(r1.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'rate', name: 'Rate', tier: 'process' })).status, 201);
    await mustServer(r1.url, adminToken, 'PUT', '/api/v1/tenants/rate/quota', { requestsPerSecond: 100 });
    const { token } = await mustServer(r1.url, adminToken, 'POST', '/api/v1/tenants/rate/tokens', { name: 'rl', role: 'member' });
    const started = Date.now();
    const durationMs = 7000;
    const accepted: number[] = [];
    let refused = 0;
    await Promise.all(Array.from({ length: 12 }, async (_, worker) => {
      for (let i = worker; Date.now() - started < durationMs; i += 1) {
        const response = await callServer(replicas[i % 3]!.url, token, 'GET', '/api/v1/tenants/rate/jobs?limit=1');
        if (response.status === 200) accepted.push(Date.now() - started);
        else if (response.status === 429) refused += 1;
        else assert.fail(`unexpected status ${response.status}`);
      }
    }));
    // The first two seconds drain the buckets' burst (one second of each share); the rate is what follows.
    const window = accepted.filter((at) => at >= 2000 && at < durationMs);
    const rate = window.length / ((durationMs - 2000) / 1000);
    t.diagnostic(`accepted ${rate.toFixed(1)} req/s after the first two seconds (refused ${refused})`);
    assert.ok(refused > 0, 'the load exceeded the limit (otherwise this proves nothing)');
    assert.ok(rate <= 110, `at most 110 req/s across the replicas, got ${rate.toFixed(1)}`);
  });
});
