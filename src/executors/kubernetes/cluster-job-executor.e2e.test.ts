/**
 * Live test of the cluster job executor: runs only when KUBECONFIG names a kubeconfig file, otherwise prints
 * `skip: no KUBECONFIG`. Reconciles a throw-away `process`-tier tenant (with Kueue when its CRDs are
 * installed), then runs real Jobs (image `busybox:1.36`, pulled by the cluster) through
 * `createClusterJobExecutor` with the real `createKubernetesClient` and `createPodLogSource`, and proves:
 * a job that prints "hello" and exits 3 is `failed` with exit code 3 and its line arrives in `output`; a job
 * over its memory limit is `oom_killed`; `cancel()` gives `cancelled` and removes the Job; `preempt()` gives
 * `preempted`; with Kueue, admission is reported as progress; the token Secret is gone after every run.
 * The namespace is deleted at the end, even on failure. See docs/kubernetes.md for kind/k3s instructions.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { ApiextensionsV1Api, KubeConfig } from '@kubernetes/client-node';
import { createClusterJobExecutor, KUEUE_ADMITTED_REASON } from './cluster-job-executor.ts';
import type { ClusterJobRun } from './cluster-job-executor.ts';
import { fixtureConfig, fixtureJob, fixtureTenant } from './kubernetes-fixtures.ts';
import type { JobResources } from './kubernetes-types.ts';
import { buildClusterKueueObjects } from './kueue.ts';
import type { JobProgress } from './outcome-mapping.ts';
import { createKubernetesClient, createPodLogSource, deleteTenant, reconcileTenant } from './reconciler.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

const kubeconfigPath = process.env['KUBECONFIG'];
const live = kubeconfigPath !== undefined && kubeconfigPath !== '' && existsSync(kubeconfigPath.split(':')[0] ?? '');
if (!live) console.log('skip: no KUBECONFIG');

const IMAGE = 'busybox:1.36';

test('live cluster: jobs fail with their exit code and output, get OOM-killed, cancelled and preempted', { skip: live ? false : 'no KUBECONFIG', timeout: 15 * 60_000 }, async (t) => {
  const kc = new KubeConfig();
  kc.loadFromDefault(); // honours KUBECONFIG (including colon-separated lists)
  const client = createKubernetesClient(kc);
  let kueue = true;
  try {
    await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'workloads.kueue.x-k8s.io' });
  } catch {
    kueue = false;
  }
  console.log(`live: cluster ${kc.getCurrentCluster()?.server ?? '?'}, Kueue ${kueue ? 'installed' : 'not installed'}`);
  // No priority classes: nothing here creates Kueue WorkloadPriorityClasses, and a Job labelled with a
  // missing one gets no Workload from Kueue, so it would stay suspended for ever.
  const config = fixtureConfig({ kueue: { enabled: kueue, priorityClasses: [] } });
  const suffix = randomUUID().slice(0, 8);
  const tenant = fixtureTenant('process', { id: randomUUID(), slug: `e2e-${suffix}` });
  const namespace = `bh-e2e-${suffix}`;
  const executor = createClusterJobExecutor({ client, config, pollIntervalMs: 500, logs: createPodLogSource(kc) });

  const start = (command: string[], resources: Partial<JobResources> = {}) => {
    const id = randomUUID();
    const token = `bhj_${randomBytes(24).toString('base64url')}`;
    const lines: string[] = [];
    const progress: JobProgress[] = [];
    let onRunning: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      onRunning = resolve;
    });
    const run: ClusterJobRun = {
      job: fixtureJob(tenant, {
        id,
        command,
        image: IMAGE,
        env: {},
        resources: { cpu: 0.1, memoryMiB: 64, gpu: 0, timeoutSeconds: 300, ...resources },
        jobTokenSecretName: `job-${id.slice(0, 8)}-token`,
      }),
      token,
      output: (line) => lines.push(line.line),
      onProgress: (p) => {
        progress.push(p);
        if (p.state === 'running') onRunning();
      },
    };
    const handle = executor.start(run);
    const secretGone = async () =>
      (await client.get({ apiVersion: 'v1', kind: 'Secret', name: run.job.jobTokenSecretName, namespace })) === undefined;
    const jobGone = async () => (await client.get({ apiVersion: 'batch/v1', kind: 'Job', name: `job-${id}`, namespace })) === undefined;
    const noToken = () => assert.ok(!JSON.stringify(progress).includes(token), 'no progress carries the token');
    return { handle, lines, progress, running, secretGone, jobGone, noToken };
  };

  try {
    for (const shared of buildClusterKueueObjects(config)) {
      await client.apply(shared, { fieldManager: 'bulkhead', force: true, dryRun: false });
    }
    await reconcileTenant(client, buildTenantBundle(tenant, config), { tenantId: tenant.id, namespace, component: 'tenant' });

    await t.test('exit 3 → failed with exit code 3; "hello" in the output', async () => {
      const job = start(['sh', '-c', 'echo hello; exit 3']);
      const outcome = await job.handle.wait();
      assert.equal(outcome.kind, 'failed', JSON.stringify({ outcome, progress: job.progress }));
      assert.equal(outcome.kind === 'failed' && outcome.exitCode, 3);
      assert.ok(job.lines.includes('hello'), `output was ${JSON.stringify(job.lines)}`);
      assert.ok(outcome.usage.wallMs > 0);
      if (kueue) assert.ok(job.progress.some((p) => p.state === 'pending' && p.reason === KUEUE_ADMITTED_REASON), 'Kueue admission reported');
      const last = job.progress.at(-1);
      assert.ok(last?.state === 'finished' && last.outcome === 'failed' && last.exitCode === 3, `last progress ${JSON.stringify(last)}`);
      assert.ok(await job.secretGone(), 'the token Secret is deleted');
      job.noToken();
    });

    await t.test('over its memory limit → oom_killed', async () => {
      // Doubling a shell variable grows the shell's own memory until the cgroup's OOM killer ends it.
      const job = start(['sh', '-c', 'a=x; while true; do a="$a$a"; done'], { memoryMiB: 32 });
      const outcome = await job.handle.wait();
      assert.equal(outcome.kind, 'oom_killed', JSON.stringify({ outcome, progress: job.progress }));
      assert.ok(await job.secretGone());
    });

    await t.test('cancel → cancelled; the Job is deleted', async () => {
      const job = start(['sh', '-c', 'trap "exit 143" TERM; echo started; sleep 300 & wait']);
      const early = await Promise.race([job.running.then(() => undefined), job.handle.wait()]);
      assert.equal(early, undefined, `the job ended before it ran: ${JSON.stringify(early)}`);
      job.handle.cancel();
      const outcome = await job.handle.wait();
      assert.equal(outcome.kind, 'cancelled', JSON.stringify({ outcome, progress: job.progress }));
      assert.ok(await job.jobGone(), 'the Job is deleted');
      assert.ok(await job.secretGone());
    });

    await t.test('preempt → preempted; the Job is deleted', async () => {
      const job = start(['sh', '-c', 'trap "echo got SIGTERM; exit 143" TERM; echo started; sleep 300 & wait']);
      const early = await Promise.race([job.running.then(() => undefined), job.handle.wait()]);
      assert.equal(early, undefined, `the job ended before it ran: ${JSON.stringify(early)}`);
      job.handle.preempt(5000);
      const outcome = await job.handle.wait();
      assert.equal(outcome.kind, 'preempted', JSON.stringify({ outcome, progress: job.progress }));
      assert.ok(await job.jobGone(), 'the Job is deleted');
      assert.ok(await job.secretGone());
    });
  } finally {
    const deleted = await deleteTenant(client, { tenantId: tenant.id, namespace });
    assert.ok(deleted.deleted.includes(`v1/Namespace//${namespace}`));
  }
});
