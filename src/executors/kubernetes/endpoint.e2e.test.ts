/**
 * Live test against a real cluster for endpoints: runs only when KUBECONFIG names a kubeconfig file,
 * otherwise prints `skip: no KUBECONFIG`. Creates a throw-away `process`-tier tenant and proves on the API
 * server: an endpoint generation (token Secret, Deployment, Service) applies through the reconciler with
 * component `endpoint` and no pruning; its pod passes admission (Pod Security `restricted`, quota, LimitRange;
 * server dry run of a Pod from the template); the Deployment's status is read as the generation's
 * (`observeEndpointGeneration`: progressing, never ready here, since the pods need the platform image and
 * API); a second generation takes over the template, so the first reads `superseded`; deleting removes
 * them. It does not run a model: that needs the platform image and a reachable API.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { buildEndpointManifests, buildEndpointTokenSecret, endpointObjectName } from './endpoint-manifest.ts';
import { observeEndpointGeneration } from './endpoint-status.ts';
import { fixtureConfig, fixtureEndpoint, fixtureTenant } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';
import { createKubernetesClient, deleteTenant, reconcileTenant } from './reconciler.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

const kubeconfigPath = process.env['KUBECONFIG'];
const live = kubeconfigPath !== undefined && kubeconfigPath !== '' && existsSync(kubeconfigPath.split(':')[0] ?? '');
if (!live) console.log('skip: no KUBECONFIG');

test('live cluster: endpoint generations apply, pass admission, are read and replaced', { skip: live ? false : 'no KUBECONFIG' }, async () => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const client = createKubernetesClient(kc);
  const config = fixtureConfig({ kueue: { enabled: false } });
  const suffix = randomUUID().slice(0, 8);
  const tenant = fixtureTenant('process', { id: randomUUID(), slug: `e2e-${suffix}` });
  const namespace = `bh-e2e-${suffix}`;
  const generation = (g: string) => fixtureEndpoint(tenant, { replicas: 1, resources: { cpu: 0.1, memoryMiB: 128 }, generation: g, tokenSecretName: `ep-churn-${g}` });
  const apply = async (g: string) => {
    const endpoint = generation(g);
    await client.apply(buildEndpointTokenSecret(endpoint, config, `bh_e2e-not-a-real-token-${suffix}`), { fieldManager: 'bulkhead', force: true, dryRun: false });
    return reconcileTenant(client, buildEndpointManifests(endpoint, config), { tenantId: tenant.id, namespace, component: 'endpoint', pruneKinds: [] });
  };
  const deployment = () => client.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: endpointObjectName('churn'), namespace });
  try {
    await reconcileTenant(client, buildTenantBundle(tenant, config), { tenantId: tenant.id, namespace, component: 'tenant' });
    const first = await apply('g1');
    assert.equal(first.created.length, 2);
    const [template] = buildEndpointManifests(generation('g1'), config) as Array<KubeObject & { spec: { template: { spec: Record<string, unknown> } } }>;
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ep-admission', namespace, labels: template!.metadata.labels ?? {} }, spec: template!.spec.template.spec };
    await client.apply(pod, { fieldManager: 'bulkhead', force: true, dryRun: true }); // admitted: restricted, quota, limits

    let observed = observeEndpointGeneration(await deployment(), 'g1');
    assert.ok(observed.phase === 'progressing', JSON.stringify(observed));
    assert.equal(observed.desired, 1);

    await apply('g2');
    const live2 = await deployment();
    assert.equal(observeEndpointGeneration(live2, 'g1').phase, 'superseded');
    observed = observeEndpointGeneration(live2, 'g2');
    assert.notEqual(observed.phase, 'superseded');
    assert.ok(await client.get({ apiVersion: 'v1', kind: 'Secret', name: 'ep-churn-g1', namespace }), 'the old Secret stays until the platform retires it');
    assert.ok(await client.get({ apiVersion: 'v1', kind: 'Service', name: endpointObjectName('churn'), namespace }));

    assert.equal(await client.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name: endpointObjectName('churn'), namespace }, { propagationPolicy: 'Background' }), true);
    assert.equal(observeEndpointGeneration(await deployment().then((d) => (d?.metadata['deletionTimestamp'] === undefined ? d : undefined)), 'g2').phase, 'missing');
  } finally {
    await deleteTenant(client, { tenantId: tenant.id, namespace });
  }
});
