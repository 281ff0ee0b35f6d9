import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEndpointManifests } from './endpoint-manifest.ts';
import { buildJobManifest } from './job-manifest.ts';
import { fixtureConfig, fixtureEndpoint, fixtureJob, fixtureTenant, tiers } from './kubernetes-fixtures.ts';
import type { ClusterConfig, IsolationTier, KubeObject } from './kubernetes-types.ts';
import { policyChecks, policyContextFor, runPolicyChecks } from './policy-checks.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

type Json = Record<string, any>;
const withKueue = fixtureConfig();
const withoutKueue = fixtureConfig({ kueue: { enabled: false } });

const bundleFor = (tier: IsolationTier, config: ClusterConfig): KubeObject[] => {
  const tenant = fixtureTenant(tier);
  return [
    ...buildTenantBundle(tenant, config),
    buildJobManifest(fixtureJob(tenant), config),
    ...buildEndpointManifests(fixtureEndpoint(tenant), config),
  ];
};
const ctxFor = (tier: IsolationTier, config: ClusterConfig) => policyContextFor(fixtureTenant(tier), config);

for (const tier of tiers) {
  for (const [name, config] of [['kueue', withKueue], ['no kueue', withoutKueue]] as const) {
    test(`every policy check passes on the rendered ${tier} bundle (${name})`, () => {
      const results = runPolicyChecks(bundleFor(tier, config), ctxFor(tier, config));
      assert.equal(results.length, policyChecks.length);
      for (const r of results) assert.deepEqual(r.violations, [], r.id);
    });
  }
}

const find = (objects: Json[], kind: string, name?: string): Json => {
  const hit = objects.find((o) => o['kind'] === kind && (name === undefined || o['metadata']['name'] === name));
  assert.ok(hit, `fixture has a ${kind}`);
  return hit;
};
const jobPod = (o: Json[]) => find(o, 'Job')['spec']['template']['spec'];
const jobContainer = (o: Json[]) => jobPod(o)['containers'][0];
const deploymentContainer = (o: Json[]) => find(o, 'Deployment')['spec']['template']['spec']['containers'][0];

/** One deliberate break per check: applying it must make exactly that check fail. */
const mutations: Record<string, (objects: Json[]) => void> = {
  'pod-security-restricted': (o) => { find(o, 'Namespace')['metadata']['labels']['pod-security.kubernetes.io/enforce'] = 'privileged'; },
  'no-privileged-containers': (o) => { jobContainer(o)['securityContext']['privileged'] = true; },
  'no-host-path': (o) => { jobPod(o)['volumes'].push({ name: 'host', hostPath: { path: '/' } }); },
  'no-host-namespaces': (o) => { jobPod(o)['hostPID'] = true; },
  'no-host-ports': (o) => { deploymentContainer(o)['ports'][0]['hostPort'] = 8080; },
  'no-nodeport-or-loadbalancer': (o) => { find(o, 'Service')['spec']['type'] = 'NodePort'; },
  'no-added-capabilities': (o) => { jobContainer(o)['securityContext']['capabilities']['add'] = ['NET_ADMIN']; },
  'drop-all-capabilities': (o) => { deploymentContainer(o)['securityContext']['capabilities']['drop'] = ['NET_RAW']; },
  'run-as-non-root': (o) => { jobContainer(o)['securityContext']['runAsNonRoot'] = false; },
  'read-only-root-filesystem': (o) => { jobContainer(o)['securityContext']['readOnlyRootFilesystem'] = false; },
  'no-privilege-escalation': (o) => { delete deploymentContainer(o)['securityContext']['allowPrivilegeEscalation']; },
  'seccomp-runtime-default': (o) => { jobContainer(o)['securityContext']['seccompProfile'] = { type: 'Unconfined' }; },
  'service-account-token-not-mounted': (o) => { find(o, 'ServiceAccount')['automountServiceAccountToken'] = true; },
  'requests-equal-limits': (o) => { jobContainer(o)['resources']['requests']['cpu'] = '100m'; },
  'default-deny-network-policy': (o) => { find(o, 'NetworkPolicy', 'default-deny-all')['spec']['policyTypes'] = ['Ingress']; },
  'network-allows-confined': (o) => { find(o, 'NetworkPolicy', 'allow-platform-api-egress')['spec']['egress'][0]['to'][0]['namespaceSelector'] = {}; },
  'resource-quota-present': (o) => { o.splice(o.indexOf(find(o, 'ResourceQuota')), 1); },
  'limit-range-present': (o) => { o.splice(o.indexOf(find(o, 'LimitRange')), 1); },
  'role-binding-present': (o) => { o.splice(o.indexOf(find(o, 'RoleBinding')), 1); },
  'no-cluster-rbac': (o) => { o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'oops' } }); },
  'role-cannot-modify-guardrails': (o) => { find(o, 'Role')['rules'].push({ apiGroups: [''], resources: ['resourcequotas'], verbs: ['patch'] }); },
  'confined-to-namespace': (o) => { find(o, 'RoleBinding')['subjects'][0]['namespace'] = 'bh-other-tenant'; },
  'tier-placement': (o) => { delete jobPod(o)['runtimeClassName']; },
  'jobs-queued-through-kueue': (o) => { delete find(o, 'Job')['metadata']['labels']['kueue.x-k8s.io/queue-name']; },
};

