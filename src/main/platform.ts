import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
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
import { createTenantService } from '../tenants/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { buildApp } from '../http/index.ts';
import { kubernetesRoutes } from '../http/routes/kubernetes-routes.ts';
import { createClusterConfig } from '../executors/kubernetes/index.ts';
import type { ClusterConfigInput } from '../executors/kubernetes/index.ts';
import type { BuildAppOptions } from '../http/index.ts';

export interface Platform {
  /** Route modules of the domain services, registered by buildPlatformApp. */
  httpModules: FastifyPluginAsyncZod[];
  /** Registers a shutdown step; steps run in reverse order of registration, before the database closes. */
  onClose(step: () => Promise<void>): void;
  config: Config;
  db: Db;
  rlsMode: RlsMode;
  audit: AuditLog;
  identity: IdentityService;
  tenants: TenantService;
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
export const createPlatform = async (config: Config, options: { db?: Db } = {}): Promise<Platform> => {
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const db = options.db ?? (await openDatabase(config));
  const rlsMode = await detectRlsMode(db);
  const masterKey = loadMasterKey({ base64: config.masterKey, file: config.masterKeyFile ?? join(config.home, 'master.key') });
  const audit = createAuditLog({ db, checkpointKey: masterKey.derive('audit-checkpoint'), headsFile: join(config.home, 'audit-heads.json') });
  const identity = createIdentityService({ db, cacheTtlMs: config.authCacheTtlMs });
  const tenants = createTenantService({ db });
  const httpModules: FastifyPluginAsyncZod[] = [];
  const cluster = createClusterConfig((config.kubernetes ?? {}) as ClusterConfigInput);
  httpModules.push(kubernetesRoutes({ tenants, cluster }));
  // Domain services register their route modules here and their shutdown steps in `closers`
  // (run in reverse order before the database closes).
  const closers: Array<() => Promise<void>> = [];
  let closed = false;
  return {
    config, db, rlsMode, audit, identity, tenants, httpModules,
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
  }, options);

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
