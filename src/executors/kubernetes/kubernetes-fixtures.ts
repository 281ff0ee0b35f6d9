/**
 * Fixed inputs shared by this module's tests and golden files. Not exported from index.ts.
 */
import type { ClusterConfig, EndpointSpec, IsolationTier, ClusterJobSpec, TenantSpec } from './kubernetes-types.ts';
import { createClusterConfig } from './naming.ts';
import type { GpuFlavor } from './gang-manifest.ts';

export const fixtureConfig = (overrides: Parameters<typeof createClusterConfig>[0] = {}): ClusterConfig =>
  createClusterConfig({
    sandboxRuntimeClass: 'runsc-sandbox',
    dedicatedRuntimeClass: 'kata',
    jobImage: 'registry.example.com/bulkhead/job-runner:1.0.0',
    ...overrides,
    kueue: { priorityClasses: [{ name: 'bulkhead-low', minPriority: -1000 }, { name: 'bulkhead-high', minPriority: 100 }], ...overrides.kueue },
  });

const ids: Record<IsolationTier, string> = {
  process: '11111111-1111-4111-8111-111111111111',
  sandbox: '22222222-2222-4222-8222-222222222222',
  dedicated: '33333333-3333-4333-8333-333333333333',
};

export const fixtureTenant = (tier: IsolationTier, overrides: Partial<TenantSpec> = {}): TenantSpec => ({
  id: ids[tier],
  slug: `team-${tier}`,
  name: `Team ${tier[0]?.toUpperCase()}${tier.slice(1)}`,
  tier,
  status: 'active',
  quota: {
    cpu: 16,
    memoryMiB: 65536,
    gpu: tier === 'process' ? 0 : 2,
    borrowingLimit: { cpu: 8, memoryMiB: 32768, gpu: 1 },
    lendingLimit: { cpu: null, memoryMiB: null, gpu: null },
    maxConcurrentJobs: 4,
    maxQueuedJobs: 50,
    storageBytes: 200 * 1024 ** 3,
    requestsPerSecond: 100,
    weight: tier === 'dedicated' ? 2 : 1,
    dbStatementTimeoutMs: 10_000,
    dbMaxConcurrentOperations: 8, dbTimeMsPerSecond: 0,
    ingressBytesPerSecond: 50_000_000,
    ingressBurstBytes: 50_000_000,
    egressBytesPerSecond: 125_000_000,
    egressBurstBytes: 125_000_000,
  },
  ...overrides,
});

/**
 * The tenant tree (issue 15): organization `org-east` (40 cores, 2 GPUs; weight 3; lends at most 8 cores
 * to its siblings and borrows at most 16) whose children carve out 32 cores, 96 GiB and 2 GPUs; and its
 * team `team-sandbox` (16 cores, lends at most 4 cores and no GPU).
 */
export const fixtureOrganization = (): TenantSpec => {
  const base = fixtureTenant('sandbox');
  return {
    ...base,
    id: '44444444-4444-4444-8444-444444444444',
    slug: 'org-east',
    name: 'Org East',
    quota: {
      ...base.quota, cpu: 40, memoryMiB: 131072, gpu: 2, weight: 3,
      borrowingLimit: { cpu: 16, memoryMiB: 65536, gpu: 0 }, lendingLimit: { cpu: 8, memoryMiB: null, gpu: 0 },
    },
    tree: { parentSlug: null, childrenNominal: { cpu: 32, memoryMiB: 98304, gpu: 2 } },
  };
};

export const fixtureTeamInOrganization = (): TenantSpec => {
  const base = fixtureTenant('sandbox');
  return { ...base, quota: { ...base.quota, lendingLimit: { cpu: 4, memoryMiB: null, gpu: 0 } }, tree: { parentSlug: 'org-east' } };
};

export const fixtureJob = (tenant: TenantSpec, overrides: Partial<ClusterJobSpec> = {}): ClusterJobSpec => ({
  id: '0190a3c4-7b2e-7d40-9c1a-5e6f7a8b9c0d',
  tenant,
  command: ['python', '-m', 'train', '--epochs', '3'],
  env: { WANDB_MODE: 'disabled', LEARNING_RATE: '0.001' },
  resources: { cpu: 2.5, memoryMiB: 8192, gpu: tenant.quota.gpu > 0 ? 1 : 0, timeoutSeconds: 7200 },
  priority: 150,
  jobTokenSecretName: 'job-0190a3c4-token',
  ...overrides,
});

export const fixtureEndpoint = (tenant: TenantSpec, overrides: Partial<EndpointSpec> = {}): EndpointSpec => ({
  name: 'churn',
  tenant,
  model: 'Churn Classifier',
  version: '7',
  replicas: 2,
  resources: { cpu: 1, memoryMiB: 2048 },
  generation: 'g7a1b2c3d',
  tokenSecretName: 'ep-churn-g7a1b2c3d',
  modelArtifactPath: '1/0a1b2c3d4e5f/artifacts/model/model.onnx',
  ...overrides,
});

export const tiers: readonly IsolationTier[] = ['process', 'sandbox', 'dedicated'];

/** An H100 pool and a MIG 3g.40gb profile on A100s: one flavor each, with per-flavor quotas. */
export const fixtureGpuFlavors: GpuFlavor[] = [
  { name: 'gpu-h100', resource: 'nvidia.com/gpu', nodeLabels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' }, nominalQuota: 4, borrowingLimit: 2 },
  { name: 'mig-3g-40gb', resource: 'nvidia.com/mig-3g.40gb', nodeLabels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/mig.config': 'all-3g.40gb' }, nominalQuota: 2, borrowingLimit: 0 },
];

