/**
 * A flood of refused requests cannot grow the append-only audit log without bound: every request is
 * refused, the first burst per (chain, action, reason, client address) is audited one by one, and the
 * rest is summed into one `audit.denials_suppressed` row when the window ends (here: at shutdown).
 * The hash chain still verifies afterwards. PGlite and PostgreSQL.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PLATFORM_TENANT_ID, withSystem } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';

for (const kind of databaseKinds) {
  describe(`audit under a flood of bad tokens on ${kind}`, () => {
    test('every request is refused; 20 are audited, the other 180 are one summary row', async () => {
      const p = await createTestPlatform(kind);
      try {
        const statuses = new Set<number>();
        for (let i = 0; i < 200; i += 1) statuses.add((await p.call('GET', '/api/v1/me', `bh_${'Z'.repeat(43)}${i}`)).status);
        assert.deepEqual([...statuses], [401]);
        const rows = async () =>
          withSystem(p.database.owner, async (tx) =>
            (await tx.query<{ action: string; details: { reason?: string; count?: number; source?: string } }>(
              `SELECT action, details FROM audit_events WHERE action IN ('auth.failure', 'audit.denials_suppressed') ORDER BY id`,
            )).rows);
        const during = await rows();
        assert.equal(during.filter((r) => r.action === 'auth.failure').length, 20);
        assert.ok(during.every((r) => r.details.source === '127.0.0.1'), 'the client address is recorded');
        await p.app.close(); // ends the window: the summary is written
        const after = await rows();
        const summary = after.filter((r) => r.action === 'audit.denials_suppressed');
        assert.equal(summary.length, 1);
        assert.equal(summary[0]?.details.count, 180);
        assert.equal(summary[0]?.details.reason, 'invalid_token');
        await p.platform.audit.seal();
        const verified = await p.platform.audit.verify(PLATFORM_TENANT_ID);
        assert.equal(verified.ok, true, JSON.stringify(verified));
      } finally {
        await p.close();
      }
    });
  });
}
