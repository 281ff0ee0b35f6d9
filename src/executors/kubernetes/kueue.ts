/**
 * Kueue objects (kueue.x-k8s.io/v1beta1): the cluster-wide shared ResourceFlavor, and per tenant a
 * ClusterQueue (nominal quota, borrowing limit, fair-sharing weight, all in one cohort), a LocalQueue in
 * the tenant namespace, and for `dedicated` tenants a ResourceFlavor for their own node pool. Also a
 * structural validator for exactly the fields these builders emit, since `kubernetes-models` does not know
 * Kueue's CRDs. Pure: no IO.
 */
import type { ClusterConfig, KubeObject, TenantSpec } from './kubernetes-types.ts';
import {
  cpuQuantity,
  dedicatedFlavorName,
  labelKeys,
  MANAGED_BY,
  managedLabels,
  memoryQuantity,
  tenantNamespace,
  tenantQueueName,
} from './naming.ts';

export const KUEUE_API_VERSION = 'kueue.x-k8s.io/v1beta1';
export const KUEUE_RESOURCES = ['cpu', 'memory', 'nvidia.com/gpu'] as const;

/** Kueue's fair-sharing weight is a quantity string; tenant weights are plain positive numbers. */
const weightQuantity = (weight: number): string => String(weight);

/**
 * Cluster-wide Kueue objects shared by all tenants: the ResourceFlavor of the shared node pool. Not labelled
 * with any tenant, so no tenant reconcile ever prunes it. Empty when Kueue is disabled.
 */
export const buildClusterKueueObjects = (config: ClusterConfig): KubeObject[] => {
  if (!config.kueue.enabled) return [];
  const nodeLabels = config.kueue.sharedFlavor.nodeLabels;
  return [
    {
      apiVersion: KUEUE_API_VERSION,
      kind: 'ResourceFlavor',
      metadata: {
        name: config.kueue.sharedFlavor.name,
        labels: { [labelKeys.managedBy]: MANAGED_BY },
      },
      spec: Object.keys(nodeLabels).length === 0 ? {} : { nodeLabels: { ...nodeLabels } },
    },
  ];
};

/**
 * The tenant's Kueue objects, in order: [dedicated ResourceFlavor], ClusterQueue, LocalQueue.
 *
 * - The ClusterQueue only admits workloads from the tenant's namespace (namespaceSelector on the
 *   immutable `kubernetes.io/metadata.name` label), so no other namespace can spend this tenant's quota.
 * - `process`/`sandbox` tenants draw on the shared flavor with nominal quota + borrowing limit; idle quota is
 *   lent within the cohort and reclaimed by preemption (`reclaimWithinCohort: Any`).
 * - `dedicated` tenants draw only on their own pool's flavor, which no other ClusterQueue lists; borrowing
 *   is pinned to 0 because there is nothing to borrow that their pods could run on.
 * - A suspended tenant's queues are put on `Hold`: queued work stays, nothing new is admitted.
 */
