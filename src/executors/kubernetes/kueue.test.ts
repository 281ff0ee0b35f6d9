import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureConfig, fixtureTenant } from './kubernetes-fixtures.ts';
import { buildTenantKueueObjects, validateKueueObject } from './kueue.ts';

type Json = Record<string, any>;
const objects = () => buildTenantKueueObjects(fixtureTenant('dedicated'), fixtureConfig()) as Json[];
const byKind = (kind: string) => objects().find((o) => o['kind'] === kind)!;

test('rendered Kueue objects pass the CRD-derived validator', () => {
  for (const obj of objects()) assert.deepEqual(validateKueueObject(obj), [], obj['kind']);
});

const broken: Record<string, [string, (o: Json) => void]> = {
  'cohort name pattern': ['ClusterQueue', (o) => { o['spec']['cohort'] = 'Not_Valid'; }],
  'queueingStrategy enum': ['ClusterQueue', (o) => { o['spec']['queueingStrategy'] = 'Random'; }],
  'nominalQuota required': ['ClusterQueue', (o) => { delete o['spec']['resourceGroups'][0]['flavors'][0]['resources'][0]['nominalQuota']; }],
  'quantity pattern': ['ClusterQueue', (o) => { o['spec']['resourceGroups'][0]['flavors'][0]['resources'][1]['nominalQuota'] = 'lots'; }],
  'resources match coveredResources': ['ClusterQueue', (o) => { o['spec']['resourceGroups'][0]['flavors'][0]['resources'].pop(); }],
  'borrowingLimit needs a cohort': ['ClusterQueue', (o) => { delete o['spec']['cohort']; }],
  'preemption CEL rule': ['ClusterQueue', (o) => { o['spec']['preemption']['reclaimWithinCohort'] = 'Never'; }],
  'unknown field': ['ClusterQueue', (o) => { o['spec']['cohortName'] = 'bulkhead'; }],
  'coveredResources minItems': ['ClusterQueue', (o) => { o['spec']['resourceGroups'][0]['coveredResources'] = []; }],
  'stopPolicy enum': ['LocalQueue', (o) => { o['spec']['stopPolicy'] = 'Pause'; }],
  'LocalQueue needs a namespace': ['LocalQueue', (o) => { delete o['metadata']['namespace']; }],
  'taint effect enum': ['ResourceFlavor', (o) => { o['spec']['nodeTaints'][0]['effect'] = 'Maybe'; }],
  'nodeLabels maxProperties': ['ResourceFlavor', (o) => { for (let i = 0; i < 9; i += 1) o['spec']['nodeLabels'][`k${i}`] = 'v'; }],
  'apiVersion': ['ResourceFlavor', (o) => { o['apiVersion'] = 'kueue.x-k8s.io/v1alpha1'; }],
};

for (const [name, [kind, mutate]] of Object.entries(broken)) {
  test(`validator rejects: ${name}`, () => {
    const obj = byKind(kind);
    mutate(obj);
    assert.notDeepEqual(validateKueueObject(obj), []);
  });
}

test('validator rejects kinds it does not know', () => {
  assert.notDeepEqual(validateKueueObject({ apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'Workload', metadata: { name: 'w' }, spec: {} }), []);
});
