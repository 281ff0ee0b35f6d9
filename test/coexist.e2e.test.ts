/**
 * Two installations on one host, both on their default cgroup prefix: starting and stopping the second
 * (whose job system reaps the job cgroups it does not know, at start and at stop) must not touch the
 * first one's running job. Before each installation had a prefix of its own, both used `bulkhead` and
 * the second's start killed the first's jobs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultCgroupPrefix } from '../src/config/config.ts';
import { startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';

const adminToken = 'bh_coexist-admin-token-0123456789abcdefghijkl';

const api = async (url: string, token: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
};

const processesWith = (marker: string): string[] =>
  execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(marker) && !/\sZ/.test(line.slice(0, 16)) && !line.includes('ps -eo'));

const until = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

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
    assert.equal((await api(a.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'coa', name: 'Coexist A' })).status, 201);
    const { token } = (await api(a.url, adminToken, 'POST', '/api/v1/tenants/coa/tokens', { name: 't', role: 'member' })).body;
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const job = (await api(a.url, token, 'POST', '/api/v1/tenants/coa/jobs', { command: ['sh', '-c', `sleep 300 # ${marker}`], resources: { cpu: 0.5, memoryMiB: 64, timeoutSeconds: 600 } })).body;
    const serverA = a;
    await until('the job to run', async () => (await api(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status === 'running' && processesWith(marker).length > 0);
    const cgroup = `/sys/fs/cgroup/memory/${defaultCgroupPrefix(homeA)}/tenant-${job.tenantId}/job-${job.id}`;
    assert.ok(existsSync(cgroup), `the job runs in its installation's own cgroup (${cgroup})`);

    // The second installation starts (reaping job cgroups it does not know) and stops (reaping again).
    b = await startServerProcess({ BULKHEAD_HOME: homeB, BULKHEAD_BOOTSTRAP_TOKEN: adminToken });
    await b.kill('SIGTERM');
    b = undefined;

    assert.ok(processesWith(marker).length > 0, "the first installation's job still runs after the second's start and stop");
    assert.ok(existsSync(cgroup), 'its cgroup is still there');
    assert.equal((await api(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status, 'running');

    assert.equal((await api(serverA.url, token, 'POST', `/api/v1/tenants/coa/jobs/${job.id}/cancel`)).status, 200);
    await until('the job to end', async () => (await api(serverA.url, token, 'GET', `/api/v1/tenants/coa/jobs/${job.id}`)).body.status === 'cancelled');
    await until('its processes to go', () => processesWith(marker).length === 0);
  });
});
