import { join, resolve } from 'node:path';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../config/index.ts';
import { createPgliteDb, createPostgresDb, detectRlsMode, migrate, missingScopeRoles, PLATFORM_TENANT_ID } from '../db/index.ts';
import type { Db, RlsMode } from '../db/index.ts';
import { createDbTimeQuotaGate, loadDbTimeLimits, withTenantGate } from '../db/index.ts';
import type { DbTimeQuotaGate } from '../db/index.ts';
import { loadMasterKey } from '../crypto/index.ts';
import { Registry } from 'prom-client';
import { createAuditLog, createAuditSigningDb } from '../audit/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { createIdentityService, createRoleService, createServiceAccountService, createSsoService, generateToken } from '../identity/index.ts';
import type { IdentityService, RoleService, ServiceAccountService, SsoService } from '../identity/index.ts';
import { createTenantDeletion, createTenantService, createTenantSuspension } from '../tenants/index.ts';
import type { TenantDeletion, TenantService, TenantSuspension } from '../tenants/index.ts';
import { createArtifactService, createBlobFiles, createSealWorkerPool, createTenantStorage } from '../artifacts/index.ts';
import type { ArtifactService, TenantStorage } from '../artifacts/index.ts';
import { createDatasetService } from '../datasets/index.ts';
import type { DatasetService } from '../datasets/index.ts';
import { datasetRoutes, imageRoutes, mlflowArtifactRoutes, runArtifactRoutes } from '../http/index.ts';
import { buildApp, createTenantAdmission } from '../http/index.ts';
import { kubernetesRoutes } from '../http/index.ts';
import { jobRoutes } from '../http/index.ts';
import { createJobSystem } from './job-system.ts';
import { createImageService, createImageStore, type ImageService, type ImageStore } from '../images/index.ts';
import { createJobStoragePort, createJobTrackingPort } from './job-ports.ts';
import type { JobSystem } from './job-system.ts';
import { createServingSystem } from './serving-system.ts';
import { createTenantRateLimitHook } from '../serving/index.ts';
import type { ServingSystem } from './serving-system.ts';
import { createClusterConfig } from '../executors/kubernetes/index.ts';
import type { ClusterConfigInput, KubernetesClient } from '../executors/kubernetes/index.ts';
import type { BuildAppOptions } from '../http/index.ts';
import { createLoggedModelService, createRegistryService, createRunArtifactService, createTrackingService } from '../tracking/index.ts';
import { mlflowRoutes } from '../http/index.ts';
import { createLineageService } from '../lineage/index.ts';
import { lineageRoutes } from '../http/index.ts';
import { shareRoutes } from '../http/index.ts';
import { createShareService } from '../sharing/index.ts';
import { createTenantDeletionPorts, createTenantSuspensionPorts } from './tenant-deletion-ports.ts';
import { createClusterBackend, loadKubeConfig } from './cluster-execution.ts';
import { createClusterEndpoints } from './cluster-serving.ts';
import { createBandwidthLimiter } from '../bandwidth/index.ts';
import type { BandwidthLimiter } from '../bandwidth/index.ts';
import type { ClusterEndpoints } from '../serving/index.ts';
import type { ClusterExecution } from '../jobs/index.ts';
import { AppError } from '../core/errors.ts';
import { acquireHomeLock } from './home-lock.ts';
import type { HomeLock } from './home-lock.ts';
import { instanceFileTag, newInstanceId, parseInstanceId, processLiveness } from './process-identity.ts';
import { createMonitoring, registerAdmissionMetrics, registerTenantResourceMetrics } from '../monitoring/index.ts';
import type { Monitoring } from '../monitoring/index.ts';
import { alertRoutes, deploymentStatsRoutes, usageRoutes } from '../http/index.ts';
import { cgroupReader } from './cgroup-usage.ts';
import { hostname } from 'node:os';
import { createFencedDb, createReplicaCoordinator, jobsChannel, listenForInvalidations, replicaBandwidthShare, replicaCountShare, replicaShare, replicaTimeShare } from '../replicas/index.ts';
import type { ReplicaCoordinator } from '../replicas/index.ts';

