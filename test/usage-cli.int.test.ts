/**
 * `bulkhead usage` and `bulkhead usage report` against a real, listening server (PGlite, as the CLI suite):
 * the usage table and its JSON, the chargeback report as CSV (RFC 4180) and JSON, a tenant's report
 * limited to itself, and bad options refused with a stable code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliWith } from './support/cli.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

describe('bulkhead usage', () => {
  let p: TestPlatform;
  let url: string;
  let dir: string;
  let a: TestTenant;
  let b: TestTenant;
  const run = (args: string[], token: string) => runCliWith(args, { BULKHEAD_CLI_CONFIG: join(dir, 'cli.json'), BULKHEAD_URL: url, BULKHEAD_TOKEN: token });
  const period = () => {
    const now = new Date();
    return `${String(now.getUTCFullYear())}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  };

  before(async () => {
    p = await createTestPlatform('pglite', { rateCard: { currency: 'EUR', prices: { apiRequests: 0.5 } } });
    url = await p.listen();
    dir = mkdtempSync(join(tmpdir(), 'bulkhead-usage-cli-'));
    a = await p.createTenant('cli-a');
    b = await p.createTenant('cli-b');
    for (let i = 0; i < 4; i += 1) await p.call('GET', '/api/v1/tenants/cli-a', a.tokens.member);
    for (let i = 0; i < 2; i += 1) await p.call('GET', '/api/v1/tenants/cli-b', b.tokens.member);
    await p.platform.monitoring.usage.flush();
  });
  after(async () => {
    await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('usage prints a table with a total row and the units; --json is the API answer', async () => {
    const table = await run(['usage', '--tenant', 'cli-a'], adminToken);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /START\s+CPUCORESECONDS/);
    assert.match(table.out, /^total\s+0\s+0\s+.*\s4$/m);
    assert.match(table.out, /cpuCoreSeconds: core-seconds/);
    const json = await run(['--json', 'usage', '--granularity', 'day'], a.tokens.viewer);
    assert.equal(json.code, 0, json.err);
    const body = JSON.parse(json.out) as { granularity: string; totals: { apiRequests: number } };
    assert.equal(body.granularity, 'day');
    assert.equal(body.totals.apiRequests, 4);
  });

  test('usage report --format csv: one line per tenant and resource; totals add up', async () => {
    const csv = await run(['usage', 'report', '--period', period(), '--format', 'csv'], adminToken);
    assert.equal(csv.code, 0, csv.err);
    const [header, ...rows] = csv.out.trim().split('\n');
    assert.equal(header, 'period,tenant_id,tenant_slug,resource,unit,quantity,unit_price,currency,total');
    const apiRows = rows.map((r) => r.split(',')).filter((r) => r[3] === 'apiRequests');
    assert.deepEqual(apiRows.map((r) => [r[2], r[5], r[6], r[7], r[8]]).sort(), [['cli-a', '4', '0.5', 'EUR', '2'], ['cli-b', '2', '0.5', 'EUR', '1']]);
    const json = await run(['usage', 'report', '--period', period(), '--format', 'json'], adminToken);
    const report = JSON.parse(json.out) as { grandTotal: number; lines: Array<{ total: number }> };
    assert.equal(report.grandTotal, report.lines.reduce((s, l) => s + l.total, 0));
    assert.equal(report.grandTotal, 3);
  });

  test("a tenant's report holds only its own lines", async () => {
    const json = await run(['usage', 'report', '--period', period(), '--format', 'json'], b.tokens.viewer);
    assert.equal(json.code, 0, json.err);
    const report = JSON.parse(json.out) as { lines: Array<{ tenantSlug: string }>; grandTotal: number };
    assert.deepEqual([...new Set(report.lines.map((l) => l.tenantSlug))], ['cli-b']);
    assert.equal(report.grandTotal, 1);
  });

  test('bad options: a stable code, no request sent', async () => {
    const format = await run(['usage', 'report', '--period', period(), '--format', 'xml'], adminToken);
    assert.notEqual(format.code, 0);
    assert.match(format.err, /VALIDATION_FAILED|--format must be/);
    const month = await run(['usage', 'report', '--period', '2026-13'], adminToken);
    assert.notEqual(month.code, 0);
    assert.match(month.err, /VALIDATION_FAILED|YYYY-MM/);
    const granularity = await run(['usage', '--tenant', 'cli-a', '--granularity', 'week'], adminToken);
    assert.notEqual(granularity.code, 0);
    assert.match(granularity.err, /granularity/);
  });
});
