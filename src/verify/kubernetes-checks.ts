/**
 * `--kubernetes`: the namespace checks of the Kubernetes multi-tenancy benchmarks over what the platform
 * would apply for a tenant — the bundle it renders through its public API
 * (`GET /api/v1/tenants/{tenant}/kubernetes/bundle`, platform admin). The verifier reads the YAML the
 * server renders, parses it itself and judges it with its own rules (it imports nothing of the server's
 * builders or policy checks, so a builder regression cannot also blind the verifier).
 *
 * What needs a live cluster is reported as skipped with the reason: the probes as pods in the tenant
 * namespaces, that the NetworkPolicy is *enforced* (a CNI that implements it), that PSA admission
 * actually rejects a privileged pod, that the applied objects equal the rendered ones.
 */
import { parseAllDocuments } from 'yaml';
import type { CheckResult } from './verify-types.ts';
import type { VerifyHttp } from './verify-http.ts';
import type { VerifyTenant } from './verify-tenants.ts';

type Json = Record<string, unknown>;
const rec = (value: unknown): Json => (typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {});
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const strs = (value: unknown): string[] => arr(value).filter((v): v is string => typeof v === 'string');

export interface KubeDoc { kind: string; name: string; namespace: string | undefined; raw: Json }

export const parseBundle = (text: string): KubeDoc[] =>
  parseAllDocuments(text).map((d) => rec(d.toJSON())).filter((o) => typeof o['kind'] === 'string').map((raw) => {
    const meta = rec(raw['metadata']);
    return { kind: raw['kind'] as string, name: String(meta['name'] ?? ''), namespace: typeof meta['namespace'] === 'string' ? meta['namespace'] : undefined, raw };
  });

/** One namespace check's verdict over a bundle: the violations found (empty: passed). */
export interface BundleVerdict { check: string; expectation: string; violations: string[]; evidence: string }

