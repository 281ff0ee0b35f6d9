/**
 * Names, labels, quantities and placement shared by every builder, plus the cluster configuration's
 * defaults and validation. Pure: no IO.
 */
import { AppError } from '../../core/errors.ts';
import type {
  ClusterConfig,
  IsolationTier,
  KubeObject,
  ManagedComponent,
  TenantSpec,
} from './kubernetes-types.ts';

export const labelKeys = {
  managedBy: 'app.kubernetes.io/managed-by',
  tenantId: 'bulkhead.dev/tenant-id',
  tenant: 'bulkhead.dev/tenant',
  tier: 'bulkhead.dev/tier',
  component: 'bulkhead.dev/component',
  jobId: 'bulkhead.dev/job-id',
  endpoint: 'bulkhead.dev/endpoint',
  kueueQueueName: 'kueue.x-k8s.io/queue-name',
  kueuePriorityClass: 'kueue.x-k8s.io/priority-class',
} as const;

export const MANAGED_BY = 'bulkhead';
export const FIELD_MANAGER = 'bulkhead';
/** The one ServiceAccount / Role / RoleBinding name for tenant workloads. */
export const WORKLOAD_IDENTITY = 'bulkhead-workload';
export const JOB_TOKEN_MOUNT = '/var/run/bulkhead/job-token';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const isDnsLabel = (value: string): boolean => value.length <= 63 && DNS_LABEL.test(value);
export const isDnsSubdomain = (value: string): boolean =>
  value.length <= 253 && DNS_SUBDOMAIN.test(value);

export const kubernetesErrors = {
  invalidName: (what: string, value: string) =>
    new AppError('VALIDATION_FAILED', `${what} "${value}" is not a valid DNS-1123 label (max 63)`, {
      details: { field: what },
    }),
  invalidInput: (message: string, field: string) =>
    new AppError('VALIDATION_FAILED', message, { details: { field } }),
  tenantSuspended: (slug: string) =>
    new AppError('TENANT_SUSPENDED', `tenant ${slug} is suspended: no new workloads`),
  invalidConfig: (problems: readonly string[]) =>
    new AppError('VALIDATION_FAILED', `invalid Kubernetes cluster config: ${problems.join('; ')}`, {
      details: { problems },
    }),
};

/** Throws VALIDATION_FAILED unless `value` is a DNS-1123 label. */
export const requireDnsLabel = (what: string, value: string): string => {
  if (!isDnsLabel(value)) throw kubernetesErrors.invalidName(what, value);
  return value;
};

/** The tenant's namespace name; throws VALIDATION_FAILED when it would not be a DNS label. */
export const tenantNamespace = (tenant: TenantSpec, config: ClusterConfig): string =>
  requireDnsLabel('tenant namespace', `${config.namespacePrefix}${tenant.slug}`);

/** Name of the tenant's ClusterQueue and LocalQueue (the namespace name, unique cluster-wide). */
export const tenantQueueName = tenantNamespace;

/** The Kueue Cohort of an organization tenant (issue 15): `<kueue.cohort>-<slug>`, under the platform's cohort. */
export const tenantCohortName = (slug: string, config: Pick<ClusterConfig, 'kueue'>): string => `${config.kueue.cohort}-${slug}`;

/** Name of the per-tenant ResourceFlavor of a dedicated node pool. */
export const dedicatedFlavorName = (tenant: TenantSpec, config: ClusterConfig): string =>
  `${tenantNamespace(tenant, config)}-dedicated`;

/** Labels every Bulkhead object of a tenant carries; the reconciler selects on them to prune. */
export const managedLabels = (
  tenant: TenantSpec,
  component: ManagedComponent,
): Record<string, string> => ({
  [labelKeys.managedBy]: MANAGED_BY,
  [labelKeys.tenantId]: tenant.id,
  [labelKeys.tenant]: tenant.slug,
  [labelKeys.tier]: tenant.tier,
  [labelKeys.component]: component,
});

/** Label selector (string form) for one tenant's managed objects of one component. */
export const managedSelector = (tenantId: string, component?: ManagedComponent): string =>
  [
    `${labelKeys.managedBy}=${MANAGED_BY}`,
    `${labelKeys.tenantId}=${tenantId}`,
    ...(component === undefined ? [] : [`${labelKeys.component}=${component}`]),
  ].join(',');

/**
 * CPU cores → canonical Kubernetes quantity ("2", "500m"). The API server canonicalises quantities, so
 * emitting the canonical form keeps drift detection quiet.
 */
