/**
 * Usage metering across a real SIGKILL and restart of `bulkhead up` (child process), on PGlite and on
 * PostgreSQL, with the metrics listener on a free port:
 *  - a live scrape of `/metrics` after real traffic passes `promtool check metrics`; the API port has no /metrics;
 *  - request counts flushed before a SIGKILL survive it, and nothing is written twice after the restart;
 *    a graceful stop (SIGTERM) flushes everything: no count is lost;
 *  - a job that was running when the server was killed is metered at the restart from its leftover cgroup
 *    (the cgroup's own cpuacct figure), once — a second kill and restart meters nothing again.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { withSystem } from '../src/db/index.ts';
import { detectCgroupDriver } from '../src/executors/local/index.ts';
import { openDatabase } from '../src/main/platform.ts';
import { createTestDatabase, databaseKinds, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { freePort, mustServer, startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { labelValues, promtoolCheckMetrics } from './support/promtool.ts';
import { waitFor } from './support/wait.ts';

const adminToken = `bh_usage-crash-admin-${'u'.repeat(40)}`;

for (const kind of databaseKinds) describe(`usage metering across SIGKILL and restart (${kind})`, () => {
  let database: TestDatabase | undefined;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-usage-crash-'));
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.kill('SIGKILL');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  });

  test('live scrape passes promtool; flushed counts survive a SIGKILL, nothing is doubled, SIGTERM loses nothing; an interrupted job is metered from its cgroup once', async (t) => {
    const metricsPort = await freePort();
    const env: Record<string, string> = {
      BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_METRICS_PORT: String(metricsPort),
      BULKHEAD_USAGE_FLUSH_INTERVAL_MS: '200', BULKHEAD_USAGE_SAMPLE_INTERVAL_MS: '3600000',
    };
    if (kind === 'postgres') {
      database = await createTestDatabase('postgres');
      Object.assign(env, serverDatabaseEnv(database));
    }
    server = await startServerProcess(env);
    const tenant = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'meter', name: 'Meter', tier: 'sandbox' });
    const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/meter/tokens', { name: 't', role: 'member' });
    // Read as the platform admin: billed to no tenant, so reading does not change what is read.
    const totals = async () => (await mustServer(server!.url, adminToken, 'GET', '/api/v1/tenants/meter/usage?granularity=day')).totals as Record<string, number>;

    for (let i = 0; i < 20; i += 1) await mustServer(server.url, token, 'GET', `/api/v1/tenants/meter/jobs`);
    await waitFor('the first flush', async () => (await totals()).apiRequests === 20);

    // A live scrape of the metrics listener, after that traffic.
    const scrape = await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`);
    assert.equal(scrape.status, 200);
    const text = await scrape.text();
    const checked = promtoolCheckMetrics(text);
    assert.equal(checked.status, 0, checked.output);
    assert.ok(labelValues(text, 'bulkhead_http_requests_total', 'route').has('/api/v1/tenants/{tenant}/jobs'));
    assert.ok(labelValues(text, 'bulkhead_tenant_http_requests_total', 'tenant').has(tenant.id));
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404, 'never on the API port');

    // SIGKILL: what was flushed stays; counts of this instance are never written again by the next one.
    await server.kill('SIGKILL');
    // Meanwhile a job "was running": its cgroup holds what it burnt (a real process in a real cgroup).
    const jobId = randomUUID();
    const config = loadConfig({}, { home, ...(kind === 'postgres' ? { databaseUrl: database!.appUrl!, databaseMigrationUrl: serverDatabaseEnv(database!)['BULKHEAD_DATABASE_MIGRATION_URL'] } : {}) });
    const cgroups = await detectCgroupDriver('/sys/fs/cgroup', config.cgroupPrefix);
    let cgroupCpuSeconds: number | undefined;
    if (cgroups !== undefined && cgroups.controllers.has('cpuacct')) {
      const cgroup = await cgroups.createJob(tenant.id, jobId, { cpu: 1, memoryMiB: 256 }, { cpu: 1, memoryMiB: 256, pids: 32 });
      const joins = cgroup.procsFiles.map((file) => `echo $$ > ${file}`).join('; ');
      await new Promise<void>((resolve, reject) => {
        const burner = spawn('sh', ['-c', `${joins}; exec "${process.execPath}" -e 'const t = process.cpuUsage(); while (process.cpuUsage(t).user < 400000) {}'`], { stdio: 'ignore' });
        burner.once('error', reject);
        burner.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`burner exited ${String(code)}`))));
      });
      const cpuacct = cgroups.version === 'v1' ? join(cgroups.root, 'cpuacct', config.cgroupPrefix, `tenant-${tenant.id}`, `job-${jobId}`, 'cpuacct.usage') : undefined;
      cgroupCpuSeconds = cpuacct === undefined ? (await cgroup.usage()).cpuCoreSeconds : Number((await readFile(cpuacct, 'utf8')).trim()) / 1e9;
      assert.ok(cgroupCpuSeconds !== undefined && cgroupCpuSeconds >= 0.4, `the cgroup counted the burn (${String(cgroupCpuSeconds)} s)`);
    }
    const { db } = await openDatabase(config);
    try {
      await withSystem(db, (tx) => tx.query(
        `INSERT INTO jobs (tenant_id, id, status, tier, command, cpu, memory_mib, timeout_seconds, created_by, admitted_at, started_at, attempts)
         VALUES ($1, $2, 'running', 'sandbox', '["burn"]', 1, 1024, 600, 'test', now(), now() - interval '90 seconds', 1)`, [tenant.id, jobId]));
    } finally {
      await db.close();
    }

    server = await startServerProcess(env);
    const afterKill = await totals();
    assert.equal(afterKill.apiRequests, 20, 'the flushed counts survived the kill and none were written twice');
    if (cgroupCpuSeconds === undefined) t.diagnostic('no writable cgroup with cpuacct here: the interrupted-job part did not run');
    else {
      t.diagnostic(`interrupted job: metered ${String(afterKill.cpuCoreSeconds)} core-seconds, its cgroup said ${String(cgroupCpuSeconds)}`);
      assert.ok(Math.abs(afterKill.cpuCoreSeconds! - cgroupCpuSeconds) <= 0.1 * cgroupCpuSeconds, `metered ${String(afterKill.cpuCoreSeconds)} s vs the cgroup's ${String(cgroupCpuSeconds)} s`);
      assert.ok(afterKill.memoryGiBHours! > 0, 'reserved memory over the wall time until the kill');
    }
    const job = await mustServer(server.url, adminToken, 'GET', `/api/v1/tenants/meter/jobs/${jobId}`);
    assert.equal(job.status, 'failed');

    // Ten more requests, then a graceful stop: all ten are written before the process exits.
    for (let i = 0; i < 10; i += 1) await mustServer(server.url, token, 'GET', `/api/v1/tenants/meter/jobs`);
    await server.kill('SIGTERM');
    server = await startServerProcess(env);
    const afterStop = await totals();
    assert.equal(afterStop.apiRequests, 30, 'SIGTERM flushed every count');
    assert.equal(afterStop.cpuCoreSeconds, afterKill.cpuCoreSeconds, 'the failed job was not metered a second time (ended-job meter, restart)');

    // A second SIGKILL and restart changes nothing metered.
    await server.kill('SIGKILL');
    server = await startServerProcess(env);
    const again = await totals();
    assert.equal(again.apiRequests, 30);
    assert.equal(again.cpuCoreSeconds, afterKill.cpuCoreSeconds);
    await server.kill('SIGTERM');
    server = undefined;
  });
});
