/**
 * The per-tenant bundle: everything a tenant namespace needs before its first job. Pure and deterministic
 * (fixed object and key order) so the rendered YAML is stable and golden-testable.
 */
import type { ClusterConfig, KubeObject, TenantSpec } from './kubernetes-types.ts';
import { buildTenantKueueObjects } from './kueue.ts';
import {
  bytesQuantity,
  cpuQuantity,
  labelKeys,
  managedLabels,
  memoryQuantity,
  tenantNamespace,
  validateTenant,
  WORKLOAD_IDENTITY,
} from './naming.ts';

export const NETWORK_POLICY_NAMES = {
  defaultDeny: 'default-deny-all',
  dns: 'allow-dns-egress',
  platformApi: 'allow-platform-api-egress',
  gateway: 'allow-gateway-to-endpoints',
} as const;

const POD_SECURITY_LEVEL = 'restricted';

/** A rate in bits per second as a Kubernetes quantity (`400M`), what the CNI bandwidth plugin reads. */
const bitsQuantity = (bytesPerSecond: number): string => {
  const bits = Math.round(bytesPerSecond) * 8;
  for (const [suffix, unit] of [['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) if (bits % unit === 0) return `${bits / unit}${suffix}`;
  return String(bits);
};

/**
 * The pod annotations the CNI `bandwidth` plugin honours, from the tenant's bandwidth quota (docs/bandwidth.md,
 * "Kubernetes"). The quota is named from the platform's side — ingress is what the tenant sends in — so a pod's
 * outgoing traffic (`egress-bandwidth`) is limited by the tenant's ingress quota and its incoming traffic
 * (`ingress-bandwidth`) by the egress quota. Per pod: the CNI shapes each pod's interface on its own.
 */
export const podBandwidthAnnotations = (quota: TenantSpec['quota']): Record<string, string> => ({
  'kubernetes.io/ingress-bandwidth': bitsQuantity(quota.egressBytesPerSecond),
  'kubernetes.io/egress-bandwidth': bitsQuantity(quota.ingressBytesPerSecond),
});

const namespaceObject = (tenant: TenantSpec, config: ClusterConfig): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name: tenantNamespace(tenant, config),
    labels: {
      ...managedLabels(tenant, 'tenant'),
      'bulkhead.dev/status': tenant.status,
      // Pod Security admission: the `restricted` profile rejects (enforce), records (audit) and reports
      // (warn) any pod that is privileged, shares host namespaces, mounts hostPath, keeps capabilities, ...
      'pod-security.kubernetes.io/enforce': POD_SECURITY_LEVEL,
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/audit': POD_SECURITY_LEVEL,
      'pod-security.kubernetes.io/audit-version': 'latest',
      'pod-security.kubernetes.io/warn': POD_SECURITY_LEVEL,
      'pod-security.kubernetes.io/warn-version': 'latest',
    },
    annotations: {
      'bulkhead.dev/tenant-name': tenant.name,
      'bulkhead.dev/requests-per-second': String(tenant.quota.requestsPerSecond),
    },
  },
});

const namespaced = (tenant: TenantSpec, config: ClusterConfig, name: string) => ({
  name,
  namespace: tenantNamespace(tenant, config),
  labels: managedLabels(tenant, 'tenant'),
});

const serviceAccount = (tenant: TenantSpec, config: ClusterConfig): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: namespaced(tenant, config, WORKLOAD_IDENTITY),
  // A job talks to Bulkhead with its job token, never to the Kubernetes API: no API token in the pod.
  automountServiceAccountToken: false,
});

/**
 * Least privilege: read-only sight of the tenant's own pods and their logs (what a distributed-training
 * launcher needs to find its peers), nothing else — no secrets, no writes, nothing outside the namespace.
 */
const role = (tenant: TenantSpec, config: ClusterConfig): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: namespaced(tenant, config, WORKLOAD_IDENTITY),
  rules: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  ],
});

const roleBinding = (tenant: TenantSpec, config: ClusterConfig): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: namespaced(tenant, config, WORKLOAD_IDENTITY),
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: WORKLOAD_IDENTITY },
  subjects: [
    { kind: 'ServiceAccount', name: WORKLOAD_IDENTITY, namespace: tenantNamespace(tenant, config) },
  ],
});

/**
 * The tenant quota as a ResourceQuota. Extended resources (GPUs) can only be quota'd on `requests.`:
 * Kubernetes does not overcommit them, so requests always equal limits. A suspended tenant gets `pods: 0`
 * so nothing new starts while what runs is left to finish or be cancelled by the platform.
 */
