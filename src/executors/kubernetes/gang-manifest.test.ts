/**
 * Gang jobs and GPU flavors rendered for Kubernetes, schema-checked offline (core kinds against the
 * official OpenAPI schemas, Kueue kinds against the CRD structure) like every other builder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGangJobObjects, buildGpuFlavorObjects, GANG_PORT, gangServiceName } from './gang-manifest.ts';
import { fixtureConfig, fixtureGpuFlavors, fixtureJob, fixtureTenant } from './kubernetes-fixtures.ts';
import { schemaProblems } from './schema-validation.ts';

const config = fixtureConfig();
const job = fixtureJob(fixtureTenant('sandbox'));

test('a gang job is a headless Service, an Indexed Job and a NetworkPolicy, all schema-valid', () => {
  const objects = buildGangJobObjects(job, { workers: 4 }, config);
  assert.deepEqual(objects.map((o) => o.kind), ['Service', 'Job', 'NetworkPolicy']);
  for (const obj of objects) assert.deepEqual(schemaProblems(obj), [], `${obj.kind} ${obj.metadata.name}`);
  const [service, indexed, policy] = objects as [any, any, any];
  assert.equal(service.spec.clusterIP, 'None');
  assert.equal(indexed.spec.completionMode, 'Indexed');
  assert.equal(indexed.spec.completions, 4);
  assert.equal(indexed.spec.parallelism, 4);
  // Kueue admits the whole Job (all 4 pods) as one workload: it is created suspended in the tenant's queue.
  assert.equal(indexed.spec.suspend, true);
  assert.equal(indexed.metadata.labels['kueue.x-k8s.io/queue-name'], 'bh-team-sandbox');
  assert.equal(indexed.spec.template.spec.subdomain, gangServiceName(job.id));
  const env = indexed.spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: any }>;
  assert.equal(env.find((e) => e.name === 'WORLD_SIZE')?.value, '4');
  assert.equal(env.find((e) => e.name === 'MASTER_PORT')?.value, String(GANG_PORT));
  assert.match(env.find((e) => e.name === 'MASTER_ADDR')?.value ?? '', /^job-0190a3c4-.*-0\.job-.*-w\.bh-team-sandbox\.svc$/);
  assert.match(env.find((e) => e.name === 'RANK')?.valueFrom.fieldRef.fieldPath, /job-completion-index/);
  // Each pod (rank) asks for the per-worker GPU.
  assert.equal(indexed.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], '1');
  // Only this job's pods reach its pods, only on the gang ports; nothing else of the tenant's.
  assert.deepEqual(policy.spec.podSelector, { matchLabels: { 'bulkhead.dev/job-id': job.id } });
  assert.deepEqual(policy.spec.ingress, [{ from: [{ podSelector: { matchLabels: { 'bulkhead.dev/job-id': job.id } } }], ports: [{ protocol: 'TCP', port: 29500, endPort: 29599 }] }]);
});

test('an optional topology request for the gang', () => {
  const [, indexed] = buildGangJobObjects(job, { workers: 2, preferredTopology: 'kubernetes.io/hostname' }, config) as [unknown, any];
  assert.equal(indexed.spec.template.metadata.annotations['kueue.x-k8s.io/podset-preferred-topology'], 'kubernetes.io/hostname');
  const [, plain] = buildGangJobObjects(job, { workers: 2 }, config) as [unknown, any];
  assert.equal(plain.spec.template.metadata.annotations?.['kueue.x-k8s.io/podset-preferred-topology'], undefined);
});

test('a gang of one, or of more than 64, is refused', () => {
  assert.throws(() => buildGangJobObjects(job, { workers: 1 }, config), /2 to 64 workers/);
  assert.throws(() => buildGangJobObjects(job, { workers: 65 }, config), /2 to 64 workers/);
});

test('GPU types and MIG profiles as ResourceFlavors with per-flavor quotas, schema-valid', () => {
  const objects = buildGpuFlavorObjects(fixtureTenant('sandbox'), fixtureGpuFlavors, config);
  for (const obj of objects) assert.deepEqual(schemaProblems(obj), [], `${obj.kind} ${obj.metadata.name}`);
  const queue = objects.find((o) => o.kind === 'ClusterQueue') as any;
  const groups = queue.spec.resourceGroups as Array<{ coveredResources: string[]; flavors: Array<{ name: string; resources: Array<{ nominalQuota: string }> }> }>;
  assert.deepEqual(groups.map((g) => g.coveredResources), [['cpu', 'memory'], ['nvidia.com/gpu'], ['nvidia.com/mig-3g.40gb']]);
  assert.equal(groups[2]?.flavors[0]?.name, 'mig-3g-40gb');
  assert.equal(groups[2]?.flavors[0]?.resources[0]?.nominalQuota, '2');
  assert.throws(() => buildGpuFlavorObjects(fixtureTenant('sandbox'), [{ ...fixtureGpuFlavors[0]!, resource: 'amd.com/gpu' }], config), /unknown GPU resource/);
  assert.equal((buildGpuFlavorObjects(fixtureTenant('sandbox', { status: 'suspended' }), fixtureGpuFlavors, config).at(-1) as any).spec.stopPolicy, 'Hold');
});
