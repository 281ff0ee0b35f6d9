import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import { otherTenantIdBySlug, recordSharedUse } from '../sharing/index.ts';
import { AppError } from '../core/errors.ts';
import type { TenantService } from '../tenants/index.ts';
import type { ArtifactService } from '../artifacts/index.ts';
import type { RegistryService, TrackingService } from '../tracking/index.ts';
import { createLocalExecutor } from '../executors/local/index.ts';
import { createClusterServingBackend, createDeploymentService, createLocalServingBackend, createRegistryModelResolver, createTenantRateGuard, prepareWorkerCode } from '../serving/index.ts';
import type { ClusterEndpoints, DeploymentService, EndpointTokenScope, ModelResolver, ServingBackend, TenantRateGuard, WorkerExecutor } from '../serving/index.ts';
import type { IdentityService } from '../identity/index.ts';
import { deploymentRoutes } from '../http/index.ts';
import { inferenceRoutes } from '../http/index.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

export interface ServingSystem {
  deployments: DeploymentService;
  /** The per-tenant token buckets: the gateway uses them; the API's auth hook should too. */
  rateGuard: TenantRateGuard;
  httpModules: FastifyPluginAsyncZod[];
  /**
   * With endpoints on a cluster: the model artifact a live endpoint token may read (the auth hook's
   * `clusterEndpointScope`). Undefined when replicas run locally.
   */
  endpointScope?: ((tenantId: string, deploymentId: string, tokenId: string) => EndpointTokenScope | undefined) | undefined;
}

/**
 * Builds model serving (start-up recovery has wiped plaintext model files earlier versions left):
 * workers run through their own local executor whose cgroup prefix is the
 * platform's + `-srv` (so the job runner's orphan reaping never touches serving workers), from a worker
 * code dir under $BULKHEAD_HOME, with models resolved from the tenant's registry and artifact store.
 * Given `cluster` (BULKHEAD_EXECUTOR=kubernetes), replicas run as a Deployment + Service on the cluster
 * instead, behind the same gateway limits.
 */
/** The native addons and libraries under `dir` (onnxruntime's, in the worker code): what a worker on an image must be able to load. */
const nativeObjects = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /\.node$|\.so(\.\d+)*$/.test(e.name)).map((e) => join(e.parentPath, e.name));
};

