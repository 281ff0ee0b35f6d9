/**
 * Static multi-tenancy checks over a tenant's rendered objects, after the Kubernetes Multi-Tenancy
 * Benchmark (MTB, kubernetes-sigs/multi-tenancy `benchmarks`) where its checks fit a platform-managed
 * namespace, plus Bulkhead's own tier and queueing rules. They read objects only — run them before apply
 * (and in tests) so a builder regression is caught without a cluster. Pure.
 */
import type { ClusterConfig, IsolationTier, KubeObject, TenantSpec } from './kubernetes-types.ts';
import { parseQuantity, tenantNamespace, tenantPlacement, tenantQueueName, labelKeys } from './naming.ts';

export interface PolicyContext {
  tenantId: string;
  slug: string;
  namespace: string;
  tier: IsolationTier;
  config: ClusterConfig;
  /** The LocalQueue jobs must name when Kueue is enabled. */
  queueName: string;
}

export interface PolicyCheck {
  id: string;
  title: string;
  /** The MTB check this follows, when there is one. */
  mtb?: string;
  /** Returns one human-readable violation per offending object or field; empty when the check passes. */
  run(objects: readonly KubeObject[], ctx: PolicyContext): string[];
}

export interface PolicyResult {
  id: string;
  title: string;
  passed: boolean;
  violations: string[];
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const rec = (value: unknown): Json => (isRecord(value) ? value : {});
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const ref = (obj: KubeObject): string =>
  `${obj.kind} ${obj.metadata.namespace === undefined ? '' : `${obj.metadata.namespace}/`}${obj.metadata.name}`;

interface PodTemplate {
  owner: KubeObject;
  spec: Json;
}

/** The pod specs an object would create: Pods, workload templates, CronJob job templates. */
const podTemplates = (objects: readonly KubeObject[]): PodTemplate[] => {
  const out: PodTemplate[] = [];
  for (const obj of objects) {
    const spec = rec(obj['spec']);
    switch (obj.kind) {
      case 'Pod':
        out.push({ owner: obj, spec });
        break;
      case 'Job':
      case 'Deployment':
      case 'StatefulSet':
      case 'DaemonSet':
      case 'ReplicaSet':
      case 'ReplicationController':
        out.push({ owner: obj, spec: rec(rec(spec['template'])['spec']) });
        break;
      case 'CronJob':
        out.push({ owner: obj, spec: rec(rec(rec(rec(spec['jobTemplate'])['spec'])['template'])['spec']) });
        break;
      default:
        break;
    }
  }
  return out;
};

interface ContainerRef {
  owner: KubeObject;
  pod: Json;
  container: Json;
  label: string;
}

const containers = (objects: readonly KubeObject[]): ContainerRef[] =>
  podTemplates(objects).flatMap(({ owner, spec }) =>
    ['initContainers', 'containers', 'ephemeralContainers'].flatMap((field) =>
      arr(spec[field]).map((c) => {
        const container = rec(c);
        return { owner, pod: spec, container, label: `${ref(owner)} container ${String(container['name'])}` };
      }),
    ),
  );

/** A container's effective security setting: the container's own value wins over the pod's. */
const effective = (c: ContainerRef, field: string): unknown => {
  const own = rec(c.container['securityContext'])[field];
  return own !== undefined ? own : rec(c.pod['securityContext'])[field];
};

const byKind = (objects: readonly KubeObject[], kind: string): KubeObject[] => objects.filter((o) => o.kind === kind);

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection', '*']);
const ESCALATION_VERBS = new Set(['escalate', 'bind', 'impersonate']);
const GUARDED_RESOURCES = new Set([
  'resourcequotas',
  'limitranges',
  'networkpolicies',
  'namespaces',
  'roles',
  'rolebindings',
  'serviceaccounts',
  'clusterqueues',
  'localqueues',
  'resourceflavors',
]);
const CLUSTER_SCOPED_ALLOWED = new Set(['Namespace', 'ClusterQueue', 'ResourceFlavor']);

export const policyChecks: readonly PolicyCheck[] = [
  {
    id: 'pod-security-restricted',
    title: 'Namespace enforces, audits and warns Pod Security `restricted`',
    run: (objects, ctx) => {
      const ns = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ctx.namespace);
      if (ns === undefined) return [`no Namespace ${ctx.namespace}`];
      const labels = ns.metadata.labels ?? {};
      return ['enforce', 'audit', 'warn']
        .filter((mode) => labels[`pod-security.kubernetes.io/${mode}`] !== 'restricted')
        .map((mode) => `${ref(ns)}: pod-security ${mode} is not restricted`);
    },
  },
  {
    id: 'no-privileged-containers',
    title: 'No privileged containers',
    mtb: 'block-privileged-containers',
    run: (objects) =>
      containers(objects)
        .filter((c) => rec(c.container['securityContext'])['privileged'] === true)
        .map((c) => `${c.label}: privileged`),
  },
  {
    id: 'no-host-path',
    title: 'No hostPath volumes',
    mtb: 'block-use-of-host-path-volumes',
    run: (objects) =>
      podTemplates(objects).flatMap(({ owner, spec }) =>
        arr(spec['volumes'])
          .filter((v) => rec(v)['hostPath'] !== undefined)
          .map((v) => `${ref(owner)}: volume ${String(rec(v)['name'])} is a hostPath`),
      ),
  },
  {
    id: 'no-host-namespaces',
    title: 'No host network, PID or IPC namespace',
    mtb: 'block-use-of-host-networking-and-ports / block-use-of-host-pid / block-use-of-host-ipc',
    run: (objects) =>
      podTemplates(objects).flatMap(({ owner, spec }) =>
        ['hostNetwork', 'hostPID', 'hostIPC'].filter((f) => spec[f] === true).map((f) => `${ref(owner)}: ${f}`),
      ),
  },
  {
    id: 'no-host-ports',
    title: 'No host ports',
    mtb: 'block-use-of-host-networking-and-ports',
    run: (objects) =>
      containers(objects).flatMap((c) =>
        arr(c.container['ports'])
          .filter((p) => rec(p)['hostPort'] !== undefined)
          .map((p) => `${c.label}: hostPort ${String(rec(p)['hostPort'])}`),
      ),
  },
  {
    id: 'no-nodeport-or-loadbalancer',
    title: 'Services are ClusterIP only (no NodePort, LoadBalancer or external IPs)',
    mtb: 'block-use-of-nodeport-services',
    run: (objects) =>
      byKind(objects, 'Service').flatMap((svc) => {
        const spec = rec(svc['spec']);
        const type = spec['type'] ?? 'ClusterIP';
        const out: string[] = [];
        if (type !== 'ClusterIP') out.push(`${ref(svc)}: type ${String(type)}`);
        if (arr(spec['externalIPs']).length > 0) out.push(`${ref(svc)}: externalIPs`);
        return out;
      }),
  },
  {
    id: 'no-added-capabilities',
    title: 'No added Linux capabilities',
    mtb: 'block-add-capabilities',
    run: (objects) =>
      containers(objects)
        .filter((c) => arr(rec(rec(c.container['securityContext'])['capabilities'])['add']).length > 0)
        .map((c) => `${c.label}: adds capabilities`),
  },
  {
    id: 'drop-all-capabilities',
    title: 'Every container drops ALL capabilities',
    run: (objects) =>
      containers(objects)
        .filter((c) => !arr(rec(rec(c.container['securityContext'])['capabilities'])['drop']).includes('ALL'))
        .map((c) => `${c.label}: does not drop ALL`),
  },
  {
    id: 'run-as-non-root',
    title: 'Containers must run as a non-root user',
    mtb: 'require-run-as-non-root-user',
    run: (objects) =>
      containers(objects).flatMap((c) => {
        const out: string[] = [];
        if (effective(c, 'runAsNonRoot') !== true) out.push(`${c.label}: runAsNonRoot is not true`);
        if (effective(c, 'runAsUser') === 0) out.push(`${c.label}: runAsUser 0`);
        return out;
      }),
  },
  {
    id: 'read-only-root-filesystem',
    title: 'Root filesystems are read-only',
    run: (objects) =>
      containers(objects)
        .filter((c) => rec(c.container['securityContext'])['readOnlyRootFilesystem'] !== true)
        .map((c) => `${c.label}: root filesystem is writable`),
  },
  {
    id: 'no-privilege-escalation',
    title: 'allowPrivilegeEscalation is false',
    mtb: 'block-privilege-escalation',
    run: (objects) =>
      containers(objects)
        .filter((c) => rec(c.container['securityContext'])['allowPrivilegeEscalation'] !== false)
        .map((c) => `${c.label}: allowPrivilegeEscalation is not false`),
  },
  {
    id: 'seccomp-runtime-default',
    title: 'Seccomp profile RuntimeDefault (or Localhost)',
    run: (objects) =>
      containers(objects)
        .filter((c) => !['RuntimeDefault', 'Localhost'].includes(String(rec(effective(c, 'seccompProfile'))['type'])))
        .map((c) => `${c.label}: no RuntimeDefault seccomp profile`),
  },
  {
    id: 'service-account-token-not-mounted',
    title: 'Kubernetes API tokens are not automounted',
    run: (objects) => [
      ...byKind(objects, 'ServiceAccount')
        .filter((sa) => sa['automountServiceAccountToken'] !== false)
        .map((sa) => `${ref(sa)}: automountServiceAccountToken is not false`),
      ...podTemplates(objects)
        .filter(({ spec }) => spec['automountServiceAccountToken'] !== false)
        .map(({ owner }) => `${ref(owner)}: pod automountServiceAccountToken is not false`),
    ],
  },
  {
    id: 'requests-equal-limits',
    title: 'Every container sets CPU and memory requests equal to limits',
    mtb: 'require-resource-limits (via configure-ns-quotas)',
    run: (objects) =>
      containers(objects).flatMap((c) => {
        const resources = rec(c.container['resources']);
        const requests = rec(resources['requests']);
        const limits = rec(resources['limits']);
        return ['cpu', 'memory']
          .filter((r) => {
            const req = requests[r];
            const lim = limits[r];
            if (typeof lim !== 'string' && typeof lim !== 'number') return true;
            if (typeof req !== 'string' && typeof req !== 'number') return true;
            return parseQuantity(req) !== parseQuantity(lim);
          })
          .map((r) => `${c.label}: ${r} request and limit missing or different`);
      }),
  },
  {
    id: 'default-deny-network-policy',
    title: 'A default-deny NetworkPolicy for ingress and egress covers the whole namespace',
    mtb: 'configure-ns-network-policies (default deny between tenants)',
    run: (objects, ctx) => {
      const found = byKind(objects, 'NetworkPolicy').some((np) => {
        const spec = rec(np['spec']);
        const selector = rec(spec['podSelector']);
        const types = arr(spec['policyTypes']);
        return (
          np.metadata.namespace === ctx.namespace &&
          Object.keys(rec(selector['matchLabels'])).length === 0 &&
          arr(selector['matchExpressions']).length === 0 &&
          types.includes('Ingress') &&
          types.includes('Egress') &&
          arr(spec['ingress']).length === 0 &&
          arr(spec['egress']).length === 0
        );
      });
      return found ? [] : [`no default-deny ingress+egress NetworkPolicy in ${ctx.namespace}`];
    },
  },
  {
    id: 'network-allows-confined',
    title: 'NetworkPolicy allow rules reach only DNS, the platform API and the gateway',
    run: (objects, ctx) => {
      const allowed = new Set([ctx.config.dnsNamespace, ctx.config.platformNamespace, ctx.config.gatewayNamespace]);
      const out: string[] = [];
      for (const np of byKind(objects, 'NetworkPolicy')) {
        const spec = rec(np['spec']);
        const rules = [
          ...arr(spec['ingress']).map((r) => ({ dir: 'ingress', peers: arr(rec(r)['from']) })),
          ...arr(spec['egress']).map((r) => ({ dir: 'egress', peers: arr(rec(r)['to']) })),
        ];
        for (const { dir, peers } of rules) {
          // An allow rule with no peers matches every source/destination, including other tenants.
          if (peers.length === 0) out.push(`${ref(np)}: ${dir} rule allows all peers`);
          for (const peer of peers.map(rec)) {
            if (peer['ipBlock'] !== undefined) out.push(`${ref(np)}: ${dir} rule uses an ipBlock`);
            const nsSelector = peer['namespaceSelector'];
            const ns = rec(rec(nsSelector)['matchLabels'])['kubernetes.io/metadata.name'];
            if (nsSelector === undefined && peer['ipBlock'] === undefined) {
              out.push(`${ref(np)}: ${dir} peer has no namespaceSelector`);
            } else if (nsSelector !== undefined && (typeof ns !== 'string' || !allowed.has(ns))) {
              out.push(`${ref(np)}: ${dir} peer reaches namespace ${String(ns ?? '(any)')}`);
            }
            if (nsSelector !== undefined && Object.keys(rec(rec(peer['podSelector'])['matchLabels'])).length === 0) {
              out.push(`${ref(np)}: ${dir} peer selects every pod of namespace ${String(ns)}`);
            }
          }
        }
      }
      return out;
    },
  },
  {
    id: 'resource-quota-present',
    title: 'A ResourceQuota bounds CPU, memory, GPUs, pods and storage',
    mtb: 'configure-ns-quotas',
    run: (objects, ctx) => {
      const quotas = byKind(objects, 'ResourceQuota').filter((q) => q.metadata.namespace === ctx.namespace);
      if (quotas.length === 0) return [`no ResourceQuota in ${ctx.namespace}`];
      const hard = new Set(quotas.flatMap((q) => Object.keys(rec(rec(q['spec'])['hard']))));
      return ['requests.cpu', 'limits.cpu', 'requests.memory', 'limits.memory', 'requests.nvidia.com/gpu', 'pods', 'requests.storage']
        .filter((key) => !hard.has(key))
        .map((key) => `ResourceQuota in ${ctx.namespace} does not bound ${key}`);
    },
  },
  {
    id: 'limit-range-present',
    title: 'A LimitRange gives containers defaults and maxima',
    run: (objects, ctx) => {
      const ok = byKind(objects, 'LimitRange').some(
        (lr) =>
          lr.metadata.namespace === ctx.namespace &&
          arr(rec(lr['spec'])['limits']).some((l) => rec(l)['type'] === 'Container' && rec(l)['default'] !== undefined && rec(l)['max'] !== undefined),
      );
      return ok ? [] : [`no Container LimitRange with defaults and maxima in ${ctx.namespace}`];
    },
  },
  {
    id: 'role-binding-present',
    title: 'The workload ServiceAccount is bound to a namespaced Role',
    run: (objects, ctx) => {
      const roles = new Set(byKind(objects, 'Role').map((r) => r.metadata.name));
      const ok = byKind(objects, 'RoleBinding').some((rb) => {
        const roleRef = rec(rb['roleRef']);
        return (
          rb.metadata.namespace === ctx.namespace &&
          roleRef['kind'] === 'Role' &&
          roles.has(String(roleRef['name'])) &&
          arr(rb['subjects']).some((s) => rec(s)['kind'] === 'ServiceAccount')
        );
      });
      return ok ? [] : [`no RoleBinding of a ServiceAccount to a Role in ${ctx.namespace}`];
    },
  },
  {
    id: 'no-cluster-rbac',
    title: 'Tenants get no ClusterRole, ClusterRoleBinding, or binding to a ClusterRole',
    mtb: 'block-multitenant-resources',
    run: (objects) => [
      ...objects
        .filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')
        .map((o) => `${ref(o)}: cluster-scoped RBAC`),
      ...byKind(objects, 'RoleBinding')
        .filter((rb) => rec(rb['roleRef'])['kind'] !== 'Role')
        .map((rb) => `${ref(rb)}: binds a ${String(rec(rb['roleRef'])['kind'])}`),
    ],
  },
  {
    id: 'role-cannot-modify-guardrails',
    title: 'No tenant Role can change quotas, limits, network policies, namespaces or RBAC, or read secrets',
    mtb: 'block-modification-of-resource-quotas / block-multitenant-resources',
    run: (objects) =>
      [...byKind(objects, 'Role'), ...byKind(objects, 'ClusterRole')].flatMap((role) =>
        arr(role['rules']).flatMap((r, i) => {
          const rule = rec(r);
          const resources = arr(rule['resources']).map(String);
          const verbs = arr(rule['verbs']).map(String);
          const groups = arr(rule['apiGroups']).map(String);
          const out: string[] = [];
          if (resources.includes('*') || groups.includes('*')) out.push(`${ref(role)} rule ${i}: wildcard resource or API group`);
          if (verbs.some((v) => ESCALATION_VERBS.has(v))) out.push(`${ref(role)} rule ${i}: escalate/bind/impersonate`);
          const writes = verbs.some((v) => WRITE_VERBS.has(v));
          for (const resource of resources) {
            const base = resource.split('/')[0] ?? resource;
            if (writes && (GUARDED_RESOURCES.has(base) || resource === '*')) {
              out.push(`${ref(role)} rule ${i}: may modify ${resource}`);
            }
            if (base === 'secrets' && verbs.some((v) => ['get', 'list', 'watch', '*'].includes(v))) {
              out.push(`${ref(role)} rule ${i}: may read secrets`);
            }
          }
          if (rule['nonResourceURLs'] !== undefined) out.push(`${ref(role)} rule ${i}: nonResourceURLs`);
          return out;
        }),
      ),
  },
  {
    id: 'confined-to-namespace',
    title: "Every object and every binding stays in the tenant's namespace",
    mtb: 'block-access-to-other-tenant-resources',
    run: (objects, ctx) => {
      const out: string[] = [];
      for (const obj of objects) {
        if (CLUSTER_SCOPED_ALLOWED.has(obj.kind) && obj.metadata.namespace === undefined) {
          if (obj.kind === 'Namespace' && obj.metadata.name !== ctx.namespace) out.push(`${ref(obj)}: another namespace`);
          if (obj.kind !== 'Namespace' && obj.metadata.labels?.[labelKeys.tenantId] !== ctx.tenantId) {
            out.push(`${ref(obj)}: cluster-scoped object not labelled for this tenant`);
          }
          continue;
        }
        if (obj.metadata.namespace !== ctx.namespace) out.push(`${ref(obj)}: outside ${ctx.namespace}`);
      }
      for (const rb of byKind(objects, 'RoleBinding')) {
        for (const s of arr(rb['subjects']).map(rec)) {
          if (s['kind'] !== 'ServiceAccount' || s['namespace'] !== ctx.namespace) {
            out.push(`${ref(rb)}: subject ${String(s['kind'])} ${String(s['namespace'] ?? '')}/${String(s['name'])} is not a ServiceAccount of ${ctx.namespace}`);
          }
        }
      }
      for (const cq of byKind(objects, 'ClusterQueue')) {
        const selector = rec(rec(cq['spec'])['namespaceSelector']);
        const labels = rec(selector['matchLabels']);
        if (labels['kubernetes.io/metadata.name'] !== ctx.namespace || arr(selector['matchExpressions']).length > 0) {
          out.push(`${ref(cq)}: admits workloads from namespaces other than ${ctx.namespace}`);
        }
      }
      return out;
    },
  },
  {
    id: 'tier-placement',
    title: "Pods run under their tier's RuntimeClass and, for dedicated tenants, on their own node pool",
    run: (objects, ctx) => {
      const want = tenantPlacement({ slug: ctx.slug, tier: ctx.tier }, ctx.config);
      return podTemplates(objects).flatMap(({ owner, spec }) => {
        const out: string[] = [];
        if (want.runtimeClassName !== undefined && spec['runtimeClassName'] !== want.runtimeClassName) {
          out.push(`${ref(owner)}: runtimeClassName is not ${want.runtimeClassName}`);
        }
        for (const [key, value] of Object.entries(want.nodeSelector ?? {})) {
          if (rec(spec['nodeSelector'])[key] !== value) out.push(`${ref(owner)}: not pinned to node pool ${key}=${value}`);
        }
        for (const t of want.tolerations ?? []) {
          const has = arr(spec['tolerations']).some((x) => rec(x)['key'] === t.key && rec(x)['value'] === t.value);
          if (!has) out.push(`${ref(owner)}: does not tolerate its node pool taint`);
        }
        return out;
      });
    },
  },
  {
    id: 'jobs-queued-through-kueue',
    title: "With Kueue, every Job names the tenant's LocalQueue (no quota bypass)",
    run: (objects, ctx) => {
      if (!ctx.config.kueue.enabled) return [];
      return byKind(objects, 'Job')
        .filter((job) => job.metadata.labels?.[labelKeys.kueueQueueName] !== ctx.queueName)
        .map((job) => `${ref(job)}: not labelled for LocalQueue ${ctx.queueName}`);
    },
  },
];

/** The context the checks need for one tenant. Throws VALIDATION_FAILED when the slug makes no namespace. */
export const policyContextFor = (tenant: TenantSpec, config: ClusterConfig): PolicyContext => ({
  tenantId: tenant.id,
  slug: tenant.slug,
  namespace: tenantNamespace(tenant, config),
  tier: tenant.tier,
  config,
  queueName: tenantQueueName(tenant, config),
});

/**
 * Runs every check over one tenant's objects (its bundle, and any jobs and endpoints to be applied with it)
 * and reports each check's verdict. Never throws on malformed objects: a missing field is a violation.
 */
export const runPolicyChecks = (objects: readonly KubeObject[], ctx: PolicyContext): PolicyResult[] =>
  policyChecks.map((check) => {
    const violations = check.run(objects, ctx);
    return { id: check.id, title: check.title, passed: violations.length === 0, violations };
  });

/** The violations of all checks, flattened, each prefixed by its check id. */
export const policyViolations = (objects: readonly KubeObject[], ctx: PolicyContext): string[] =>
  runPolicyChecks(objects, ctx).flatMap((r) => r.violations.map((v) => `${r.id}: ${v}`));
