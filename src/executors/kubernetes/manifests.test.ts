import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { isAppError } from '../../core/errors.ts';
import { buildEndpointManifests, buildEndpointTokenSecret } from './endpoint-manifest.ts';
import { buildJobManifest, buildJobTokenSecret } from './job-manifest.ts';
import { fixtureConfig, fixtureEndpoint, fixtureJob, fixtureTenant, tiers } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';
import { buildClusterKueueObjects } from './kueue.ts';
import { bytesQuantity, cpuQuantity, createClusterConfig, memoryQuantity, parseQuantity } from './naming.ts';
import { renderYaml } from './render-yaml.ts';
import { schemaProblems } from './schema-validation.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

type Json = Record<string, any>;
const configs = { kueue: fixtureConfig(), noKueue: fixtureConfig({ kueue: { enabled: false } }) };

const everything = (): { label: string; objects: KubeObject[] }[] =>
  Object.entries(configs).flatMap(([name, config]) =>
    tiers.flatMap((tier) =>
      (['active', 'suspended'] as const).map((status) => {
        const tenant = fixtureTenant(tier, { status });
        const objects = [
          ...buildClusterKueueObjects(config),
          ...buildTenantBundle(tenant, config),
          ...(status === 'active' ? [buildJobManifest(fixtureJob(tenant), config)] : []),
          buildJobTokenSecret(fixtureJob(fixtureTenant(tier)), config, 'not-a-real-token'),
          ...buildEndpointManifests(fixtureEndpoint(tenant), config),
          buildEndpointTokenSecret(fixtureEndpoint(tenant), config, 'not-a-real-token'),
        ];
        return { label: `${tier}/${status}/${name}`, objects };
      }),
    ),
  );

test('every rendered object validates against the Kubernetes / Kueue schemas', () => {
  let count = 0;
  for (const { label, objects } of everything()) {
    for (const obj of objects) {
      assert.deepEqual(schemaProblems(obj), [], `${label} ${obj.kind} ${obj.metadata.name}`);
      count += 1;
    }
  }
  assert.ok(count > 100, `validated ${count} objects`);
});

test('the schema validation is not vacuous: it rejects a malformed Job, Namespace and unknown kind', () => {
  const job = buildJobManifest(fixtureJob(fixtureTenant('sandbox')), configs.kueue) as Json;
  job['spec']['template']['spec']['containers'][0]['imagePullPolicy'] = 'Sometimes';
  assert.notDeepEqual(schemaProblems(job as KubeObject), []);
  const ns = buildTenantBundle(fixtureTenant('sandbox'), configs.kueue)[0] as Json;
  ns['metadata']['labels']['bad'] = 1;
  assert.notDeepEqual(schemaProblems(ns as KubeObject), []);
  assert.notDeepEqual(schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } }), []);
});

test('YAML round-trips to the same objects, one document each', () => {
  for (const { objects } of everything()) {
    const docs = parseAllDocuments(renderYaml(objects));
    assert.ok(Array.isArray(docs));
    assert.deepEqual(docs.map((d) => d.toJS()), objects);
  }
  assert.equal(renderYaml([]), '');
});

test('tenant bundle: namespace, PSA restricted, quota from the tenant, default deny', () => {
  const tenant = fixtureTenant('sandbox');
  const bundle = buildTenantBundle(tenant, configs.kueue);
  const ns = bundle.find((o) => o.kind === 'Namespace')!;
  assert.equal(ns.metadata.name, 'bh-team-sandbox');
  for (const mode of ['enforce', 'audit', 'warn']) assert.equal(ns.metadata.labels?.[`pod-security.kubernetes.io/${mode}`], 'restricted');
  const quota = bundle.find((o) => o.kind === 'ResourceQuota') as Json;
  assert.equal(quota['spec']['hard']['requests.cpu'], '16');
  assert.equal(quota['spec']['hard']['limits.memory'], '64Gi');
  assert.equal(quota['spec']['hard']['requests.nvidia.com/gpu'], '2');
  assert.equal(quota['spec']['hard']['requests.storage'], '200Gi');
  assert.equal(quota['spec']['hard']['pods'], String(4 + configs.kueue.maxEndpointPods));
  const sa = bundle.find((o) => o.kind === 'ServiceAccount') as Json;
  assert.equal(sa['automountServiceAccountToken'], false);
  const kinds = bundle.map((o) => o.kind);
  assert.deepEqual(kinds.slice(-2), ['ClusterQueue', 'LocalQueue']);
  assert.ok(!buildTenantBundle(tenant, configs.noKueue).some((o) => o.apiVersion.startsWith('kueue')));
});

