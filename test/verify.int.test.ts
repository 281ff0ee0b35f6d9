/**
 * `bulkhead verify` against live deployments (real HTTP, real databases: PGlite and PostgreSQL as the
 * non-owner login role, real sandbox jobs): a healthy install passes, and each deliberate weakness is
 * caught — a route that skips the tenant check (test-only fixture), a login role with BYPASSRLS, a
 * tenant table with RLS disabled, a tenant on the weaker `process` tier.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startVerify } from '../src/verify/index.ts';
import type { CheckResult, VerifyGroup, VerifyReport } from '../src/verify/index.ts';
import { databaseKinds } from './support/databases.ts';
import { callServer, mustServer } from './support/server-process.ts';
import { runCliWith } from './support/cli.ts';
import { adminToken, brokenRouteUrl, startVerifyPlatform } from './support/verify-platform.ts';
import type { VerifyPlatform } from './support/verify-platform.ts';

const verify = async (p: VerifyPlatform, groups: VerifyGroup[], extra: { tiers?: string[]; databaseUrl?: string; kubernetes?: boolean } = {}): Promise<VerifyReport> =>
  startVerify({
    url: p.url, token: adminToken, groups, tiers: extra.tiers ?? ['sandbox'], keep: false, databaseUrl: extra.databaseUrl ?? p.database.appUrl, kubernetes: extra.kubernetes,
    storagePath: join(p.home, 'blobs'), platformHome: p.home, probeTimeoutSeconds: 60, log: () => {},
  }).result;

const failures = (report: VerifyReport): CheckResult[] => report.checks.filter((c) => c.result === 'fail');
const describeFailures = (report: VerifyReport): string => JSON.stringify(failures(report).slice(0, 5), null, 1);

const slugs = async (p: VerifyPlatform): Promise<string[]> => ((await mustServer(p.url, adminToken, 'GET', '/api/v1/tenants')).tenants as Array<{ slug: string }>).map((t) => t.slug);

for (const kind of databaseKinds) {
  describe(`bulkhead verify on a healthy deployment (${kind})`, () => {
    let p: VerifyPlatform;
    before(async () => {
      p = await startVerifyPlatform(kind);
    });
    after(async () => p.close());

    test('the route catalog lists the MLflow and OIP routes OpenAPI hides, to platform admins only', async () => {
      const catalog = await mustServer(p.url, adminToken, 'GET', '/api/v1/platform/routes');
      const routes = new Set((catalog.routes as Array<{ method: string; url: string }>).map((r) => `${r.method} ${r.url}`));
      for (const route of ['GET /api/2.0/mlflow/runs/get', 'POST /v2/models/:name/infer', 'GET /api/v1/tenants/:tenant/jobs/:id', 'GET /api/v1/platform/routes']) assert.ok(routes.has(route), route);
      const tenant = await mustServer(p.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'catalog-probe', name: 'Catalog probe' });
      const owner = await mustServer(p.url, adminToken, 'POST', '/api/v1/tenants/catalog-probe/tokens', { name: 'owner', role: 'owner' });
      assert.ok(tenant.id);
      const refused = await callServer(p.url, owner.token, 'GET', '/api/v1/platform/routes');
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal((await callServer(p.url, undefined, 'GET', '/api/v1/platform/routes')).status, 401);
    });

    test('every group passes, the verify tenants are deleted, other tenants are untouched, a crashed run\'s leftovers are removed', async () => {
      await mustServer(p.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'acme', name: 'Acme' });
      // A tenant an operator named verify-something is not the verifier's: only verify-<8 hex>-<suffix> is.
      await mustServer(p.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'verify-team', name: 'Not the verifier\'s' });
      // What an interrupted run leaves behind.
      await mustServer(p.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'verify-0badc0de-a', name: 'leftover' });

      const report = await verify(p, ['api', 'data', 'compute', 'audit']);
      assert.deepEqual(failures(report), [], describeFailures(report));
      // The probe's refused relay request and its denied connects reach its tenant's log (issues #12, #13).
      for (const check of ["probe job's refused API attempt audited", "probe job's denied network attempts reported"]) {
        assert.deepEqual(report.checks.filter((c) => c.check === check).map((c) => c.result), ['pass'], check);
      }
      assert.equal(report.schema, 'bulkhead.verify/v1');
      assert.equal(report.summary.failed, 0);
      assert.equal(report.summary.total, report.checks.length);
      // Every group produced checks; the api group attacked MLflow, OIP and OpenAPI routes, each role.
      for (const group of ['api', 'data', 'compute', 'audit'] as const) assert.ok(report.checks.some((c) => c.group === group && c.result === 'pass'), group);
      const apiTargets = new Set(report.checks.filter((c) => c.group === 'api' && c.check.startsWith('cross-tenant')).map((c) => c.target));
      for (const route of ['GET /api/2.0/mlflow/runs/get', 'POST /v2/models/{name}/infer', 'GET /api/v1/tenants/{tenant}/jobs/{id}', 'DELETE /api/v1/tenants/{tenant}/tokens/{tokenId}']) {
        assert.ok(apiTargets.has(route), `${route} not attacked: ${[...apiTargets].slice(0, 10).join(', ')}`);
      }
      assert.ok(report.checks.some((c) => c.check === "probe job recorded in its own tenant's log" && c.target === 'tier sandbox' && c.result === 'pass'));
      for (const role of ['owner', 'admin', 'member', 'viewer']) assert.ok(report.checks.some((c) => c.check === `cross-tenant: A's tenant (B ${role})`));
      if (kind === 'postgres') {
        assert.ok(report.checks.some((c) => c.group === 'data' && c.target === 'table experiments' && c.check === 'RLS enabled and forced' && c.result === 'pass'));
        assert.ok(report.checks.some((c) => c.check === "deleted tenant's data key" && c.result === 'pass'));
      }
      const remaining = await slugs(p);
      assert.deepEqual(remaining.filter((s) => /^verify-[0-9a-f]{8}-/.test(s)), [], `left behind: ${remaining.join(', ')}`);
      assert.ok(remaining.includes('acme') && remaining.includes('verify-team'), remaining.join(', '));
      assert.equal((await callServer(p.url, adminToken, 'GET', '/api/v1/tenants/acme')).status, 200);
      // The verifier acted under a platform token of its own, revoked at the end.
      const own = ((await mustServer(p.url, adminToken, 'GET', '/api/v1/platform/tokens')).tokens as Array<{ name: string; revokedAt: string | null }>).filter((t) => /^verify-[0-9a-f]{8}$/.test(t.name));
      assert.equal(own.length, 1, JSON.stringify(own));
      assert.notEqual(own[0]?.revokedAt, null);
      assert.ok(report.checks.some((c) => c.check === "the verifier's own actions are audited" && c.result === 'pass' && /tenant\.create/.test(c.evidence)), JSON.stringify(report.checks.filter((c) => c.group === 'audit')));
    });

    test('serving with live deployments (B against A\'s endpoint, noisy-neighbour ratio) and the --kubernetes bundle checks', async () => {
      const report = await verify(p, ['serving'], { kubernetes: true });
      assert.deepEqual(failures(report), [], describeFailures(report));
      const row = (check: string, target: string) => report.checks.find((c) => c.check === check && c.target.startsWith(target));
      // B, with every role, against A's live endpoint: the missing-model answer.
      assert.equal(row("A's endpoint serves A", 'POST /v2/models/{name}/infer')?.result, 'pass', JSON.stringify(report.checks.filter((c) => c.group === 'serving').slice(0, 3)));
      for (const role of ['owner', 'admin', 'member', 'viewer']) {
        for (const target of ['POST /v2/models/{name}/infer', 'GET /v2/models/{name}/ready', 'GET /api/v1/tenants/{tenant}/deployments/{name}']) {
          assert.equal(row(`B reaches A's live endpoint (B ${role})`, target)?.result, 'pass', `${role} ${target}`);
        }
      }
      const noisy = row('noisy neighbour p99 ratio', 'deployment');
      assert.equal(noisy?.result, 'pass', JSON.stringify(noisy));
      assert.match(noisy?.evidence ?? '', /^ratio \d+\.\d+: alone p50 [\d.]+ ms p99 [\d.]+ ms \(\d+ requests\); under B's flood .*B's flood \(16 in flight, 2 s\): .*200×\d+/);
      assert.equal(row("A is served during B's flood", 'deployment')?.result, 'pass');
      // --kubernetes: each verify tenant's rendered bundle, judged; live-cluster probes skipped with the reason.
      for (const check of ['k8s: PSA labels', 'k8s: ResourceQuota', 'k8s: LimitRange', 'k8s: default-deny NetworkPolicy', 'k8s: RBAC least privilege', 'k8s: every object in the tenant namespace']) {
        const rows = report.checks.filter((c) => c.check === check);
        assert.equal(rows.length, 2, check);
        assert.ok(rows.every((c) => c.result === 'pass' && /^namespace /.test(c.target)), JSON.stringify(rows));
      }
      assert.match(row('k8s: PSA labels', 'namespace')?.evidence ?? '', /enforce=restricted/);
      const live = report.checks.filter((c) => c.group === 'compute' && c.target === 'cluster');
      assert.ok(live.length >= 3 && live.every((c) => c.result === 'skip' && /needs a live cluster/.test(c.evidence)), JSON.stringify(live));
      assert.deepEqual((await slugs(p)).filter((s) => /^verify-[0-9a-f]{8}-/.test(s)), []);
    });
  });
}

describe('bulkhead verify catches a route that skips the tenant check (test-only fixture, pglite)', () => {
  let p: VerifyPlatform;
  before(async () => {
    p = await startVerifyPlatform('pglite', { brokenRoute: true });
  });
  after(async () => p.close());

  test('the api group fails and names the route and the request that crossed', async () => {
    const report = await verify(p, ['api']);
    const failed = failures(report);
    assert.ok(failed.length > 0, 'the broken route was not caught');
    for (const check of failed) {
      assert.equal(check.target, `GET ${brokenRouteUrl}`, JSON.stringify(check));
      assert.match(check.reproduce ?? '', /\/api\/v1\/tenants\/verify-[0-9a-f]{8}-a\/verify-fixture\/leak/);
      assert.doesNotMatch(check.reproduce ?? '', /bh_/, 'a token in the report');
    }
  });

  test('through the CLI: exit 1, the route in the table, --json and --junit written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verify-cli-'));
    try {
      const run = await runCliWith(['verify', '--url', p.url, '--token', adminToken, '--only', 'api', '--json', join(dir, 'r.json'), '--junit', join(dir, 'r.xml')], {});
      assert.equal(run.code, 1, run.err);
      assert.ok(run.out.length > 0, run.err);
      assert.match(run.out, /FAIL\s+cross-tenant: A's tenant \(B owner\)\s+GET \/api\/v1\/tenants\/:tenant\/verify-fixture\/leak/);
      assert.match(run.out, /\d+ passed, 4 failed, \d+ skipped/);
      const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as VerifyReport;
      assert.equal(json.summary.failed, 4);
      const junit = readFileSync(join(dir, 'r.xml'), 'utf8');
      assert.match(junit, /<testsuite name="bulkhead verify api" tests="\d+" failures="4"/);
      assert.match(junit, /<failure message=/);
      assert.doesNotMatch(run.out + run.err + junit, new RegExp(adminToken));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bulkhead verify reports what the process tier admits (pglite)', () => {
  let p: VerifyPlatform;
  before(async () => {
    p = await startVerifyPlatform('pglite');
  });
  after(async () => p.close());

  test('compute: the process tier shows the host file system, the sandbox does not', async () => {
    const report = await verify(p, ['compute'], { tiers: ['sandbox', 'process'] });
    const row = (tier: string, check: string) => report.checks.find((c) => c.target === `tier ${tier}` && c.check === check);
    assert.equal(row('process', 'list /')?.result, 'fail', JSON.stringify(row('process', 'list /')));
    assert.match(row('process', 'list /')?.evidence ?? '', /host's root file system is visible/);
    assert.equal(row('sandbox', 'list /')?.result, 'pass', JSON.stringify(row('sandbox', 'list /')));
    // What both tiers hold is still reported per tier.
    for (const tier of ['sandbox', 'process']) {
      assert.equal(row(tier, 'read /etc/shadow')?.result, 'pass', tier);
      assert.equal(row(tier, 'connect 1.1.1.1:443')?.result, 'pass', tier);
      assert.equal(row(tier, 'setuid(0)')?.result, 'pass', tier);
    }
    assert.ok(report.summary.failed > 0);
  });
});

describe('bulkhead verify catches a weakened PostgreSQL deployment', () => {
  let p: VerifyPlatform;
  let weakRole: string;
  let weakUrl: string;
  before(async () => {
    weakRole = `verify_weak_${randomBytes(4).toString('hex')}`;
    // The platform itself runs as a login role that was given BYPASSRLS (a role of its own: roles are
    // cluster-wide, and the shared test login role must stay as it is for every other test).
    p = await startVerifyPlatform('postgres', {
      loginUrl: async (database) => {
        const owner = new pg.Client({ connectionString: database.ownerUrl });
        await owner.connect();
        try {
          await owner.query(`CREATE ROLE ${weakRole} LOGIN NOSUPERUSER BYPASSRLS NOINHERIT`);
          await owner.query(`GRANT bulkhead_app, bulkhead_system, bulkhead_share_reader TO ${weakRole}`);
          // And one tenant table with RLS switched off (this database only).
          await owner.query('ALTER TABLE experiments DISABLE ROW LEVEL SECURITY');
        } finally {
          await owner.end();
        }
        const url = new URL(database.ownerUrl as string);
        url.username = weakRole;
        weakUrl = url.toString();
        return weakUrl;
      },
    });
  });
  after(async () => {
    await p.close();
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${weakRole}`);
    await admin.end();
  });

  test('data fails on BYPASSRLS and on the table without RLS, naming them; the other tables pass', async () => {
    const report = await verify(p, ['data'], { databaseUrl: weakUrl });
    const failed = failures(report);
    assert.ok(failed.some((c) => c.check === 'login role has no BYPASSRLS' && c.target === `role ${weakRole}` && /rolbypassrls = true/.test(c.evidence)), describeFailures(report));
    assert.ok(failed.some((c) => c.check === 'RLS enabled and forced' && c.target === 'table experiments'), describeFailures(report));
    // The platform itself noticed: a BYPASSRLS login makes its RLS mode `guarded`, which fails on PostgreSQL.
    assert.ok(failed.some((c) => c.check === 'RLS mode' && /guarded/.test(c.evidence)), describeFailures(report));
    assert.ok(report.checks.some((c) => c.check === 'RLS enabled and forced' && c.target === 'table runs' && c.result === 'pass'));
  });
});
