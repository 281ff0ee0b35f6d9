/**
 * Issue 15, on PGlite and PostgreSQL, with real sandboxed jobs: tenant `job-b` runs a job that mounts a
 * dataset version `src-a` shared with it (`{ name: 'src-a/churn', version: 1 }`, read-only at
 * /data/src-a/churn) and reads it; a version that is not shared, and any version after revocation, fail
 * the job before it starts without any of the owner's bytes. Lineage shows the cross-tenant edge to both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { systemContext } from '../src/core/request-context.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { waitFor } from './support/wait.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

for (const kind of databaseKinds) {
  describe(`a job mounts a shared dataset version on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhshj-${randomBytes(4).toString('hex')}`, relayPort: 18797 });
      a = await p.createTenant('src-a');
      b = await p.createTenant('job-b');
      for (const text of ['first,row\n', 'second secret\n']) {
        await p.platform.datasets.pushVersion(systemContext(), a.id, 'churn', (async function* () {
          yield { path: 'train.csv', stream: Readable.from([Buffer.from(text)]) };
        })());
      }
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    const run = async (version: number) => {
      const created = await p.call('POST', '/api/v1/tenants/job-b/jobs', b.tokens.member, {
        command: ['sh', '-c', 'cat /data/src-a/churn/train.csv && if (echo x >> /data/src-a/churn/train.csv) 2>/dev/null; then echo WROTE; else echo READ-ONLY; fi'], datasets: [{ name: 'src-a/churn', version }], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 60 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const job = await waitFor('the job to end', async () => {
        await p.platform.jobs.runner.tick();
        const found = (await p.call('GET', `/api/v1/tenants/job-b/jobs/${created.body.id}`, b.tokens.viewer)).body;
        return terminal.has(found.status) ? found : undefined;
      }, 60_000, 100);
      const logs = (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/job-b/jobs/${job.id}/logs`, headers: { authorization: `Bearer ${b.tokens.viewer}` } })).body;
      return { job, logs };
    };

    test('the shared version is mounted read-only and readable; others are not; revocation applies to the next job', async () => {
      const share = await p.call('POST', '/api/v1/tenants/src-a/shares', a.tokens.admin, { resource: 'dataset:churn/1', grantee: b.id });
      assert.equal(share.status, 201, JSON.stringify(share.body));

      const shared = await run(1);
      assert.equal(shared.job.status, 'succeeded', shared.logs);
      assert.match(shared.logs, /first,row/);
      assert.match(shared.logs, /READ-ONLY/);
      assert.doesNotMatch(shared.logs, /WROTE/);

      const unshared = await run(2);
      assert.equal(unshared.job.status, 'refused', unshared.logs);
      assert.match(unshared.logs, /dataset 'src-a\/churn' has no version 2/);
      assert.doesNotMatch(unshared.logs, /second secret/);

      const reads = (await p.call('GET', '/api/v1/tenants/src-a/audit?limit=200', a.tokens.admin)).body.events.filter((e: { action: string }) => e.action === 'share.read');
      assert.ok(reads.some((e: { target: string }) => e.target === 'dataset:src-a/churn/1'), JSON.stringify(reads));
      assert.ok(!reads.some((e: { target: string }) => e.target.endsWith('/2')));

      // Lineage: the owner sees that tenant job-b used version 1 in a job (not which job); the grantee sees
      // its own job that mounted it and the owner's slug, nothing of the owner's upstream.
      const lineage = (t: TestTenant, name: string, version: number) =>
        p.call('GET', `/api/v1/tenants/${t.slug}/datasets/${encodeURIComponent(name)}/versions/${version}/lineage`, t.tokens.viewer);
      const owner = await lineage(a, 'churn', 1);
      assert.equal(owner.status, 200, JSON.stringify(owner.body));
      assert.deepEqual(owner.body.sharing.uses.map((u: any) => [u.tenant, u.kind]), [['job-b', 'job']]);
      assert.deepEqual(owner.body.jobs, [], "the grantee's jobs are not the owner's");
      assert.ok(!JSON.stringify(owner.body).includes(shared.job.id), "the grantee's job is not named to the owner");
      assert.deepEqual((await lineage(a, 'churn', 2)).body.sharing.uses, [], 'the refused job left no edge');
      const grantee = await lineage(b, 'src-a/churn', 1);
      assert.equal(grantee.status, 200, JSON.stringify(grantee.body));
      assert.equal(grantee.body.sharing.sharedFrom, 'src-a');
      assert.deepEqual(grantee.body.jobs.map((j: any) => j.id), [shared.job.id], 'its own job that mounted the version');
      assert.deepEqual(grantee.body.sharing.uses.map((u: any) => [u.tenant, u.kind]), [['src-a', 'job']]);
      assert.equal((await lineage(b, 'src-a/churn', 2)).status, 404, 'an unshared version');

      assert.equal((await p.call('DELETE', `/api/v1/tenants/src-a/shares/${share.body.id}`, a.tokens.admin)).status, 200);
      const revoked = await run(1);
      assert.equal(revoked.job.status, 'refused', revoked.logs);
      assert.doesNotMatch(revoked.logs, /first,row/);
      assert.equal((await lineage(b, 'src-a/churn', 1)).status, 404, "after revocation the grantee's lineage of it is gone");
      assert.deepEqual((await lineage(a, 'churn', 1)).body.sharing.uses.map((u: any) => u.tenant), ['job-b'], 'the owner keeps the history');
    });
  });
}