export const buildTenantKueueObjects = (tenant: TenantSpec, config: ClusterConfig): KubeObject[] => {
  const dedicated = tenant.tier === 'dedicated';
  const flavorName = dedicated ? dedicatedFlavorName(tenant, config) : config.kueue.sharedFlavor.name;
  const q = tenant.quota;
  const borrow = dedicated ? { cpu: 0, memoryMiB: 0, gpu: 0 } : q.borrowingLimit;
  const stopPolicy = tenant.status === 'suspended' ? 'Hold' : 'None';
  const labels = managedLabels(tenant, 'tenant');
  const objects: KubeObject[] = [];
  if (dedicated) {
    objects.push({
      apiVersion: KUEUE_API_VERSION,
      kind: 'ResourceFlavor',
      metadata: { name: flavorName, labels },
      spec: {
        nodeLabels: { [config.dedicatedNodePool.labelKey]: tenant.slug },
        nodeTaints: [{ key: config.dedicatedNodePool.taintKey, value: tenant.slug, effect: 'NoSchedule' }],
      },
    });
  }
  objects.push(
    {
      apiVersion: KUEUE_API_VERSION,
      kind: 'ClusterQueue',
      metadata: { name: tenantQueueName(tenant, config), labels },
      spec: {
        cohort: config.kueue.cohort,
        namespaceSelector: {
          matchLabels: { 'kubernetes.io/metadata.name': tenantNamespace(tenant, config) },
        },
        queueingStrategy: config.kueue.queueingStrategy,
        stopPolicy,
        resourceGroups: [
          {
            coveredResources: [...KUEUE_RESOURCES],
            flavors: [
              {
                name: flavorName,
                resources: [
                  { name: 'cpu', nominalQuota: cpuQuantity(q.cpu), borrowingLimit: cpuQuantity(borrow.cpu) },
                  {
                    name: 'memory',
                    nominalQuota: memoryQuantity(q.memoryMiB),
                    borrowingLimit: memoryQuantity(borrow.memoryMiB),
                  },
                  { name: 'nvidia.com/gpu', nominalQuota: String(q.gpu), borrowingLimit: String(borrow.gpu) },
                ],
              },
            ],
          },
        ],
        preemption: {
          reclaimWithinCohort: 'Any',
          borrowWithinCohort: { policy: 'LowerPriority' },
          withinClusterQueue: 'LowerPriority',
        },
        fairSharing: { weight: weightQuantity(q.weight) },
      },
    },
    {
      apiVersion: KUEUE_API_VERSION,
      kind: 'LocalQueue',
      metadata: {
        name: tenantQueueName(tenant, config),
        namespace: tenantNamespace(tenant, config),
        labels,
      },
      spec: { clusterQueue: tenantQueueName(tenant, config), stopPolicy },
    },
  );
  return objects;
};

// ---------------------------------------------------------------------------------------------------------
// Structural validation. Written from Kueue's CRD schemas for v1beta1 in kubernetes-sigs/kueue:
//   config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml
//   config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml
//   config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml
// It covers the fields the builders above emit (types, required fields, enums, name patterns, list bounds)
// and the CEL rules that concern them. It is stricter than the CRD in one way: unknown fields are errors
// here (the API server would silently prune them, hiding a typo).
// ---------------------------------------------------------------------------------------------------------

type Schema =
  | { t: 'string'; pattern?: RegExp; maxLength?: number; enum?: readonly string[] }
  | { t: 'quantity' }
  | { t: 'integer' }
  | { t: 'array'; items: Schema; minItems?: number; maxItems?: number }
  | { t: 'map'; values: Schema; maxProperties?: number }
  | { t: 'object'; properties: Readonly<Record<string, Schema>>; required?: readonly string[] };

const NAME_253: Schema = {
  t: 'string',
  maxLength: 253,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
};
const STOP_POLICY: Schema = { t: 'string', enum: ['None', 'Hold', 'HoldAndDrain'] };
// The quantity pattern of the CRDs' int-or-string quantity fields.
const QUANTITY_PATTERN =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

const LABEL_SELECTOR: Schema = {
  t: 'object',
  properties: {
    matchLabels: { t: 'map', values: { t: 'string' } },
    matchExpressions: {
      t: 'array',
      items: {
        t: 'object',
        properties: {
          key: { t: 'string' },
          operator: { t: 'string' },
          values: { t: 'array', items: { t: 'string' } },
        },
        required: ['key', 'operator'],
      },
    },
  },
};

const METADATA = (namespaced: boolean): Schema => ({
  t: 'object',
  properties: {
    name: NAME_253,
    ...(namespaced ? { namespace: { t: 'string', maxLength: 63, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/ } } : {}),
    labels: { t: 'map', values: { t: 'string', maxLength: 63 } },
    annotations: { t: 'map', values: { t: 'string' } },
  },
  required: namespaced ? ['name', 'namespace'] : ['name'],
});

const RESOURCE_QUOTA: Schema = {
  t: 'object',
  properties: {
    name: { t: 'string' },
    nominalQuota: { t: 'quantity' },
    borrowingLimit: { t: 'quantity' },
    lendingLimit: { t: 'quantity' },
  },
  required: ['name', 'nominalQuota'],
};

