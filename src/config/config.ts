/**
 * The platform's configuration: one schema, read from the environment and an optional JSON file
 * (`BULKHEAD_CONFIG`). This is the only file that reads `process.env`. A bad config fails start-up with
 * every problem listed at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AppError } from '../core/errors.ts';
import { rateCardSchema } from '../contract/usage.ts';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
    capacityCpu: z.coerce.number().positive().optional(),
    capacityMemoryMiB: z.coerce.number().int().positive().optional(),
    capacityGpu: z.coerce.number().int().min(0).default(0),
    schedulerIntervalMs: z.coerce.number().int().min(50).max(60_000).default(1000),
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
  })
  .strict()
  .refine((config) => config.replicaHeartbeatMs * 2 <= config.leaderLeaseMs, {
    message: 'BULKHEAD_REPLICA_HEARTBEAT_MS must be at most half of BULKHEAD_LEADER_LEASE_MS (a leader renews at least twice per lease)',
    path: ['replicaHeartbeatMs'],
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
  BULKHEAD_CAPACITY_CPU: 'capacityCpu',
  BULKHEAD_CAPACITY_MEMORY_MIB: 'capacityMemoryMiB',
  BULKHEAD_CAPACITY_GPU: 'capacityGpu',
  BULKHEAD_SCHEDULER_INTERVAL_MS: 'schedulerIntervalMs',
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
} as const satisfies Record<string, keyof Config>;

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
