/**
 * Kueue objects (kueue.x-k8s.io/v1beta1): the cluster-wide shared ResourceFlavor, and per tenant a
 * ClusterQueue (nominal quota, borrowing and lending limits, fair-sharing weight), a LocalQueue in the
 * tenant namespace, and for `dedicated` tenants a ResourceFlavor for their own node pool.
 *
 * The tenant tree (issue 15) becomes Kueue's hierarchical cohorts: an organization tenant (one with
 * children) renders a Cohort `<kueue.cohort>-<slug>` whose `spec.parent` is its parent organization's
 * Cohort (a root organization's: `kueue.cohort`, the platform's root cohort), holding the part of its
 * nominal quota its children do not carve out, with its borrowing and lending limits and fair-sharing
 * weight; its children's ClusterQueues join that Cohort, and so does its own ClusterQueue (nominal 0: its
 * own jobs draw on the Cohort's remainder — the Fair Tree's `self` entry). `buildKueueConfiguration` gives
 * the Kueue manager Configuration fragment that turns on fair sharing and admission fair sharing with the
 * platform's usage half-life. Also a structural validator for exactly the fields these builders emit,
 * since `kubernetes-models` does not know Kueue's CRDs. Pure: no IO.
 */
import type { ClusterConfig, KubeObject, TenantSpec } from './kubernetes-types.ts';
import {
  cpuQuantity,
  dedicatedFlavorName,
  labelKeys,
  MANAGED_BY,
  managedLabels,
  memoryQuantity,
  tenantCohortName,
  tenantNamespace,
  tenantQueueName,
} from './naming.ts';

export const KUEUE_API_VERSION = 'kueue.x-k8s.io/v1beta1';
export const KUEUE_RESOURCES = ['cpu', 'memory', 'nvidia.com/gpu'] as const;

/** Kueue's fair-sharing weight is a quantity string; tenant weights are plain positive numbers. */
const weightQuantity = (weight: number): string => String(weight);

export const KUEUE_CONFIG_API_VERSION = 'config.kueue.x-k8s.io/v1beta1';