test('ClusterQueue: nominal quota, borrowing limit, cohort, weight; dedicated pins its own flavor', () => {
  const cq = (tier: 'sandbox' | 'dedicated') =>
    buildTenantBundle(fixtureTenant(tier), configs.kueue).find((o) => o.kind === 'ClusterQueue') as Json;
  const shared = cq('sandbox')['spec'];
  assert.equal(shared['cohort'], 'bulkhead');
  assert.equal(shared['fairSharing']['weight'], '1');
  assert.deepEqual(shared['namespaceSelector'], { matchLabels: { 'kubernetes.io/metadata.name': 'bh-team-sandbox' } });
  assert.deepEqual(shared['resourceGroups'][0]['flavors'][0], {
    name: 'bulkhead-shared',
    resources: [
      { name: 'cpu', nominalQuota: '16', borrowingLimit: '8' },
      { name: 'memory', nominalQuota: '64Gi', borrowingLimit: '32Gi' },
      { name: 'nvidia.com/gpu', nominalQuota: '2', borrowingLimit: '1' },
    ],
  });
  const dedicated = cq('dedicated')['spec'];
  assert.equal(dedicated['resourceGroups'][0]['flavors'][0]['name'], 'bh-team-dedicated-dedicated');
  assert.equal(dedicated['resourceGroups'][0]['flavors'][0]['resources'][0]['borrowingLimit'], '0');
  assert.equal(dedicated['fairSharing']['weight'], '2');
});

test('job: hardened, requests = limits, deadline, projected token, Kueue label, tier placement', () => {
  for (const tier of tiers) {
    const tenant = fixtureTenant(tier);
    const job = buildJobManifest(fixtureJob(tenant), configs.kueue) as Json;
    assert.equal(job['metadata']['namespace'], `bh-team-${tier}`);
    assert.equal(job['metadata']['labels']['kueue.x-k8s.io/queue-name'], `bh-team-${tier}`);
    assert.equal(job['spec']['suspend'], true);
    assert.equal(job['spec']['activeDeadlineSeconds'], 7200);
    assert.equal(job['spec']['backoffLimit'], 0);
    const pod = job['spec']['template']['spec'];
    const c = pod['containers'][0];
    assert.deepEqual(c['resources']['requests'], c['resources']['limits']);
    assert.equal(c['resources']['limits']['cpu'], '2500m');
    assert.equal(c['resources']['limits']['memory'], '8Gi');
    assert.deepEqual(c['securityContext']['capabilities'], { drop: ['ALL'] });
    assert.equal(pod['automountServiceAccountToken'], false);
    const token = pod['volumes'].find((v: Json) => v['name'] === 'job-token');
    assert.equal(token['projected']['sources'][0]['secret']['name'], 'job-0190a3c4-token');
    assert.ok(c['volumeMounts'].some((m: Json) => m['name'] === 'job-token' && m['readOnly'] === true));
    assert.deepEqual(c['command'], ['python', '-m', 'train', '--epochs', '3']);
    const envNames = c['env'].map((e: Json) => e['name']);
    assert.deepEqual(envNames.slice(-2), ['LEARNING_RATE', 'WANDB_MODE'], 'user env sorted after platform env');
    const expectedRuntime = { process: undefined, sandbox: 'runsc-sandbox', dedicated: 'kata' }[tier];
    assert.equal(pod['runtimeClassName'], expectedRuntime);
    if (tier === 'dedicated') {
      assert.deepEqual(pod['nodeSelector'], { 'bulkhead.dev/tenant-pool': 'team-dedicated' });
      assert.equal(pod['tolerations'][0]['value'], 'team-dedicated');
    } else {
      assert.equal(pod['nodeSelector'], undefined);
    }
  }
  const plain = buildJobManifest(fixtureJob(fixtureTenant('sandbox')), configs.noKueue) as Json;
  assert.equal(plain['spec']['suspend'], undefined);
  assert.equal(plain['metadata']['labels']['kueue.x-k8s.io/queue-name'], undefined);
});