const replicaLog = {
  info: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'replicas', msg, ...obj })}\n`),
  error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'replicas', msg, ...obj })}\n`),
};

/** Work that runs on the leader only (issue 16): started when this replica is elected, stopped when it is deposed. */
export interface LeaderWork {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
import { createSecuritySystem } from '../security/index.ts';
import type { SecuritySystem } from '../security/index.ts';

const jobLog = {
  info: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'cluster', msg, ...obj })}\n`),
  error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'cluster', msg, ...obj })}\n`),
};

const auditLog = {
  error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'audit', msg, ...obj })}\n`),
  warn: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 40, component: 'audit', msg, ...obj })}\n`),
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
  /** The database, its transactions carrying the audit event key (events appended in them are MACed). */
  db: Db;
  rlsMode: RlsMode;
  /** Prometheus metrics of the platform (e.g. bulkhead_audit_tamper_alerts_total), served by `runServer` on the metrics listener. */
  metrics: Registry;
  audit: AuditLog;
  identity: IdentityService;
  /** Tenants' custom roles (issue 14). */
  roles: RoleService;
  /** OIDC single sign-on; undefined without an `oidc` config block (docs/identity.md). */
  sso: SsoService | undefined;
  /** Tenants' service accounts and their always-expiring tokens (issue 14). */
  serviceAccounts: ServiceAccountService;
  tenants: TenantService;
  /** Encrypted per-tenant artifacts: putArtifact / openArtifact / list / delete / multipart, storage usage. */
  artifacts: ArtifactService;
  /** Datasets: versions, files, and materializeDatasetVersion(tenantId, name, version, dir) for jobs. */
  datasets: DatasetService;
  /** The blob layer under both (upload sessions metered against the storage quota). */
  storage: TenantStorage;
  /** OCI images (issue 17): tenants' and public images, registry pulls; the host's store under $BULKHEAD_HOME/images. */
  images: ImageService;
  imageStore: ImageStore;
  /** Deleting a suspended tenant and everything it owns (jobs, deployments, rows, files, namespace). */
  tenantDeletion: TenantDeletion;
  mode: PlatformMode;
  /** This run of the platform (`<pid>:<start time>:<random>@<host>`): what its storage reservations carry. */
  instanceId: string;
  /** The home's lock, held while an embedded database is open (undefined on PostgreSQL or with a given `db`). */
  homeLock: HomeLock | undefined;
  /** Stops a suspended tenant's running jobs and deployments; restarts the deployments on resumption. */
  tenantSuspension: TenantSuspension;
  /** Prometheus metrics on `metrics`, the usage ledger's counters, sampling and reads (timers started by `runServer`). */
  monitoring: Monitoring;
  /**
   * This replica among others on one PostgreSQL: heartbeat, leader election and fencing (PGlite: the only
   * replica, always the leader). Started by `runServer`; stopping it hands leadership over at once.
   */
  replicas: ReplicaCoordinator;
  /** Registers leader-only work, started in order on election and stopped in reverse order on loss. */
  onLeadership(work: LeaderWork): void;
  /** Security anomaly detection: request observer, detector loop, webhook (started by `runServer`). */
  security: SecuritySystem;
  /** Closes everything this platform opened, in order. Idempotent. */
  close(): Promise<void>;
  /**
   * The tenants' database-time quota (statement timeout, concurrent operations) every withTenant and
   * readAsTenant on `db` runs under; `dbTime.usage()` gives per-tenant database time for metrics.
   */
  dbTime: DbTimeQuotaGate;
  /** The per-tenant byte limiter of every byte path; `counters()` is what a metrics registry reads. */
  bandwidth: BandwidthLimiter;
}

/** How a process uses the platform: `server` (`bulkhead up`) or `admin` (a CLI command that returns). */
export type PlatformMode = 'server' | 'admin';

export interface OpenDatabaseOptions {
  /** What opens it, named in the lock file and in a refusal (`bulkhead up`, `bulkhead admin migrate`). */
  command: string;
  /**
   * Whether an embedded database may be created where there is none. False for admin commands: run in the
   * wrong directory, they must say where they looked rather than start an empty installation there.
   */
  create: boolean;
  /** What a refused caller should do instead (added to the message naming the lock's holder). */
  advice: string;
}

