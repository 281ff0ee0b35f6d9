/**
 * `bulkhead verify --bench`: the tiers group measures the isolation-tier trade-off table against a live
 * deployment (real server, real runner, real bubblewrap and cgroups), on PGlite and PostgreSQL, through
 * the CLI as an operator runs it. The table has the process baseline and the sandbox tier, with figures
 * that can only come from real jobs (a sandbox job's cgroup holds more than the workload: bwrap's init and
 * the relay), and the verify tenants are gone afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { VerifyReport } from '../src/verify/index.ts';
import { databaseKinds } from './support/databases.ts';
import { mustServer } from './support/server-process.ts';
import { runCliWith } from './support/cli.ts';
import { adminToken, startVerifyPlatform } from './support/verify-platform.ts';
import type { VerifyPlatform } from './support/verify-platform.ts';

for (const kind of databaseKinds) {
  describe(`verify --bench on ${kind}`, () => {
    let p: VerifyPlatform;
    let dir: string;
    before(async () => {
      p = await startVerifyPlatform(kind, { overrides: { cgroupPrefix: `bhtier-${randomBytes(4).toString('hex')}`, relayPort: 18768 } });
      dir = mkdtempSync(join(tmpdir(), 'bulkhead-tiers-'));
    });
    after(async () => {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('prints and records the trade-off table per tier, and cleans up', async (t) => {
      const file = join(dir, 'report.json');
      const result = await runCliWith(['verify', '--only', 'tiers', '--bench', '--bench-rounds', '2', '--tier', 'sandbox', '--json', file], { BULKHEAD_URL: p.url, BULKHEAD_TOKEN: adminToken });
      assert.equal(result.code, 0, `${result.out}\n${result.err}`);
      assert.match(result.out, /isolation-tier trade-offs on this host/);
      assert.match(result.out, /tier\s+start\s+teardown\s+CPU work\s+vs process\s+extra CPU\s+extra memory/);
      t.diagnostic(result.out.slice(result.out.indexOf('isolation-tier')));
      const report = JSON.parse(readFileSync(file, 'utf8')) as VerifyReport;
      assert.deepEqual(report.checks.map((c) => [c.group, c.target, c.result]), [['tiers', 'tier process', 'pass'], ['tiers', 'tier sandbox', 'pass']], JSON.stringify(report.checks.map((c) => c.evidence)));
      const rows = report.tierBench ?? [];
      assert.deepEqual(rows.map((r) => [r.tier, r.rounds]), [['process', 2], ['sandbox', 2]]);
      for (const row of rows) {
        assert.ok(row.startMs > 0 && row.startMs < 30_000, JSON.stringify(row));
        assert.ok(row.teardownMs >= 0 && row.teardownMs < 30_000, JSON.stringify(row));
        assert.ok(row.workMs > 0, JSON.stringify(row));
        assert.ok(row.workRatio !== null && row.workRatio > 0, JSON.stringify(row));
        assert.ok(row.extraCpuMs !== null && row.extraCpuMs >= 0, JSON.stringify(row));
      }
      assert.equal(rows[0]!.workRatio, 1);
      // The sandbox job's cgroup holds bwrap's init and the relay (a node process) besides the workload.
      assert.ok((rows[1]!.extraMemoryBytes ?? 0) > 1024 * 1024, JSON.stringify(rows[1]));
      for (const row of rows) assert.ok(result.out.includes(`${row.tier} `), result.out);
      const slugs = ((await mustServer(p.url, adminToken, 'GET', '/api/v1/tenants')).tenants as Array<{ slug: string }>).map((t) => t.slug);
      assert.deepEqual(slugs.filter((s) => s.startsWith('verify-')), []);
    });
  });
}
