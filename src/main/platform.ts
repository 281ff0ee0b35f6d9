import { join } from 'node:path';
import { chmodSync, mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../config/index.ts';
import { createPgliteDb, createPostgresDb, detectRlsMode, migrate } from '../db/index.ts';
import type { Db, RlsMode } from '../db/index.ts';
import { loadMasterKey } from '../crypto/index.ts';
import { createAuditLog } from '../audit/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { createIdentityService, generateToken } from '../identity/index.ts';
import type { IdentityService } from '../identity/index.ts';
import { createTenantDeletion, createTenantService, createTenantSuspension } from '../tenants/index.ts';
import type { TenantDeletion, TenantService, TenantSuspension } from '../tenants/index.ts';
import { createArtifactService, createBlobFiles, createTenantStorage } from '../artifacts/index.ts';
import type { ArtifactService, TenantStorage } from '../artifacts/index.ts';
import { createDatasetService } from '../datasets/index.ts';
import type { DatasetService } from '../datasets/index.ts';
import { datasetRoutes, mlflowArtifactRoutes } from '../http/artifacts/index.ts';
import { buildApp } from '../http/index.ts';
import { kubernetesRoutes } from '../http/routes/kubernetes-routes.ts';
import { jobRoutes } from '../http/routes/job-routes.ts';
import { createJobSystem } from './job-system.ts';
import { createJobStoragePort, createJobTrackingPort } from './job-ports.ts';
import type { JobSystem } from './job-system.ts';
import { createServingSystem } from './serving-system.ts';
import { createTenantRateLimitHook } from '../serving/index.ts';
import type { ServingSystem } from './serving-system.ts';
import { createClusterConfig } from '../executors/kubernetes/index.ts';
import type { ClusterConfigInput, KubernetesClient } from '../executors/kubernetes/index.ts';
import type { BuildAppOptions } from '../http/index.ts';
import { createLoggedModelService, createRegistryService, createTrackingService } from '../tracking/index.ts';
import { mlflowRoutes } from '../http/mlflow/index.ts';
import { createLineageService } from '../lineage/index.ts';
import { lineageRoutes } from '../http/routes/lineage-routes.ts';
import { createTenantDeletionPorts, createTenantSuspensionPorts } from './tenant-deletion-ports.ts';
import { createClusterBackend, loadKubeConfig } from './cluster-execution.ts';
import { createClusterEndpoints } from './cluster-serving.ts';
import type { ClusterEndpoints } from '../serving/index.ts';
import type { ClusterExecution } from '../jobs/job-runner.ts';

const jobLog = {
  info: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'cluster', msg, ...obj })}\n`),
  error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'cluster', msg, ...obj })}\n`),
};