/** A duration as Kubernetes' metav1.Duration prints it (Go's time.Duration string), whole seconds. */
export const goDuration = (ms: number): string => {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${m}m${sec}s` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
};

/**
 * The Kueue manager Configuration fragment (config.kueue.x-k8s.io/v1beta1; merge it into the
 * `controller_manager_config.yaml` of Kueue's manager ConfigMap): fair sharing across ClusterQueues and
 * Cohorts (weights from the tenants' quotas), and admission fair sharing whose usage halves every
 * `kueue.usageHalfLifeMs` — the platform's BULKHEAD_FAIR_SHARE_HALF_LIFE. Kueue's admission fair sharing
 * orders the LocalQueues of one ClusterQueue (each tenant's ClusterQueue opts in with `admissionScope`);
 * across tenants Kueue's fair sharing compares current usage above nominal, not decayed usage, so the
 * platform's own Fair Tree on decayed usage still decides the order it submits jobs in (docs/scheduler.md).
 */
export const buildKueueConfiguration = (config: ClusterConfig): KubeObject => ({
  apiVersion: KUEUE_CONFIG_API_VERSION,
  kind: 'Configuration',
  fairSharing: { enable: true, preemptionStrategies: ['LessThanOrEqualToFinalShare', 'LessThanInitialShare'] },
  admissionFairSharing: { usageHalfLifeTime: goDuration(config.kueue.usageHalfLifeMs), usageSamplingInterval: '5m0s' },
} as unknown as KubeObject);

type QuotaEntry = { name: string; nominalQuota: string; borrowingLimit?: string; lendingLimit?: string };

/** One flavor's quota entries for cpu, memory and GPUs (KUEUE_RESOURCES order); a null limit is left out. */
const quotaEntries = (
  nominal: { cpu: number; memoryMiB: number; gpu: number },
  borrow: { cpu: number | null; memoryMiB: number | null; gpu: number | null } | undefined,
  lend: { cpu: number | null; memoryMiB: number | null; gpu: number | null } | undefined,
): QuotaEntry[] => {
  const entry = (name: string, amount: number, b: number | null | undefined, l: number | null | undefined, q: (x: number) => string): QuotaEntry => ({
    name,
    nominalQuota: q(amount),
    ...(b === null || b === undefined ? {} : { borrowingLimit: q(b) }),
    ...(l === null || l === undefined ? {} : { lendingLimit: q(l) }),
  });
  return [
    entry('cpu', nominal.cpu, borrow?.cpu, lend?.cpu, cpuQuantity),
    entry('memory', nominal.memoryMiB, borrow?.memoryMiB, lend?.memoryMiB, memoryQuantity),
    entry('nvidia.com/gpu', nominal.gpu, borrow?.gpu, lend?.gpu, String),
  ];
};

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
 * The tenant's Kueue objects, in order: [dedicated ResourceFlavor], [organization Cohort], ClusterQueue,
 * LocalQueue.
 *
 * - In the tenant tree (`tenant.tree`): a leaf's ClusterQueue joins its parent organization's Cohort with
 *   its nominal quota, borrowing limit and lending limit (a null lending limit is left out: lends all); an
 *   organization renders its Cohort (see the module comment) and its own ClusterQueue joins it.
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
  // A dedicated tenant's pool is its own: nothing to lend (its flavor is in no other queue).
  const lend = dedicated ? undefined : q.lendingLimit;
  const stopPolicy = tenant.status === 'suspended' ? 'Hold' : 'None';
  const labels = managedLabels(tenant, 'tenant');
  const tree = tenant.tree;
  const organization = tree?.childrenNominal;
  const parentCohort = tree === undefined || tree.parentSlug === null ? config.kueue.cohort : tenantCohortName(tree.parentSlug, config);
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
  if (organization !== undefined) {
    // The organization's Cohort: what its children do not carve out of its nominal, lent to and borrowed
    // from its parent's Cohort within its limits (a Cohort's limits need a parent: it always has one).
    const rest = {
      cpu: Math.max(0, Math.round((q.cpu - organization.cpu) * 1000) / 1000),
      memoryMiB: Math.max(0, q.memoryMiB - organization.memoryMiB),
      gpu: Math.max(0, q.gpu - organization.gpu),
    };
    // Kueue's webhook wants a lending limit ≤ the Cohort's own nominalQuota: a limit above what the children
    // leave uncarved is rendered as that remainder (stricter; the platform's own check is the tree's).
    const cohortLend = lend === undefined ? undefined : {
      cpu: lend.cpu === null ? null : Math.min(lend.cpu, rest.cpu),
      memoryMiB: lend.memoryMiB === null ? null : Math.min(lend.memoryMiB, rest.memoryMiB),
      gpu: lend.gpu === null ? null : Math.min(lend.gpu, rest.gpu),
    };
    objects.push({
      apiVersion: KUEUE_API_VERSION,
      kind: 'Cohort',
      metadata: { name: tenantCohortName(tenant.slug, config), labels },
      spec: {
        parent: parentCohort,
        resourceGroups: [{ coveredResources: [...KUEUE_RESOURCES], flavors: [{ name: flavorName, resources: quotaEntries(rest, borrow, cohortLend) }] }],
        fairSharing: { weight: weightQuantity(q.weight) },
      },
    });
  }
  // An organization's own queue draws on its Cohort (nominal 0, no limits of its own); a leaf's carries its quota.
  const resources = organization !== undefined
    ? quotaEntries({ cpu: 0, memoryMiB: 0, gpu: 0 }, undefined, undefined)
    : quotaEntries(q, borrow, lend);
  objects.push(
    {
      apiVersion: KUEUE_API_VERSION,
      kind: 'ClusterQueue',
      metadata: { name: tenantQueueName(tenant, config), labels },
      spec: {
        cohort: organization !== undefined ? tenantCohortName(tenant.slug, config) : parentCohort,
        namespaceSelector: {
          matchLabels: { 'kubernetes.io/metadata.name': tenantNamespace(tenant, config) },
        },
        queueingStrategy: config.kueue.queueingStrategy,
        stopPolicy,
        resourceGroups: [
          {
            coveredResources: [...KUEUE_RESOURCES],
            flavors: [{ name: flavorName, resources }],
          },
        ],
        preemption: {
          reclaimWithinCohort: 'Any',
          borrowWithinCohort: { policy: 'LowerPriority' },
          withinClusterQueue: 'LowerPriority',
        },
        fairSharing: { weight: weightQuantity(q.weight) },
        // The tenant's LocalQueues are ordered by their decayed usage (buildKueueConfiguration's half-life).
        admissionScope: { admissionMode: 'UsageBasedAdmissionFairSharing' },
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
//   config/components/crd/bases/kueue.x-k8s.io_cohorts.yaml (Cohort: spec.parent, resourceGroups, fairSharing)
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
    admissionScope: {
      t: 'object',
      properties: { admissionMode: { t: 'string', enum: ['UsageBasedAdmissionFairSharing', 'NoAdmissionFairSharing'] } },
      required: ['admissionMode'],
    },
  },
};

const RESOURCE_GROUPS: Schema = (CLUSTER_QUEUE_SPEC as { properties: Record<string, Schema> }).properties['resourceGroups']!;

const COHORT_SPEC: Schema = {
  t: 'object',
  properties: {
    parent: NAME_253,
    resourceGroups: RESOURCE_GROUPS,
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
  Cohort: topLevel(false, COHORT_SPEC),
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

const quantityScale: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A quantity's value for comparisons (the suffixes the builders emit; anything else: NaN, never "greater"). */
const quantityValue = (q: unknown): number => {
  if (typeof q === 'number') return q;
  const match = typeof q === 'string' ? /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q) : null;
  return match === null ? Number.NaN : Number(match[1]) * (quantityScale[match[2] ?? ''] ?? Number.NaN);
};

/** The CRDs' CEL rules (x-kubernetes-validations) and the webhooks' checks that constrain fields we emit. */
const celRules = (obj: Record<string, unknown>, errors: string[]): void => {
  const spec = obj['spec'];
  if ((obj['kind'] !== 'ClusterQueue' && obj['kind'] !== 'Cohort') || !isRecord(spec)) return;
  // A ClusterQueue's limits need a cohort ("borrowingLimit/lendingLimit must be null if spec.cohort is
  // empty"); a Cohort's need a parent (rejected by Kueue's webhook otherwise).
  const anchor = obj['kind'] === 'Cohort' ? spec['parent'] : spec['cohort'];
  const needs = obj['kind'] === 'Cohort' ? 'a parent' : 'a cohort';
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
        // "lendingLimit must be less than or equal to the nominalQuota" (Kueue's webhook).
        if (isRecord(resource) && resource['lendingLimit'] !== undefined && quantityValue(resource['lendingLimit']) > quantityValue(resource['nominalQuota'])) {
          errors.push(`spec.resourceGroups[${g}].flavors[${f}].resources[${r}].lendingLimit: must be less than or equal to the nominalQuota`);
        }
        for (const limit of ['borrowingLimit', 'lendingLimit']) {
          if (isRecord(resource) && resource[limit] !== undefined && anchor === undefined) {
            errors.push(`spec.resourceGroups[${g}].flavors[${f}].resources[${r}].${limit}: needs ${needs}`);
          }
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