/** The embedded database's directory in a home, and whether one has been created there. */
export const embeddedDatabase = (home: string): { dir: string; exists: boolean } => {
  const dir = join(home, 'db');
  return { dir, exists: existsSync(join(dir, 'PG_VERSION')) };
};

/** A PostgreSQL URL fit for a message: no password. */
const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the configured database';
  }
};

export const databaseErrors = {
  noSchema: (url: string, command: string) =>
    new AppError('NOT_FOUND', `no Bulkhead schema in ${redactUrl(url)} (BULKHEAD_DATABASE_URL): ${command} does not install one. Point it at the server's database, or pass --create (or run \`bulkhead admin migrate\`) to install an empty one there`),
  noEmbeddedDatabase: (home: string, command: string) =>
    new AppError('NOT_FOUND', `no embedded database in ${resolve(home)} (BULKHEAD_HOME; looked for ${resolve(home, 'db')}): ${command} does not create one. Set BULKHEAD_HOME to the server's home (or BULKHEAD_DATABASE_URL), or pass --create to start an empty installation here`),
};

/**
 * Opens the database named by the config (PostgreSQL when `databaseUrl` is set, else PGlite under
 * `$BULKHEAD_HOME/db`) and applies migrations. With PostgreSQL, migrations run on
 * `databaseMigrationUrl` (the schema owner) when given; the platform itself uses `databaseUrl`.
 *
 * PGlite is single-writer: the home's lock (home-lock.ts) is taken first and held until the returned Db
 * is closed; a live holder makes this throw CONFLICT naming it. Without `create`, a home without an
 * embedded database is refused (NOT_FOUND naming the home) before anything is written there.
 */
