/**
 * The job relay's refusal audit is bounded, on PGlite and PostgreSQL: a job looping on a refused request
 * writes `relayRefusalBurst` rows one by one and then a single summary row with the count of the rest when
 * its relay closes — all in its own tenant's chain, actor `job:<id>`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRelayRefusalAuditor, relayRefusalBurst } from '../src/jobs/index.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

for (const kind of databaseKinds) {
  describe(`relay refusal audit on ${kind}`, () => {
    let p: TestPlatform;
    let t: TestTenant;
    before(async () => {
      p = await createTestPlatform(kind);
      t = await p.createTenant('looper');
    });
    after(async () => p.close());

    test('a refusal loop writes the burst, then one summary with the rest', async () => {
      const errors: string[] = [];
      const auditor = createRelayRefusalAuditor(p.platform.db, { error: (_obj, msg) => errors.push(msg) });
      const jobId = randomUUID();
      const loops = relayRefusalBurst + 7;
      for (let i = 0; i < loops; i += 1) {
        await auditor.refused({ jobId, tenantId: t.id }, { status: 403, code: 'FORBIDDEN', reason: 'not available to jobs', method: 'GET', path: `/api/v1/tenants/other/jobs/${String(i)}` });
      }
      const rowsOf = async () => {
        const audit = await p.call('GET', `/api/v1/tenants/${t.slug}/audit?limit=200`, t.tokens.admin);
        return (audit.body.events as Array<Record<string, any>>).filter((event) => event.action === 'job.relay_refused' && event.actor === `job:${jobId}`);
      };
      assert.equal((await rowsOf()).length, relayRefusalBurst);
      await auditor.closed(jobId);
      const rows = await rowsOf();
      assert.equal(rows.length, relayRefusalBurst + 1);
      const summary = rows.find((row) => row.details.suppressed !== undefined);
      assert.equal(summary?.details.suppressed, loops - relayRefusalBurst);
      assert.equal(summary?.target, `GET /api/v1/tenants/other/jobs/${String(loops - 1)}`);
      assert.ok(rows.every((row) => row.outcome === 'denied' && row.details.reason === 'not available to jobs'));
      // Closed twice (or a job with no refusals): nothing more.
      await auditor.closed(jobId);
      await auditor.closed(randomUUID());
      assert.equal((await rowsOf()).length, relayRefusalBurst + 1);
      assert.deepEqual(errors, []);
    });
  });
}