const resourceQuota = (tenant: TenantSpec, config: ClusterConfig): KubeObject => {
  const q = tenant.quota;
  const pods = tenant.status === 'suspended' ? 0 : q.maxConcurrentJobs + config.maxEndpointPods;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: namespaced(tenant, config, 'tenant-quota'),
    spec: {
      hard: {
        'requests.cpu': cpuQuantity(q.cpu),
        'limits.cpu': cpuQuantity(q.cpu),
        'requests.memory': memoryQuantity(q.memoryMiB),
        'limits.memory': memoryQuantity(q.memoryMiB),
        'requests.nvidia.com/gpu': String(q.gpu),
        pods: String(pods),
        // Queued Jobs exist as suspended Job objects under Kueue, so Jobs count queued + running.
        'count/jobs.batch': String(q.maxConcurrentJobs + q.maxQueuedJobs),
        'requests.storage': bytesQuantity(q.storageBytes),
        'services.nodeports': '0',
        'services.loadbalancers': '0',
      },
    },
  };
};

const limitRange = (tenant: TenantSpec, config: ClusterConfig): KubeObject => {
  const defaults = {
    cpu: cpuQuantity(config.containerDefaults.cpu),
    memory: memoryQuantity(config.containerDefaults.memoryMiB),
  };
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: namespaced(tenant, config, 'tenant-limits'),
    spec: {
      limits: [
        {
          type: 'Container',
          default: defaults,
          defaultRequest: defaults,
          // One container can never be larger than the whole tenant quota.
          max: { cpu: cpuQuantity(tenant.quota.cpu), memory: memoryQuantity(tenant.quota.memoryMiB) },
        },
      ],
    },
  };
};

const selectNamespace = (name: string) => ({ 'kubernetes.io/metadata.name': name });

const networkPolicies = (tenant: TenantSpec, config: ClusterConfig): KubeObject[] => [
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: namespaced(tenant, config, NETWORK_POLICY_NAMES.defaultDeny),
    // Empty selector, both policy types, no rules: nothing in, nothing out, unless allowed below.
    spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: namespaced(tenant, config, NETWORK_POLICY_NAMES.dns),
    spec: {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: selectNamespace(config.dnsNamespace) },
              podSelector: { matchLabels: { ...config.dnsSelector } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: namespaced(tenant, config, NETWORK_POLICY_NAMES.platformApi),
    spec: {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: selectNamespace(config.platformNamespace) },
              podSelector: { matchLabels: { ...config.platformApiSelector } },
            },
          ],
          ports: [{ protocol: 'TCP', port: config.platformApiPort }],
        },
      ],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: namespaced(tenant, config, NETWORK_POLICY_NAMES.gateway),
    spec: {
      podSelector: { matchLabels: { [labelKeys.component]: 'endpoint' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: selectNamespace(config.gatewayNamespace) },
              podSelector: { matchLabels: { ...config.gatewaySelector } },
            },
          ],
          ports: [{ protocol: 'TCP', port: config.endpointPort }],
        },
      ],
    },
  },
];

/**
 * Builds a tenant's bundle: Namespace (Pod Security `restricted` enforce/audit/warn), ServiceAccount
 * (token not automounted), Role + RoleBinding (namespace-only, read-only), ResourceQuota, LimitRange,
 * NetworkPolicies (default-deny ingress+egress, then DNS, the platform API, and gateway → endpoints), and
 * — when Kueue is enabled — the tenant's ResourceFlavor (dedicated tier), ClusterQueue and LocalQueue.
 *
 * Deterministic: the same inputs give the same objects in the same order. Throws VALIDATION_FAILED when
 * the tenant's slug, id or quota cannot be expressed on Kubernetes. Tier placement (RuntimeClass, node
 * pool) applies to pod templates, so it lives in the job and endpoint builders via `tenantPlacement`.
 */
export const buildTenantBundle = (tenant: TenantSpec, config: ClusterConfig): KubeObject[] => {
  validateTenant(tenant);
  return [
    namespaceObject(tenant, config),
    serviceAccount(tenant, config),
    role(tenant, config),
    roleBinding(tenant, config),
    resourceQuota(tenant, config),
    limitRange(tenant, config),
    ...networkPolicies(tenant, config),
    ...(config.kueue.enabled ? buildTenantKueueObjects(tenant, config) : []),
  ];
};
