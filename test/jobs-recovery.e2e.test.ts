/**
 * Recovery: SIGKILL the server while a job runs, in the sandbox and in the process tier. No process of
 * the job survives (bubblewrap dies with its parent through a parent-death SIGKILL, and its PID
 * namespace takes the whole tree), and after a restart the job is marked failed with the reason, its
 * MLflow run is ended FAILED with an end time, its job token is revoked, its cgroup is gone, and
 * (sandbox case) a queued job stays queued and then runs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { callServer, processesWith, startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { waitFor } from './support/wait.ts';

const adminToken = 'bh_recovery-admin-token-0123456789abcdefghijkl';

describe('jobs survive a server SIGKILL without orphans (PGlite)', () => {
  let server: ServerProcess | undefined;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-recovery-'));
  const prefix = `bhrec-${randomBytes(4).toString('hex')}`;
  after(async () => {
    await server?.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  test('running job: killed with the server, failed with a reason after restart; queued job: still queued, then runs', async () => {
    const env = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_CGROUP_PREFIX: prefix, BULKHEAD_CAPACITY_CPU: '1' };
    server = await startServerProcess(env);
    assert.equal((await callServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'rec', name: 'Recovery' })).status, 201);
    await callServer(server.url, adminToken, 'PUT', '/api/v1/tenants/rec/quota', { cpu: 1, maxConcurrentJobs: 1 });
    const { token } = (await callServer(server.url, adminToken, 'POST', '/api/v1/tenants/rec/tokens', { name: 't', role: 'member' })).body;
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const running = (await callServer(server.url, token, 'POST', '/api/v1/tenants/rec/jobs', { command: ['sh', '-c', `sleep 300 # ${marker}`], resources: { cpu: 1, memoryMiB: 64, timeoutSeconds: 600 } })).body;
    // On a timeout the assertion below says what was missing.
    await waitFor('the job running', async () => (await callServer(server!.url, token, 'GET', `/api/v1/tenants/rec/jobs/${running.id}`)).body.status === 'running' && processesWith(marker).length > 0, 20_000, 100).catch(() => undefined);
    assert.ok(processesWith(marker).length > 0, 'the job runs');
    const queued = (await callServer(server.url, token, 'POST', '/api/v1/tenants/rec/jobs', { command: ['true'], resources: { cpu: 1, memoryMiB: 64, timeoutSeconds: 60 } })).body;
    assert.equal(queued.status, 'queued');

    await server.kill('SIGKILL');
    await waitFor('the job\'s processes gone', () => processesWith(marker).length === 0, 10_000, 100).catch(() => undefined);
    const survivors = processesWith(marker);
    // On failure, say who they are: parent, namespaces' pids, uid, and the pending death signal's state.
    const describe = (line: string) => {
      const pid = line.trim().split(/\s+/)[0];
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        return `${line.slice(0, 80)} | ${status.split('\n').filter((l) => /^(PPid|NSpid|Uid|Gid|State):/.test(l)).join('; ')}`;
      } catch {
        return line.slice(0, 80);
      }
    };
    assert.deepEqual(survivors, [], `no process of the job outlives the server:\n${survivors.map(describe).join('\n')}`);

    server = await startServerProcess(env);
    const after = (await callServer(server.url, token, 'GET', `/api/v1/tenants/rec/jobs/${running.id}`)).body;
    assert.equal(after.status, 'failed');
    assert.match(after.reason, /platform restarted/);
    // Its MLflow run is ended FAILED with an end time (it stayed RUNNING forever), and its job token is
    // revoked (it stayed valid until it expired).
    assert.ok(typeof after.runId === 'string', 'the job had a run');
    const run = (await callServer(server.url, token, 'GET', `/api/2.0/mlflow/runs/get?run_id=${after.runId}`)).body.run.info;
    assert.equal(run.status, 'FAILED');
    assert.ok(Number(run.end_time) > 0, 'the run has an end time');
    const jobToken = ((await callServer(server.url, adminToken, 'GET', '/api/v1/tenants/rec/tokens')).body.tokens as Array<{ name: string; kind: string; revokedAt: string | null }>)
      .find((t) => t.kind === 'job' && t.name === `job-${running.id}`);
    assert.ok(jobToken !== undefined, 'the job had a token');
    assert.notEqual(jobToken.revokedAt, null, 'the job token is revoked');
    assert.equal(existsSync(`/sys/fs/cgroup/memory/${prefix}/tenant-${running.tenantId}/job-${running.id}`), false, 'its cgroup was reaped');
    let final = '';
    await waitFor('the queued job ended', async () => {
      final = (await callServer(server!.url, token, 'GET', `/api/v1/tenants/rec/jobs/${queued.id}`)).body.status;
      return final === 'succeeded' || final === 'failed';
    }, 20_000, 100).catch(() => undefined);
    assert.equal(final, 'succeeded', 'the queued job stayed queued and ran after the restart');
  });
});

describe('a process-tier job dies with the server on SIGKILL (PGlite)', () => {
  let server: ServerProcess | undefined;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-recovery-p-'));
  const prefix = `bhrecp-${randomBytes(4).toString('hex')}`;
  after(async () => {
    await server?.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  test('its processes are gone once the server is, not reparented to PID 1; failed with a reason after restart', async () => {
    const env = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_CGROUP_PREFIX: prefix };
    server = await startServerProcess(env);
    assert.equal((await callServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'recp', name: 'Recovery process', tier: 'process' })).status, 201);
    const { token } = (await callServer(server.url, adminToken, 'POST', '/api/v1/tenants/recp/tokens', { name: 't', role: 'member' })).body;
    // A number in every process's argv: the job's shell, a sleeper, and a daemon that leaves the session
    // and process group (sleep takes it as seconds).
    const marker = String(100_000_000 + randomBytes(3).readUIntBE(0, 3));
    // The tree starts only after the job reached the API through its relay (urlopen raises on a 4xx).
    const me = 'import os, urllib.request as u\nu.urlopen(u.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/v1/me", headers={"authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]}), timeout=10).read()';
    const command = ['sh', '-c', `python3 -c '${me}' && { setsid sleep ${marker}1 & sleep ${marker}2 & wait; }`];
    const running = (await callServer(server.url, token, 'POST', '/api/v1/tenants/recp/jobs', { command, resources: { cpu: 1, memoryMiB: 64, timeoutSeconds: 600 } })).body;
    await waitFor('the job running with its tree', async () => (await callServer(server!.url, token, 'GET', `/api/v1/tenants/recp/jobs/${running.id}`)).body.status === 'running' && processesWith(marker).length >= 3, 30_000, 100).catch(() => undefined);
    assert.ok(processesWith(marker).length >= 3, `the job reached the API through its relay and runs: ${processesWith(marker).join(' | ')}`);

    await server.kill('SIGKILL');
    await waitFor('the job\'s processes gone', () => processesWith(marker).length === 0, 10_000, 50).catch(() => undefined);
    const survivors = processesWith(marker);
    const describe = (line: string) => {
      const pid = line.trim().split(/\s+/)[0];
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        return `${line.slice(0, 80)} | ${status.split('\n').filter((l) => /^(PPid|NSpid|Uid|State):/.test(l)).join('; ')}`;
      } catch {
        return line.slice(0, 80);
      }
    };
    assert.deepEqual(survivors, [], `no process of the job outlives the server:\n${survivors.map(describe).join('\n')}`);

    server = await startServerProcess(env);
    const after = (await callServer(server.url, token, 'GET', `/api/v1/tenants/recp/jobs/${running.id}`)).body;
    assert.equal(after.status, 'failed');
    assert.match(after.reason, /platform restarted/);
    assert.equal(existsSync(`/sys/fs/cgroup/pids/${prefix}/tenant-${running.tenantId}/job-${running.id}`), false, 'its cgroup was reaped');
  });
});