test('endpoint: ClusterIP service, hardened pods, suspended tenant scales to zero', () => {
  const [deployment, service] = buildEndpointManifests(fixtureEndpoint(fixtureTenant('dedicated')), configs.kueue) as Json[];
  assert.equal(service?.['spec']['type'], 'ClusterIP');
  assert.equal(deployment?.['spec']['replicas'], 2);
  assert.equal(deployment?.['spec']['template']['spec']['runtimeClassName'], 'kata');
  assert.deepEqual(deployment?.['spec']['selector']['matchLabels'], service?.['spec']['selector']);
  const [suspended] = buildEndpointManifests(fixtureEndpoint(fixtureTenant('sandbox', { status: 'suspended' })), configs.kueue) as Json[];
  assert.equal(suspended?.['spec']['replicas'], 0);
});

test('endpoint pods: the init container fetches the model with the token from the Secret; the server reads it read-only', () => {
  const endpoint = fixtureEndpoint(fixtureTenant('sandbox'));
  const [deployment] = buildEndpointManifests(endpoint, configs.kueue) as Json[];
  const pod = deployment?.['spec']['template']['spec'];
  const [init] = pod['initContainers'];
  const [server] = pod['containers'];
  assert.deepEqual(init['command'], ['bulkhead', 'model', 'fetch', '--dest', '/model']);
  assert.equal(init['image'], configs.kueue.platformImage);
  assert.deepEqual(init['env'].find((e: Json) => e['name'] === 'BULKHEAD_TOKEN'), { name: 'BULKHEAD_TOKEN', valueFrom: { secretKeyRef: { name: endpoint.tokenSecretName, key: 'token' } } });
  assert.equal(init['env'].find((e: Json) => e['name'] === 'BULKHEAD_MODEL_PATH')['value'], endpoint.modelArtifactPath);
  assert.deepEqual(init['securityContext'], server['securityContext']);
  assert.equal(server['image'], configs.kueue.platformImage);
  assert.deepEqual(server['command'].slice(0, 4), ['bulkhead', 'serve-model', '--model', '/model/model.onnx']);
  assert.deepEqual(server['volumeMounts'].find((m: Json) => m['name'] === 'model'), { name: 'model', mountPath: '/model', readOnly: true });
  assert.equal(server['env'].some((e: Json) => e['valueFrom'] !== undefined), false, 'the server container never sees the token');
  assert.equal(deployment?.['spec']['template']['metadata']['annotations']['bulkhead.dev/generation'], endpoint.generation);
  const secret = buildEndpointTokenSecret(endpoint, configs.kueue, 'bh_not-a-real-token') as Json;
  assert.equal(secret['metadata']['name'], endpoint.tokenSecretName);
  assert.equal(secret['immutable'], true);
  assert.equal(secret['metadata']['labels']['bulkhead.dev/component'], 'endpoint');
  assert.ok(!JSON.stringify(deployment).includes('bh_not-a-real-token'));
  rejects(() => buildEndpointManifests({ ...endpoint, modelArtifactPath: '../other/model.onnx' }, configs.kueue), 'VALIDATION_FAILED', 'modelArtifactPath');
  rejects(() => buildEndpointManifests({ ...endpoint, generation: 'Not-OK' }, configs.kueue), 'VALIDATION_FAILED', 'generation');
});

const rejects = (fn: () => unknown, code: string, field?: string) =>
  assert.throws(fn, (error: unknown) => isAppError(error) && error.code === code && (field === undefined || error.details?.['field'] === field));

