/**
 * The platform's configuration: one schema, read from the environment and an optional JSON file
 * (`BULKHEAD_CONFIG`). This is the only file that reads `process.env`. A bad config fails start-up with
 * every problem listed at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { rateCardSchema } from '../contract/usage.ts';

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration string (`7d`, `36h`, `1.5h`, `90m`, `600s`, `500ms`; bare digits are seconds) → ms; a number
 * (a config file's `...Ms` key) is already ms; anything else is left for the schema to refuse.
 */
export const parseDurationMs = (value: unknown): unknown => {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (match === null) return value;
  return Math.round(Number(match[1]) * durationUnitsMs[match[2] ?? 's']!);
};

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Signature algorithms an OIDC token may use: asymmetric only (never `none`, never HS*: docs/identity.md). */
export const oidcAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/**
 * OpenID Connect single sign-on (issue 14, docs/identity.md). Config file `oidc: {...}` or BULKHEAD_OIDC_*;
 * unset: no SSO, JWTs are refused like any unknown token.
 */
export const oidcConfigSchema = z.object({
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1).max(200),
  /** Confidential client's secret (the browser flow); never logged or echoed. */
  clientSecret: z.string().min(1).max(1000).optional(),
  redirectUri: z.url({ protocol: /^https?$/ }).optional(),
  /** The `aud` an IdP-issued access token must carry to be accepted as a Bearer token (default: clientId). */
  audience: z.string().min(1).max(500).optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).default(['openid', 'profile', 'email']),
  groupsClaim: z.string().min(1).max(100).default('groups'),
  usernameClaim: z.string().min(1).max(100).default('preferred_username'),
  /** Allowed clock skew on exp/nbf/iat, seconds. */
  clockSkewSeconds: z.coerce.number().int().min(0).max(300).default(30),
  algorithms: z.array(z.enum(oidcAlgorithms)).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  /** Group → tenant role; a person in several groups of one tenant gets the highest built-in role (or the custom role named). */
  roleMappings: z.array(z.object({
    group: z.string().min(1).max(500),
    tenant: z.string().min(1).max(100),
    role: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be a role name'),
  }).strict()).default([]),
  /** Members of these groups are platform admins. */
  platformAdminGroups: z.array(z.string().min(1).max(500)).default([]),
  /**
   * How long a session made by SSO (console) lasts before the IdP is asked again: the bound on how long a
   * person removed from a group keeps access. Default 15 min.
   */
  sessionRefreshSeconds: z.coerce.number().int().min(30).max(86_400).default(900),
}).strict();
export type OidcConfig = z.infer<typeof oidcConfigSchema>;

