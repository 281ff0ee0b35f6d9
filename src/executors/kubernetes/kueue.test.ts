import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureConfig, fixtureOrganization, fixtureTeamInOrganization, fixtureTenant } from './kubernetes-fixtures.ts';
import { buildKueueConfiguration, buildTenantKueueObjects, goDuration, validateKueueObject } from './kueue.ts';
import { createClusterConfig } from './naming.ts';

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

// ---- the tenant tree as hierarchical Cohorts (issue 15) ----

const orgObjects = () => buildTenantKueueObjects(fixtureOrganization(), fixtureConfig()) as Json[];
const teamObjects = () => buildTenantKueueObjects(fixtureTeamInOrganization(), fixtureConfig()) as Json[];
const ofKind = (objs: Json[], kind: string) => objs.find((o) => o['kind'] === kind)!;
const quotas = (o: Json) => o['spec']['resourceGroups'][0]['flavors'][0]['resources'] as Json[];

test('tree objects pass the validator: the organization Cohort, its own queue, and a team queue in it', () => {
  for (const obj of [...orgObjects(), ...teamObjects()]) assert.deepEqual(validateKueueObject(obj), [], obj['kind']);
});

test("an organization renders a Cohort under its parent's, holding what its children leave of its nominal, with its limits and weight", () => {
  const cohort = ofKind(orgObjects(), 'Cohort');
  assert.equal(cohort['metadata']['name'], 'bulkhead-org-east');
  // A root organization's parent is the platform's root cohort.
  assert.equal(cohort['spec']['parent'], 'bulkhead');
  assert.deepEqual(quotas(cohort), [
    // 40 − 32 cores; lends at most 8 (its limit), borrows at most 16.
    { name: 'cpu', nominalQuota: '8', borrowingLimit: '16', lendingLimit: '8' },
    // 128 − 96 GiB; no lending limit (lends all).
    { name: 'memory', nominalQuota: '32Gi', borrowingLimit: '64Gi' },
    { name: 'nvidia.com/gpu', nominalQuota: '0', borrowingLimit: '0', lendingLimit: '0' },
  ]);
  assert.deepEqual(cohort['spec']['fairSharing'], { weight: '3' });
  // Its own jobs' queue joins its Cohort with nothing of its own (the Fair Tree's self entry).
  const own = ofKind(orgObjects(), 'ClusterQueue');
  assert.equal(own['spec']['cohort'], 'bulkhead-org-east');
  assert.deepEqual(quotas(own).map((q) => Object.keys(q).sort()), [['name', 'nominalQuota'], ['name', 'nominalQuota'], ['name', 'nominalQuota']]);
  assert.deepEqual(own['spec']['admissionScope'], { admissionMode: 'UsageBasedAdmissionFairSharing' });
});

test("a team's ClusterQueue joins its organization's Cohort with its nominal quota, borrowing and lending limits", () => {
  const cq = ofKind(teamObjects(), 'ClusterQueue');
  assert.equal(cq['spec']['cohort'], 'bulkhead-org-east');
  assert.deepEqual(quotas(cq), [
    { name: 'cpu', nominalQuota: '16', borrowingLimit: '8', lendingLimit: '4' },
    { name: 'memory', nominalQuota: '64Gi', borrowingLimit: '32Gi' },
    { name: 'nvidia.com/gpu', nominalQuota: '2', borrowingLimit: '1', lendingLimit: '0' },
  ]);
  // A second-level organization's Cohort names its parent organization's.
  const nested = buildTenantKueueObjects({ ...fixtureOrganization(), slug: 'org-east-ml', tree: { parentSlug: 'org-east', childrenNominal: { cpu: 0, memoryMiB: 0, gpu: 0 } } }, fixtureConfig()) as Json[];
  assert.equal(ofKind(nested, 'Cohort')['spec']['parent'], 'bulkhead-org-east');
  // A flat tenant is unchanged: the platform's cohort, no lending limit rendered for "lends all".
  const flat = byKind('ClusterQueue');
  assert.equal(flat['spec']['cohort'], 'bulkhead');
  assert.ok(quotas(flat).every((q) => q['lendingLimit'] === undefined));
});

test("an organization's lending limit above what its children leave is rendered as that remainder (Kueue: ≤ nominalQuota)", () => {
  const org = fixtureOrganization();
  const objs = buildTenantKueueObjects({ ...org, quota: { ...org.quota, lendingLimit: { cpu: 20, memoryMiB: null, gpu: null } } }, fixtureConfig()) as Json[];
  const cohort = ofKind(objs, 'Cohort');
  assert.equal(quotas(cohort)[0]!['lendingLimit'], '8');
  assert.deepEqual(validateKueueObject(cohort), []);
});

const brokenTree: Record<string, [() => Json, (o: Json) => void]> = {
  'Cohort limits need a parent': [() => ofKind(orgObjects(), 'Cohort'), (o) => { delete o['spec']['parent']; }],
  'Cohort parent name pattern': [() => ofKind(orgObjects(), 'Cohort'), (o) => { o['spec']['parent'] = 'Org_East'; }],
  'Cohort unknown field (v1beta2 parentName)': [() => ofKind(orgObjects(), 'Cohort'), (o) => { o['spec']['parentName'] = 'bulkhead'; }],
  'lendingLimit above nominalQuota': [() => ofKind(teamObjects(), 'ClusterQueue'), (o) => { quotas(o)[0]!['lendingLimit'] = '17'; }],
  'lendingLimit needs a cohort': [() => ofKind(teamObjects(), 'ClusterQueue'), (o) => { delete o['spec']['cohort']; for (const q of quotas(o)) delete q['borrowingLimit']; }],
  'admissionMode enum': [() => ofKind(teamObjects(), 'ClusterQueue'), (o) => { o['spec']['admissionScope']['admissionMode'] = 'Fair'; }],
};

for (const [name, [pick, mutate]] of Object.entries(brokenTree)) {
  test(`validator rejects: ${name}`, () => {
    const obj = pick();
    assert.deepEqual(validateKueueObject(obj), []);
    mutate(obj);
    assert.notDeepEqual(validateKueueObject(obj), []);
  });
}

test("the Kueue Configuration turns on fair sharing and admission fair sharing with the platform's half-life", () => {
  const conf = buildKueueConfiguration(fixtureConfig()) as unknown as Json;
  assert.equal(conf['apiVersion'], 'config.kueue.x-k8s.io/v1beta1');
  assert.equal(conf['fairSharing']['enable'], true);
  assert.equal(conf['admissionFairSharing']['usageHalfLifeTime'], '168h0m0s');
  const day = buildKueueConfiguration(createClusterConfig({ kueue: { usageHalfLifeMs: 36 * 3600 * 1000 } })) as unknown as Json;
  assert.equal(day['admissionFairSharing']['usageHalfLifeTime'], '36h0m0s');
  assert.equal(goDuration(90 * 60 * 1000), '1h30m0s');
  assert.equal(goDuration(45 * 1000), '45s');
  assert.throws(() => createClusterConfig({ kueue: { usageHalfLifeMs: 0 } }));
});