export interface Platform {
  /** Route modules of the domain services, registered by buildPlatformApp. */
  httpModules: FastifyPluginAsyncZod[];
  /** Training jobs: the store, the scheduling runner (started by `bulkhead up`) and the job relays. */
  jobs: JobSystem;
  /** Model serving: deployments, the OIP gateway and the per-tenant rate guard. */
  serving: ServingSystem;
  /** Registers a shutdown step; steps run in reverse order of registration, before the database closes. */
  onClose(step: () => Promise<void>): void;
  config: Config;
  db: Db;
  rlsMode: RlsMode;
  audit: AuditLog;
  identity: IdentityService;
  tenants: TenantService;
  /** Encrypted per-tenant artifacts: putArtifact / openArtifact / list / delete / multipart, storage usage. */
  artifacts: ArtifactService;
  /** Datasets: versions, files, and materializeDatasetVersion(tenantId, name, version, dir) for jobs. */
  datasets: DatasetService;
  /** The blob layer under both (upload sessions metered against the storage quota). */
  storage: TenantStorage;
  /** Deleting a suspended tenant and everything it owns (jobs, deployments, rows, files, namespace). */
  tenantDeletion: TenantDeletion;
  /** Stops a suspended tenant's running jobs and deployments; restarts the deployments on resumption. */
  tenantSuspension: TenantSuspension;
  /** Closes everything this platform opened, in order. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the database named by the config (PostgreSQL when `databaseUrl` is set, else PGlite under
 * `$BULKHEAD_HOME/db`) and applies migrations. With PostgreSQL, migrations run on
 * `databaseMigrationUrl` (the schema owner) when given; the platform itself uses `databaseUrl`.
 */
export const openDatabase = async (config: Config): Promise<Db> => {
  if (config.databaseUrl === undefined) {
    const dataDir = join(config.home, 'db');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = await createPgliteDb({ dataDir });
    await migrate(db);
    return db;
  }
  if (config.databaseMigrationUrl !== undefined) {
    const owner = createPostgresDb({ connectionString: config.databaseMigrationUrl, maxConnections: 1 });
    try {
      await migrate(owner);
    } finally {
      await owner.close();
    }
    return createPostgresDb({ connectionString: config.databaseUrl, maxConnections: config.databasePoolSize });
  }
  const db = createPostgresDb({ connectionString: config.databaseUrl, maxConnections: config.databasePoolSize });
  await migrate(db);
  return db;
};

/** The composition root: builds every real dependency from the config. The only place that does. */
export const createPlatform = async (
  config: Config,
  options: {
    db?: Db;
    /** A Kubernetes cluster the platform manages (tenant deletion removes the tenant's namespace there). */
    kubernetesClient?: KubernetesClient;
    /**
     * With BULKHEAD_EXECUTOR=kubernetes: the cluster to run jobs on, instead of the default kubeconfig's; with
     * `endpoints`, deployments' replicas run there too (polled every `endpointPollIntervalMs`, default 2 s).
     * Without `endpoints` an injected cluster runs jobs only and replicas stay local.
     */
    cluster?: { execution: ClusterExecution; client?: KubernetesClient; endpoints?: ClusterEndpoints; endpointPollIntervalMs?: number };
  } = {},
): Promise<Platform> => {
  // 0711: the sandbox launcher (an unprivileged uid) must pass through to job directories under
  // $BULKHEAD_HOME/jobs; nobody but root may list it, and what is secret inside has its own 0700/0600.
  mkdirSync(config.home, { recursive: true, mode: 0o711 });
  chmodSync(config.home, 0o711);
  const db = options.db ?? (await openDatabase(config));
  const rlsMode = await detectRlsMode(db);
  const masterKey = loadMasterKey({ base64: config.masterKey, file: config.masterKeyFile ?? join(config.home, 'master.key') });
  const audit = createAuditLog({ db, checkpointKey: masterKey.derive('audit-checkpoint'), headsFile: join(config.home, 'audit-heads.json') });
  const identity = createIdentityService({ db, cacheTtlMs: config.authCacheTtlMs });
  const tenants = createTenantService({ db });
  // Domain services register their route modules here and their shutdown steps in `closers`
  // (run in reverse order before the database closes).
  const httpModules: FastifyPluginAsyncZod[] = [];
  const closers: Array<() => Promise<void>> = [];
  const blobFiles = createBlobFiles(join(config.home, 'blobs'));
  const storage = createTenantStorage({ db, files: blobFiles, keyEncryptionKey: masterKey.derive('tenant-data-key-wrap') });
  const artifacts = createArtifactService({ db, storage, signingKey: masterKey.derive('artifact-multipart-url') });
  const datasets = createDatasetService({ db, storage });
  httpModules.push(mlflowArtifactRoutes({ artifacts }), datasetRoutes({ datasets, artifacts }));
  // Temp files untouched for an hour are leftovers of a crash (a live upload keeps writing to its file).
  void blobFiles.sweepTemps(3600_000).catch(() => {});
  const cluster = createClusterConfig((config.kubernetes ?? {}) as ClusterConfigInput);
  const tracking = createTrackingService({ db });
  // BULKHEAD_EXECUTOR=kubernetes: jobs run on the cluster of the default kubeconfig (a missing one fails start-up).
  const ownClusterBackend = options.cluster === undefined && config.executor === 'kubernetes' ? createClusterBackend(await loadKubeConfig(), cluster, jobLog) : undefined;
  const clusterBackend = options.cluster ?? ownClusterBackend;
  const jobs = createJobSystem(config, { db, tenants, identity, tracking: createJobTrackingPort(tracking), storage: createJobStoragePort(artifacts, datasets), cluster: clusterBackend?.execution });
  httpModules.push(jobRoutes({ store: jobs.store, runner: jobs.runner, tenants }));
  closers.push(() => jobs.runner.stop());
  httpModules.push(kubernetesRoutes({ tenants, cluster, jobs: jobs.store }));
  // Lineage: model versions created with a job's run_id (MLflow API) get their lineage recorded; register-from-job.
  const lineage = createLineageService({ db, registry: createRegistryService({ db }), tracking, datasets, artifacts, jobs: jobs.store });
  httpModules.push(lineageRoutes({ lineage }));
  httpModules.push(mlflowRoutes({ tracking, registry: lineage.withAutomaticLineage(createRegistryService({ db })), loggedModels: createLoggedModelService({ db }) }));
  // Endpoints on the cluster: the same client and tenant bundles as the jobs (the bundle once per tenant and quota).
  const endpoints = options.cluster?.endpoints ?? (ownClusterBackend === undefined ? undefined
    : createClusterEndpoints({ client: ownClusterBackend.client, config: cluster, tenants, ensureTenant: (tenant, quota) => ownClusterBackend.execution.ensureTenant(tenant, quota) }));
  const serving = await createServingSystem(config, {
    db, tenants, artifacts, tracking, registry: createRegistryService({ db }), cpusetFor: (tenantId) => jobs.runner.cpusetFor(tenantId),
    cluster: config.executor === 'kubernetes' && endpoints !== undefined ? { endpoints, identity, pollIntervalMs: options.cluster?.endpointPollIntervalMs } : undefined,
  });
  httpModules.push(...serving.httpModules);
  closers.push(() => serving.deployments.close());
  void serving.deployments.recover().catch(() => {});
  const clusterClient = options.kubernetesClient ?? clusterBackend?.client;
  const tenantDeletion = createTenantDeletion({
    db,
    tenants,
    ports: createTenantDeletionPorts({
      jobs, deployments: serving.deployments, identity, blobRoot: blobFiles.root, storage,
      cluster: clusterClient === undefined ? undefined : { client: clusterClient, config: cluster },
    }),
  });
  const tenantSuspension = createTenantSuspension({ db, ports: createTenantSuspensionPorts({ jobs, deployments: serving.deployments }) });
  let closed = false;
  return {
    config, db, rlsMode, audit, identity, tenants, httpModules, jobs, serving,
    artifacts, datasets, storage, tenantDeletion, tenantSuspension,
    onClose: (step) => void closers.push(step),
    async close() {
      if (closed) return;
      closed = true;
      for (const closer of closers.reverse()) await closer().catch(() => {});
      await audit.seal().catch(() => {});
      if (options.db === undefined) await db.close();
    },
  };
};

/** Builds the HTTP app over a platform. */
export const buildPlatformApp = (platform: Platform, options: BuildAppOptions = {}): Promise<FastifyInstance> =>
  buildApp({
    db: platform.db,
    rlsMode: platform.rlsMode,
    identity: platform.identity,
    tenants: platform.tenants,
    audit: platform.audit,
    bodyLimitBytes: platform.config.bodyLimitBytes,
    authCacheTtlMs: platform.config.authCacheTtlMs,
    logLevel: platform.config.logLevel,
    modules: platform.httpModules,
    tenantDeletion: platform.tenantDeletion,
    tenantSuspension: platform.tenantSuspension,
    relaySecret: platform.jobs.relays.secret,
    clusterJobScope: platform.config.executor === 'kubernetes' ? (tenantId, jobId) => platform.jobs.runner.clusterJobScope(tenantId, jobId) : undefined,
    clusterEndpointScope: platform.serving.endpointScope,
    rateLimit: createTenantRateLimitHook(platform.serving.rateGuard),
  }, options).then((app) => {
    // The job relays forward in-process: a job's requests never touch the network.
    platform.jobs.relays.setForwarder(async (request) => {
      const response = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payload: request.payload });
      return { statusCode: response.statusCode, headers: response.headers, body: response.rawPayload };
    });
    return app;
  });

/**
 * First start: when no platform-admin token exists, creates one — `BULKHEAD_BOOTSTRAP_TOKEN` if set,
 * otherwise a generated one, returned so the caller prints it once. Returns undefined when one exists.
 */
export const bootstrapPlatformAdmin = async (platform: Platform): Promise<{ token: string; generated: boolean } | undefined> => {
  if (await platform.identity.hasPlatformAdminToken()) return undefined;
  const token = platform.config.bootstrapToken ?? generateToken();
  await platform.identity.createToken({ actor: 'system:bootstrap', requestId: 'bootstrap' }, null, {
    name: 'bootstrap', role: 'platform_admin', presetToken: token,
  });
  return { token, generated: platform.config.bootstrapToken === undefined };
};