export const cpuQuantity = (cores: number): string => {
  const milli = Math.round(cores * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
};

/** MiB → canonical binary quantity ("512Mi", "2Gi"). */
export const memoryQuantity = (mib: number): string => {
  const whole = Math.round(mib);
  if (whole === 0) return '0';
  if (whole % (1024 * 1024) === 0) return `${whole / (1024 * 1024)}Ti`;
  if (whole % 1024 === 0) return `${whole / 1024}Gi`;
  return `${whole}Mi`;
};

/** Bytes → binary quantity; exact multiples of Ki/Mi/Gi/Ti use the largest suffix. */
export const bytesQuantity = (bytes: number): string => {
  const whole = Math.round(bytes);
  const suffixes = ['Ti', 'Gi', 'Mi', 'Ki'] as const;
  for (let i = 0; i < suffixes.length; i += 1) {
    const unit = 1024 ** (4 - i);
    if (whole !== 0 && whole % unit === 0) return `${whole / unit}${suffixes[i]}`;
  }
  return String(whole);
};

const DECIMAL_SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Parses a Kubernetes quantity to a number, or undefined when `value` is not one. */
export const parseQuantity = (value: string | number): number | undefined => {
  if (typeof value === 'number') return value;
  const match = QUANTITY.exec(value);
  if (match === null) return undefined;
  const base = Number(match[1]);
  const suffix = match[2] ?? '';
  if (suffix.startsWith('e') || suffix.startsWith('E')) return base * 10 ** Number(suffix.slice(1));
  const factor = BINARY_SUFFIX[suffix] ?? DECIMAL_SUFFIX[suffix];
  return factor === undefined ? undefined : base * factor;
};

/** Where a tenant's pods may run and under which runtime: the Kubernetes side of its isolation tier. */
export interface TenantPlacement {
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: 'Equal'; value: string; effect: 'NoSchedule' }[];
}

/**
 * The placement a tier requires: `dedicated` → the VM RuntimeClass plus the tenant's own node pool (node
 * selector + toleration of its taint); `sandbox` → the configured sandbox RuntimeClass, if any; `process`
 * → the cluster default. Every pod template of the tenant uses this, so a job never runs below its tier.
 */
export const tenantPlacement = (
  tenant: Pick<TenantSpec, 'slug' | 'tier'>,
  config: ClusterConfig,
): TenantPlacement => {
  const tier: IsolationTier = tenant.tier;
  switch (tier) {
    case 'process':
      return {};
    case 'sandbox':
      return config.sandboxRuntimeClass === undefined
        ? {}
        : { runtimeClassName: config.sandboxRuntimeClass };
    case 'dedicated':
      return {
        runtimeClassName: config.dedicatedRuntimeClass,
        nodeSelector: { [config.dedicatedNodePool.labelKey]: tenant.slug },
        tolerations: [
          {
            key: config.dedicatedNodePool.taintKey,
            operator: 'Equal',
            value: tenant.slug,
            effect: 'NoSchedule',
          },
        ],
      };
  }
};

/** Defaults for every ClusterConfig field; `createClusterConfig` overlays the operator's choices. */
export const defaultClusterConfig: ClusterConfig = {
  namespacePrefix: 'bh-',
  platformNamespace: 'bulkhead-system',
  platformApiSelector: { 'app.kubernetes.io/name': 'bulkhead-api' },
  platformApiPort: 8080,
  platformApiUrl: 'http://bulkhead-api.bulkhead-system.svc.cluster.local:8080',
  gatewayNamespace: 'bulkhead-system',
  // The inference gateway is part of the API server in this build: the same pods.
  gatewaySelector: { 'app.kubernetes.io/name': 'bulkhead-api' },
  dnsNamespace: 'kube-system',
  dnsSelector: { 'k8s-app': 'kube-dns' },
  dedicatedRuntimeClass: 'gvisor',
  dedicatedNodePool: { labelKey: 'bulkhead.dev/tenant-pool', taintKey: 'bulkhead.dev/tenant-pool' },
  kueue: {
    enabled: true,
    cohort: 'bulkhead',
    sharedFlavor: { name: 'bulkhead-shared', nodeLabels: {} },
    queueingStrategy: 'BestEffortFIFO',
    priorityClasses: [],
    usageHalfLifeMs: 7 * 24 * 3600 * 1000,
  },
  jobImage: 'ghcr.io/bulkhead/job-runner:latest',
  platformImage: 'ghcr.io/bulkhead/bulkhead:latest',
  imagePullPolicy: 'IfNotPresent',
  runAsUser: 65532,
  containerDefaults: { cpu: 0.5, memoryMiB: 512 },
  scratchSizeMiB: 1024,
  maxEndpointPods: 8,
  endpointPort: 8080,
  jobTtlSecondsAfterFinished: 3600,
};

export type ClusterConfigInput = Partial<Omit<ClusterConfig, 'kueue' | 'dedicatedNodePool' | 'containerDefaults'>> & {
  kueue?: Partial<ClusterConfig['kueue']>;
  dedicatedNodePool?: Partial<ClusterConfig['dedicatedNodePool']>;
  containerDefaults?: Partial<ClusterConfig['containerDefaults']>;
};

/**
 * Builds a ClusterConfig from defaults and overrides, and checks it. Fails with VALIDATION_FAILED listing
 * every problem at once (not just the first).
 */
