/**
 * The job runner in cluster mode (BULKHEAD_EXECUTOR=kubernetes), on PGlite and PostgreSQL, through the
 * real API and job store. No cluster can run here, so the cluster side is a scripted `ClusterExecution`
 * (the runner's own port, not a Kubernetes API): the test plays Kueue and the pod — admission, running,
 * output, outcome — and checks what the platform records. The real adapter and executor are covered by
 * src/executors/kubernetes/*.test.ts and, against a cluster, by the live tests there.
 *
 * Covers: Kueue deferral (queued until Kueue admits, then admitted → running → succeeded, logs stored);
 * eviction before admission keeps the job queued and resubmits it; without Kueue, Bulkhead admits against
 * the configured capacity; the init container's `bulkhead inputs fetch` (the real CLI over HTTP, with the
 * job token) gets the job's code bundle and dataset and nothing else, and what the job uploads under its
 * run's outputs/ becomes the job's outputs; cancel while waiting in
 * Kueue; the job token works without a relay only while the job runs and only on its own run; another
 * tenant's job is NOT_FOUND.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCliWith } from './support/cli.ts';
import type { ClusterExecution, ClusterProgress } from '../src/jobs/index.ts';
import type { Outcome, RunningJob } from '../src/executors/executor-contract.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { waitFor } from './support/wait.ts';

interface Submission {
  jobId: string;
  tenantSlug: string;
  token: string;
  env: Record<string, string>;
  progress(p: ClusterProgress): void;
  output(line: string): void;
  end(outcome: Omit<Outcome, 'usage'>): void;
  stopped: 'cancel' | 'preempt' | undefined;
}

/** Plays the cluster: records submissions; the test decides what happens to each. */
const scriptedCluster = (kueue: boolean) => {
  const submissions: Submission[] = [];
  const ensured: string[] = [];
  const execution: ClusterExecution = {
    kueue,
    async ensureTenant(tenant) {
      ensured.push(tenant.slug);
    },
    start(run): RunningJob {
      let settle!: (outcome: Outcome) => void;
      const outcome = new Promise<Outcome>((resolve) => {
        settle = resolve;
      });
      const submission: Submission = {
        jobId: run.job.id,
        tenantSlug: run.tenant.slug,
        token: run.token,
        env: run.env,
        progress: run.onProgress,
        output: (line) => run.output({ stream: 'stdout', line }),
        end: (o) => settle({ ...o, usage: { wallMs: 5 } } as Outcome),
        stopped: undefined,
      };
      submissions.push(submission);
      return {
        jobId: run.job.id,
        wait: () => outcome,
        cancel: () => {
          submission.stopped ??= 'cancel';
          settle({ kind: 'cancelled', usage: { wallMs: 5 } });
        },
        preempt: () => {
          submission.stopped ??= 'preempt';
          settle({ kind: 'preempted', usage: { wallMs: 5 } });
        },
      };
    },
  };
  return { execution, submissions, ensured };
};

const job = (extra: Record<string, unknown> = {}) => ({
  name: 'train', command: ['python3', 'train.py'], resources: { cpu: 1, memoryMiB: 512, timeoutSeconds: 600 }, ...extra,
});