export const openDatabase = async (config: Config, options: OpenDatabaseOptions = { command: 'bulkhead up', create: true, advice: 'Stop it first.' }): Promise<{ db: Db; lock: HomeLock | undefined }> => {
  if (config.databaseUrl === undefined) {
    const { dir: dataDir, exists } = embeddedDatabase(config.home);
    if (!exists && !options.create) throw databaseErrors.noEmbeddedDatabase(config.home, options.command);
    mkdirSync(config.home, { recursive: true, mode: 0o711 });
    const lock = acquireHomeLock(config.home, options.command, options.advice);
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const db = await createPgliteDb({ dataDir });
      try {
        await migrate(db);
      } catch (error) {
        await db.close().catch(() => {});
        throw error;
      }
      const locked: Db = {
        ...db,
        async close() {
          try {
            await db.close();
          } finally {
            lock.release();
          }
        },
      };
      return { db: locked, lock };
    } catch (error) {
      lock.release();
      throw error;
    }
  }
  if (!options.create) {
    // An admin command pointed at an empty PostgreSQL database must not install the schema there.
    const probe = createPostgresDb({ connectionString: config.databaseMigrationUrl ?? config.databaseUrl, maxConnections: 1 });
    try {
      const { rows } = await probe.queryAsOwner<{ found: string | null }>("SELECT to_regclass('schema_migrations')::text AS found");
      if (rows[0]?.found === null || rows[0]?.found === undefined) throw databaseErrors.noSchema(config.databaseUrl, options.command);
    } finally {
      await probe.close();
    }
  }
  if (config.databaseMigrationUrl !== undefined) {
    const owner = createPostgresDb({ connectionString: config.databaseMigrationUrl, maxConnections: 1 });
    try {
      await migrate(owner);
    } finally {
      await owner.close();
    }
    return { db: createPostgresDb({ connectionString: config.databaseUrl, maxConnections: config.databasePoolSize }), lock: undefined };
  }
  const db = createPostgresDb({ connectionString: config.databaseUrl, maxConnections: config.databasePoolSize });
  await migrate(db);
  return { db, lock: undefined };
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
    /**
     * `server` (default): what `bulkhead up` serves with. `admin`: for a CLI command that does one thing and
     * returns — no final audit seal, and no master key made up. Neither mode starts the job runner, the
     * sealer or serving workers: `runServer` does, so an admin platform runs beside servers on PostgreSQL.
     */
    mode?: PlatformMode;
    /** How the database is opened when `db` is not given (who opens it, whether it may be created). */
    open?: OpenDatabaseOptions;
  } = {},
): Promise<Platform> => {
  const mode = options.mode ?? 'server';
  const masterKeyFile = config.masterKeyFile ?? join(config.home, 'master.key');
  const opened = options.db === undefined ? await openDatabase(config, options.open) : undefined;
  const rawDb = options.db ?? opened!.db;
  // An admin command never starts a new installation by accident (unless told to, `--create`): no key file
  // is made up beside a database that was encrypted and signed with another one.
  if (mode === 'admin' && options.open?.create !== true && config.masterKey === undefined && !existsSync(masterKeyFile)) {
    await opened?.db.close();
    throw new AppError('NOT_FOUND', `no master key at ${resolve(masterKeyFile)} (BULKHEAD_HOME is ${resolve(config.home)}): an admin command does not create one. Run it with the server's BULKHEAD_HOME, or set BULKHEAD_MASTER_KEY / BULKHEAD_MASTER_KEY_FILE`);
  }
  // 0711: the sandbox launcher (an unprivileged uid) must pass through to job directories under
  // $BULKHEAD_HOME/jobs; nobody but root may list it, and what is secret inside has its own 0700/0600.
  mkdirSync(config.home, { recursive: true, mode: 0o711 });
  chmodSync(config.home, 0o711);
  const masterKey = loadMasterKey({ base64: config.masterKey, file: masterKeyFile });
  const auditEventKey = masterKey.derive('audit-event-mac');
  // Tenant work runs under the tenant's database-time quota; its limits are read across tenants from the
  // unwrapped Db (not through the gate itself).
  // Quotas across replicas (issue 25 item 4): each replica enforces its share of a tenant's concurrent
  // database operations and bandwidth, as of the request rate — the quota over the live replicas (one on
  // PGlite). Late-bound: the replica coordinator needs the database built below.
  let liveReplicas = (): number => 1;
  const dbTime = createDbTimeQuotaGate({
    loadLimits: async (tenantId) => {
      const limits = await loadDbTimeLimits(rawDb, tenantId);
      return limits === undefined ? undefined : {
        ...limits,
        maxConcurrentOperations: replicaCountShare(limits.maxConcurrentOperations, liveReplicas()),
        timeMsPerSecond: replicaTimeShare(limits.timeMsPerSecond, liveReplicas()),
      };
    },
    queueWaitMs: config.dbQueueWaitMs,
    fairSlots: config.dbFairSlots,
  });
  const db = withTenantGate(createAuditSigningDb(rawDb, auditEventKey), dbTime);
  const rlsMode = await detectRlsMode(db);
  const missingRoles = await missingScopeRoles(db);
  if (missingRoles.length > 0) {
    await opened?.db.close();
    throw new AppError('INTERNAL', `the database login role cannot become ${missingRoles.join(', ')}: as a superuser run GRANT ${missingRoles.join(', ')} TO <the role of BULKHEAD_DATABASE_URL> (README, PostgreSQL; bulkhead_share_reader is new in migration 0035)`);
  }
  // This run of the platform: storage reservations carry it, so the next start knows whose they were.
  const instanceId = newInstanceId();
  const metrics = new Registry();
  const audit = createAuditLog({
    db, checkpointKey: masterKey.derive('audit-checkpoint'), eventKey: auditEventKey, headsFile: join(config.home, 'audit-heads.json'),
    log: auditLog, metrics,
  });
  // Before anything writes a MACed event: events from before migration 0012 are adopted now or never.
  await audit.adoptLegacyEvents();
  const identity = createIdentityService({
    db, cacheTtlMs: config.authCacheTtlMs,
    // Issue 14: one default and maximum lifetime for every token issued to people and service accounts.
    tokenLifetime: { defaultSeconds: config.serviceTokenDefaultTtlSeconds, maxSeconds: config.serviceTokenMaxTtlSeconds },
  });
  const tenants = createTenantService({ db });
  tenants.onChange((tenantId) => dbTime.invalidate(tenantId));
  const roles = createRoleService({ db, onChange: () => identity.forgetCached() });
  const serviceAccounts = createServiceAccountService({ db, identity, tokenDefaultTtlSeconds: config.serviceTokenDefaultTtlSeconds, tokenMaxTtlSeconds: config.serviceTokenMaxTtlSeconds });
  const sso = config.oidc === undefined ? undefined
    : createSsoService({ db, config: config.oidc, identity, roles, tenants, syncCacheTtlMs: Math.max(config.authCacheTtlMs, 0) });
  const bandwidth = createPlatformBandwidth(config, tenants, () => liveReplicas());
  // Domain services register their route modules here and their shutdown steps in `closers`
  // (run in reverse order before the database closes).
  const httpModules: FastifyPluginAsyncZod[] = [];
  const closers: Array<() => Promise<void>> = [];
  const blobFiles = createBlobFiles(join(config.home, 'blobs'));
  // Uploads are hashed, encrypted and written on worker threads, off the event loop; one is started now
  // (the first upload after start-up paid its start-up otherwise), more on demand.
  const sealPool = createSealWorkerPool();
  sealPool.warm();
  closers.push(() => sealPool.close());
  const storage = createTenantStorage({ db, files: blobFiles, keyEncryptionKey: masterKey.derive('tenant-data-key-wrap'), instanceId, tempPrefix: instanceFileTag(instanceId), sealPool });
  const artifacts = createArtifactService({ db, storage, signingKey: masterKey.derive('artifact-multipart-url') });
  const datasets = createDatasetService({ db, storage });
  httpModules.push(mlflowArtifactRoutes({ artifacts }), datasetRoutes({ datasets, artifacts }));
  const clusterInput = (config.kubernetes ?? {}) as ClusterConfigInput;
  // Kueue's admission fair sharing decays usage with the platform's own half-life (issue 15).
  const cluster = createClusterConfig({ ...clusterInput, kueue: { usageHalfLifeMs: config.fairShareHalfLifeMs, ...clusterInput.kueue } });
  const tracking = createTrackingService({ db });
  httpModules.push(runArtifactRoutes({ runArtifacts: createRunArtifactService({ db, artifacts }) }));
  // BULKHEAD_EXECUTOR=kubernetes: jobs run on the cluster of the default kubeconfig (a missing one fails start-up).
  const ownClusterBackend = options.cluster === undefined && config.executor === 'kubernetes' ? createClusterBackend(await loadKubeConfig(), cluster, jobLog) : undefined;
  const clusterBackend = options.cluster ?? ownClusterBackend;
  // Replicas (issue 16): on PostgreSQL every `bulkhead up` heartbeats and one leads, elected through a
  // lease row; the leader's job writes carry its fencing token. PGlite has one replica per home (the home
  // lock refuses a second) and needs no election or fence.
  const leaderWork: LeaderWork[] = [];
  const replicas = createReplicaCoordinator({
    db,
    replica: { replicaId: instanceId, host: hostname(), pid: process.pid, url: undefined },
    leaseMs: config.leaderLeaseMs,
    heartbeatMs: config.replicaHeartbeatMs,
    election: db.kind === 'pglite' ? 'single' : 'lease',
    // A leader that was a process of this host and is gone (SIGKILL, then a restart): no waiting out its lease.
    isDead: (replicaId) => {
      const identity = parseInstanceId(replicaId);
      return identity !== undefined && processLiveness(identity) === 'dead';
    },
    async onElected() {
      for (const work of leaderWork) await work.start();
    },
    async onDeposed() {
      for (const work of [...leaderWork].reverse()) {
        await work.stop().catch((error: unknown) => replicaLog.error({ err: String(error), work: work.name }, 'could not stop leader work'));
      }
    },
    log: replicaLog,
  });
  liveReplicas = () => replicas.liveReplicas();
  const leaderDb = db.kind === 'pglite' ? undefined : createFencedDb(db, replicas.fence);
  // OCI images (issue 17): the host's content-addressed store under $BULKHEAD_HOME/images, tenant rows under RLS.
  const imageStore = createImageStore(join(config.home, 'images'));
  const images = createImageService({ db, store: imageStore, registries: config.imageRegistries, dataKey: (tenantId) => storage.dataKey(tenantId) });
  httpModules.push(imageRoutes({ images }));
  const jobs = createJobSystem(config, { db, tenants, identity, tracking: createJobTrackingPort(tracking), storage: createJobStoragePort(artifacts, datasets, bandwidth), cluster: clusterBackend?.execution, images, ...(leaderDb === undefined ? {} : { leaderDb }) });
  httpModules.push(jobRoutes({ store: jobs.store, service: jobs.service, runner: jobs.runner }));
  closers.push(() => jobs.runner.stop());
  httpModules.push(kubernetesRoutes({ tenants, cluster, jobs: jobs.store }));
  // Lineage: model versions created with a job's run_id (MLflow API) get their lineage recorded; register-from-job.
  const lineage = createLineageService({ db, registry: createRegistryService({ db }), tracking, datasets, artifacts, jobs: jobs.store });
  httpModules.push(lineageRoutes({ lineage }));
  httpModules.push(shareRoutes({ shares: createShareService({ db }), tenants }));
  httpModules.push(mlflowRoutes({ tracking, registry: lineage.withAutomaticLineage(createRegistryService({ db })), loggedModels: createLoggedModelService({ db }) }));
  // Endpoints on the cluster: the same client and tenant bundles as the jobs (the bundle once per tenant and quota).
  const endpoints = options.cluster?.endpoints ?? (ownClusterBackend === undefined ? undefined
    : createClusterEndpoints({ client: ownClusterBackend.client, config: cluster, tenants, ensureTenant: (tenant, quota) => ownClusterBackend.execution.ensureTenant(tenant, quota) }));
  const serving = await createServingSystem(config, {
    db, tenants, artifacts, tracking, registry: createRegistryService({ db }), cpusetFor: (tenantId) => jobs.runner.cpusetFor(tenantId), images,
    cluster: config.executor === 'kubernetes' && endpoints !== undefined ? { endpoints, identity, pollIntervalMs: options.cluster?.endpointPollIntervalMs } : undefined,
    // Each replica enforces its share of a tenant's rate: the quota divided by the live replicas.
    rateShare: (rate) => replicaShare(rate, replicas.liveReplicas()),
  });
  httpModules.push(...serving.httpModules);
  closers.push(() => serving.deployments.close());
  // Stored deployments are restarted by `runServer`, after start-up recovery (serving workers are the
  // server's business: an admin command starting, then waiting on, replicas of its own never returned).
  const clusterClient = options.kubernetesClient ?? clusterBackend?.client;
  const tenantDeletion = createTenantDeletion({
    db,
    tenants,
    ports: createTenantDeletionPorts({
      jobs, deployments: serving.deployments, identity, blobRoot: blobFiles.root, storage, plaintext: { db, home: config.home }, images,
      cluster: clusterClient === undefined ? undefined : { client: clusterClient, config: cluster },
    }),
  });
  const tenantSuspension = createTenantSuspension({ db, ports: createTenantSuspensionPorts({ jobs, deployments: serving.deployments }) });
  // Metrics and usage metering. Registered last among the closers, so it runs first at close: the
  // request counters are flushed while the database is still open.
  const monitoring = createMonitoring({
    db, instanceId, registry: metrics,
    options: { maxTenants: config.metricsMaxTenants, flushIntervalMs: config.usageFlushIntervalMs, sampleIntervalMs: config.usageSampleIntervalMs, rateCard: config.rateCard },
    ...(rawDb.poolStats === undefined ? {} : { poolStats: rawDb.poolStats }),
    // Running jobs' and serving workers' cgroups on this host (cluster jobs have none here).
    readCgroups: cgroupReader(config.cgroupPrefix),
    log: auditLog,
  });
  registerTenantResourceMetrics(monitoring.metrics, { dbTime: () => dbTime.usage(), bandwidth: () => bandwidth.counters() });
  httpModules.push(usageRoutes({ usage: monitoring.service, artifacts }));
  httpModules.push(deploymentStatsRoutes({ deployments: serving.deployments, window: monitoring.metrics.inferenceWindow }));
  closers.push(() => monitoring.stop());
  const security = createSecuritySystem({
    db, instanceId, metrics, log: auditLog,
    settings: {
      enabled: config.securityDetection === 'on', pollIntervalMs: config.securityPollIntervalMs, observerFlushMs: config.securityObserverFlushMs,
      warmupMs: config.securityWarmupMs, timeScale: config.securityTimeScale, webhookUrl: config.securityWebhookUrl,
      webhookSecret: config.securityWebhookSecret, rules: config.securityRules,
    },
  });
  httpModules.push(alertRoutes({ db, tenants }));
  // Registered last, so it stops first: its final flush and round still have the database.
  closers.push(() => security.stop());
  if (mode === 'server' && rawDb.listen !== undefined) {
    // Coherent caches across replicas: committed revocations, suspensions, quota and role changes arrive
    // over LISTEN/NOTIFY (migration 0020's triggers) — this replica's own too; the TTLs stay as the fallback.
    const unlisten = await listenForInvalidations(rawDb, (change) => {
      switch (change.kind) {
        case 'token':
          identity.forgetCached(change.id);
          break;
        case 'tenant':
        case 'quota':
          tenants.notifyChanged(change.id);
          break;
        case 'role':
          identity.forgetCached();
          break;
        case 'all':
          // Notifications may have been missed: every cached token and tenant goes (the tenant cache is
          // cleared whole on any change; the rate guard's quota cache lives a second anyway).
          identity.forgetCached();
          tenants.notifyChanged(PLATFORM_TENANT_ID);
          break;
      }
    });
    // A job submitted through any replica wakes the leader's scheduler at once (a follower's runner ignores it).
    const unlistenJobs = await rawDb.listen(jobsChannel, () => jobs.runner.poke());
    closers.push(async () => {
      await unlisten?.();
      await unlistenJobs();
    });
  }
  // Stopped first at close: the leader hands its lease over (its leader work stopped) before anything else closes.
  closers.push(() => replicas.stop());
  let closed = false;
  return {
    config, db, rlsMode, metrics, audit, identity, roles, sso, serviceAccounts, tenants, httpModules, jobs, serving, bandwidth,
    artifacts, datasets, storage, images, imageStore, tenantDeletion, tenantSuspension, mode, instanceId, homeLock: opened?.lock, monitoring, dbTime, security,
    onClose: (step) => void closers.push(step),
    replicas,
    onLeadership: (work) => void leaderWork.push(work),
    async close() {
      if (closed) return;
      closed = true;
      for (const closer of closers.reverse()) await closer().catch(() => {});
      if (mode === 'server') await audit.seal().catch(() => {});
      if (options.db === undefined) await db.close();
    },
  };
};

