/**
 * Gang jobs end to end on real bubblewrap and cgroups: a 4-worker job does a ring all-reduce over TCP
 * between its workers (plain Python sockets, ports on the gang's private loopback) and every rank prints
 * the sum; while a gang of tenant A listens, a job of tenant B that connects to A's port fails (its own
 * network namespace has nothing there); one worker failing stops the gang, which ends with that worker's
 * exit code; the scheduler admits a gang whole or not at all, and explain says what the gang waits for.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { meterEndedJobs } from '../src/monitoring/index.ts';

/** Rank r listens on MASTER_PORT+1+r, sends to rank r+1, receives from rank r-1; N-1 steps pass partial sums round the ring. */
const ringAllReduce = [
  'import os, socket, time, sys',
  'rank, n = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])',
  'base = int(os.environ["MASTER_PORT"]) + 1',
  'host = os.environ["MASTER_ADDR"]',
  'srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind((host, base + rank)); srv.listen(1)',
  'deadline = time.time() + 30',
  'while True:',
  '    try:',
  '        out = socket.create_connection((host, base + (rank + 1) % n), timeout=2); break',
  '    except OSError:',
  '        if time.time() > deadline: raise',
  '        time.sleep(0.05)',
  'inp, _ = srv.accept()',
  'rf = inp.makefile("r")',
  'value = (rank + 1) * 10',
  'total, send = value, value',
  'for step in range(n - 1):',
  '    out.sendall(b"%d\\n" % send)',
  '    send = int(rf.readline())',
  '    total += send',
  'print("rank", rank, "of", n, "LOCAL_RANK", os.environ["LOCAL_RANK"], "sum", total, flush=True)',
  'if len(sys.argv) > 1 and rank == 0:',
  '    print("serving on", base, flush=True)',
  '    time.sleep(300)',
].join('\n');

/**
 * Every rank says it is up; ranks other than 1 then listen on MASTER_PORT+1+rank and sleep, and rank 1 exits 3
 * once it has reached every other rank — so the failure comes after all ranks have started (on a slow
 * machine a fixed delay did not guarantee that: rank 0 had not printed yet when rank 1 stopped the gang).
 */
const failAfterPeers = [
  'import os, socket, time, sys',
  'rank, n = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])',
  'base, host = int(os.environ["MASTER_PORT"]) + 1, os.environ["MASTER_ADDR"]',
  'print("up", flush=True)',
  'if rank != 1:',
  '    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind((host, base + rank)); srv.listen(n)',
  '    time.sleep(300)',
  'for peer in [r for r in range(n) if r != 1]:',
  '    while True:',
  '        try:',
  '            socket.create_connection((host, base + peer), timeout=2).close(); break',
  '        except OSError:',
  '            time.sleep(0.05)',
  'sys.exit(3)',
].join('\n');

const tryConnect = [
  'import socket, errno, sys',
  'for port in sys.argv[1:]:',
  '    s = socket.socket(); s.settimeout(2)',
  '    try:',
  '        s.connect(("127.0.0.1", int(port))); print("CONNECT", port, "OK")',
  '    except OSError as e:',
  '        print("CONNECT", port, errno.errorcode.get(e.errno, "TIMEOUT") if e.errno else "TIMEOUT")',
].join('\n');

