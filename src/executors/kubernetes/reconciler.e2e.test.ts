/**
 * Live test against a real cluster: runs only when KUBECONFIG names a kubeconfig file, otherwise prints
 * `skip: no KUBECONFIG`. Creates a throw-away tenant (`process` tier, so no RuntimeClass or node pool is
 * needed), and proves on the API server itself: the bundle applies, re-applies without drift (canonical
 * quantities, server defaults ignored), a foreign edit is detected and reverted, Pod Security `restricted`
 * rejects a privileged pod while the hardened job passes admission (server dry run), pruning deletes what is
 * no longer desired, and deleteTenant removes the namespace and the ClusterQueue. Kueue objects are
 * included when Kueue's CRDs are installed. See docs/kubernetes.md for kind/k3s instructions.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { ApiextensionsV1Api, KubeConfig } from '@kubernetes/client-node';
import { buildJobManifest } from './job-manifest.ts';
import { fixtureConfig, fixtureJob, fixtureTenant } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';
import { buildClusterKueueObjects } from './kueue.ts';
import { createKubernetesClient, deleteTenant, reconcileTenant, statusOfError } from './reconciler.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

const kubeconfigPath = process.env['KUBECONFIG'];
const live = kubeconfigPath !== undefined && kubeconfigPath !== '' && existsSync(kubeconfigPath.split(':')[0] ?? '');
if (!live) console.log('skip: no KUBECONFIG');

test('live cluster: apply, drift, Pod Security, prune, delete', { skip: live ? false : 'no KUBECONFIG' }, async () => {
  const kc = new KubeConfig();
  kc.loadFromDefault(); // honours KUBECONFIG (including colon-separated lists)
  const client = createKubernetesClient(kc);
  let kueue = true;
  try {
    await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'clusterqueues.kueue.x-k8s.io' });
  } catch {
    kueue = false;
  }
  console.log(`live: cluster ${kc.getCurrentCluster()?.server ?? '?'}, Kueue ${kueue ? 'installed' : 'not installed'}`);
  const config = fixtureConfig({ kueue: { enabled: kueue } });
  const suffix = randomUUID().slice(0, 8);
  const tenant = fixtureTenant('process', { id: randomUUID(), slug: `e2e-${suffix}` });
  const namespace = `bh-e2e-${suffix}`;
  const opts = { tenantId: tenant.id, namespace, component: 'tenant' as const };
  const desired = buildTenantBundle(tenant, config);

  try {
    for (const shared of buildClusterKueueObjects(config)) {
      await client.apply(shared, { fieldManager: 'bulkhead', force: true, dryRun: false });
    }
    const first = await reconcileTenant(client, desired, opts);
    assert.equal(first.created.length, desired.length);

    const second = await reconcileTenant(client, desired, opts);
    assert.deepEqual(second.drift, [], 'a fresh apply must not look drifted');

    // Another manager changes a field Bulkhead owns.
    const quota = structuredClone(desired.find((o) => o.kind === 'ResourceQuota')!) as KubeObject & { spec: { hard: Record<string, string> } };
    quota.metadata = { name: quota.metadata.name, namespace };
    quota.spec = { hard: { 'requests.cpu': '1' } };
    await client.apply(quota, { fieldManager: 'e2e-intruder', force: true, dryRun: false });
    const third = await reconcileTenant(client, desired, opts);
    assert.ok(third.drift.some((d) => d.object.endsWith('/tenant-quota') && d.differences.some((x) => x.path === 'spec.hard.requests.cpu')));
    assert.deepEqual((await reconcileTenant(client, desired, opts)).drift, [], 'drift corrected');

    // Pod Security `restricted` is enforced: a privileged pod is refused, the hardened job admitted (dry run).
    const privileged: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged', namespace },
      spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
    };
    await assert.rejects(client.apply(privileged, { fieldManager: 'e2e', force: true, dryRun: true }), (e: unknown) => statusOfError(e) === 403);
    const job = buildJobManifest(fixtureJob(tenant, { resources: { cpu: 0.1, memoryMiB: 64, gpu: 0, timeoutSeconds: 60 } }), config);
    await client.apply(job, { fieldManager: 'bulkhead', force: true, dryRun: true });

    // Prune: the DNS policy is no longer desired.
    const fewer = desired.filter((o) => o.metadata.name !== 'allow-dns-egress');
    const pruned = await reconcileTenant(client, fewer, opts);
    assert.deepEqual(pruned.pruned, [`networking.k8s.io/v1/NetworkPolicy/${namespace}/allow-dns-egress`]);
    assert.equal(await client.get({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', name: 'allow-dns-egress', namespace }), undefined);
  } finally {
    const deleted = await deleteTenant(client, opts);
    assert.ok(deleted.deleted.includes(`v1/Namespace//${namespace}`));
    if (kueue) assert.ok(deleted.deleted.includes(`kueue.x-k8s.io/v1beta1/ClusterQueue//${namespace}`));
    const ns = await client.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
    assert.ok(ns === undefined || ns.metadata['deletionTimestamp'] !== undefined, 'namespace is gone or terminating');
  }
});
