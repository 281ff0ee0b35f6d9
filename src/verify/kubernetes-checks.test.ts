/**
 * The `--kubernetes` namespace checks judge a rendered bundle: the platform's own golden sandbox bundle
 * passes every check, and each deliberate weakening is caught and named (PSA label, quota, limit range,
 * default-deny policy, an allow-all rule, a wildcard Role, a ClusterRoleBinding, another tenant's namespace).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { judgeBundle, parseBundle } from './kubernetes-checks.ts';
import type { KubeDoc } from './kubernetes-checks.ts';

const golden = readFileSync(new URL('../executors/kubernetes/golden/tenant-sandbox.yaml', import.meta.url), 'utf8');
const fresh = (): KubeDoc[] => parseBundle(golden);
const violations = (docs: KubeDoc[], others: string[] = []) => Object.fromEntries(judgeBundle(docs, others).map((v) => [v.check, v.violations]));
const failing = (docs: KubeDoc[], others: string[] = []) => Object.entries(violations(docs, others)).filter(([, v]) => v.length > 0).map(([c]) => c);

test('the golden sandbox bundle passes every namespace check', () => {
  const docs = fresh();
  assert.ok(docs.length > 8);
  assert.deepEqual(failing(docs, ['bh-other']), []);
});

test('each weakening is caught and named', () => {
  let docs = fresh();
  const labels = (docs.find((d) => d.kind === 'Namespace')!.raw['metadata'] as { labels: Record<string, string> }).labels;
  labels['pod-security.kubernetes.io/enforce'] = 'privileged';
  assert.deepEqual(violations(docs)['k8s: PSA labels'], ['enforce=privileged']);

  docs = fresh().filter((d) => d.kind !== 'ResourceQuota' && d.kind !== 'LimitRange');
  assert.deepEqual(violations(docs)['k8s: ResourceQuota'], ['no ResourceQuota']);
  assert.deepEqual(violations(docs)['k8s: LimitRange'], ['no Container LimitRange']);

  docs = fresh();
  ((docs.find((d) => d.kind === 'ResourceQuota')!.raw['spec'] as { hard: Record<string, string> }).hard)['services.nodeports'] = '3';
  assert.deepEqual(violations(docs)['k8s: ResourceQuota'], ['services.nodeports=3']);

  docs = fresh().filter((d) => d.name !== 'default-deny-all');
  assert.deepEqual(violations(docs)['k8s: default-deny NetworkPolicy'], ['no default-deny policy for ingress and egress']);

  docs = fresh();
  (docs.find((d) => d.name === 'allow-dns-egress')!.raw['spec'] as { egress: unknown[] }).egress.push({});
  assert.match(violations(docs)['k8s: default-deny NetworkPolicy']!.join(), /allow-dns-egress: a rule with no 'to' peer allows every destination/);

  docs = fresh();
  (docs.find((d) => d.kind === 'Role')!.raw['rules'] as unknown[]).push({ apiGroups: ['*'], resources: ['secrets'], verbs: ['*'] });
  assert.deepEqual(violations(docs)['k8s: RBAC least privilege'], ['Role bulkhead-workload: verb * on secrets', 'Role bulkhead-workload: resource secrets', 'Role bulkhead-workload: apiGroups *']);

  docs = fresh();
  docs.push({ kind: 'ClusterRoleBinding', name: 'oops', namespace: undefined, raw: { kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'bulkhead-workload', namespace: 'bh-team-sandbox' }] } });
  assert.ok(failing(docs).includes('k8s: RBAC least privilege') && failing(docs).includes('k8s: every object in the tenant namespace'), failing(docs).join());
  assert.match(violations(docs)['k8s: RBAC least privilege']!.join(), /ClusterRoleBinding oops.*grants ClusterRole cluster-admin/);

  // The bundle of one tenant naming another tenant's namespace.
  assert.deepEqual(violations(fresh(), ['bh-team-sandbox'])['k8s: one tenant namespace'], ["namespace bh-team-sandbox is another tenant's"]);
});