for (const kind of databaseKinds) {
  describe(`gang jobs on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhgang-${randomBytes(4).toString('hex')}`, relayPort: 18793, capacityCpu: 2, capacityMemoryMiB: 4096 });
      a = await p.createTenant('ganga');
      b = await p.createTenant('gangb');
      await p.call('PUT', '/api/v1/tenants/ganga/quota', adminToken, { cpu: 1, memoryMiB: 2048, borrowingLimit: { cpu: 0, memoryMiB: 0 }, maxConcurrentJobs: 4 });
      await p.call('PUT', '/api/v1/tenants/gangb/quota', adminToken, { cpu: 1, memoryMiB: 1024, maxConcurrentJobs: 4 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    const submit = async (t: TestTenant, body: object) => {
      const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await p.platform.jobs.runner.tick();
      return created.body.id as string;
    };
    const get = async (t: TestTenant, id: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.viewer)).body;
    const logs = async (t: TestTenant, id: string): Promise<string> => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${t.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;
    const ended = (status: string) => ['succeeded', 'failed', 'cancelled', 'refused', 'timed_out', 'oom_killed'].includes(status);

    test('a 4-worker ring all-reduce over TCP: every rank prints the sum', async () => {
      const id = await submit(a, { name: 'ring', workers: 4, command: ['python3', '-c', ringAllReduce], resources: { cpu: 0.25, memoryMiB: 128, timeoutSeconds: 120 } });
      await waitFor('the gang ends', async () => ended((await get(a, id)).status), 60_000);
      const job = await get(a, id);
      const text = await logs(a, id);
      assert.equal(job.status, 'succeeded', text);
      assert.equal(job.workers, 4);
      for (let rank = 0; rank < 4; rank += 1) assert.match(text, new RegExp(`\\[rank ${rank}\\] rank ${rank} of 4 LOCAL_RANK ${rank} sum 100`), text);
      // Metering: the gang's reservation is its 4 workers' (4 × 128 MiB over its wall time), its CPU all of theirs.
      await meterEndedJobs(p.database.db);
      const ledger = async (resource: string) => (await p.database.owner.queryAsOwner<{ q: number | null }>(
        'SELECT sum(quantity)::float8 AS q FROM usage_ledger WHERE source = $1 AND resource = $2', [`job:${id}:1`, resource])).rows[0]?.q ?? 0;
      const wallSeconds = (job.usage as { wallMs: number }).wallMs / 1000;
      assert.ok(Math.abs((await ledger('memoryGiBHours')) - (4 * 128 / 1024) * wallSeconds / 3600) < 1e-9, `memoryGiBHours for ${wallSeconds} s`);
      assert.ok((await ledger('cpuCoreSeconds')) > 0);
    });

    test("tenant B cannot connect to tenant A's workers' port", async () => {
      const gang = await submit(a, { name: 'listening', workers: 2, command: ['python3', '-c', ringAllReduce, 'hold'], resources: { cpu: 0.25, memoryMiB: 128, timeoutSeconds: 120 } });
      await waitFor("A's rank 0 listens", async () => (await logs(a, gang)).includes('serving on 29501'), 60_000);
      const probe = await submit(b, { name: 'snoop', command: ['python3', '-c', tryConnect, '29501', '29502', '29500'], resources: { cpu: 0.25, memoryMiB: 128, timeoutSeconds: 60 } });
      await waitFor("B's job ends", async () => ended((await get(b, probe)).status), 60_000);
      const text = await logs(b, probe);
      for (const port of ['29501', '29502', '29500']) assert.match(text, new RegExp(`CONNECT ${port} ECONNREFUSED`), text);
      // A's gang was listening the whole time: it is still running now.
      assert.equal((await get(a, gang)).status, 'running');
      assert.match(await logs(a, gang), /\[rank 1\] rank 1 of 2 LOCAL_RANK 1 sum 30/);
      await p.call('POST', `/api/v1/tenants/ganga/jobs/${gang}/cancel`, a.tokens.member);
      p.platform.jobs.runner.cancel(gang);
      await waitFor('the gang is cancelled', async () => (await get(a, gang)).status === 'cancelled');
    });

    test('one worker failing stops the gang, which ends with its exit code', async () => {
      const started = Date.now();
      const id = await submit(a, { name: 'one-fails', workers: 3, command: ['python3', '-c', failAfterPeers], resources: { cpu: 0.25, memoryMiB: 64, timeoutSeconds: 300 } });
      await waitFor('the gang ends', async () => ended((await get(a, id)).status), 60_000);
      const job = await get(a, id);
      assert.equal(job.status, 'failed');
      assert.equal(job.exitCode, 3);
      assert.ok(Date.now() - started < 30_000, 'the sleeping ranks were stopped, not waited for');
      const text = await logs(a, id);
      assert.match(text, /rank 1 ended failed \(exit 3\); stopping the other workers/);
      for (let rank = 0; rank < 3; rank += 1) assert.match(text, new RegExp(`\\[rank ${rank}\\] up`));
    });

    test('a gang is admitted whole or waits whole, and explain says why', async () => {
      // 3 × 0.5 cores = 1.5 > A's 1 core: it could never run, and is refused at submission.
      const tooBig = await p.call('POST', '/api/v1/tenants/ganga/jobs', a.tokens.member, { workers: 3, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } });
      assert.equal(tooBig.body.code, 'QUOTA_EXCEEDED', JSON.stringify(tooBig.body));
      assert.match(tooBig.body.message, /1\.5 cpu/);
      // A holds 0.75 of its 1 core; a gang of 2 × 0.25 waits whole (nothing of it runs).
      const holder = await submit(a, { name: 'holder', command: ['sleep', '300'], resources: { cpu: 0.75, memoryMiB: 64, timeoutSeconds: 300 } });
      await waitFor('the holder runs', async () => (await get(a, holder)).status === 'running');
      const gang = await submit(a, { name: 'waits', workers: 2, command: ['true'], resources: { cpu: 0.25, memoryMiB: 64, timeoutSeconds: 60 } });
      assert.equal((await get(a, gang)).status, 'queued');
      const why = await p.call('GET', `/api/v1/tenants/ganga/jobs/${gang}/explain`, a.tokens.viewer);
      assert.match(why.body.summary, /gang of 2 workers admitted all at once: it waits until 0\.5 cores, 128 MiB are free together/, JSON.stringify(why.body));
      assert.ok(why.body.blockers.some((x: { reason: string }) => x.reason === 'tenant_quota_cpu'), JSON.stringify(why.body.blockers));
      await p.call('POST', `/api/v1/tenants/ganga/jobs/${holder}/cancel`, a.tokens.member);
      p.platform.jobs.runner.cancel(holder);
      await waitFor('the gang runs once the holder is gone', async () => {
        await p.platform.jobs.runner.tick();
        return (await get(a, gang)).status === 'succeeded';
      }, 60_000);
    });
  });
}
