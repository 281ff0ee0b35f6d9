/**
 * Job submission through the API on PGlite and PostgreSQL (job-service: quota, capacity and the queued-job
 * limit checked in the transaction that enqueues the job). A refused submission adds no job; another
 * tenant's token cannot submit into a tenant it does not belong to.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

for (const kind of databaseKinds) {
  describe(`job submission on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    const submit = (tenant: string, token: string, resources: Record<string, number>) =>
      p.call('POST', `/api/v1/tenants/${tenant}/jobs`, token, { command: ['true'], resources });
    const count = async () => ((await p.call('GET', '/api/v1/tenants/acme/jobs', acme.tokens.viewer)).body.jobs as unknown[]).length;

    before(async () => {
      // The runner never starts here: submitted jobs stay queued, so the queued-job limit is reachable.
      p = await createTestPlatform(kind, { capacityCpu: 8, capacityMemoryMiB: 8192 });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      const set = await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { cpu: 2, memoryMiB: 1024, borrowingLimit: { cpu: 1, memoryMiB: 0 }, maxQueuedJobs: 2 });
      assert.equal(set.status, 200, JSON.stringify(set.body));
    });
    after(async () => {
      await p.close();
    });

    test('over quota + borrowing limit: QUOTA_EXCEEDED naming the resource, and no job is added', async () => {
      const refused = await submit('acme', acme.tokens.member, { cpu: 4, memoryMiB: 512 });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'QUOTA_EXCEEDED');
      assert.match(refused.body.message, /asks for 4 cpu but the tenant may use at most 3/);
      assert.equal(await count(), 0);
    });

    test('over the installation: VALIDATION_FAILED; within both: queued', async () => {
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { memoryMiB: 65536 });
      const refused = await submit('acme', acme.tokens.member, { cpu: 1, memoryMiB: 16384 });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'VALIDATION_FAILED');
      assert.match(refused.body.message, /this installation has 8192/);
      const queued = await submit('acme', acme.tokens.member, { cpu: 3, memoryMiB: 512 });
      assert.equal(queued.status, 201, JSON.stringify(queued.body));
      assert.equal(queued.body.status, 'queued');
      assert.equal(await count(), 1);
    });

    test('a quota change applies to the next submission (read in its transaction)', async () => {
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { borrowingLimit: { cpu: 0 } });
      const refused = await submit('acme', acme.tokens.member, { cpu: 3, memoryMiB: 512 });
      assert.equal(refused.body.code, 'QUOTA_EXCEEDED');
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { borrowingLimit: { cpu: 1 } });
    });

    test('concurrent submissions never exceed the queued-job limit', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, () => submit('acme', acme.tokens.member, { cpu: 1, memoryMiB: 256 })));
      assert.equal(results.filter((r) => r.status === 201).length, 1, 'one slot was left of maxQueuedJobs = 2');
      assert.ok(results.filter((r) => r.status !== 201).every((r) => r.body.code === 'QUOTA_EXCEEDED' && /maxQueuedJobs/.test(r.body.message)));
      assert.equal(await count(), 2);
    });

    test("another tenant's token cannot submit into acme: 404, and nothing is added", async () => {
      const crossed = await submit('acme', globex.tokens.owner, { cpu: 1, memoryMiB: 256 });
      assert.equal(crossed.status, 404);
      assert.equal(crossed.body.code, 'NOT_FOUND');
      assert.equal(await count(), 2);
    });
  });
}