const CLUSTER_QUEUE_SPEC: Schema = {
  t: 'object',
  properties: {
    cohort: NAME_253,
    namespaceSelector: LABEL_SELECTOR,
    queueingStrategy: { t: 'string', enum: ['StrictFIFO', 'BestEffortFIFO'] },
    stopPolicy: STOP_POLICY,
    resourceGroups: {
      t: 'array',
      maxItems: 16,
      items: {
        t: 'object',
        properties: {
          coveredResources: { t: 'array', items: { t: 'string' }, minItems: 1, maxItems: 64 },
          flavors: {
            t: 'array',
            minItems: 1,
            maxItems: 64,
            items: {
              t: 'object',
              properties: {
                name: NAME_253,
                resources: { t: 'array', items: RESOURCE_QUOTA, minItems: 1, maxItems: 64 },
              },
              required: ['name', 'resources'],
            },
          },
        },
        required: ['coveredResources', 'flavors'],
      },
    },
    preemption: {
      t: 'object',
      properties: {
        reclaimWithinCohort: { t: 'string', enum: ['Never', 'LowerPriority', 'Any'] },
        borrowWithinCohort: {
          t: 'object',
          properties: {
            policy: { t: 'string', enum: ['Never', 'LowerPriority'] },
            maxPriorityThreshold: { t: 'integer' },
          },
        },
        withinClusterQueue: { t: 'string', enum: ['Never', 'LowerPriority', 'LowerOrNewerEqualPriority'] },
      },
    },
    fairSharing: { t: 'object', properties: { weight: { t: 'quantity' } } },
  },
};

const TAINT: Schema = {
  t: 'object',
  properties: {
    key: { t: 'string' },
    value: { t: 'string' },
    effect: { t: 'string', enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
  },
  required: ['effect', 'key'],
};

const TOLERATION: Schema = {
  t: 'object',
  properties: {
    key: { t: 'string' },
    operator: { t: 'string', enum: ['Equal', 'Exists'] },
    value: { t: 'string' },
    effect: { t: 'string', enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
    tolerationSeconds: { t: 'integer' },
  },
};

const RESOURCE_FLAVOR_SPEC: Schema = {
  t: 'object',
  properties: {
    nodeLabels: { t: 'map', values: { t: 'string' }, maxProperties: 8 },
    nodeTaints: { t: 'array', items: TAINT, maxItems: 8 },
    tolerations: { t: 'array', items: TOLERATION, maxItems: 8 },
    topologyName: NAME_253,
  },
};

const LOCAL_QUEUE_SPEC: Schema = {
  t: 'object',
  properties: { clusterQueue: NAME_253, stopPolicy: STOP_POLICY },
};

const topLevel = (namespaced: boolean, spec: Schema): Schema => ({
  t: 'object',
  properties: {
    apiVersion: { t: 'string', enum: [KUEUE_API_VERSION] },
    kind: { t: 'string' },
    metadata: METADATA(namespaced),
    spec,
  },
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
});

const KUEUE_SCHEMAS: Readonly<Record<string, Schema>> = {
  ClusterQueue: topLevel(false, CLUSTER_QUEUE_SPEC),
  LocalQueue: topLevel(true, LOCAL_QUEUE_SPEC),
  ResourceFlavor: topLevel(false, RESOURCE_FLAVOR_SPEC),
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const check = (schema: Schema, value: unknown, path: string, errors: string[]): void => {
  switch (schema.t) {
    case 'string':
      if (typeof value !== 'string') {
        errors.push(`${path}: must be a string`);
        return;
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        errors.push(`${path}: longer than ${schema.maxLength}`);
      }
      if (schema.pattern !== undefined && !schema.pattern.test(value)) {
        errors.push(`${path}: "${value}" does not match ${String(schema.pattern)}`);
      }
      if (schema.enum !== undefined && !schema.enum.includes(value)) {
        errors.push(`${path}: "${value}" is not one of ${schema.enum.join(', ')}`);
      }
      return;
    case 'quantity':
      if (typeof value === 'number' ? !Number.isInteger(value) : typeof value !== 'string' || !QUANTITY_PATTERN.test(value)) {
        errors.push(`${path}: must be an integer or a quantity string`);
      }
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) errors.push(`${path}: must be an integer`);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        errors.push(`${path}: must be an array`);
        return;
      }
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        errors.push(`${path}: needs at least ${schema.minItems} items`);
      }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        errors.push(`${path}: allows at most ${schema.maxItems} items`);
      }
      value.forEach((item, i) => check(schema.items, item, `${path}[${i}]`, errors));
      return;
    case 'map':
      if (!isRecord(value)) {
        errors.push(`${path}: must be an object`);
        return;
      }
      if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties) {
        errors.push(`${path}: allows at most ${schema.maxProperties} entries`);
      }
      for (const [key, item] of Object.entries(value)) check(schema.values, item, `${path}.${key}`, errors);
      return;
    case 'object':
      if (!isRecord(value)) {
        errors.push(`${path}: must be an object`);
        return;
      }
      for (const key of schema.required ?? []) {
        if (value[key] === undefined) errors.push(`${path}.${key}: required`);
      }
      for (const [key, item] of Object.entries(value)) {
        const sub = schema.properties[key];
        if (sub === undefined) errors.push(`${path}.${key}: unknown field`);
        else if (item !== undefined) check(sub, item, `${path}.${key}`, errors);
      }
      return;
  }
};