/** RBAC verbs and resources that let a tenant workload widen its own rights or read others' secrets. */
const dangerousVerbs = ['*', 'escalate', 'bind', 'impersonate', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const dangerousResources = ['*', 'secrets', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings', 'pods/exec', 'pods/attach', 'serviceaccounts/token', 'namespaces', 'nodes', 'resourcequotas', 'limitranges', 'networkpolicies'];

/**
 * Judges one tenant's rendered bundle. `otherNamespaces`: namespaces of other tenants, which no object
 * of this bundle may live in or grant to. Pure.
 */
export const judgeBundle = (docs: readonly KubeDoc[], otherNamespaces: readonly string[]): BundleVerdict[] => {
  const verdicts: BundleVerdict[] = [];
  const namespaces = docs.filter((d) => d.kind === 'Namespace');
  const ns = namespaces[0]?.name ?? '';
  const labels = rec(rec(namespaces[0]?.raw['metadata'])['labels']);
  verdicts.push({ check: 'k8s: one tenant namespace', expectation: 'exactly one Namespace, not another tenant\'s', violations: namespaces.length !== 1 ? [`${namespaces.length} Namespace objects`] : otherNamespaces.includes(ns) ? [`namespace ${ns} is another tenant's`] : [], evidence: `namespace ${ns || 'none'}` });
  const psa = ['enforce', 'audit', 'warn'].map((mode) => [mode, labels[`pod-security.kubernetes.io/${mode}`]] as const);
  verdicts.push({
    check: 'k8s: PSA labels', expectation: 'pod-security.kubernetes.io/enforce=restricted (audit, warn too)',
    violations: psa.filter(([, value]) => value !== 'restricted').map(([mode, value]) => `${mode}=${String(value ?? 'unset')}`),
    evidence: psa.map(([mode, value]) => `${mode}=${String(value ?? 'unset')}`).join(', '),
  });
  const outside = docs.filter((d) => d.kind !== 'Namespace' && d.kind !== 'ClusterQueue' && d.kind !== 'ResourceFlavor' && d.namespace !== ns);
  verdicts.push({ check: 'k8s: every object in the tenant namespace', expectation: `namespaced objects in ${ns} only (no cluster-scoped grant)`, violations: outside.map((d) => `${d.kind} ${d.namespace ?? '(cluster)'}/${d.name}`), evidence: `${docs.length} objects` });
  const quotas = docs.filter((d) => d.kind === 'ResourceQuota');
  const hard = rec(rec(quotas[0]?.raw['spec'])['hard']);
  const needed = ['requests.cpu', 'limits.cpu', 'requests.memory', 'limits.memory', 'pods'];
  verdicts.push({
    check: 'k8s: ResourceQuota', expectation: `a ResourceQuota with ${needed.join(', ')}; no NodePort or LoadBalancer services`,
    violations: quotas.length === 0 ? ['no ResourceQuota'] : [...needed.filter((k) => hard[k] === undefined).map((k) => `no ${k}`), ...['services.nodeports', 'services.loadbalancers'].filter((k) => String(hard[k]) !== '0').map((k) => `${k}=${String(hard[k] ?? 'unset')}`)],
    evidence: Object.entries(hard).map(([k, v]) => `${k}=${String(v)}`).join(', ') || 'none',
  });
  const limitRanges = docs.filter((d) => d.kind === 'LimitRange');
  const container = arr(rec(limitRanges[0]?.raw['spec'])['limits']).map(rec).find((l) => l['type'] === 'Container');
  verdicts.push({
    check: 'k8s: LimitRange', expectation: 'container default requests and limits (cpu, memory) and a max',
    violations: container === undefined ? ['no Container LimitRange'] : ['default', 'defaultRequest', 'max'].filter((k) => rec(container[k])['cpu'] === undefined || rec(container[k])['memory'] === undefined).map((k) => `no ${k} cpu/memory`),
    evidence: container === undefined ? 'none' : JSON.stringify({ default: container['default'], max: container['max'] }),
  });
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const denyAll = policies.find((p) => {
    const spec = rec(p.raw['spec']);
    const types = strs(spec['policyTypes']);
    return Object.keys(rec(spec['podSelector'])).length === 0 && types.includes('Ingress') && types.includes('Egress') && arr(spec['ingress']).length === 0 && arr(spec['egress']).length === 0;
  });
  // An allow rule with an empty peer (`- {}` or no `from`/`to`) opens everything the deny closed.
  const openRules = policies.flatMap((p) => {
    const spec = rec(p.raw['spec']);
    return [...arr(spec['ingress']).map((r) => ['from', rec(r)] as const), ...arr(spec['egress']).map((r) => ['to', rec(r)] as const)]
      .filter(([key, rule]) => arr(rule[key]).length === 0 || arr(rule[key]).some((peer) => Object.keys(rec(peer)).length === 0))
      .map(([key]) => `NetworkPolicy ${p.name}: a rule with no '${key}' peer allows every ${key === 'from' ? 'source' : 'destination'}`);
  });
  const crossTenant = policies.flatMap((p) => JSON.stringify(p.raw['spec']).includes('"namespaceSelector":{}') ? [`NetworkPolicy ${p.name}: an empty namespaceSelector (every namespace)`] : otherNamespaces.filter((o) => JSON.stringify(p.raw['spec']).includes(`"${o}"`)).map((o) => `NetworkPolicy ${p.name} names ${o}`));
  verdicts.push({
    check: 'k8s: default-deny NetworkPolicy', expectation: 'a policy selecting every pod with Ingress and Egress and no rule; allow rules name their peers, never another tenant or every namespace',
    violations: [...(denyAll === undefined ? ['no default-deny policy for ingress and egress'] : []), ...openRules, ...crossTenant],
    evidence: policies.map((p) => p.name).join(', ') || 'none',
  });
  const roles = docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole');
  const roleViolations = roles.flatMap((r) => (r.kind === 'ClusterRole' ? [`ClusterRole ${r.name}`] : [])
    .concat(arr(r.raw['rules']).map(rec).flatMap((rule) => {
      const verbs = strs(rule['verbs']);
      const resources = strs(rule['resources']);
      const out: string[] = [];
      for (const v of verbs.filter((x) => dangerousVerbs.includes(x))) out.push(`Role ${r.name}: verb ${v} on ${resources.join(',')}`);
      for (const res of resources.filter((x) => dangerousResources.includes(x))) out.push(`Role ${r.name}: resource ${res}`);
      if (strs(rule['apiGroups']).includes('*')) out.push(`Role ${r.name}: apiGroups *`);
      return out;
    })));
  const bindings = docs.filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding');
  const bindingViolations = bindings.flatMap((b) => {
    const roleRef = rec(b.raw['roleRef']);
    const out: string[] = [];
    if (b.kind === 'ClusterRoleBinding') out.push(`ClusterRoleBinding ${b.name}`);
    if (roleRef['kind'] === 'ClusterRole') out.push(`RoleBinding ${b.name} grants ClusterRole ${String(roleRef['name'])}`);
    for (const subject of arr(b.raw['subjects']).map(rec)) {
      if (subject['kind'] !== 'ServiceAccount') out.push(`RoleBinding ${b.name}: subject ${String(subject['kind'])} ${String(subject['name'])}`);
      else if (subject['namespace'] !== ns) out.push(`RoleBinding ${b.name}: service account of namespace ${String(subject['namespace'])}`);
    }
    return out;
  });
  const accounts = docs.filter((d) => d.kind === 'ServiceAccount' && d.raw['automountServiceAccountToken'] !== false).map((d) => `ServiceAccount ${d.name} mounts its token`);
  verdicts.push({
    check: 'k8s: RBAC least privilege', expectation: 'namespaced Roles only, read verbs, no secrets / RBAC / exec; bindings to the namespace\'s own service accounts; no automounted token',
    violations: [...roleViolations, ...bindingViolations, ...accounts],
    evidence: [...roles, ...bindings].map((d) => `${d.kind} ${d.name}`).join(', ') || 'none',
  });
  return verdicts;
};

/** The checks that only a live cluster can answer: reported as skipped, with the reason. */
export const liveClusterChecks = [
  ['k8s: probe pods in the tenant namespace', 'the compute probes as pods (host files, network, privileges, limits)'],
  ['k8s: default-deny NetworkPolicy enforced', 'a pod of B cannot connect to a pod of A (needs a CNI that enforces NetworkPolicy)'],
  ['k8s: PSA admission rejects a privileged pod', 'the API server refuses a privileged pod in the tenant namespace'],
  ['k8s: applied objects match the rendered bundle', 'the cluster holds what the platform renders (no drift)'],
] as const;

export const runKubernetesChecks = async (ctx: { http: VerifyHttp; url: string; adminToken: string; tenants: readonly VerifyTenant[] }): Promise<CheckResult[]> => {
  const results: CheckResult[] = [];
  const rendered: Array<{ tenant: VerifyTenant; docs: KubeDoc[] | undefined; path: string }> = [];
  for (const tenant of ctx.tenants) {
    const path = `/api/v1/tenants/${tenant.slug}/kubernetes/bundle`;
    const answer = await ctx.http.call({ method: 'GET', path, token: ctx.adminToken });
    if (answer.status !== 200) {
      results.push({ group: 'compute', check: 'k8s: tenant bundle rendered', target: `tenant ${tenant.slug}`, expectation: '200 with the bundle', result: 'fail', evidence: `${answer.status} ${answer.text.slice(0, 200)}`, reproduce: `curl -H 'authorization: Bearer $TOKEN' ${ctx.url}${path}` });
      rendered.push({ tenant, docs: undefined, path });
      continue;
    }
    rendered.push({ tenant, docs: parseBundle(answer.text), path });
  }
  const namespaceOf = (docs: KubeDoc[] | undefined) => docs?.find((d) => d.kind === 'Namespace')?.name;
  for (const { tenant, docs, path } of rendered) {
    if (docs === undefined) continue;
    const others = rendered.filter((r) => r.tenant !== tenant).map((r) => namespaceOf(r.docs)).filter((n): n is string => n !== undefined);
    for (const verdict of judgeBundle(docs, others)) {
      results.push({
        group: 'compute', check: verdict.check, target: `namespace ${namespaceOf(docs) ?? tenant.slug}`, expectation: verdict.expectation,
        result: verdict.violations.length === 0 ? 'pass' : 'fail',
        evidence: verdict.violations.length === 0 ? `rendered bundle: ${verdict.evidence}` : verdict.violations.join('; '),
        reproduce: `curl -H 'authorization: Bearer $TOKEN' ${ctx.url}${path}`,
      });
    }
  }
  for (const [check, expectation] of liveClusterChecks) {
    results.push({ group: 'compute', check, target: 'cluster', expectation, result: 'skip', evidence: 'needs a live cluster: this version checks the rendered bundle only (docs/verify.md)' });
  }
  return results;
};