/**
 * The byte limiter over the tenants' bandwidth quotas: quotas read at most once a second per tenant, and
 * at once after a change made in this process (as the request-rate guard is told).
 */
const createPlatformBandwidth = (config: Config, tenants: TenantService, liveReplicas: () => number): BandwidthLimiter => {
  const capacity = {
    ...(config.bandwidthIngressCapacity === undefined ? {} : { ingress: config.bandwidthIngressCapacity }),
    ...(config.bandwidthEgressCapacity === undefined ? {} : { egress: config.bandwidthEgressCapacity }),
  };
  const limiter = createBandwidthLimiter({
    maxTransferSeconds: config.bandwidthMaxTransferSeconds,
    capacity,
    limitsOf: async (tenantId) => {
      const quota = await tenants.getQuotaForEnforcement(tenantId);
      // This replica's share (replicaBandwidthShare): the quota over the live replicas.
      const live = liveReplicas();
      return {
        ingress: replicaBandwidthShare({ bytesPerSecond: quota.ingressBytesPerSecond, burstBytes: quota.ingressBurstBytes }, live),
        egress: replicaBandwidthShare({ bytesPerSecond: quota.egressBytesPerSecond, burstBytes: quota.egressBurstBytes }, live),
        weight: quota.weight,
      };
    },
  });
  tenants.onChange((tenantId) => limiter.forget(tenantId));
  return limiter;
};

