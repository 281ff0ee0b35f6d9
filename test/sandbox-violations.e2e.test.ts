/**
 * Sandbox policy violations reach the anomaly detector, end to end, on PGlite and PostgreSQL: a real job
 * (real bubblewrap, real cgroups, the real runner) in the `sandbox` and in the `process` tier tries to leave
 * its network namespace — a TCP connect to the database's port on loopback, a connect to an outside
 * address, a UDP datagram to a closed local port. The executor reads the namespace's kernel counters
 * (src/executors/local/netns-counters.ts), the job store audits one `sandbox.violation` in the tenant's
 * own chain, and the detector raises a `sandbox_violation` alert the tenant's admin sees and another
 * tenant's admin does not. A job that only talks to the platform through its relay reports nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { runPythonJob } from './support/jobs.ts';


const attempts = `
import socket
for address in [("127.0.0.1", 5432), ("10.255.255.1", 80)]:
    s = socket.socket()
    try:
        s.connect(address)
        print("connected", address, flush=True)
    except OSError as error:
        print("denied", address, error.errno, flush=True)
    s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"probe", ("127.0.0.1", 53))
u.close()
`;

const throughRelay = `
import os, urllib.request, urllib.error
request = urllib.request.Request(os.environ["BULKHEAD_API_URL"] + "/api/v1/me", headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
with urllib.request.urlopen(request, timeout=20) as response:
    print("relay answered", response.status, flush=True)
`;

const refusedByRelay = `
import os, urllib.request, urllib.error
base = os.environ["BULKHEAD_API_URL"]
token = os.environ["MLFLOW_TRACKING_TOKEN"]
for path, bearer in [("/api/v1/tenants/bystander/jobs?probe=1", token), ("/api/v1/me", "forged-token-value")]:
    request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + bearer})
    try:
        urllib.request.urlopen(request, timeout=20)
        print("allowed", path, flush=True)
    except urllib.error.HTTPError as error:
        print("refused", path, error.code, flush=True)
`;

for (const kind of databaseKinds) {
  describe(`sandbox violations on ${kind}`, () => {
    let p: TestPlatform;
    let sandboxed: TestTenant;
    let processTier: TestTenant;
    let bystander: TestTenant;

    const run = async (t: TestTenant, code: string) => runPythonJob(p, t, code);
    const violationEvents = async (t: TestTenant, jobId: string) => {
      const audit = await p.call('GET', `/api/v1/tenants/${t.slug}/audit?limit=200`, t.tokens.admin);
      assert.equal(audit.status, 200, JSON.stringify(audit.body));
      return (audit.body.events as Array<Record<string, any>>).filter((event) => event.action === 'sandbox.violation' && event.target === `job:${jobId}`);
    };

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhviol-${randomBytes(4).toString('hex')}`, relayPort: 18767 });
      sandboxed = await p.createTenant('prober', 'sandbox');
      processTier = await p.createTenant('procprober', 'process');
      bystander = await p.createTenant('bystander', 'sandbox');
      for (const t of [sandboxed, processTier]) {
        await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 2048, maxConcurrentJobs: 2 });
      }
      // The first round sets the detector's cursor at the end of the log: what came before is history.
      await p.platform.security.monitor.tick();
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    for (const tier of ['sandbox', 'process'] as const) {
      test(`${tier} tier: denied connects and sends are counted, audited in the tenant's chain and alerted`, async () => {
        const t = tier === 'sandbox' ? sandboxed : processTier;
        const { job, logs } = await run(t, attempts);
        assert.equal(job.status, 'succeeded', logs);
        // Inside, the attempts failed as the sandbox promises: refused on loopback, no route outside.
        assert.match(logs, /denied \('127\.0\.0\.1', 5432\) 111/);
        assert.match(logs, /denied \('10\.255\.255\.1', 80\) 101/);
        assert.deepEqual(job.usage.deniedNetwork, { refusedConnects: 1, unroutableSends: 1, closedPortDatagrams: 1 });

        const [event, ...more] = await violationEvents(t, job.id);
        assert.equal(more.length, 0);
        assert.equal(event?.outcome, 'denied');
        assert.deepEqual(
          { refusedConnects: event?.details.refusedConnects, unroutableSends: event?.details.unroutableSends, closedPortDatagrams: event?.details.closedPortDatagrams },
          { refusedConnects: 1, unroutableSends: 1, closedPortDatagrams: 1 },
        );

        const raised = await waitFor('the sandbox_violation alert', async () => {
          const alerts = await p.platform.security.monitor.tick();
          return alerts.length > 0 ? alerts : undefined;
        });
        assert.equal(raised.length, 1);
        assert.equal(raised[0]!.kind, 'sandbox_violation');
        const listed = await p.call('GET', '/api/v1/alerts?kind=sandbox_violation', t.tokens.admin);
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        const alert = (listed.body.alerts as Array<Record<string, any>>).find((a) => a.principal === `job:${String(job.id)}`);
        assert.ok(alert !== undefined, JSON.stringify(listed.body));
        assert.deepEqual(alert.tenant, { id: t.id, slug: t.slug });
        assert.equal(alert.severity, 'high');
        assert.deepEqual(alert.evidence.eventIds, [event?.id]);
        // Another tenant's admin neither lists it nor can touch it (404, like a missing id).
        const foreign = await p.call('GET', '/api/v1/alerts', bystander.tokens.admin);
        assert.ok(!(foreign.body.alerts as Array<Record<string, any>>).some((a) => a.id === alert.id));
        assert.equal((await p.call('POST', `/api/v1/alerts/${String(alert.id)}/false-positive`, bystander.tokens.admin, {})).status, 404);
      });
    }

    test("the relay's refusals are audited in the job's tenant chain (never the token) and alerted", async () => {
      const { job, logs } = await run(sandboxed, refusedByRelay);
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /refused \/api\/v1\/tenants\/bystander\/jobs\?probe=1 403/);
      assert.match(logs, /refused \/api\/v1\/me 401/);
      const audit = await p.call('GET', `/api/v1/tenants/${sandboxed.slug}/audit?limit=200`, sandboxed.tokens.admin);
      const refusals = (audit.body.events as Array<Record<string, any>>).filter((event) => event.action === 'job.relay_refused' && event.actor === `job:${String(job.id)}`);
      assert.deepEqual(refusals.map((event) => [event.target, event.outcome, event.details.status]).sort(), [
        ['GET /api/v1/me', 'denied', 401],
        ['GET /api/v1/tenants/bystander/jobs', 'denied', 403],
      ]);
      assert.ok(!JSON.stringify(refusals).includes('forged-token-value'), 'the presented token is not in the audit log');
      assert.ok(!JSON.stringify(refusals).includes('probe=1'), 'the query string is not in the audit log');
      // Nothing in the bystander's chain: the refusal belongs to the job's tenant.
      const theirs = await p.call('GET', '/api/v1/tenants/bystander/audit?limit=200', bystander.tokens.admin);
      assert.ok(!(theirs.body.events as Array<Record<string, any>>).some((event) => event.action === 'job.relay_refused'));
      const raised = await waitFor('the relay refusal alert', async () => {
        const alerts = await p.platform.security.monitor.tick();
        return alerts.length > 0 ? alerts : undefined;
      });
      assert.deepEqual(raised.map((alert) => [alert.kind, alert.principal]), [['sandbox_violation', `job:${String(job.id)}`]]);
    });

    test('a job that only uses its relay reports no violation and raises no alert', async () => {
      const { job, logs } = await run(sandboxed, throughRelay);
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /relay answered 200/);
      assert.deepEqual(job.usage.deniedNetwork, { refusedConnects: 0, unroutableSends: 0, closedPortDatagrams: 0 });
      assert.deepEqual(await violationEvents(sandboxed, job.id), []);
      assert.deepEqual(await p.platform.security.monitor.tick(), []);
    });
  });
}