/** Breaks that rightly trip a second check too: a ClusterRoleBinding is also an object outside the namespace. */
const alsoFails: Record<string, string[]> = { 'no-cluster-rbac': ['confined-to-namespace'] };

test('every check has a breaking mutation', () => {
  assert.deepEqual(Object.keys(mutations).sort(), policyChecks.map((c) => c.id).sort());
});

for (const [id, mutate] of Object.entries(mutations)) {
  test(`check ${id} fails on a bundle broken for it (and nothing unrelated does)`, () => {
    // dedicated: the tier with the most to check (runtime class, node pool); Kueue on for the queue check.
    const objects = structuredClone(bundleFor('dedicated', withKueue)) as Json[];
    mutate(objects);
    const results = runPolicyChecks(objects as KubeObject[], ctxFor('dedicated', withKueue));
    const failed = results.filter((r) => !r.passed).map((r) => r.id);
    assert.deepEqual(failed.sort(), [id, ...(alsoFails[id] ?? [])].sort());
  });
}

test('further breaks the checks catch', () => {
  const ctx = ctxFor('sandbox', withKueue);
  const cases: [string, (o: Json[]) => void][] = [
    ['no-host-namespaces', (o) => { find(o, 'Deployment')['spec']['template']['spec']['hostNetwork'] = true; }],
    ['run-as-non-root', (o) => { jobPod(o)['securityContext']['runAsUser'] = 0; }],
    ['role-cannot-modify-guardrails', (o) => { find(o, 'Role')['rules'].push({ apiGroups: ['*'], resources: ['*'], verbs: ['get'] }); }],
    ['role-cannot-modify-guardrails', (o) => { find(o, 'Role')['rules'].push({ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }); }],
    ['no-cluster-rbac', (o) => { find(o, 'RoleBinding')['roleRef']['kind'] = 'ClusterRole'; }],
    ['confined-to-namespace', (o) => { find(o, 'ClusterQueue')['spec']['namespaceSelector'] = {}; }],
    ['confined-to-namespace', (o) => { find(o, 'Job')['metadata']['namespace'] = 'default'; }],
    ['network-allows-confined', (o) => { find(o, 'NetworkPolicy', 'allow-dns-egress')['spec']['egress'][0]['to'] = [{ ipBlock: { cidr: '0.0.0.0/0' } }]; }],
    ['no-nodeport-or-loadbalancer', (o) => { find(o, 'Service')['spec']['externalIPs'] = ['1.2.3.4']; }],
  ];
  for (const [id, mutate] of cases) {
    const objects = structuredClone(bundleFor('sandbox', withKueue)) as Json[];
    mutate(objects);
    const result = runPolicyChecks(objects as KubeObject[], ctx).find((r) => r.id === id);
    assert.equal(result?.passed, false, `${id} should catch ${mutate.toString()}`);
  }
});
