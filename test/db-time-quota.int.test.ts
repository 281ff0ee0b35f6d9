/**
 * Database time as a tenant quota (issue #25), through the whole platform on PGlite and PostgreSQL:
 * a statement over the tenant's statement timeout ends with 429 DB_STATEMENT_TIMEOUT (MLflow routes:
 * RESOURCE_EXHAUSTED) naming the limit, while another tenant's requests during it answer normally; the
 * concurrency cap refuses with DB_CONCURRENCY_LIMITED; a quota change applies at once; /healthz answers
 * while a long PGlite query runs. Events, never sleeps: a test waits for what it needs to have happened.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { withTenant } from '../src/db/index.ts';
import { buildPlatformApp } from '../src/main/platform.ts';
import { requireTenant } from '../src/http/route-config.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { sampleValue } from './support/promtool.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

// Runs for minutes on either database unless something ends it (streamed: no temporary files).
const endlessQuery = 'SELECT sum(x) AS total FROM (SELECT generate_series(1, 4000000000::bigint) AS x) s';

for (const kind of databaseKinds) {
  describe(`database-time quota on ${kind}`, () => {
    let p: TestPlatform;
    let app: FastifyInstance;
    let slow: TestTenant;
    let other: TestTenant;
    // Held by the concurrency test: each `hold` request's admitted operation waits on the next release.
    const holds: Array<() => void> = [];

    /** A tenant's value of a counter in the platform's metrics exposition (undefined: no sample). */
    const tenantCounter = async (name: string, tenantId: string): Promise<number | undefined> =>
      sampleValue(await p.platform.metrics.metrics(), name, { tenant: tenantId });

    const inject = async (method: 'GET' | 'PUT', url: string, token: string, body?: object) => {
      const response = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body }) });
      return { status: response.statusCode, body: response.json() as Record<string, any> };
    };

    before(async () => {
      p = await createTestPlatform(kind, { dbQueueWaitMs: 1000, dbFairSlots: 2 });
      // Two test-only routes doing tenant work the way every service does (withTenant on the platform's
      // Db): one that runs an endless query, one that holds its transaction open until released.
      p.platform.httpModules.push(async (instance) => {
        for (const [path, errorFormat] of [['/api/2.0/mlflow/test/endless', 'mlflow'], ['/api/v1/test/endless', 'bulkhead']] as const) {
          instance.get(path, { config: { access: 'tracking.read', tenantFrom: 'token', errorFormat } }, async (request) =>
            withTenant(p.platform.db, requireTenant(request.tenant).id, async (tx) => (await tx.query(endlessQuery)).rows));
        }
        // Admitted by the tenant's gate, then waits: on PGlite a transaction held open would hold the one
        // connection (and so every other request's token lookup), so this holds the admission alone.
        instance.get('/api/v1/test/hold', { config: { access: 'tracking.read', tenantFrom: 'token' } }, async (request) =>
          p.platform.db.tenantGate!.run(requireTenant(request.tenant).id, async () => {
            await new Promise<void>((resolve) => holds.push(resolve));
            return { held: true };
          }));
        // The same as a search (heavy work: held to the tenant's fair slots while others are busy).
        instance.get('/api/v1/test/hold-search', { config: { access: 'tracking.read', tenantFrom: 'token' } }, async (request) =>
          p.platform.db.tenantGate!.run(requireTenant(request.tenant).id, async () => {
            await new Promise<void>((resolve) => holds.push(resolve));
            return { held: true };
          }, { heavy: true }));
      });
      app = await buildPlatformApp(p.platform, { logger: false });
      await app.ready();
      slow = await p.createTenant('slow-tenant');
      other = await p.createTenant('other-tenant');
    });
    after(async () => {
      await app.close();
      await p.close();
    });

    test('new tenants get the documented defaults, shown by the quota API', async () => {
      const quota = await inject('GET', `/api/v1/tenants/${other.slug}/quota`, adminToken);
      assert.equal(quota.status, 200);
      assert.equal(quota.body['dbStatementTimeoutMs'], 10_000);
      assert.equal(quota.body['dbMaxConcurrentOperations'], 8);
      const bad = await inject('PUT', `/api/v1/tenants/${other.slug}/quota`, adminToken, { dbStatementTimeoutMs: 0 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body['code'], 'VALIDATION_FAILED');
      const notAdmin = await inject('PUT', `/api/v1/tenants/${slow.slug}/quota`, slow.tokens.owner, { dbStatementTimeoutMs: 3_600_000 });
      assert.equal(notAdmin.status, 403);
    });

    test("a query over the tenant's statement timeout ends with DB_STATEMENT_TIMEOUT while another tenant answers normally", async () => {
      // A live change: the next request of the tenant runs under the new limit.
      const set = await inject('PUT', `/api/v1/tenants/${slow.slug}/quota`, adminToken, { dbStatementTimeoutMs: 300 });
      assert.equal(set.status, 200);
      assert.equal(set.body['dbStatementTimeoutMs'], 300);
      const before = p.platform.dbTime.usage().find((u) => u.tenantId === slow.id)?.statementTimeouts ?? 0;

      const endless = inject('GET', '/api/2.0/mlflow/test/endless', slow.tokens.viewer);
      // Once the slow tenant's operation is admitted, the other tenant calls the API.
      await waitFor('the endless query to be admitted', () => p.platform.dbTime.usage().find((u) => u.tenantId === slow.id)?.active === 1);
      const during = await inject('GET', `/api/v1/tenants/${other.slug}/quota`, other.tokens.viewer);
      const mlflowDuring = await inject('GET', '/api/2.0/mlflow/experiments/search?max_results=10', other.tokens.viewer);

      const refused = await endless;
      assert.equal(refused.status, 429);
      assert.equal(refused.body['error_code'], 'RESOURCE_EXHAUSTED');
      assert.match(String(refused.body['message']), /database statement timeout \(dbStatementTimeoutMs = 300 ms\)/);
      assert.equal(during.status, 200);
      assert.equal(during.body['dbStatementTimeoutMs'], 10_000, 'the other tenant sees its own quota, unchanged');
      assert.equal(mlflowDuring.status, 200);
      assert.ok(Array.isArray(mlflowDuring.body['experiments']));

      // The platform's error shape on a non-MLflow route: a stable code and the limit named in details.
      const plain = await inject('GET', '/api/v1/test/endless', slow.tokens.viewer);
      assert.equal(plain.status, 429);
      assert.equal(plain.body['code'], 'DB_STATEMENT_TIMEOUT');
      assert.deepEqual(plain.body['details'], { limit: 'dbStatementTimeoutMs', value: 300 });
      assert.doesNotMatch(JSON.stringify(plain.body), /generate_series|SELECT/i, 'no SQL text in the error');

      const usage = p.platform.dbTime.usage();
      assert.equal(usage.find((u) => u.tenantId === slow.id)!.statementTimeouts - before, 2);
      assert.equal(usage.find((u) => u.tenantId === other.id)?.statementTimeouts ?? 0, 0);
      assert.ok(usage.find((u) => u.tenantId === other.id)!.operations > 0);

      // Afterwards both tenants work normally (on PGlite: on the worker that replaced the ended one).
      const again = await inject('GET', '/api/2.0/mlflow/experiments/search?max_results=10', slow.tokens.viewer);
      assert.equal(again.status, 200);
    });

    test("fair slots: while another tenant is busy, a tenant's second search waits for its first; its ordinary operations do not", async () => {
      const waitsOf = () => p.platform.dbTime.usage().find((u) => u.tenantId === slow.id)?.fairShareWaits ?? 0;
      const waitsBefore = waitsOf();
      // The other tenant holds an operation: two tenants are busy, so each gets floor(2 / 2) = 1 slot.
      const otherHeld = inject('GET', '/api/v1/test/hold', other.tokens.viewer);
      await waitFor("the other tenant's operation", () => holds.length === 1);
      const first = inject('GET', '/api/v1/test/hold-search', slow.tokens.viewer);
      await waitFor('the first search', () => holds.length === 2);
      const second = inject('GET', '/api/v1/test/hold-search', slow.tokens.viewer);
      await waitFor('the second search to wait for its share', () => waitsOf() === waitsBefore + 1);
      assert.equal(holds.length, 2, 'the second search is not admitted while the first runs');
      // An ordinary operation of the same tenant is admitted at once.
      const ordinary = inject('GET', '/api/v1/test/hold', slow.tokens.viewer);
      await waitFor('the ordinary operation', () => holds.length === 3);
      holds.pop()!();
      assert.equal((await ordinary).status, 200);
      holds.splice(1, 1)[0]!();
      assert.equal((await first).status, 200);
      await waitFor('the second search', () => holds.length === 2);
      holds.splice(1, 1)[0]!();
      assert.equal((await second).status, 200);
      holds.shift()!();
      assert.equal((await otherHeld).status, 200);
      // The wait is a metric of the tenant.
      const waits = await tenantCounter('bulkhead_tenant_db_fair_share_waits_total', slow.id);
      assert.ok(waits !== undefined && waits >= 1, String(waits));
    });

    test('over the concurrency cap a tenant is refused with DB_CONCURRENCY_LIMITED; the slot frees on completion', async () => {
      const set = await inject('PUT', `/api/v1/tenants/${slow.slug}/quota`, adminToken, { dbMaxConcurrentOperations: 1, dbStatementTimeoutMs: 60_000 });
      assert.equal(set.status, 200);
      const held = inject('GET', '/api/v1/test/hold', slow.tokens.viewer);
      await waitFor('the held transaction', () => holds.length === 1);
      const refused = await inject('GET', '/api/v1/test/endless', slow.tokens.viewer);
      assert.equal(refused.status, 429);
      assert.equal(refused.body['code'], 'DB_CONCURRENCY_LIMITED');
      assert.deepEqual(refused.body['details'], { limit: 'dbMaxConcurrentOperations', value: 1 }, JSON.stringify(refused.body));
      {
        const otherDuring = await inject('GET', `/api/v1/tenants/${other.slug}/quota`, other.tokens.viewer);
        assert.equal(otherDuring.status, 200);
      }
      holds.shift()!();
      assert.equal((await held).status, 200);
      const after = await inject('GET', `/api/v1/tenants/${slow.slug}/quota`, slow.tokens.viewer);
      assert.equal(after.status, 200);
      assert.equal(after.body['dbMaxConcurrentOperations'], 1);
    });

    test('database time per second: a tenant past its budget is refused with DB_TIME_LIMITED and Retry-After while another answers; lifting the quota applies at once', async () => {
      const metered = await p.createTenant('metered-tenant');
      const defaults = await inject('GET', `/api/v1/tenants/${metered.slug}/quota`, adminToken);
      assert.equal(defaults.body['dbTimeMsPerSecond'], 0, 'unlimited by default');
      const negative = await inject('PUT', `/api/v1/tenants/${metered.slug}/quota`, adminToken, { dbTimeMsPerSecond: -1 });
      assert.equal(negative.status, 400);
      // 50 ms of database time per second; a statement that runs into its 600 ms timeout is charged at least
      // that: 550 ms of debt, 11 s to repay, far past the 1 s queue wait of this platform.
      const set = await inject('PUT', `/api/v1/tenants/${metered.slug}/quota`, adminToken, { dbTimeMsPerSecond: 50, dbStatementTimeoutMs: 600 });
      assert.equal(set.status, 200);
      assert.equal(set.body['dbTimeMsPerSecond'], 50);
      const spent = await inject('GET', '/api/v1/test/endless', metered.tokens.viewer);
      assert.equal(spent.body['code'], 'DB_STATEMENT_TIMEOUT');

      const refused = await app.inject({ method: 'GET', url: '/api/2.0/mlflow/experiments/search?max_results=10', headers: { authorization: `Bearer ${metered.tokens.viewer}` } });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json()['error_code'], 'RESOURCE_EXHAUSTED');
      assert.match(String(refused.json()['message']), /dbTimeMsPerSecond = 50 ms per second/);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 12, String(refused.headers['retry-after']));
      const plain = await inject('GET', `/api/v1/tenants/${metered.slug}/quota`, metered.tokens.viewer);
      assert.equal(plain.status, 429);
      assert.equal(plain.body['code'], 'DB_TIME_LIMITED');
      assert.equal(plain.body['details']['limit'], 'dbTimeMsPerSecond');

      // Another tenant is not touched by it.
      const otherCall = await inject('GET', '/api/2.0/mlflow/experiments/search?max_results=10', other.tokens.viewer);
      assert.equal(otherCall.status, 200);
      const usage = p.platform.dbTime.usage().find((u) => u.tenantId === metered.id)!;
      assert.equal(usage.timeRateRefusals, 2);
      assert.equal(await tenantCounter('bulkhead_tenant_db_time_rate_refusals_total', metered.id), 2);

      // The admin lifts the quota (admin calls are not the tenant's database work): the next call runs.
      const lifted = await inject('PUT', `/api/v1/tenants/${metered.slug}/quota`, adminToken, { dbTimeMsPerSecond: 0, dbStatementTimeoutMs: 10_000 });
      assert.equal(lifted.status, 200);
      const after = await inject('GET', '/api/2.0/mlflow/experiments/search?max_results=10', metered.tokens.viewer);
      assert.equal(after.status, 200);
    });

    if (kind === 'pglite') {
      test('/healthz answers while a long embedded-database query runs; interrupt ends it', async () => {
        await inject('PUT', `/api/v1/tenants/${slow.slug}/quota`, adminToken, { dbMaxConcurrentOperations: 8, dbStatementTimeoutMs: 3_600_000 });
        let settled = false;
        const endless = inject('GET', '/api/v1/test/endless', slow.tokens.viewer).finally(() => { settled = true; });
        await waitFor('the endless query to be admitted', () => p.platform.dbTime.usage().find((u) => u.tenantId === slow.id)?.active === 1);
        for (let i = 0; i < 5; i += 1) {
          const health = await app.inject({ method: 'GET', url: '/healthz' });
          assert.equal(health.statusCode, 200);
        }
        assert.equal(settled, false, 'the query was still running while /healthz answered');
        // What shutdown does after its grace period: the running statement ends, its request fails.
        await p.platform.db.interrupt!();
        const ended = await endless;
        assert.equal(ended.status, 500);
        assert.equal(ended.body['code'], 'INTERNAL');
        const health = await inject('GET', `/api/v1/tenants/${other.slug}/quota`, other.tokens.viewer);
        assert.equal(health.status, 200);
      });
    }
  });
}