export const configSchema = z
  .object({
    home: z.string().min(1).default('./.bulkhead'),
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    databaseMigrationUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    databasePoolSize: z.coerce.number().int().min(1).max(500).default(20),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    bootstrapToken: z
      .string()
      .regex(/^bh_[A-Za-z0-9_-]{32,}$/, 'must look like bh_ followed by at least 32 URL-safe characters')
      .optional(),
    masterKey: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes, base64-encoded')
      .optional(),
    masterKeyFile: z.string().min(1).optional(),
    logLevel: z.enum(logLevels).default('info'),
    bodyLimitBytes: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    auditSealIntervalMs: z.coerce.number().int().min(50).max(600_000).default(1000),
    authCacheTtlMs: z.coerce.number().int().min(0).max(300_000).default(5000),
    /**
     * Per tenant and process, before a request body is read (issue 16): requests running at once, and open
     * connections (counted by the tenant of their first request). Over either, 429 with Retry-After. 0: off.
     */
    tenantMaxInFlight: z.coerce.number().int().min(0).max(1_000_000).default(64),
    tenantMaxConnections: z.coerce.number().int().min(0).max(1_000_000).default(256),
    /**
     * A refusal of those whose body is dropped (over its rate or in-flight limit, body over 64 KiB) is held
     * this long, its socket unread, before its 429 (src/http/admission-server.ts); 0: answered at once.
     * At most `maxHeldRefusals` are held at once per process.
     */
    refusalHoldMs: z.coerce.number().int().min(0).max(60_000).default(2000),
    maxHeldRefusals: z.coerce.number().int().min(0).max(1_000_000).default(1024),
    capacityCpu: z.coerce.number().positive().optional(),
    capacityMemoryMiB: z.coerce.number().int().positive().optional(),
    /**
     * GPUs of a Kubernetes cluster. For this host's jobs it is derived from the GPU inventory instead (a
     * declared figure is not trusted: doctor reports a mismatch).
     */
    capacityGpu: z.coerce.number().int().min(0).optional(),
    /** Where the NVIDIA device nodes are (tests: a folder of fake nodes made with mknod). */
    gpuDevDir: z.string().regex(/^\//, 'must be an absolute path').default('/dev'),
    /** The device names in gpuDevDir that jobs may be granted (`nvidia0,nvidia2`); default every one found. */
    gpuDevices: z.preprocess(
      (value) => (typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter((v) => v.length > 0) : value),
      z.array(z.string().regex(/^(nvidia[0-9]+|nvidia-caps\/nvidia-cap[0-9]+)$/, 'GPU device names are nvidia<N> or nvidia-caps/nvidia-cap<N>')).max(256),
    ).optional(),
    /**
     * The MIG profile of each MIG instance's capability node (`nvidia-caps/nvidia-cap21=mig-3g,…`): jobs
     * asking for a profile are granted a free instance of it, which counts its compute slices as GPU units.
     */
    gpuMigProfiles: z.preprocess(
      (value) => (typeof value === 'string'
        ? Object.fromEntries(value.split(',').map((v) => v.trim()).filter((v) => v.length > 0).map((v) => [v.slice(0, v.indexOf('=') < 0 ? v.length : v.indexOf('=')), v.indexOf('=') < 0 ? '' : v.slice(v.indexOf('=') + 1)]))
        : value),
      z.record(
        z.string().regex(/^nvidia-caps\/nvidia-cap[0-9]+$/, 'MIG instances are nvidia-caps/nvidia-cap<N>'),
        z.string().regex(/^mig-[1-7]g(\.[0-9]{1,4}gb)?$/, 'a MIG profile is mig-<N>g or mig-<N>g.<M>gb (nvidia-caps/nvidia-cap<N>=mig-3g)'),
      ),
    ).optional(),
    schedulerIntervalMs: z.coerce.number().int().min(50).max(60_000).default(1000),
    /**
     * Fair share (issue 15): the half-life of a tenant's past usage, ms. BULKHEAD_FAIR_SHARE_HALF_LIFE takes a
     * duration (`7d`, `36h`, `90m`, `600s`, `500ms`; bare digits are seconds; in the config file a number of
     * ms); 1 s to 365 days, default 7 days.
     */
    fairShareHalfLifeMs: z.preprocess(parseDurationMs, z.number().int().min(1000).max(365 * 24 * 3600 * 1000)).default(7 * 24 * 3600 * 1000),
    preemptGraceMs: z.coerce.number().int().min(0).max(600_000).default(10_000),
    relayPort: z.coerce.number().int().min(1024).max(65535).default(8765),
    /** Per-job disk limit of /workspace + /outputs (local jobs), MiB; 0 = none (src/jobs/job-disk.ts). */
    jobDiskMiB: z.coerce.number().int().min(0).max(16_777_216).default(0),
    /** On shutdown, how long a running database statement may go on before it is ended (PGlite: the worker is terminated). */
    shutdownDbGraceMs: z.coerce.number().int().min(0).max(600_000).default(5000),
    /**
     * How long a tenant's database operation over its dbMaxConcurrentOperations waits in its queue for a slot
     * before it is refused (429 DB_CONCURRENCY_LIMITED). A burst queues; only a backlog that outlasts this fails.
     */
    dbQueueWaitMs: z.coerce.number().int().min(0).max(600_000).default(30_000),
    /**
     * The database's CPUs that busy tenants' searches share (src/db/db-time-quota.ts, "fair slots"): while
     * more than one tenant uses the database, a tenant's searches in flight are held to floor(slots / busy
     * tenants), at least 1. Default: this host's CPUs (the database's, when it runs here; set it to the
     * database server's CPUs otherwise). 0 = off.
     */
    dbFairSlots: z.coerce.number().int().min(0).max(4096).default(availableParallelism()),
    /**
     * Names this installation's job cgroups (`<prefix>/<tenant>/<job>`); a start-up reaps only its own.
     * Default: `bulkhead-` + 8 hex digits of the home's absolute path, so two installations on one host
     * (or the test suite's platforms) never reap each other's jobs.
     */
    cgroupPrefix: z.string().regex(/^[a-z][a-z0-9_-]{0,40}$/).optional(),
    /** Where jobs run: this host (bubblewrap + cgroups) or the Kubernetes cluster of the default kubeconfig. */
    executor: z.enum(['local', 'kubernetes']).default('local'),
    /** Kubernetes backend settings (config file only), validated by the kubernetes module. */
    kubernetes: z.record(z.string(), z.unknown()).optional(),
    /** The Prometheus metrics listener (`GET /metrics`), never the API's port; port 0 turns it off. */
    metricsHost: z.string().min(1).default('127.0.0.1'),
    metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
    /** Distinct tenant ids given their own metric label; the rest aggregate into `tenant="_other"`. */
    metricsMaxTenants: z.coerce.number().int().min(1).max(100_000).default(1000),
    /** How often in-memory usage counts (API and inference requests, bytes downloaded) are written to the ledger. */
    usageFlushIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    /** How often stored bytes are sampled into storage GiB-hours (and ended jobs are metered). */
    usageSampleIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    /** Chargeback prices (config file only): price per unit of each metered resource, in one currency. */
    rateCard: rateCardSchema.default({ currency: 'USD', prices: {} }),
    /**
     * OCI distribution registries images may be pulled from (issue 17): `host[:port]` as it appears in a
     * reference (`host/repo:tag`) → the registry's base URL. In the config file an object; in
     * BULKHEAD_IMAGE_REGISTRIES `host=URL` pairs separated by commas. No registry configured, no pull.
     */
    imageRegistries: z.preprocess(
      (v) => typeof v === 'string'
        ? Object.fromEntries(v.split(',').map((pair) => pair.trim()).filter((pair) => pair !== '').map((pair) => {
          const at = pair.indexOf('=');
          return at < 0 ? [pair, ''] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
        }))
        : v,
      z.record(
        z.string().regex(/^[a-z0-9.-]+(:[0-9]{1,5})?$/, 'registry keys are host or host:port, lower case'),
        z.url({ protocol: /^https?$/ }),
      ),
    ).default({}),
    /**
     * Replicas on PostgreSQL: how long the leader's lease lasts without renewal. A dead leader is replaced
     * within about this plus one heartbeat (the default bounds failover by 4 s).
     */
    leaderLeaseMs: z.coerce.number().int().min(500).max(600_000).default(3000),
    /** How often a replica renews its heartbeat and the leader its lease (must be well under the lease). */
    replicaHeartbeatMs: z.coerce.number().int().min(50).max(60_000).default(1000),
    /** Native HTTPS (issue 16): PEM certificate chain and key files, both or neither; reloaded when they change. */
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    /**
     * Proxies whose X-Forwarded-For is believed (the client address of audit events and the denial
     * throttle): `false` (default: the socket's peer), a hop count, or a comma-separated list of addresses
     * or CIDRs of the proxies. Never `true` for everything: a client could name any address.
     */
    trustProxy: z.union([
      z.literal('false').transform(() => false as const),
      z.string().regex(/^\d{1,2}$/).transform(Number),
      z.string().regex(/^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, 'must be false, a hop count or a comma-separated list of proxy addresses/CIDRs'),
    ]).default(false),
    /** Bandwidth (docs/bandwidth.md): a declared body that would take longer than this at the tenant's rate is refused up front (429). */
    bandwidthMaxTransferSeconds: z.coerce.number().positive().max(86_400).default(600),
    /** The platform's own pipe, bytes/s, shared by fair-share weight among tenants transferring; unset: not shared. */
    bandwidthIngressCapacity: z.coerce.number().int().min(1024).optional(),
    bandwidthEgressCapacity: z.coerce.number().int().min(1024).optional(),
    /** Security anomaly detection (docs/security-monitoring.md): `off` hooks nothing into requests. */
    securityDetection: z.enum(['on', 'off']).default('on'),
    securityPollIntervalMs: z.coerce.number().int().min(100).max(60_000).default(2000),
    securityObserverFlushMs: z.coerce.number().int().min(100).max(60_000).default(2000),
    securityWarmupMs: z.coerce.number().int().min(0).max(30 * 86_400_000).default(86_400_000),
    /** Divides every detector window: 1 in production; the anomaly bench compresses a day with it. */
    securityTimeScale: z.coerce.number().min(1).max(100_000).default(1),
    securityWebhookUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** HMAC key of the webhook's signature; never logged or echoed. */
    securityWebhookSecret: z.string().min(16, 'must be at least 16 characters').max(512).optional(),
    /** Rule and threshold overrides (config file only), validated by the security module. */
    securityRules: z.record(z.string(), z.unknown()).optional(),
    oidc: oidcConfigSchema.optional(),
    /**
     * Every token issued to people and service accounts — API tokens, platform tokens, sessions (docs/identity.md):
     * lifetime when none is asked for, and the longest allowed. The names predate the wider scope.
     */
    serviceTokenDefaultTtlSeconds: z.coerce.number().int().min(60).max(10 * 365 * 86_400).default(30 * 86_400),
    serviceTokenMaxTtlSeconds: z.coerce.number().int().min(60).max(10 * 365 * 86_400).default(365 * 86_400),
  })
  .strict()
  .refine((config) => config.replicaHeartbeatMs * 2 <= config.leaderLeaseMs, {
    message: 'BULKHEAD_REPLICA_HEARTBEAT_MS must be at most half of BULKHEAD_LEADER_LEASE_MS (a leader renews at least twice per lease)',
    path: ['replicaHeartbeatMs'],
  })
  .refine((config) => config.serviceTokenDefaultTtlSeconds <= config.serviceTokenMaxTtlSeconds, {
    message: 'BULKHEAD_SERVICE_TOKEN_DEFAULT_TTL_SECONDS must not exceed BULKHEAD_SERVICE_TOKEN_MAX_TTL_SECONDS',
    path: ['serviceTokenDefaultTtlSeconds'],
  })
  .refine((config) => (config.tlsCertFile === undefined) === (config.tlsKeyFile === undefined), {
    message: 'BULKHEAD_TLS_CERT and BULKHEAD_TLS_KEY go together: set both or neither',
    path: ['tlsCertFile'],
  })
  .refine((config) => (config.securityWebhookUrl === undefined) === (config.securityWebhookSecret === undefined), {
    message: 'BULKHEAD_SECURITY_WEBHOOK_URL and BULKHEAD_SECURITY_WEBHOOK_SECRET go together: set both or neither',
    path: ['securityWebhookSecret'],
  });

export type Config = z.infer<typeof configSchema> & { cgroupPrefix: string };

/** `bulkhead-` + the first 8 hex digits of SHA-256 of the absolute home: one prefix per installation. */
export const defaultCgroupPrefix = (absoluteHome: string): string =>
  `bulkhead-${createHash('sha256').update(absoluteHome).digest('hex').slice(0, 8)}`;

/** Environment variable → config key. Documented in the README; keep both in step. */
export const envNames = {
  BULKHEAD_HOME: 'home',
  BULKHEAD_DATABASE_URL: 'databaseUrl',
  BULKHEAD_DATABASE_MIGRATION_URL: 'databaseMigrationUrl',
  BULKHEAD_DATABASE_POOL_SIZE: 'databasePoolSize',
  BULKHEAD_HOST: 'host',
  BULKHEAD_PORT: 'port',
  BULKHEAD_BOOTSTRAP_TOKEN: 'bootstrapToken',
  BULKHEAD_MASTER_KEY: 'masterKey',
  BULKHEAD_MASTER_KEY_FILE: 'masterKeyFile',
  BULKHEAD_LOG_LEVEL: 'logLevel',
  BULKHEAD_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  BULKHEAD_AUDIT_SEAL_INTERVAL_MS: 'auditSealIntervalMs',
  BULKHEAD_AUTH_CACHE_TTL_MS: 'authCacheTtlMs',
  BULKHEAD_TENANT_MAX_IN_FLIGHT: 'tenantMaxInFlight',
  BULKHEAD_TENANT_MAX_CONNECTIONS: 'tenantMaxConnections',
  BULKHEAD_REFUSAL_HOLD_MS: 'refusalHoldMs',
  BULKHEAD_MAX_HELD_REFUSALS: 'maxHeldRefusals',
  BULKHEAD_CAPACITY_CPU: 'capacityCpu',
  BULKHEAD_CAPACITY_MEMORY_MIB: 'capacityMemoryMiB',
  BULKHEAD_CAPACITY_GPU: 'capacityGpu',
  BULKHEAD_GPU_DEV_DIR: 'gpuDevDir',
  BULKHEAD_GPU_DEVICES: 'gpuDevices',
  BULKHEAD_GPU_MIG_PROFILES: 'gpuMigProfiles',
  BULKHEAD_SCHEDULER_INTERVAL_MS: 'schedulerIntervalMs',
  BULKHEAD_FAIR_SHARE_HALF_LIFE: 'fairShareHalfLifeMs',
  BULKHEAD_PREEMPT_GRACE_MS: 'preemptGraceMs',
  BULKHEAD_RELAY_PORT: 'relayPort',
  BULKHEAD_JOB_DISK_MIB: 'jobDiskMiB',
  BULKHEAD_CGROUP_PREFIX: 'cgroupPrefix',
  BULKHEAD_EXECUTOR: 'executor',
  BULKHEAD_METRICS_HOST: 'metricsHost',
  BULKHEAD_METRICS_PORT: 'metricsPort',
  BULKHEAD_METRICS_MAX_TENANTS: 'metricsMaxTenants',
  BULKHEAD_USAGE_FLUSH_INTERVAL_MS: 'usageFlushIntervalMs',
  BULKHEAD_USAGE_SAMPLE_INTERVAL_MS: 'usageSampleIntervalMs',
  BULKHEAD_LEADER_LEASE_MS: 'leaderLeaseMs',
  BULKHEAD_REPLICA_HEARTBEAT_MS: 'replicaHeartbeatMs',
  BULKHEAD_TLS_CERT: 'tlsCertFile',
  BULKHEAD_TLS_KEY: 'tlsKeyFile',
  BULKHEAD_TRUST_PROXY: 'trustProxy',
  BULKHEAD_SHUTDOWN_DB_GRACE_MS: 'shutdownDbGraceMs',
  BULKHEAD_DB_QUEUE_WAIT_MS: 'dbQueueWaitMs',
  BULKHEAD_DB_FAIR_SLOTS: 'dbFairSlots',
  BULKHEAD_BANDWIDTH_MAX_TRANSFER_SECONDS: 'bandwidthMaxTransferSeconds',
  BULKHEAD_BANDWIDTH_INGRESS_CAPACITY: 'bandwidthIngressCapacity',
  BULKHEAD_BANDWIDTH_EGRESS_CAPACITY: 'bandwidthEgressCapacity',
  BULKHEAD_SECURITY_DETECTION: 'securityDetection',
  BULKHEAD_SECURITY_POLL_INTERVAL_MS: 'securityPollIntervalMs',
  BULKHEAD_SECURITY_OBSERVER_FLUSH_MS: 'securityObserverFlushMs',
  BULKHEAD_SECURITY_WARMUP_MS: 'securityWarmupMs',
  BULKHEAD_SECURITY_TIME_SCALE: 'securityTimeScale',
  BULKHEAD_SECURITY_WEBHOOK_URL: 'securityWebhookUrl',
  BULKHEAD_SECURITY_WEBHOOK_SECRET: 'securityWebhookSecret',
  BULKHEAD_SERVICE_TOKEN_DEFAULT_TTL_SECONDS: 'serviceTokenDefaultTtlSeconds',
  BULKHEAD_SERVICE_TOKEN_MAX_TTL_SECONDS: 'serviceTokenMaxTtlSeconds',
  BULKHEAD_IMAGE_REGISTRIES: 'imageRegistries',
} as const satisfies Record<string, keyof Config>;

/** BULKHEAD_OIDC_* → `oidc` keys (the nested block has its own names; documented in docs/identity.md). */
export const oidcEnvNames = {
  BULKHEAD_OIDC_ISSUER: 'issuer',
  BULKHEAD_OIDC_CLIENT_ID: 'clientId',
  BULKHEAD_OIDC_CLIENT_SECRET: 'clientSecret',
  BULKHEAD_OIDC_REDIRECT_URI: 'redirectUri',
  BULKHEAD_OIDC_AUDIENCE: 'audience',
  BULKHEAD_OIDC_SCOPES: 'scopes',
  BULKHEAD_OIDC_GROUPS_CLAIM: 'groupsClaim',
  BULKHEAD_OIDC_USERNAME_CLAIM: 'usernameClaim',
  BULKHEAD_OIDC_CLOCK_SKEW_SECONDS: 'clockSkewSeconds',
  BULKHEAD_OIDC_ALGORITHMS: 'algorithms',
  BULKHEAD_OIDC_ROLE_MAPPINGS: 'roleMappings',
  BULKHEAD_OIDC_PLATFORM_ADMIN_GROUPS: 'platformAdminGroups',
  BULKHEAD_OIDC_SESSION_REFRESH_SECONDS: 'sessionRefreshSeconds',
} as const satisfies Record<string, keyof OidcConfig>;

const readOidcEnv = (env: Readonly<Record<string, string | undefined>>, problems: string[]): Record<string, unknown> | undefined => {
  let block: Record<string, unknown> | undefined;
  for (const [name, key] of Object.entries(oidcEnvNames)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    block ??= {};
    if (key === 'scopes') block[key] = value.split(/\s+/).filter((s) => s !== '');
    else if (key === 'algorithms' || key === 'platformAdminGroups') block[key] = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (key === 'roleMappings') {
      try {
        block[key] = JSON.parse(value);
      } catch {
        problems.push(`${name}: must be a JSON array of { group, tenant, role }`);
      }
    } else block[key] = value;
  }
  return block;
};

/**
 * Builds the config from (lowest to highest precedence) defaults, the JSON file named by
 * `BULKHEAD_CONFIG`, the environment, and `overrides` (CLI flags). Throws `VALIDATION_FAILED` listing
 * every problem. Never echoes values: some are secrets.
 */
export const loadConfig = (
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Partial<Record<keyof Config, unknown>> = {},
): Config => {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  const file = env['BULKHEAD_CONFIG'];
  if (file !== undefined && file !== '') {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        problems.push(`BULKHEAD_CONFIG (${file}): must hold a JSON object`);
      } else {
        Object.assign(raw, parsed);
      }
    } catch (error) {
      problems.push(`BULKHEAD_CONFIG (${file}): ${(error as Error).message}`);
    }
  }
  for (const [name, key] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const oidcEnv = readOidcEnv(env, problems);
  if (oidcEnv !== undefined) raw['oidc'] = { ...(typeof raw['oidc'] === 'object' && raw['oidc'] !== null ? raw['oidc'] : {}), ...oidcEnv };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) raw[key] = value;
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const keyToEnv = new Map(Object.entries(envNames).map(([name, key]) => [key as string, name]));
    for (const issue of result.error.issues) {
      const key = issue.path.join('.');
      const where = keyToEnv.has(key) ? `${keyToEnv.get(key)} (${key})` : key || '(config)';
      problems.push(`${where}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) {
    throw new AppError('VALIDATION_FAILED', `invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      details: { problems },
    });
  }
  const config = result.data;
  const home = resolve(config.home);
  return { ...config, home, cgroupPrefix: config.cgroupPrefix ?? defaultCgroupPrefix(home) };
};