export const createServingSystem = async (
  config: Config,
  deps: { db: Db; tenants: TenantService; artifacts: ArtifactService; tracking: TrackingService; registry: RegistryService; executor?: WorkerExecutor; resolver?: ModelResolver; cpusetFor?: (tenantId: string) => Promise<string | undefined>;
    cluster?: { endpoints: ClusterEndpoints; identity: IdentityService; pollIntervalMs?: number | undefined } | undefined;
    /** With replicas: a tenant's rate on this replica, from its quota (its share; default the whole quota). */
    rateShare?: (rate: number) => number;
    /** Deployments on OCI images (issue 17): resolving a reference for a tenant, and a digest's rootfs. */
    images?: { resolve(tenantId: string, ref: string): Promise<{ digest: string }>; rootfsPath(digest: string): Promise<string> } },
): Promise<ServingSystem> => {
  const code = await prepareWorkerCode(join(config.home, 'serving-code'));
  const images = deps.images;
  const scope = (tenantId: string) => ({ tenantId, actor: 'system:serving', requestId: 'serving' });
  const ownResolver = deps.resolver ?? createRegistryModelResolver({
    getDownloadUri: (tenantId, name, version) => deps.registry.getDownloadUri(scope(tenantId), { name, version }),
    getRunArtifactUri: async (tenantId, runId) => (await deps.tracking.getRun(scope(tenantId), runId)).info.artifact_uri,
    openArtifact: async (tenantId, path) => {
      if ((await deps.artifacts.findArtifact(tenantId, path)) === undefined) return undefined;
      return (await deps.artifacts.openArtifact(tenantId, path)).stream;
    },
  });
  /**
   * A model `{owner}/{name}` (issue 15): a version another tenant shared with the deploying one. The
   * registry reads it first as the deploying tenant, under the database's shared_read policies (audited
   * in both tenants as `share.read`); only when that succeeds are the owner's artifacts read — as the
   * owner, for exactly that version's source. Anything not shared is NOT_FOUND like a missing version.
   * A running replica keeps the bytes it loaded; a restart after revocation fails.
   */
  const sharedOwner = async (tenantId: string, model: string, version: string): Promise<{ ownerId: string; name: string } | undefined> => {
    const slash = model.indexOf('/');
    if (slash <= 0) return undefined;
    const notFound = new AppError('NOT_FOUND', `model ${model} version ${version}: no such registered model version`);
    const ownerId = await otherTenantIdBySlug(deps.db, tenantId, model.slice(0, slash));
    if (ownerId === undefined) return undefined;
    try {
      await deps.registry.getModelVersion(scope(tenantId), { name: model, version });
    } catch {
      throw notFound;
    }
    return { ownerId, name: model.slice(slash + 1) };
  };
  const resolver: ModelResolver = {
    async readModel(tenantId, model, version) {
      const shared = await sharedOwner(tenantId, model, version);
      if (shared === undefined) return ownResolver.readModel(tenantId, model, version);
      const bytes = await ownResolver.readModel(shared.ownerId, shared.name, version);
      // The cross-tenant lineage edge (issue 15): this tenant's deployment loaded the owner's version.
      await recordSharedUse(deps.db, tenantId, { ownerId: shared.ownerId, kind: 'model', name: shared.name, version: Number(version) }, 'deployment');
      return bytes;
    },
    ...(ownResolver.modelArtifactPath === undefined ? {} : {
      async modelArtifactPath(tenantId: string, model: string, version: string) {
        // A cluster pod fetches its model with its own tenant's token from that tenant's store: a shared
        // version is not there (not done: copying it for the pod).
        if ((await sharedOwner(tenantId, model, version)) !== undefined) throw new AppError('VALIDATION_FAILED', `model ${model}: a shared model version cannot be served on the cluster yet`);
        return ownResolver.modelArtifactPath!(tenantId, model, version);
      },
    }),
  };
  const tenantInfo = async (tenantId: string) => {
    const tenant = await deps.tenants.find(tenantId);
    if (tenant === undefined) throw new Error('tenant vanished');
    const quota = await deps.tenants.getQuota(tenantId);
    return { tier: tenant.tier, limits: { cpu: quota.cpu, memoryMiB: quota.memoryMiB } };
  };
  const cluster = deps.cluster === undefined ? undefined : createClusterServingBackend({
    endpoints: deps.cluster.endpoints,
    resolver,
    identity: deps.cluster.identity,
    ...(deps.cluster.pollIntervalMs === undefined ? {} : { pollIntervalMs: deps.cluster.pollIntervalMs }),
    log: {
      error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'serving', msg, ...obj })}\n`),
    },
  });
  const backend: ServingBackend = cluster ?? createLocalServingBackend({
    executor: deps.executor ?? createLocalExecutor({ cgroupPrefix: `${config.cgroupPrefix}-srv`, imageRuntimeObjects: await nativeObjects(join(code.dir, 'node_modules')) }),
    resolver,
    codeDir: code.dir,
    ...(deps.cpusetFor === undefined ? {} : { reservedCpus: deps.cpusetFor }),
    ...(images === undefined ? {} : { imageRootfs: (digest: string) => images.rootfsPath(digest) }),
    tenantInfo,
  });
  const deployments = createDeploymentService({
    db: deps.db, backend, tenantInfo,
    ...(images === undefined ? {} : { resolveImage: (tenantId: string, ref: string) => images.resolve(tenantId, ref) }),
  });
  const rateShare = deps.rateShare ?? ((rate: number) => rate);
  const rateGuard = createTenantRateGuard({ quotaRate: async (tenantId) => rateShare((await deps.tenants.getQuota(tenantId)).requestsPerSecond) });
  // A quota change made through this process applies to the next request, not after the cache's second.
  deps.tenants.onChange((tenantId) => rateGuard.forget(tenantId));
  return {
    deployments, rateGuard, httpModules: [deploymentRoutes({ deployments }), inferenceRoutes({ deployments, rateGuard })],
    endpointScope: cluster === undefined ? undefined : (tenantId, deploymentId, tokenId) => cluster.endpointScope(tenantId, deploymentId, tokenId),
  };
};