for (const kind of databaseKinds) {
  describe(`jobs on a cluster with Kueue on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    const cluster = scriptedCluster(true);

    const status = async (id: string) => (await p.call('GET', `/api/v1/tenants/acme/jobs/${id}`, acme.tokens.viewer)).body.status as string;
    const submitted = (id: string, times = 1) => cluster.submissions.filter((s) => s.jobId === id).length >= times;
    /** Ticks the runner until `done` holds (an event, never a fixed number of ticks or a fixed time). */
    const settle = (what: string, done: () => boolean | Promise<boolean>) =>
      waitFor(what, async () => {
        await p.platform.jobs.runner.tick();
        return done();
      });

    before(async () => {
      p = await createTestPlatform(kind, { executor: 'kubernetes' }, { cluster: { execution: cluster.execution } });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
    });
    after(async () => {
      for (const s of cluster.submissions) s.end({ kind: 'cancelled' });
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('Kueue admits: queued until admitted, then running, output stored, succeeded; the token dies with the job', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, job());
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await settle('the submission', () => submitted(created.body.id));
      const submission = cluster.submissions.find((s) => s.jobId === created.body.id);
      assert.ok(submission, 'submitted to the cluster at once');
      assert.ok(cluster.ensured.includes('acme'), "the tenant's bundle was applied first");
      assert.equal(await status(created.body.id), 'queued', 'still queued: admission is Kueue\'s');
      const explained = await p.call('GET', `/api/v1/tenants/acme/jobs/${created.body.id}/explain`, acme.tokens.viewer);
      assert.match(explained.body.summary, /Kueue/);
      assert.ok(submission.env['MLFLOW_RUN_ID'], 'the job gets its run');

      submission.progress('admitted');
      await settle('admitted', async () => (await status(created.body.id)) === 'admitted');
      assert.equal(await status(created.body.id), 'admitted');
      submission.progress('running');
      submission.output('epoch 1 loss 0.5');
      await settle('running', async () => (await status(created.body.id)) === 'running');
      assert.equal(await status(created.body.id), 'running');

      // The pod talks to the API directly (no relay): its token reaches its own run, nothing else.
      const runId = submission.env['MLFLOW_RUN_ID']!;
      const logged = await p.call('POST', '/api/2.0/mlflow/runs/log-batch', submission.token, { run_id: runId, metrics: [{ key: 'loss', value: 0.5, timestamp: 1, step: 1 }] });
      assert.equal(logged.status, 200, JSON.stringify(logged.body));
      const other = await p.call('POST', '/api/2.0/mlflow/runs/create', acme.tokens.member, { experiment_id: '0' });
      const elsewhere = await p.call('POST', '/api/2.0/mlflow/runs/log-batch', submission.token, { run_id: other.body.run.info.run_id, metrics: [{ key: 'x', value: 1, timestamp: 1, step: 1 }] });
      assert.equal(elsewhere.status, 403);
      assert.equal((await p.call('POST', '/api/2.0/mlflow/experiments/create', submission.token, { name: 'sneaky' })).status, 403);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/jobs', submission.token)).status, 403);
      assert.equal((await p.call('GET', '/api/v1/tenants/globex/jobs', submission.token)).status, 404);
      assert.equal((await p.call('GET', '/api/v1/me', submission.token)).status, 200);

      submission.end({ kind: 'succeeded' });
      await settle('succeeded', async () => (await status(created.body.id)) === 'succeeded');
      assert.equal(await status(created.body.id), 'succeeded');
      const logs = await p.app.inject({ method: 'GET', url: `/api/v1/tenants/acme/jobs/${created.body.id}/logs`, headers: { authorization: `Bearer ${acme.tokens.viewer}` } });
      assert.match(logs.body, /epoch 1 loss 0\.5/);
      assert.equal((await p.call('GET', '/api/v1/me', submission.token)).status, 401, 'the job token is revoked when the job ends');
      const history = await p.call('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=loss`, acme.tokens.viewer);
      assert.equal(history.body.metrics.length, 1);
    });

    test('evicted by Kueue before admission: still queued, submitted again', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, job());
      await settle('the submission', () => submitted(created.body.id));
      const first = cluster.submissions.filter((s) => s.jobId === created.body.id);
      assert.equal(first.length, 1);
      first[0]!.end({ kind: 'preempted' });
      await settle('the resubmission', () => submitted(created.body.id, 2));
      assert.equal(await status(created.body.id), 'queued');
      const again = cluster.submissions.filter((s) => s.jobId === created.body.id);
      assert.equal(again.length, 2, 'resubmitted');
      // The second attempt's lines are stored after the first attempt's (its numbering continues).
      again[1]!.progress('admitted');
      again[1]!.progress('running');
      again[1]!.output('second attempt');
      again[1]!.end({ kind: 'succeeded' });
      await settle('succeeded', async () => (await status(created.body.id)) === 'succeeded');
      const logs = await p.app.inject({ method: 'GET', url: `/api/v1/tenants/acme/jobs/${created.body.id}/logs`, headers: { authorization: `Bearer ${acme.tokens.viewer}` } });
      const evicted = logs.body.indexOf('evicted from the cluster queue');
      assert.ok(evicted >= 0, logs.body);
      assert.ok(logs.body.indexOf('second attempt') > evicted, logs.body);
    });

    test('cancel while it waits in Kueue: the cluster job is cancelled, the job ends cancelled', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, job());
      await settle('the submission', () => submitted(created.body.id));
      const cancelled = await p.call('POST', `/api/v1/tenants/acme/jobs/${created.body.id}/cancel`, acme.tokens.member);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      await settle('cancelled', async () => (await status(created.body.id)) === 'cancelled');
      assert.equal(cluster.submissions.find((s) => s.jobId === created.body.id)?.stopped, 'cancel');
      assert.equal(await status(created.body.id), 'cancelled');
    });

    test("inputs: the init container's `bulkhead inputs fetch` gets the code bundle and dataset with the job token; outputs it uploads become the job's", async () => {
      const ctx = { actor: 'test', requestId: 'test' };
      await p.platform.datasets.pushVersion(ctx, acme.id, 'churn', (async function* () {
        yield { path: 'train.csv', stream: Readable.from(Buffer.from('a,b\n1,2\n')) };
      })());
      await p.platform.artifacts.putArtifact(ctx, acme.id, 'code/train.py', Readable.from(Buffer.from('print("hi")\n')));
      await p.platform.artifacts.putArtifact(ctx, acme.id, 'code/other.py', Readable.from(Buffer.from('secret = 1\n')));
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, job({ codeBundle: 'code/train.py', datasets: ['churn:1'] }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await settle('the submission', () => submitted(created.body.id));
      const submission = cluster.submissions.find((s) => s.jobId === created.body.id)!;
      submission.progress('admitted');
      await settle('admitted', async () => (await status(created.body.id)) === 'admitted');

      // What the pod's init container runs: the real CLI over HTTP, with the job's token and nothing else.
      const url = await p.listen();
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-inputs-'));
      const env = { BULKHEAD_URL: url, BULKHEAD_TOKEN: submission.token, BULKHEAD_JOB_ID: submission.jobId, BULKHEAD_TENANT: 'acme', BULKHEAD_CLI_CONFIG: join(dir, 'none.json') };
      const fetched = await runCliWith(['inputs', 'fetch', '--data', join(dir, 'data'), '--code', join(dir, 'code')], env);
      assert.equal(fetched.code, 0, fetched.err);
      assert.equal(readFileSync(join(dir, 'data', 'churn', 'train.csv'), 'utf8'), 'a,b\n1,2\n');
      assert.equal(readFileSync(join(dir, 'code', 'train.py'), 'utf8'), 'print("hi")\n');
      // The token reads its own inputs only: another artifact, another dataset version, another job.
      const artifact = (path: string) => p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`, headers: { authorization: `Bearer ${submission.token}` } });
      assert.equal((await artifact('code/train.py')).statusCode, 200);
      assert.equal((await artifact('code/other.py')).statusCode, 403);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/datasets/churn/versions/2', submission.token)).status, 403);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/datasets', submission.token)).status, 403);
      const first = cluster.submissions[0]!;
      assert.equal((await p.call('GET', `/api/v1/tenants/acme/jobs/${first.jobId}`, submission.token)).status, 403);

      // The job uploads what it keeps under its run's outputs/; those become the job's outputs.
      const prefix = `${submission.env['MLFLOW_EXPERIMENT_ID']}/${submission.env['MLFLOW_RUN_ID']}/artifacts/outputs`;
      const put = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${prefix}/model.json`, headers: { authorization: `Bearer ${submission.token}`, 'content-type': 'application/octet-stream' }, payload: '{"w":[1]}' });
      assert.equal(put.statusCode, 200, put.body);
      submission.progress('running');
      submission.end({ kind: 'succeeded' });
      await settle('succeeded', async () => (await status(created.body.id)) === 'succeeded');
      const done = await p.call('GET', `/api/v1/tenants/acme/jobs/${created.body.id}`, acme.tokens.viewer);
      assert.equal(done.body.status, 'succeeded');
      assert.deepEqual(done.body.outputs.map((o: { path: string }) => o.path), [`${prefix}/model.json`]);
    });

    test("another tenant's token cannot see the job, and a job token cannot reach another tenant's run", async () => {
      const created = await p.call('POST', '/api/v1/tenants/globex/jobs', globex.tokens.member, job());
      await settle('the submission', () => submitted(created.body.id));
      assert.equal((await p.call('GET', `/api/v1/tenants/acme/jobs/${created.body.id}`, acme.tokens.viewer)).status, 404);
      assert.equal((await p.call('GET', `/api/v1/tenants/globex/jobs/${created.body.id}`, acme.tokens.owner)).status, 404);
      const submission = cluster.submissions.find((s) => s.jobId === created.body.id)!;
      const acmeRun = await p.call('POST', '/api/2.0/mlflow/runs/create', acme.tokens.member, { experiment_id: '0' });
      const crossed = await p.call('POST', '/api/2.0/mlflow/runs/log-batch', submission.token, { run_id: acmeRun.body.run.info.run_id, metrics: [{ key: 'x', value: 1, timestamp: 1, step: 1 }] });
      assert.equal(crossed.status, 403);
      const untouched = await p.call('GET', `/api/2.0/mlflow/runs/get?run_id=${acmeRun.body.run.info.run_id}`, acme.tokens.viewer);
      assert.deepEqual(untouched.body.run.data.metrics ?? [], []);
    });
  });

  describe(`jobs on a cluster without Kueue on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    const cluster = scriptedCluster(false);

    before(async () => {
      p = await createTestPlatform(kind, { executor: 'kubernetes', capacityCpu: 2, capacityMemoryMiB: 8192 }, { cluster: { execution: cluster.execution } });
      acme = await p.createTenant('acme');
      await p.call('PUT', '/api/v1/tenants/acme/quota', 'bh_test-platform-admin-token-0123456789abcdefghij', { cpu: 4, memoryMiB: 8192, maxConcurrentJobs: 10 });
    });
    after(async () => {
      for (const s of cluster.submissions) s.end({ kind: 'cancelled' });
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('Bulkhead admits against the configured cluster capacity; the rest waits with an explanation', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) ids.push((await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, job())).body.id);
      await p.platform.jobs.runner.tick();
      await waitFor('two admissions to reach the cluster', () => cluster.submissions.length >= 2);
      assert.equal(cluster.submissions.length, 2, 'two 1-CPU jobs fit a 2-CPU capacity');
      const statuses = await Promise.all(ids.map(async (id) => (await p.call('GET', `/api/v1/tenants/acme/jobs/${id}`, acme.tokens.viewer)).body.status));
      assert.deepEqual(statuses.filter((s) => s === 'admitted').length, 2);
      const waiting = ids[statuses.indexOf('queued')]!;
      const explained = await p.call('GET', `/api/v1/tenants/acme/jobs/${waiting}/explain`, acme.tokens.viewer);
      assert.equal(explained.body.waiting, true);
      assert.ok(explained.body.blockers.length > 0, JSON.stringify(explained.body));
      // One ends: the waiting job is submitted.
      cluster.submissions[0]!.progress('running');
      cluster.submissions[0]!.end({ kind: 'failed', exitCode: 3 } as Omit<Outcome, 'usage'>);
      await waitFor('the waiting job to be submitted', async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.length >= 3;
      });
      assert.equal(cluster.submissions.length, 3);
      const failed = await p.call('GET', `/api/v1/tenants/acme/jobs/${cluster.submissions[0]!.jobId}`, acme.tokens.viewer);
      assert.equal(failed.body.status, 'failed');
      assert.equal(failed.body.exitCode, 3);
    });
  });
}