/** Builds the HTTP app over a platform. */
export const buildPlatformApp = (platform: Platform, options: BuildAppOptions = {}): Promise<FastifyInstance> => {
  // Early refusal before the body is read (src/http/tenant-admission.ts): told of every rate refusal, and
  // of quota, suspension and deletion changes (the tenant's next request then takes the full path).
  const admission = createTenantAdmission({
    maxInFlight: platform.config.tenantMaxInFlight,
    maxConnections: platform.config.tenantMaxConnections,
    tokenTtlMs: platform.config.authCacheTtlMs,
    refusalHoldMs: platform.config.refusalHoldMs,
    maxHeldRefusals: platform.config.maxHeldRefusals,
  });
  platform.serving.rateGuard.onRefusal((tenantId, retryAfterMs) => admission.rateRefused(tenantId, retryAfterMs));
  platform.tenants.onChange((tenantId) => admission.forgetTenant(tenantId));
  registerAdmissionMetrics(platform.monitoring.metrics, () => ({ ...admission.stats(), holding: admission.holding() }));
  return buildApp({
    db: platform.db,
    rlsMode: platform.rlsMode,
    identity: platform.identity,
    roles: platform.roles,
    sso: platform.sso,
    serviceAccounts: platform.serviceAccounts,
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
    requestMetering: { metrics: platform.monitoring.metrics, usage: platform.monitoring.usage },
    replicaStatus: () => platform.replicas.status(),
    bandwidth: platform.bandwidth,
    requestObserver: platform.security.requestHook,
    admission,
  }, options).then((app) => {
    // The job relays forward in-process: a job's requests never touch the network.
    // Bodies stream both ways (payloadAsStream): an upload is read, and a download produced, at the pace of
    // the tenant's bandwidth quota, and neither is held whole in memory.
    platform.jobs.relays.setForwarder(async (request) => {
      const response = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payload: request.payload, payloadAsStream: true });
      return { statusCode: response.statusCode, headers: response.headers, body: response.stream() };
    });
    return app;
  });
};