/** The CRDs' CEL rules (x-kubernetes-validations) that constrain fields we emit. */
const celRules = (obj: Record<string, unknown>, errors: string[]): void => {
  const spec = obj['spec'];
  if (obj['kind'] !== 'ClusterQueue' || !isRecord(spec)) return;
  const groups = Array.isArray(spec['resourceGroups']) ? spec['resourceGroups'] : [];
  groups.forEach((group: unknown, g) => {
    if (!isRecord(group)) return;
    const covered = Array.isArray(group['coveredResources']) ? group['coveredResources'] : [];
    const flavors = Array.isArray(group['flavors']) ? group['flavors'] : [];
    flavors.forEach((flavor: unknown, f) => {
      if (!isRecord(flavor) || !Array.isArray(flavor['resources'])) return;
      const resources: unknown[] = flavor['resources'];
      // "flavors must have the same number of resources as the coveredResources"; Kueue also expects the
      // same names in the same order.
      if (resources.length !== covered.length) {
        errors.push(`spec.resourceGroups[${g}].flavors[${f}]: must list one quota per covered resource`);
      }
      resources.forEach((resource, r) => {
        if (isRecord(resource) && resource['name'] !== covered[r]) {
          errors.push(`spec.resourceGroups[${g}].flavors[${f}].resources[${r}]: must be "${String(covered[r])}"`);
        }
        // "borrowingLimit must be nil when cohort is empty"
        if (isRecord(resource) && resource['borrowingLimit'] !== undefined && spec['cohort'] === undefined) {
          errors.push(`spec.resourceGroups[${g}].flavors[${f}].resources[${r}].borrowingLimit: needs a cohort`);
        }
      });
    });
  });
  const preemption = spec['preemption'];
  if (isRecord(preemption)) {
    const borrow = preemption['borrowWithinCohort'];
    // "reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never" is rejected.
    if (preemption['reclaimWithinCohort'] === 'Never' && isRecord(borrow) && borrow['policy'] !== 'Never') {
      errors.push('spec.preemption: borrowWithinCohort needs reclaimWithinCohort other than Never');
    }
  }
};

/**
 * Validates a Kueue object (ClusterQueue, LocalQueue, ResourceFlavor at v1beta1) against the structure of
 * Kueue's CRDs. Returns the list of problems, empty when valid; never throws.
 */
export const validateKueueObject = (obj: unknown): string[] => {
  if (!isRecord(obj)) return ['object: must be an object'];
  const kind = obj['kind'];
  const schema = typeof kind === 'string' ? KUEUE_SCHEMAS[kind] : undefined;
  if (schema === undefined) return [`kind: ${String(kind)} is not a Kueue kind this validator knows`];
  const errors: string[] = [];
  check(schema, obj, kind as string, errors);
  celRules(obj, errors);
  return errors;
};

export const isKueueObject = (obj: { apiVersion: string }): boolean =>
  obj.apiVersion.startsWith('kueue.x-k8s.io/');
