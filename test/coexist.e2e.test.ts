/**
 * Two installations on one host, both on their default cgroup prefix: starting and stopping the second
 * (whose job system reaps the job cgroups it does not know, at start and at stop) must not touch the
 * first one's running job. Before each installation had a prefix of its own, both used `bulkhead` and
 * the second's start killed the first's jobs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultCgroupPrefix } from '../src/config/config.ts';
import { callServer, processesWith, startServerProcess } from './support/server-process.ts';
import { waitFor } from './support/wait.ts';
import type { ServerProcess } from './support/server-process.ts';

const adminToken = 'bh_coexist-admin-token-0123456789abcdefghijkl';

describe('two installations on one host with default cgroup prefixes', () => {
  const homeA = mkdtempSync(join(tmpdir(), 'bulkhead-coexist-a-'));
  const homeB = mkdtempSync(join(tmpdir(), 'bulkhead-coexist-b-'));
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  after(async () => {
    await b?.kill('SIGKILL');
    await a?.kill('SIGTERM');
    rmSync(homeA, { recursive: true, force: true });
    rmSync(homeB, { recursive: true, force: true });
  });

  test("the second's start and stop leave the first's running job alone", async () => {
    assert.notEqual(defaultCgroupPrefix(homeA), defaultCgroupPrefix(homeB));
    a = await startServerProcess({ BULKHEAD_HOME: homeA, BULKHEAD_BOOTSTRAP_TOKEN: adminToken });
    assert.equal((await callServer(a.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'coa', name: 'Coexist A' })).status, 201);
    const { token } = (await callServer(a.url, adminToken, 'POST', '/api/v1/tenants/coa/tokens', { name: 't', role: 'member' })).body;
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const job = (await callServer(a.url, token, 'POST', '/api/v1/tenants/coa/jobs', { command: ['sh', '-c', `sleep 300 # ${marker}`], resources: { cpu: 0.5, memoryMiB: 64, timeoutSeconds: 600 } })).body;
    const serverA = a;
    await waitFor('the job to run', async () => (await callServer(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status === 'running' && processesWith(marker).length > 0);
    const cgroup = `/sys/fs/cgroup/memory/${defaultCgroupPrefix(homeA)}/tenant-${job.tenantId}/job-${job.id}`;
    assert.ok(existsSync(cgroup), `the job runs in its installation's own cgroup (${cgroup})`);

    // The second installation starts (reaping job cgroups it does not know) and stops (reaping again).
    b = await startServerProcess({ BULKHEAD_HOME: homeB, BULKHEAD_BOOTSTRAP_TOKEN: adminToken });
    await b.kill('SIGTERM');
    b = undefined;

    assert.ok(processesWith(marker).length > 0, "the first installation's job still runs after the second's start and stop");
    assert.ok(existsSync(cgroup), 'its cgroup is still there');
    assert.equal((await callServer(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status, 'running');

    assert.equal((await callServer(serverA.url, token, 'POST', `/api/v1/tenants/coa/jobs/${job.id}/cancel`)).status, 200);
    await waitFor('the job to end', async () => (await callServer(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status === 'cancelled');
    await waitFor('its processes to go', () => processesWith(marker).length === 0);
  });
});