test('builders refuse input Kubernetes cannot express, with AppError codes', () => {
  const tenant = fixtureTenant('sandbox');
  const config = configs.kueue;
  rejects(() => buildTenantBundle({ ...tenant, slug: 'Bad_Slug' }, config), 'VALIDATION_FAILED', 'tenant slug');
  rejects(() => buildTenantBundle({ ...tenant, slug: 'x'.repeat(61) }, config), 'VALIDATION_FAILED', 'tenant namespace');
  rejects(() => buildTenantBundle({ ...tenant, id: 'nope' }, config), 'VALIDATION_FAILED', 'tenant.id');
  rejects(() => buildTenantBundle({ ...tenant, quota: { ...tenant.quota, cpu: -1 } }, config), 'VALIDATION_FAILED', 'quota.cpu');
  rejects(() => buildTenantBundle({ ...tenant, quota: { ...tenant.quota, weight: 0 } }, config), 'VALIDATION_FAILED', 'quota.weight');
  rejects(() => buildJobManifest(fixtureJob({ ...tenant, status: 'suspended' }), config), 'TENANT_SUSPENDED');
  rejects(() => buildJobManifest(fixtureJob(tenant, { command: [] }), config), 'VALIDATION_FAILED', 'command');
  rejects(() => buildJobManifest(fixtureJob(tenant, { env: { MLFLOW_TRACKING_URI: 'http://evil' } }), config), 'VALIDATION_FAILED', 'env');
  rejects(() => buildJobManifest(fixtureJob(tenant, { env: { BULKHEAD_JOB_TOKEN_FILE: '/x' } }), config), 'VALIDATION_FAILED', 'env');
  rejects(() => buildJobManifest(fixtureJob(tenant, { env: { 'A=B': '1' } }), config), 'VALIDATION_FAILED', 'env');
  rejects(() => buildJobManifest(fixtureJob(tenant, { resources: { cpu: 1, memoryMiB: 1, gpu: 0, timeoutSeconds: 0 } }), config), 'VALIDATION_FAILED', 'resources.timeoutSeconds');
  rejects(() => buildJobManifest(fixtureJob(tenant, { resources: { cpu: 0, memoryMiB: 1, gpu: 0, timeoutSeconds: 1 } }), config), 'VALIDATION_FAILED', 'resources');
  rejects(() => buildEndpointManifests(fixtureEndpoint(tenant, { name: 'Not OK' }), config), 'VALIDATION_FAILED', 'endpoint name');
  rejects(() => buildEndpointManifests(fixtureEndpoint(tenant, { replicas: -1 }), config), 'VALIDATION_FAILED', 'replicas');
});

test('createClusterConfig lists every problem at once', () => {
  assert.throws(
    () => createClusterConfig({ platformNamespace: 'Bad NS', runAsUser: 0, platformApiPort: 70000, kueue: { cohort: '_' } }),
    (error: unknown) => {
      if (!isAppError(error)) return false;
      const problems = error.details?.['problems'] as string[];
      return problems.length === 4 && error.code === 'VALIDATION_FAILED';
    },
  );
  assert.equal(createClusterConfig().namespacePrefix, 'bh-');
});

test('quantities render canonically and parse back to the same amount', () => {
  assert.equal(cpuQuantity(0.25), '250m');
  assert.equal(cpuQuantity(3), '3');
  assert.equal(memoryQuantity(1536), '1536Mi');
  assert.equal(memoryQuantity(2048), '2Gi');
  assert.equal(memoryQuantity(0), '0');
  assert.equal(bytesQuantity(1024 ** 4), '1Ti');
  assert.equal(bytesQuantity(1500), '1500');
  for (const [q, n] of [['250m', 0.25], ['2Gi', 2 * 1024 ** 3], ['1e3', 1000], ['1k', 1000], [7, 7]] as const) {
    assert.equal(parseQuantity(q), n);
  }
  assert.equal(parseQuantity('lots'), undefined);
});
