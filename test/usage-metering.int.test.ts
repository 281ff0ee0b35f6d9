/**
 * Usage metering and chargeback through the HTTP API on PGlite and PostgreSQL (application role: RLS
 * applies): request counting without a write per request, flush idempotency across a lost COMMIT
 * acknowledgement, job metering keyed by attempt, tenant isolation of usage and report lines, report
 * totals, and the metrics exposition (promtool) with 5,000 tenants.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Db } from '../src/db/index.ts';
import { withTenant } from '../src/db/index.ts';
import { createUsageAccumulator, hourOf, meterEndedJobs, OTHER_LABEL } from '../src/monitoring/index.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { labelValues, promtoolCheckMetrics, sampleValue } from './support/promtool.ts';

const HOUR = 3_600_000;
const rateCard = { currency: 'EUR', prices: { apiRequests: 0.0013, cpuCoreSeconds: 0.000021, memoryGiBHours: 0.0107, gpuSeconds: 0.00093, storageGiBHours: 0.05 } };

for (const kind of databaseKinds) {
  describe(`usage metering on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    const ledgerRows = async (tenantId: string): Promise<number> =>
      (await p.database.owner.queryAsOwner<{ n: number }>('SELECT count(*)::int AS n FROM usage_ledger WHERE tenant_id = $1', [tenantId])).rows[0]!.n;
    const ledgerSum = async (tenantId: string, resource: string, source?: string): Promise<number> =>
      (await p.database.owner.queryAsOwner<{ q: number | null }>(
        `SELECT sum(quantity)::float8 AS q FROM usage_ledger WHERE tenant_id = $1 AND resource = $2${source === undefined ? '' : ' AND source LIKE $3'}`,
        source === undefined ? [tenantId, resource] : [tenantId, resource, source])).rows[0]!.q ?? 0;

    before(async () => {
      p = await createTestPlatform(kind, { rateCard });
      a = await p.createTenant('usage-a');
      b = await p.createTenant('usage-b');
      await p.platform.monitoring.usage.flush();
    });
    after(async () => p?.close());

    test('API requests are counted in memory, written by one flush, and attributed to the calling tenant', async () => {
      const before = await ledgerRows(a.id);
      for (let i = 0; i < 7; i += 1) assert.equal((await p.call('GET', '/api/v1/tenants/usage-a', a.tokens.viewer)).status, 200);
      for (let i = 0; i < 3; i += 1) assert.equal((await p.call('GET', '/api/v1/tenants/usage-b/quota', b.tokens.member)).status, 200);
      // No database write on the request path: nothing reached the ledger yet.
      assert.equal(await ledgerRows(a.id), before);
      // Platform-admin requests about a tenant are billed to no tenant.
      assert.equal((await p.call('GET', '/api/v1/tenants/usage-a/quota', adminToken)).status, 200);
      await p.platform.monitoring.usage.flush();
      assert.equal(await ledgerSum(a.id, 'apiRequests'), 7);
      assert.equal(await ledgerSum(b.id, 'apiRequests'), 3);
      // A second flush with nothing new writes nothing.
      assert.equal(await p.platform.monitoring.usage.flush(), 0);

      const usage = await p.call('GET', '/api/v1/tenants/usage-a/usage?granularity=hour', a.tokens.viewer);
      assert.equal(usage.status, 200);
      assert.equal(usage.body.totals.apiRequests, 7);
      assert.equal(usage.body.units.cpuCoreSeconds, 'core-seconds');
      assert.equal(usage.body.units.storageGiBHours, 'GiB-hours');
      assert.equal(typeof usage.body.storageBytes.quota, 'number');
      assert.equal(usage.body.buckets.at(-1).start, new Date(hourOf(Date.now())).toISOString());
    });

    test('artifact downloads are metered in bytes sent, to the tenant that downloads; listings are not downloads', async () => {
      const body = Buffer.alloc(300_000, 7);
      const put = await p.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/weights.bin', headers: { authorization: `Bearer ${a.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: body });
      assert.equal(put.statusCode, 200, put.body);
      await p.platform.monitoring.usage.flush();
      const before = await ledgerSum(a.id, 'artifactBytesDownloaded');
      for (let i = 0; i < 2; i += 1) {
        const got = await p.app.inject({ method: 'GET', url: '/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/weights.bin', headers: { authorization: `Bearer ${a.tokens.viewer}` } });
        assert.equal(got.statusCode, 200);
        assert.equal(got.rawPayload.length, body.length);
      }
      const listing = await p.app.inject({ method: 'GET', url: '/api/2.0/mlflow-artifacts/artifacts?path=0/run/artifacts', headers: { authorization: `Bearer ${a.tokens.viewer}` } });
      assert.equal(listing.statusCode, 200, listing.body);
      // B asking for A's file gets nothing and is billed nothing for it.
      const crossed = await p.app.inject({ method: 'GET', url: '/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/weights.bin', headers: { authorization: `Bearer ${b.tokens.viewer}` } });
      assert.notEqual(crossed.statusCode, 200);
      await p.platform.monitoring.usage.flush();
      assert.equal(await ledgerSum(a.id, 'artifactBytesDownloaded') - before, 2 * body.length);
      assert.equal(await ledgerSum(b.id, 'artifactBytesDownloaded'), 0);
    });

    test('inference requests are metered per deployment, 429s counted, and billed as inference, not API requests', async () => {
      const c = await p.createTenant('usage-c');
      assert.equal((await p.call('PUT', '/api/v1/tenants/usage-c/quota', adminToken, { requestsPerSecond: 1 })).status, 200);
      const statuses: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        const response = await p.app.inject({ method: 'POST', url: '/v2/models/churn-model/infer', headers: { authorization: `Bearer ${c.tokens.member}`, 'content-type': 'application/json' }, payload: { inputs: [] } });
        statuses.push(response.statusCode);
      }
      const limited = statuses.filter((s) => s === 429).length;
      assert.ok(limited >= 1, `some requests were over the tenant's rate: ${statuses.join(',')}`);
      const text = await p.platform.metrics.metrics();
      const series = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{([^\\n]*)\\} (\\S+)$`, 'gm'))].filter((m) => m[1]!.includes(`tenant="${c.id}"`));
      const rateLimited = series('bulkhead_inference_rate_limited_total');
      assert.equal(rateLimited.length, 1);
      assert.match(rateLimited[0]![1]!, /deployment="churn-model"/);
      assert.equal(Number(rateLimited[0]![2]), limited);
      assert.equal(series('bulkhead_inference_requests_total').reduce((sum, m) => sum + Number(m[2]), 0), 8);
      await p.platform.monitoring.usage.flush();
      assert.equal(await ledgerSum(c.id, 'inferenceRequests'), 8);
      assert.ok(await ledgerSum(c.id, 'inferenceSeconds') > 0);
      assert.equal(await ledgerSum(c.id, 'apiRequests'), 0, 'inference is not counted twice as API requests');
    });

    test("tenant B cannot read A's usage (404, as if A did not exist)", async () => {
      for (const token of [b.tokens.owner, b.tokens.viewer]) {
        const crossed = await p.call('GET', `/api/v1/tenants/usage-a/usage`, token);
        assert.equal(crossed.status, 404);
        assert.equal(crossed.body.code, 'NOT_FOUND');
        const byId = await p.call('GET', `/api/v1/tenants/${a.id}/usage`, token);
        assert.equal(byId.status, 404);
        assert.deepEqual(byId.body.code, (await p.call('GET', '/api/v1/tenants/no-such-tenant/usage', token)).body.code);
      }
    });

    test("row-level security on the ledger: a tenant's scope reads only its rows, cannot write another's, cannot rewrite its own", async () => {
      await p.platform.monitoring.usage.flush();
      const seen = await withTenant(p.platform.db, b.id, (tx) => tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id::text FROM usage_ledger'));
      assert.deepEqual(seen.rows.map((r) => r.tenant_id), [b.id]);
      await assert.rejects(withTenant(p.platform.db, b.id, (tx) => tx.query(
        "INSERT INTO usage_ledger (tenant_id, source, resource, bucket_start, quantity) VALUES ($1, 'forged', 'apiRequests', now(), 1)", [a.id])), /row-level security/);
      await assert.rejects(withTenant(p.platform.db, b.id, (tx) => tx.query("UPDATE usage_ledger SET quantity = 0 WHERE resource = 'apiRequests'")), /permission denied/);
      await assert.rejects(withTenant(p.platform.db, b.id, (tx) => tx.query('DELETE FROM usage_ledger')), /permission denied/);
    });

    test('bad ranges are refused with a stable code', async () => {
      const reversed = await p.call('GET', '/api/v1/tenants/usage-a/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z', a.tokens.viewer);
      assert.equal(reversed.status, 400);
      assert.equal(reversed.body.code, 'VALIDATION_FAILED');
      const garbage = await p.call('GET', '/api/v1/tenants/usage-a/usage?from=yesterday', a.tokens.viewer);
      assert.equal(garbage.status, 400);
      assert.equal(garbage.body.code, 'VALIDATION_FAILED');
      const period = await p.call('GET', '/api/v1/usage/report?period=2026-13', adminToken);
      assert.equal(period.status, 400);
      assert.equal(period.body.code, 'VALIDATION_FAILED');
    });

    test('a flush whose COMMIT acknowledgement is lost is retried under the same key: counted once; a flush that failed before COMMIT is not lost', async () => {
      const tenant = a.id;
      let mode: 'lose-ack' | 'fail-before' | 'ok' = 'lose-ack';
      const db = p.platform.db;
      // The real database; only the network's failure is simulated (after the commit, or before the transaction).
      const flaky: Db = {
        ...db,
        transaction: async (prelude, fn, options) => {
          if (mode === 'fail-before') {
            mode = 'ok';
            throw new Error('connection refused');
          }
          const result = await db.transaction(prelude, fn, options);
          if (mode === 'lose-ack') {
            mode = 'fail-before';
            throw new Error('connection lost after COMMIT');
          }
          return result;
        },
      };
      const counter = createUsageAccumulator({ db: flaky, instanceId: `test-${randomUUID()}`, intervalMs: 60_000 });
      const already = await ledgerSum(tenant, 'inferenceRequests');
      counter.add(tenant, 'inferenceRequests', 5);
      await assert.rejects(counter.flush(), /after COMMIT/);
      counter.add(tenant, 'inferenceRequests', 2);
      await assert.rejects(counter.flush(), /connection refused/);
      counter.add(tenant, 'inferenceRequests', 1);
      await counter.flush();
      assert.equal(await ledgerSum(tenant, 'inferenceRequests'), already + 8);
      await counter.flush();
      assert.equal(await ledgerSum(tenant, 'inferenceRequests'), already + 8);
    });

    test('ended jobs are metered once per attempt, spread over the hours they ran; preempted attempts too', async () => {
      const end = hourOf(Date.now()) - HOUR / 2;
      const start = end - 2 * HOUR;
      const jobId = randomUUID();
      const requeued = randomUUID();
      const insertJob = (id: string, status: string, attempts: number, usage: object, finished: number | null, queued: number) =>
        p.database.owner.queryAsOwner(
          `INSERT INTO jobs (tenant_id, id, status, tier, command, cpu, memory_mib, gpu, timeout_seconds, created_by, started_at, finished_at, queued_at, attempts, usage)
           VALUES ($1, $2, $3, 'sandbox', '["true"]', 2, 2048, 1, 86400, 'test', $4, $5, $6, $7, $8)`,
          [a.id, id, status, status === 'queued' ? null : new Date(start).toISOString(), finished === null ? null : new Date(finished).toISOString(), new Date(queued).toISOString(), attempts, JSON.stringify(usage)]);
      await insertJob(jobId, 'cancelled', 1, { wallMs: 2 * HOUR, cpuMs: 3_600_000, cpuCoreSeconds: 3600, memoryPeakBytes: 123_456_789 }, end, start);
      // Preempted and requeued: its attempt's measurement is on the row until the next attempt ends.
      await insertJob(requeued, 'queued', 1, { wallMs: HOUR / 2, cpuCoreSeconds: 10 }, null, end);

      assert.equal(await meterEndedJobs(p.platform.db), 2);
      assert.equal(await meterEndedJobs(p.platform.db), 0, 'a second pass meters nothing again');
      assert.equal(await ledgerSum(a.id, 'cpuCoreSeconds', `job:${jobId}:1`), 3600);
      const buckets = (await p.database.owner.queryAsOwner<{ b: Date; q: number }>(
        "SELECT bucket_start AS b, quantity::float8 AS q FROM usage_ledger WHERE source = $1 AND resource = 'cpuCoreSeconds' ORDER BY 1", [`job:${jobId}:1`])).rows;
      assert.deepEqual(buckets.map((row) => row.q), [900, 1800, 900]);
      assert.equal(new Date(buckets[0]!.b).getTime(), hourOf(start));
      assert.equal(await ledgerSum(a.id, 'memoryGiBHours', `job:${jobId}:1`), 4, '2 GiB reserved for 2 hours');
      assert.equal(await ledgerSum(a.id, 'gpuSeconds', `job:${jobId}:1`), 7200);
      assert.equal(await ledgerSum(a.id, 'cpuCoreSeconds', `job:${requeued}:1`), 10);

      const usage = await p.call('GET', `/api/v1/tenants/usage-a/usage?from=${new Date(start - HOUR).toISOString()}&to=${new Date(end + HOUR).toISOString()}&granularity=hour`, a.tokens.viewer);
      assert.equal(usage.status, 200);
      assert.ok(Math.abs(usage.body.totals.cpuCoreSeconds - 3610) < 1e-9);
      assert.equal(usage.body.totals.memoryPeakBytes, 123_456_789);
      const daily = await p.call('GET', `/api/v1/tenants/usage-a/usage?from=${new Date(start - HOUR).toISOString()}&to=${new Date(end + HOUR).toISOString()}&granularity=day`, a.tokens.viewer);
      assert.ok(daily.body.buckets.length <= 2);
      assert.ok(Math.abs(daily.body.buckets.reduce((s: number, x: { cpuCoreSeconds: number }) => s + x.cpuCoreSeconds, 0) - 3610) < 1e-9);
      // B sees none of it.
      const other = await p.call('GET', `/api/v1/tenants/usage-b/usage?from=${new Date(start - HOUR).toISOString()}&to=${new Date(end + HOUR).toISOString()}`, b.tokens.viewer);
      assert.equal(other.body.totals.cpuCoreSeconds, 0);
    });

    test('the chargeback report: lines add up to the tenant totals, the grand total and the metered totals; tenants see only their own lines', async () => {
      const now = new Date();
      const period = `${String(now.getUTCFullYear())}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
      await p.platform.monitoring.usage.flush();
      const all = await p.call('GET', `/api/v1/usage/report?period=${period}`, adminToken);
      assert.equal(all.status, 200, JSON.stringify(all.body));
      const report = all.body as { currency: string; lines: Array<{ tenantId: string; tenantSlug: string; resource: string; quantity: number; unitPrice: number; total: number }>; tenantTotals: Array<{ tenantId: string; total: number }>; meteredTotals: Record<string, number>; grandTotal: number };
      assert.equal(report.currency, 'EUR');
      assert.deepEqual(new Set(report.lines.map((l) => l.tenantSlug)), new Set(['usage-a', 'usage-b', 'usage-c']));
      const micros = (x: number) => Math.round(x * 1e6);
      for (const line of report.lines) assert.equal(micros(line.total), Math.round(line.quantity * line.unitPrice * 1e6), `${line.tenantSlug} ${line.resource}`);
      assert.equal(micros(report.grandTotal), report.lines.reduce((s, l) => s + micros(l.total), 0));
      for (const t of report.tenantTotals) assert.equal(micros(t.total), report.lines.filter((l) => l.tenantId === t.tenantId).reduce((s, l) => s + micros(l.total), 0));
      for (const [resource, metered] of Object.entries(report.meteredTotals)) {
        const lines = report.lines.filter((l) => l.resource === resource).reduce((s, l) => s + l.quantity, 0);
        assert.ok(Math.abs(lines - metered) <= 1e-9 * Math.max(1, metered), `${resource}: lines ${String(lines)} vs metered ${String(metered)}`);
      }
      const cpuA = report.lines.find((l) => l.tenantSlug === 'usage-a' && l.resource === 'cpuCoreSeconds');
      assert.ok(cpuA !== undefined && Math.abs(cpuA.quantity - 3610) < 1e-9 && cpuA.unitPrice === 0.000021);
      assert.equal(report.lines.find((l) => l.tenantSlug === 'usage-a' && l.resource === 'apiRequests')?.unitPrice, 0.0013);

      const own = await p.call('GET', `/api/v1/usage/report?period=${period}`, b.tokens.viewer);
      assert.equal(own.status, 200);
      assert.ok(own.body.lines.length > 0);
      assert.ok(own.body.lines.every((l: { tenantId: string }) => l.tenantId === b.id), 'a tenant sees only its own lines');
      assert.equal(own.body.meteredTotals.cpuCoreSeconds, undefined, "A's metered CPU is not in B's totals");
    });

    test("a tenant's database time and bytes moved are metrics, bounded like every tenant label, and pass promtool", async () => {
      const sample = (text: string, name: string, labels: Record<string, string>): number => sampleValue(text, name, labels) ?? 0;
      const before = await p.platform.metrics.metrics();
      const name = `metered-${'x'.repeat(200)}`;
      const created = await p.call('POST', '/api/2.0/mlflow/experiments/create', a.tokens.member, { name });
      assert.equal(created.status, 200);
      const text = await p.platform.metrics.metrics();
      const checked = promtoolCheckMetrics(text);
      assert.equal(checked.status, 0, checked.output);
      const ingress = (t: string) => sample(t, 'bulkhead_tenant_bandwidth_bytes_total', { tenant: a.id, direction: 'ingress' });
      assert.ok(ingress(text) - ingress(before) >= name.length, `ingress grew by ${ingress(text) - ingress(before)}`);
      const ops = (t: string) => sample(t, 'bulkhead_tenant_db_operations_total', { tenant: a.id });
      assert.ok(ops(text) > ops(before), 'the request ran database operations under the tenant gate');
      assert.ok(sample(text, 'bulkhead_tenant_db_seconds_total', { tenant: a.id }) > 0);
      // Tenant B's series did not move with A's request.
      const ingressB = (t: string) => sample(t, 'bulkhead_tenant_bandwidth_bytes_total', { tenant: b.id, direction: 'ingress' });
      assert.equal(ingressB(text), ingressB(before));
    });

    test('the metrics exposition passes promtool after real traffic; routes are templates, never raw paths', async () => {
      await p.call('GET', '/api/v1/tenants/usage-a/jobs/00000000-0000-0000-0000-000000000123', a.tokens.viewer);
      await p.call('GET', '/no/such/route/usage-a', a.tokens.viewer);
      const text = await p.platform.metrics.metrics();
      const checked = promtoolCheckMetrics(text);
      assert.equal(checked.status, 0, checked.output);
      for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) assert.match(line, /^bulkhead_/);
      const routes = labelValues(text, 'bulkhead_http_requests_total', 'route');
      assert.ok(routes.has('/api/v1/tenants/{tenant}/usage'), [...routes].join(' '));
      assert.ok(routes.has('/api/v1/tenants/{tenant}/jobs/{id}'), [...routes].join(' '));
      assert.ok(routes.has('_unmatched'));
      for (const route of routes) assert.ok(!route.includes('usage-a') && !route.includes('0000000123'), route);
      // Every route label is a path of the OpenAPI document, spelt as it spells it (routes hidden from the
      // document, such as MLflow's artifact proxy, in the same spelling), or _unmatched.
      const documented = new Set(Object.keys(((await p.call('GET', '/api/v1/openapi.json', undefined)).body as { paths: object }).paths));
      const hidden = new Set(p.app.routeCatalog.map((r) => r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace('*', '{*}')).filter((r) => !documented.has(r)));
      assert.ok(routes.has('/api/v1/tenants/{tenant}') && documented.has('/api/v1/tenants/{tenant}'));
      for (const route of routes) if (route !== '_unmatched') assert.ok(documented.has(route) || hidden.has(route), `${route} is not a route template`);
      assert.match(text, /bulkhead_scheduler_queue_length \d+/);
      assert.match(text, /bulkhead_audit_seal_lag_seconds [\d.e+-]+/);
    });

    test('tenant labels stay bounded with 5,000 tenants (default 1,000, the rest _other)', async () => {
      await p.database.owner.queryAsOwner(
        `WITH t AS (INSERT INTO tenants (id, slug, name, tier, status)
           SELECT gen_random_uuid(), 'bulk-' || i, 'bulk ' || i, 'sandbox', 'active' FROM generate_series(1, 5000) AS i RETURNING id)
         , q AS (INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu, max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight)
           SELECT id, 1, 1024, 0, 0, 0, 0, 1, 10, 1, 10, 1 FROM t RETURNING tenant_id)
         INSERT INTO jobs (tenant_id, id, status, tier, command, cpu, memory_mib, gpu, timeout_seconds, created_by)
           SELECT tenant_id, gen_random_uuid(), 'queued', 'sandbox', '["true"]', 1, 64, 0, 60, 'test' FROM q`);
      const ids = (await p.database.owner.queryAsOwner<{ id: string }>("SELECT id::text FROM tenants WHERE slug LIKE 'bulk-%'")).rows.map((r) => r.id);
      assert.equal(ids.length, 5000);
      const metrics = p.platform.monitoring.metrics;
      for (const id of ids) {
        metrics.observeHttp({ method: 'GET', route: '/api/v1/tenants/{tenant}', status: 200, seconds: 0.001, tenantId: id });
        metrics.observeInference({ tenantId: id, deployment: 'model', status: 429, seconds: 0.002 });
        metrics.observeDownload(id, 10);
      }
      const text = await p.platform.metrics.metrics();
      for (const family of ['bulkhead_tenant_http_requests_total', 'bulkhead_inference_requests_total', 'bulkhead_inference_rate_limited_total', 'bulkhead_artifact_download_bytes_total', 'bulkhead_jobs', 'bulkhead_tenant_fair_share_ratio']) {
        const tenants = labelValues(text, family, 'tenant');
        assert.ok(tenants.size <= 1001, `${family}: ${String(tenants.size)} tenant labels`);
        assert.ok(tenants.has(OTHER_LABEL), `${family} aggregates the rest into _other`);
      }
      // The sum over labels is still the whole: 5,000 + earlier queued jobs counted, none lost to the bound.
      const queued = [...text.matchAll(/^bulkhead_jobs\{[^}]*state="queued"[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
      assert.ok(queued >= 5000, String(queued));
      const checked = promtoolCheckMetrics(text);
      assert.equal(checked.status, 0, checked.output);
    });
  });
}
