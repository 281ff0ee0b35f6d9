/**
 * Gang jobs and GPU flavors on Kubernetes. Pure: no IO.
 *
 * A gang job (`workers: N`) is an Indexed `batch/v1` Job (completions = parallelism = N, one pod per rank)
 * with a headless Service giving each pod a stable name (`<job>-<rank>.<service>`), admitted by Kueue as
 * ONE workload (the Job is created suspended and Kueue admits all N pods or none; the cluster's Kueue
 * configuration should set `waitForPodsReady` so a gang whose pods cannot all start is evicted and
 * requeued whole). A NetworkPolicy lets the job's pods reach each other on the rendezvous ports and
 * nothing else of the tenant's reaches them (the tenant bundle's default-deny still holds for the rest).
 * Optional: `kueue.x-k8s.io/podset-preferred-topology` on the pod template, so Kueue's topology-aware
 * scheduling packs the gang (e.g. into one rack or one node).
 *
 * GPU flavors: each GPU type (and each MIG profile, a resource of its own such as
 * `nvidia.com/mig-3g.40gb`) is a Kueue ResourceFlavor selecting its nodes, and the tenant's ClusterQueue
 * gets a per-flavor quota for it.
 */
import type { ClusterConfig, ClusterJobSpec, KubeObject, TenantSpec } from './kubernetes-types.ts';
import { buildJobManifest, jobName } from './job-manifest.ts';
import { KUEUE_API_VERSION } from './kueue.ts';
import { cpuQuantity, kubernetesErrors, labelKeys, MANAGED_BY, managedLabels, memoryQuantity, requireDnsLabel, tenantNamespace, tenantQueueName } from './naming.ts';

/** The rendezvous port (torch.distributed's default) and the range above it the workers may use among themselves. */
export const GANG_PORT = 29500;
export const GANG_PORT_END = 29599;

export interface GangOptions {
  workers: number;
  /** A topology level for Kueue's topology-aware scheduling, e.g. `cloud.provider.com/topology-rack`. */
  preferredTopology?: string;
}

/** The headless Service of a gang job. */
export const gangServiceName = (jobId: string): string => requireDnsLabel('gang service', `${jobName(jobId)}-w`);

type Obj = Record<string, unknown>;

/**
 * [headless Service, Indexed Job, NetworkPolicy] for a gang job. Each pod's RANK is its completion index;
 * WORLD_SIZE = N; MASTER_ADDR is rank 0's stable name. Throws VALIDATION_FAILED for a gang size outside
 * 2..64, and whatever buildJobManifest throws.
 */
export const buildGangJobObjects = (job: ClusterJobSpec, gang: GangOptions, config: ClusterConfig): KubeObject[] => {
  if (!Number.isInteger(gang.workers) || gang.workers < 2 || gang.workers > 64) {
    throw kubernetesErrors.invalidInput('a gang has 2 to 64 workers', 'workers');
  }
  const base = buildJobManifest(job, config);
  const name = jobName(job.id);
  const namespace = tenantNamespace(job.tenant, config);
  const service = gangServiceName(job.id);
  const selector = { [labelKeys.jobId]: job.id };
  const spec = base['spec'] as Obj;
  const template = spec['template'] as Obj;
  const podSpec = template['spec'] as Obj;
  const templateMeta = template['metadata'] as Obj;
  const containers = podSpec['containers'] as Obj[];
  const gangEnv = [
    { name: 'RANK', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
    { name: 'LOCAL_RANK', value: '0' },
    { name: 'WORLD_SIZE', value: String(gang.workers) },
    { name: 'MASTER_ADDR', value: `${name}-0.${service}.${namespace}.svc` },
    { name: 'MASTER_PORT', value: String(GANG_PORT) },
  ];
  const indexedJob: KubeObject = {
    ...base,
    spec: {
      ...spec,
      completionMode: 'Indexed',
      completions: gang.workers,
      parallelism: gang.workers,
      // One rank failing fails the gang: no retries of a single rank (the platform requeues the whole job).
      backoffLimit: 0,
      template: {
        ...template,
        metadata: {
          ...templateMeta,
          ...(gang.preferredTopology === undefined
            ? {}
            : { annotations: { ...(templateMeta['annotations'] as Obj | undefined), 'kueue.x-k8s.io/podset-preferred-topology': gang.preferredTopology } }),
        },
        spec: {
          ...podSpec,
          subdomain: service,
          containers: containers.map((c) => ({ ...c, env: [...(c['env'] as Obj[]), ...gangEnv] })),
        },
      },
    },
  };
  const labels = { ...managedLabels(job.tenant, 'job'), [labelKeys.jobId]: job.id };
  const ports = [{ protocol: 'TCP', port: GANG_PORT, endPort: GANG_PORT_END }];
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace, labels },
      spec: {
        clusterIP: 'None',
        // Ranks must find each other before they are Ready (the rendezvous is what makes them ready).
        publishNotReadyAddresses: true,
        selector,
        ports: [{ name: 'rendezvous', protocol: 'TCP', port: GANG_PORT, targetPort: GANG_PORT }],
      },
    },
    indexedJob,
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `${name}-gang`, namespace, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress', 'Egress'],
        // Only this job's own pods, only on the gang's ports: no other pod of the tenant gets in.
        ingress: [{ from: [{ podSelector: { matchLabels: selector } }], ports }],
        egress: [{ to: [{ podSelector: { matchLabels: selector } }], ports }],
      },
    },
  ];
};

