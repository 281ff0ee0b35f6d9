/**
 * The reconciler's logic against an IN-MEMORY FAKE of `KubernetesClient` (defined below, test-only). The
 * fake imitates the API server only as far as the reconciler depends on it: apply merges and keeps
 * server-set fields, list filters by label selector, deleting a Namespace deletes what is in it. Proof
 * against a real API server is `reconciler.e2e.test.ts` (runs with KUBECONFIG).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../core/errors.ts';
import { buildEndpointManifests } from './endpoint-manifest.ts';
import { fixtureConfig, fixtureEndpoint, fixtureTenant } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';
import { objectKey } from './naming.ts';
import { deleteTenant, diffOwnedFields, reconcileTenant } from './reconciler.ts';
import type { KubernetesClient, ObjectRef } from './reconciler.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

type Json = Record<string, any>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const merge = (live: unknown, desired: unknown): unknown => {
  if (!isObj(live) || !isObj(desired)) return structuredClone(desired);
  const out: Json = { ...live };
  for (const [k, v] of Object.entries(desired)) out[k] = merge(live[k], v);
  return out;
};

/** FAKE (test-only): an in-memory stand-in for the API server behind `KubernetesClient`. */
const createFakeClient = (options: { failApplyOf?: string } = {}) => {
  const store = new Map<string, KubeObject>();
  const calls: string[] = [];
  const keyOf = (r: ObjectRef) => `${r.apiVersion}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
  const matches = (obj: KubeObject, selector: string) =>
    selector.split(',').every((term) => {
      const [k, v] = term.split('=');
      return obj.metadata.labels?.[k ?? ''] === v;
    });
  let uid = 0;
  const client: KubernetesClient = {
    apply: async (obj, opts) => {
      calls.push(`apply ${objectKey(obj)} ${opts.fieldManager} force=${opts.force}`);
      if (options.failApplyOf === obj.kind) throw Object.assign(new Error('boom'), { code: 500 });
      const key = objectKey(obj);
      const live = store.get(key);
      const stored = (live === undefined
        ? merge({ metadata: { uid: `uid-${(uid += 1)}`, resourceVersion: '1' }, status: {} }, obj)
        : merge(live, obj)) as KubeObject;
      store.set(key, stored);
      return structuredClone(stored);
    },
    get: async (ref) => {
      const hit = store.get(keyOf(ref));
      return hit === undefined ? undefined : structuredClone(hit);
    },
    list: async (q) =>
      [...store.values()]
        .filter((o) => o.apiVersion === q.apiVersion && o.kind === q.kind)
        .filter((o) => q.namespace === undefined || o.metadata.namespace === q.namespace)
        .filter((o) => matches(o, q.labelSelector))
        .map((o) => structuredClone(o)),
    delete: async (ref) => {
      calls.push(`delete ${keyOf(ref)}`);
      const existed = store.delete(keyOf(ref));
      if (ref.kind === 'Namespace') {
        for (const [k, o] of store) if (o.metadata.namespace === ref.name) store.delete(k);
      }
      return existed;
    },
  };
  return { client, store, calls };
};

const config = fixtureConfig();
const tenant = fixtureTenant('sandbox');
const opts = { tenantId: tenant.id, namespace: 'bh-team-sandbox', component: 'tenant' as const };

test('first reconcile creates everything, namespace first, with manager bulkhead and force', async () => {
  const { client, store, calls } = createFakeClient();
  const desired = buildTenantBundle(tenant, config);
  const result = await reconcileTenant(client, desired, opts);
  assert.equal(result.created.length, desired.length);
  assert.deepEqual([result.updated, result.pruned, result.drift], [[], [], []]);
  assert.equal(store.size, desired.length);
  assert.match(calls[0] ?? '', /^apply v1\/Namespace\/\/bh-team-sandbox bulkhead force=true$/);
  // Cluster-scoped Kueue object applied before namespaced ones.
  const firstNamespaced = calls.findIndex((c) => /\/bh-team-sandbox\//.test(c));
  assert.ok(calls.findIndex((c) => c.includes('ClusterQueue')) < firstNamespaced);
});

test('second reconcile is a no-op; hand edits are reported as drift and corrected', async () => {
  const { client, store } = createFakeClient();
  const desired = buildTenantBundle(tenant, config);
  await reconcileTenant(client, desired, opts);
  assert.equal((await reconcileTenant(client, desired, opts)).unchanged.length, desired.length);

  const quotaKey = 'v1/ResourceQuota/bh-team-sandbox/tenant-quota';
  const quota = store.get(quotaKey) as Json;
  quota['spec']['hard']['requests.cpu'] = '64';
  quota['spec']['hard']['count/secrets'] = '5'; // someone else's field: not ours, not drift
  const npKey = 'networking.k8s.io/v1/NetworkPolicy/bh-team-sandbox/default-deny-all';
  (store.get(npKey) as Json)['spec']['policyTypes'] = ['Ingress'];

  const result = await reconcileTenant(client, desired, opts);
  assert.deepEqual(result.updated.sort(), [npKey, quotaKey].sort());
  const quotaDrift = result.drift.find((d) => d.object === quotaKey);
  assert.deepEqual(quotaDrift?.differences, [{ path: 'spec.hard.requests.cpu', desired: '16', live: '64' }]);
  assert.equal((store.get(quotaKey) as Json)['spec']['hard']['requests.cpu'], '16');
  assert.deepEqual((store.get(npKey) as Json)['spec']['policyTypes'], ['Ingress', 'Egress']);
});

test('dry run reports drift and prunes nothing', async () => {
  const { client, store } = createFakeClient();
  const desired = buildTenantBundle(tenant, config);
  await reconcileTenant(client, desired, opts);
  (store.get('v1/LimitRange/bh-team-sandbox/tenant-limits') as Json)['spec']['limits'][0]['max']['cpu'] = '999';
  const before = structuredClone([...store.entries()]);
  const withoutDns = desired.filter((o) => o.metadata.name !== 'allow-dns-egress');
  const result = await reconcileTenant(client, withoutDns, { ...opts, dryRun: true });
  assert.equal(result.dryRun, true);
  assert.deepEqual(result.updated, ['v1/LimitRange/bh-team-sandbox/tenant-limits']);
  assert.deepEqual(result.pruned, ['networking.k8s.io/v1/NetworkPolicy/bh-team-sandbox/allow-dns-egress']);
  assert.deepEqual([...store.entries()], before);
});

test('prune removes what is no longer desired — only this tenant, only this component', async () => {
  const { client, store } = createFakeClient();
  const other = fixtureTenant('process');
  await reconcileTenant(client, buildTenantBundle(other, config), { tenantId: other.id, namespace: 'bh-team-process', component: 'tenant' });
  const endpoint = buildEndpointManifests(fixtureEndpoint(tenant), config);
  const bundle = buildTenantBundle(tenant, config);
  await reconcileTenant(client, bundle, opts);
  await reconcileTenant(client, endpoint, { ...opts, component: 'endpoint' });
  // An object someone else created in the namespace, without our labels.
  store.set('v1/ServiceAccount/bh-team-sandbox/debug', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'debug', namespace: 'bh-team-sandbox' } });

  // The tenant moves off Kueue: the ClusterQueue and LocalQueue must go.
  const noKueue = buildTenantBundle(tenant, fixtureConfig({ kueue: { enabled: false } }));
  const result = await reconcileTenant(client, noKueue, opts);
  assert.deepEqual(result.pruned.sort(), [
    'kueue.x-k8s.io/v1beta1/ClusterQueue//bh-team-sandbox',
    'kueue.x-k8s.io/v1beta1/LocalQueue/bh-team-sandbox/bh-team-sandbox',
  ]);
  assert.ok(store.has('kueue.x-k8s.io/v1beta1/ClusterQueue//bh-team-process'), "another tenant's queue survives");
  assert.ok(store.has('apps/v1/Deployment/bh-team-sandbox/ep-churn'), 'endpoints are not pruned by the tenant bundle');
  assert.ok(store.has('v1/ServiceAccount/bh-team-sandbox/debug'), 'unlabelled objects are never pruned');

  // Deleting the endpoint: reconcile the endpoint component with nothing desired.
  const gone = await reconcileTenant(client, [], { ...opts, component: 'endpoint' });
  assert.deepEqual(gone.pruned.sort(), ['apps/v1/Deployment/bh-team-sandbox/ep-churn', 'v1/Service/bh-team-sandbox/ep-churn']);
});

test('refuses objects not labelled for this tenant and component before writing', async () => {
  const { client, calls } = createFakeClient();
  const foreign = buildTenantBundle(fixtureTenant('process'), config);
  await assert.rejects(reconcileTenant(client, foreign, opts), (e: unknown) => isAppError(e) && e.code === 'INTERNAL');
  const endpoint = buildEndpointManifests(fixtureEndpoint(tenant), config);
  await assert.rejects(reconcileTenant(client, endpoint, opts), (e: unknown) => isAppError(e) && e.code === 'INTERNAL');
  assert.deepEqual(calls, []);
});

test('cluster errors surface as AppError UNAVAILABLE with the object named', async () => {
  const { client } = createFakeClient({ failApplyOf: 'ResourceQuota' });
  await assert.rejects(reconcileTenant(client, buildTenantBundle(tenant, config), opts), (e: unknown) =>
    isAppError(e) && e.code === 'UNAVAILABLE' && e.message.includes('ResourceQuota') && e.details?.['status'] === 500,
  );
});

test('deleteTenant deletes the namespace and the tenant cluster-scoped Kueue objects, idempotently', async () => {
  const { client, store } = createFakeClient();
  const dedicated = fixtureTenant('dedicated');
  const dOpts = { tenantId: dedicated.id, namespace: 'bh-team-dedicated', component: 'tenant' as const };
  await reconcileTenant(client, buildTenantBundle(dedicated, config), dOpts);
  await reconcileTenant(client, buildTenantBundle(tenant, config), opts);
  const result = await deleteTenant(client, dOpts);
  assert.deepEqual(result.deleted, [
    'v1/Namespace//bh-team-dedicated',
    'kueue.x-k8s.io/v1beta1/ClusterQueue//bh-team-dedicated',
    'kueue.x-k8s.io/v1beta1/ResourceFlavor//bh-team-dedicated-dedicated',
  ]);
  assert.ok(![...store.values()].some((o) => o.metadata.labels?.['bulkhead.dev/tenant-id'] === dedicated.id));
  assert.ok(store.has('kueue.x-k8s.io/v1beta1/ClusterQueue//bh-team-sandbox'));
  assert.deepEqual((await deleteTenant(client, dOpts)).deleted, []);
});

test('diffOwnedFields: subset semantics, quantities by amount, lists by length', () => {
  assert.deepEqual(diffOwnedFields({ a: { b: '1' } }, { a: { b: '1', c: 2 }, d: 3 }), []);
  assert.deepEqual(diffOwnedFields({ cpu: '1000m', mem: '1024Mi' }, { cpu: '1', mem: '1Gi' }), []);
  assert.deepEqual(diffOwnedFields({ cpu: '1' }, { cpu: '2' }), [{ path: 'cpu', desired: '1', live: '2' }]);
  assert.deepEqual(diffOwnedFields({ l: [1, 2] }, { l: [1] }), [{ path: 'l', desired: [1, 2], live: [1] }]);
  assert.deepEqual(diffOwnedFields({ l: [{ x: 'a' }] }, { l: [{ x: 'b', y: 1 }] }), [{ path: 'l[0].x', desired: 'a', live: 'b' }]);
  assert.deepEqual(diffOwnedFields({ on: false }, {}), [{ path: 'on', desired: false, live: undefined }]);
  assert.deepEqual(diffOwnedFields({ name: 'abc' }, { name: 'abd' }), [{ path: 'name', desired: 'abc', live: 'abd' }]);
});