export const createClusterConfig = (input: ClusterConfigInput = {}): ClusterConfig => {
  const config: ClusterConfig = {
    ...defaultClusterConfig,
    ...input,
    kueue: { ...defaultClusterConfig.kueue, ...input.kueue },
    dedicatedNodePool: { ...defaultClusterConfig.dedicatedNodePool, ...input.dedicatedNodePool },
    containerDefaults: { ...defaultClusterConfig.containerDefaults, ...input.containerDefaults },
  };
  const problems: string[] = [];
  if (!/^([a-z0-9][-a-z0-9]*)?$/.test(config.namespacePrefix) || config.namespacePrefix.length > 30) {
    problems.push('namespacePrefix must be lowercase alphanumerics and dashes, at most 30 characters');
  }
  for (const [field, value] of [
    ['platformNamespace', config.platformNamespace],
    ['gatewayNamespace', config.gatewayNamespace],
    ['dnsNamespace', config.dnsNamespace],
    ['dedicatedRuntimeClass', config.dedicatedRuntimeClass],
  ] as const) {
    if (!isDnsSubdomain(value)) problems.push(`${field} must be a DNS-1123 name`);
  }
  if (config.sandboxRuntimeClass !== undefined && !isDnsSubdomain(config.sandboxRuntimeClass)) {
    problems.push('sandboxRuntimeClass must be a DNS-1123 name');
  }
  if (Object.keys(config.platformApiSelector).length === 0) problems.push('platformApiSelector must not be empty');
  if (Object.keys(config.gatewaySelector).length === 0) problems.push('gatewaySelector must not be empty');
  for (const [field, port] of [
    ['platformApiPort', config.platformApiPort],
    ['endpointPort', config.endpointPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`${field} must be a TCP port`);
  }
  if (!Number.isInteger(config.runAsUser) || config.runAsUser < 1) {
    problems.push('runAsUser must be a positive integer (never root)');
  }
  if (!isDnsSubdomain(config.kueue.cohort)) problems.push('kueue.cohort must be a DNS-1123 name');
  if (!(config.kueue.usageHalfLifeMs >= 1000) || !Number.isInteger(config.kueue.usageHalfLifeMs / 1000)) problems.push('kueue.usageHalfLifeMs must be whole seconds, at least 1 s');
  if (!isDnsSubdomain(config.kueue.sharedFlavor.name)) problems.push('kueue.sharedFlavor.name must be a DNS-1123 name');
  if (Object.keys(config.kueue.sharedFlavor.nodeLabels).length > 8) problems.push('kueue.sharedFlavor.nodeLabels allows at most 8 labels');
  if (config.jobImage === '') problems.push('jobImage must be set');
  if (config.platformImage === '') problems.push('platformImage must be set');
  if (config.scratchSizeMiB <= 0) problems.push('scratchSizeMiB must be positive');
  if (problems.length > 0) throw kubernetesErrors.invalidConfig(problems);
  return config;
};

/** Checks the tenant fields every builder relies on; throws VALIDATION_FAILED on the first bad one. */
export const validateTenant = (tenant: TenantSpec): void => {
  requireDnsLabel('tenant slug', tenant.slug);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenant.id)) {
    throw kubernetesErrors.invalidInput(`tenant id "${tenant.id}" is not a uuid`, 'tenant.id');
  }
  const q = tenant.quota;
  for (const [field, value] of [
    ['quota.cpu', q.cpu],
    ['quota.memoryMiB', q.memoryMiB],
    ['quota.gpu', q.gpu],
    ['quota.borrowingLimit.cpu', q.borrowingLimit.cpu],
    ['quota.borrowingLimit.memoryMiB', q.borrowingLimit.memoryMiB],
    ['quota.borrowingLimit.gpu', q.borrowingLimit.gpu],
    ['quota.maxConcurrentJobs', q.maxConcurrentJobs],
    ['quota.maxQueuedJobs', q.maxQueuedJobs],
    ['quota.storageBytes', q.storageBytes],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw kubernetesErrors.invalidInput(`${field} must be a non-negative number`, field);
    }
  }
  if (!Number.isInteger(q.gpu) || !Number.isInteger(q.borrowingLimit.gpu)) {
    throw kubernetesErrors.invalidInput('GPU quotas must be whole GPUs', 'quota.gpu');
  }
  if (!Number.isFinite(q.weight) || q.weight <= 0) {
    throw kubernetesErrors.invalidInput('quota.weight must be positive', 'quota.weight');
  }
};

/** A stable identity for an object: apiVersion/kind/namespace/name. */
export const objectKey = (obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string =>
  `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;

/** A tenant record (any object with these fields) and its quota, as the builders take them. */
export const tenantSpecOf = (tenant: Pick<TenantSpec, 'id' | 'slug' | 'name' | 'tier' | 'status'>, quota: TenantSpec['quota']): TenantSpec => ({
  id: tenant.id, slug: tenant.slug, name: tenant.name, tier: tenant.tier, status: tenant.status, quota,
});