/**
 * First start: when no platform-admin token exists, creates one — `BULKHEAD_BOOTSTRAP_TOKEN` if set,
 * otherwise a generated one, returned so the caller prints it once. Returns undefined when one exists.
 */
export const bootstrapPlatformAdmin = async (platform: Platform): Promise<{ token: string; generated: boolean } | undefined> => {
  if (await platform.identity.hasPlatformAdminToken()) return undefined;
  const token = platform.config.bootstrapToken ?? generateToken();
  try {
    await platform.identity.createToken({ actor: 'system:bootstrap', requestId: 'bootstrap' }, null, {
      name: 'bootstrap', role: 'platform_admin', presetToken: token,
    });
  } catch (error) {
    // Replicas started together on one PostgreSQL: another one bootstrapped first (the same preset token
    // is refused as a duplicate). Only that one reports a token.
    if (await platform.identity.hasPlatformAdminToken()) return undefined;
    throw error;
  }
  return { token, generated: platform.config.bootstrapToken === undefined };
};

/** Where `bulkhead up` keeps a generated platform-admin token: in the home, readable by its owner only. */
export const initialAdminTokenFile = (home: string): string => join(home, 'initial-admin-token');

/**
 * Writes a generated platform-admin token to `initialAdminTokenFile(home)`: created afresh with mode 0600
 * (an older file is replaced, never reused with its mode), the token and a newline. Returns the path.
 */
export const writeInitialAdminToken = async (home: string, token: string): Promise<string> => {
  const file = initialAdminTokenFile(home);
  await rm(file, { force: true });
  await writeFile(file, `${token}\n`, { flag: 'wx', mode: 0o600 });
  return file;
};

/**
 * What `bulkhead up` says about a generated token: the token itself only when the output is an
 * interactive terminal; otherwise where it is (the output may be a log file).
 */
export const initialAdminTokenNotice = (token: string, file: string, interactive: boolean): string =>
  interactive
    ? `\nBulkhead platform-admin token (store it now; a copy is in ${file}, mode 0600: delete it once stored):\n\n  ${token}\n\n`
    : `\nBulkhead platform-admin token created: it is in ${file} (mode 0600, readable by this user only). Store it, then delete the file.\n\n`;
