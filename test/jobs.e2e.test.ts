/**
 * Training jobs end to end: the API, the scheduler runner and the real local executor (bubblewrap and
 * cgroups), on PGlite and PostgreSQL. Covers the lifecycle, logs, cancellation, cross-tenant access,
 * the job relay (the job's only way out) and its token, atomic admission, and "why am I waiting?".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor as eventually } from './support/wait.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

for (const kind of databaseKinds) {
  describe(`jobs on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;

    const submit = (tenant: TestTenant, body: Record<string, unknown>) => p.call('POST', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member, body);
    const waitFor = async (tenant: TestTenant, id: string, done: (status: string) => boolean, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/${id}`, tenant.tokens.viewer);
        if (done(job.body.status)) return job.body;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${job.body.status}`);
        await p.platform.jobs.runner.tick();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const logsOf = async (tenant: TestTenant, id: string) => (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${tenant.tokens.viewer}` } })).body;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhtest-${randomBytes(4).toString('hex')}`, relayPort: 18765 });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      for (const t of [acme, globex]) {
        await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, maxQueuedJobs: 500 });
      }
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('a job runs in the sandbox, its output is its log, and it succeeds', async () => {
      const created = await submit(acme, { name: 'hello', command: ['python3', '-c', 'import os; print("hello from", os.getuid()); print("uri", os.environ["MLFLOW_TRACKING_URI"])'], resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.status, 'queued');
      const job = await waitFor(acme, created.body.id, (s) => terminal.has(s));
      const logs = await logsOf(acme, job.id);
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /hello from 65534/);
      assert.match(logs, /uri http:\/\/127\.0\.0\.1:18765/);
      assert.equal(job.exitCode, 0);
      assert.ok(job.startedAt !== null && job.finishedAt !== null);
      const audit = (await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin)).body.events.filter((e: { target: string }) => e.target === `job:${job.id}`).map((e: { action: string }) => e.action);
      for (const action of ['job.submit', 'job.admit', 'job.start', 'job.succeed']) assert.ok(audit.includes(action), action);
    });

    test("another tenant's job is NOT_FOUND for every job route", async () => {
      const created = await submit(acme, { command: ['true'] });
      for (const [method, suffix] of [['GET', ''], ['GET', '/logs'], ['GET', '/explain'], ['GET', '/outputs'], ['POST', '/cancel']] as const) {
        const other = await p.call(method, `/api/v1/tenants/globex/jobs/${created.body.id}${suffix}`, globex.tokens.admin);
        assert.equal(other.status, 404, `${method} ${suffix}`);
        assert.equal(other.body.code, 'NOT_FOUND');
      }
      const listed = await p.call('GET', '/api/v1/tenants/globex/jobs', globex.tokens.viewer);
      assert.ok(!listed.body.jobs.some((j: { id: string }) => j.id === created.body.id));
      await waitFor(acme, created.body.id, (s) => terminal.has(s));
    });

    test('cancelling a running job kills it within a second', async () => {
      const created = await submit(acme, { command: ['sh', '-c', 'sleep 60 & sleep 60 & echo started; wait'], resources: { cpu: 0.2, memoryMiB: 64, timeoutSeconds: 120 } });
      await waitFor(acme, created.body.id, (s) => s === 'running');
      await eventually('"started" in the log', async () => (await logsOf(acme, created.body.id)).includes('started'));
      const started = Date.now();
      const cancel = await p.call('POST', `/api/v1/tenants/acme/jobs/${created.body.id}/cancel`, acme.tokens.member);
      assert.equal(cancel.status, 200);
      const job = await waitFor(acme, created.body.id, (s) => terminal.has(s), 5000);
      assert.equal(job.status, 'cancelled');
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      const again = await p.call('POST', `/api/v1/tenants/acme/jobs/${created.body.id}/cancel`, acme.tokens.member);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'CONFLICT');
    });

    test('the relay forwards only what a job may do, only with its own token; the token is dead outside', async () => {
      const script = [
        'import os, json, urllib.request',
        'base = os.environ["MLFLOW_TRACKING_URI"]; tok = os.environ["MLFLOW_TRACKING_TOKEN"]',
        'def get(path, token):',
        '  req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})',
        '  try:',
        '    with urllib.request.urlopen(req, timeout=5) as r: return r.status',
        '  except urllib.error.HTTPError as e: return e.code',
        'print("ME", get("/api/v1/me", tok))',
        'print("TENANTS", get("/api/v1/tenants", tok))',
        'print("OTHER", get("/api/v1/tenants/globex/jobs", tok))',
        'print("FORGED", get("/api/v1/me", "bh_" + "x" * 43))',
        'print("TOKEN", tok)',
      ].join('\n');
      const created = await submit(acme, { command: ['python3', '-c', script], resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } });
      const job = await waitFor(acme, created.body.id, (s) => terminal.has(s));
      const logs = await logsOf(acme, job.id);
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /ME 200/);
      assert.match(logs, /TENANTS 403/);
      assert.match(logs, /OTHER 403/);
      assert.match(logs, /FORGED 401/);
      const token = /TOKEN (bh_\S+)/.exec(logs)?.[1];
      assert.ok(token !== undefined);
      // After the job, and outside any relay, the job token opens nothing.
      assert.equal((await p.call('GET', '/api/v1/me', token)).status, 401);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/jobs', token)).status, 401);
    });

    test('MLflow logging from inside the job lands in the tenant\'s own run, and only there', async () => {
      const script = [
        'import os, json, time, urllib.request',
        'base = os.environ["MLFLOW_TRACKING_URI"]; tok = os.environ["MLFLOW_TRACKING_TOKEN"]; run = os.environ["MLFLOW_RUN_ID"]',
        'def post(path, body):',
        '  req = urllib.request.Request(base + "/api/2.0/mlflow/" + path, data=json.dumps(body).encode(), headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"}, method="POST")',
        '  try:',
        '    with urllib.request.urlopen(req, timeout=5) as r: return r.status',
        '  except urllib.error.HTTPError as e: return e.code',
        'now = int(time.time() * 1000)',
        'print("BATCH", post("runs/log-batch", {"run_id": run, "params": [{"key": "lr", "value": "0.1"}], "metrics": [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": now, "step": s} for s in range(5)]}))',
        'print("OTHER", post("runs/log-batch", {"run_id": "0" * 32, "metrics": [{"key": "x", "value": 1, "timestamp": now, "step": 0}]}))',
        'print("CREATE", post("experiments/create", {"name": "sneaky"}))',
      ].join('\n');
      const created = await submit(acme, { name: 'logger', command: ['python3', '-c', script], resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } });
      const job = await waitFor(acme, created.body.id, (s) => terminal.has(s));
      const logs = await logsOf(acme, job.id);
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /BATCH 200/);
      assert.match(logs, /OTHER 403/);
      assert.match(logs, /CREATE 403/);
      assert.match(job.runId, /^[0-9a-f]{32}$/);
      const run = await p.call('GET', `/api/2.0/mlflow/runs/get?run_id=${job.runId}`, acme.tokens.viewer);
      assert.equal(run.status, 200);
      assert.equal(run.body.run.info.status, 'FINISHED');
      assert.deepEqual(run.body.run.data.params, [{ key: 'lr', value: '0.1' }]);
      const history = await p.call('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${job.runId}&metric_key=loss`, acme.tokens.viewer);
      assert.equal(history.body.metrics.length, 5);
      const foreign = await p.call('GET', `/api/2.0/mlflow/runs/get?run_id=${job.runId}`, globex.tokens.viewer);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
    });

    test('200 simultaneous submissions against a quota of 10 concurrent jobs admit exactly 10', async () => {
      const t = await p.createTenant('burst');
      await p.call('PUT', '/api/v1/tenants/burst/quota', adminToken, { cpu: 2, memoryMiB: 8192, maxConcurrentJobs: 10, maxQueuedJobs: 500 });
      const results = await Promise.all(Array.from({ length: 200 }, () => submit(t, { command: ['sleep', '30'], resources: { cpu: 0.1, memoryMiB: 16, timeoutSeconds: 60 } })));
      assert.ok(results.every((r) => r.status === 201));
      await Promise.all([p.platform.jobs.runner.tick(), p.platform.jobs.runner.tick(), p.platform.jobs.runner.tick()]);
      const active = (await p.call('GET', '/api/v1/tenants/burst/jobs?limit=500', t.tokens.viewer)).body.jobs as Array<{ id: string; status: string }>;
      const admitted = active.filter((j) => j.status === 'admitted' || j.status === 'running');
      assert.equal(admitted.length, 10);
      const queued = active.find((j) => j.status === 'queued')!;
      const explain = await p.call('GET', `/api/v1/tenants/burst/jobs/${queued.id}/explain`, t.tokens.viewer);
      assert.equal(explain.status, 200);
      assert.equal(explain.body.waiting, true);
      assert.ok(explain.body.blockers.some((b: { reason: string }) => b.reason === 'max_concurrent_jobs'), JSON.stringify(explain.body));
      assert.match(explain.body.summary, /Tenant burst: weighted dominant share/, 'the summary names the tenant by its slug');
      assert.ok(!explain.body.summary.includes(t.id), 'not by its uuid');
      assert.equal(explain.body.tenant.runningJobs, 10);
      assert.ok(explain.body.globalPosition >= 1);
      for (const job of active) await p.call('POST', `/api/v1/tenants/burst/jobs/${job.id}/cancel`, t.tokens.member);
      for (const job of admitted) await waitFor(t, job.id, (s) => terminal.has(s), 10_000);
    });

    test('a job that could never fit is refused at submission with a clear error', async () => {
      const tooBig = await submit(acme, { command: ['true'], resources: { cpu: 64, memoryMiB: 256 } });
      assert.equal(tooBig.status, 403);
      assert.equal(tooBig.body.code, 'QUOTA_EXCEEDED');
      const reserved = await submit(acme, { command: ['true'], env: { MLFLOW_TRACKING_TOKEN: 'x' } });
      assert.equal(reserved.body.code, 'VALIDATION_FAILED');
      const empty = await submit(acme, { command: [] });
      assert.equal(empty.body.code, 'VALIDATION_FAILED');
    });
  });
}