export interface GpuFlavor {
  /** The ResourceFlavor's name, e.g. `gpu-h100` or `mig-3g-40gb`. */
  name: string;
  /** The extended resource: `nvidia.com/gpu`, or a MIG profile `nvidia.com/mig-3g.40gb`. */
  resource: string;
  nodeLabels: Readonly<Record<string, string>>;
  /** The tenant's quota in this flavor (devices or MIG instances) and how many it may borrow. */
  nominalQuota: number;
  borrowingLimit: number;
}

const RESOURCE_NAME = /^nvidia\.com\/(gpu|mig-[1-7]g\.[0-9]+gb)$/;

/**
 * The GPU ResourceFlavors and the tenant's ClusterQueue with a per-flavor quota: one resource group for
 * CPU and memory (the shared flavor, as in kueue.ts), and one per GPU resource listing its flavors in
 * order of preference. Throws VALIDATION_FAILED for an unknown resource name or a negative quota.
 */
export const buildGpuFlavorObjects = (tenant: TenantSpec, flavors: readonly GpuFlavor[], config: ClusterConfig): KubeObject[] => {
  for (const f of flavors) {
    requireDnsLabel('GPU flavor', f.name);
    if (!RESOURCE_NAME.test(f.resource)) throw kubernetesErrors.invalidInput(`unknown GPU resource ${f.resource}`, 'resource');
    if (!Number.isInteger(f.nominalQuota) || f.nominalQuota < 0 || !Number.isInteger(f.borrowingLimit) || f.borrowingLimit < 0) {
      throw kubernetesErrors.invalidInput('GPU flavor quotas are whole non-negative numbers', 'nominalQuota');
    }
  }
  const labels = managedLabels(tenant, 'tenant');
  const byResource = new Map<string, GpuFlavor[]>();
  for (const f of flavors) byResource.set(f.resource, [...(byResource.get(f.resource) ?? []), f]);
  const q = tenant.quota;
  return [
    ...flavors.map((f): KubeObject => ({
      apiVersion: KUEUE_API_VERSION,
      kind: 'ResourceFlavor',
      metadata: { name: f.name, labels: { [labelKeys.managedBy]: MANAGED_BY } },
      spec: { nodeLabels: { ...f.nodeLabels } },
    })),
    {
      apiVersion: KUEUE_API_VERSION,
      kind: 'ClusterQueue',
      metadata: { name: tenantQueueName(tenant, config), labels },
      spec: {
        cohort: config.kueue.cohort,
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': tenantNamespace(tenant, config) } },
        queueingStrategy: config.kueue.queueingStrategy,
        stopPolicy: tenant.status === 'suspended' ? 'Hold' : 'None',
        resourceGroups: [
          {
            coveredResources: ['cpu', 'memory'],
            flavors: [{
              name: config.kueue.sharedFlavor.name,
              resources: [
                { name: 'cpu', nominalQuota: cpuQuantity(q.cpu), borrowingLimit: cpuQuantity(q.borrowingLimit.cpu) },
                { name: 'memory', nominalQuota: memoryQuantity(q.memoryMiB), borrowingLimit: memoryQuantity(q.borrowingLimit.memoryMiB) },
              ],
            }],
          },
          ...[...byResource.entries()].map(([resource, list]) => ({
            coveredResources: [resource],
            flavors: list.map((f) => ({ name: f.name, resources: [{ name: resource, nominalQuota: String(f.nominalQuota), borrowingLimit: String(f.borrowingLimit) }] })),
          })),
        ],
        preemption: { reclaimWithinCohort: 'Any', borrowWithinCohort: { policy: 'LowerPriority' }, withinClusterQueue: 'LowerPriority' },
        fairSharing: { weight: String(q.weight) },
      },
    },
  ];
};
