import { applyServerRuntimeFlags } from './server-node-flags.ts';
import type { Config } from '../config/index.ts';
import { bootstrapPlatformAdmin, buildPlatformApp, createPlatform, initialAdminTokenNotice, writeInitialAdminToken } from './platform.ts';
import { runStartupRecovery, startupRecoverySteps } from './startup-recovery.ts';
import { meterInterruptedJobs, startMetricsServer } from '../monitoring/index.ts';
import { cgroupUsageReader } from './cgroup-usage.ts';
import { describeCgroups } from '../executors/local/index.ts';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import { AppError } from '../core/errors.ts';

/** The PEM key and certificate chain, checked to make a usable TLS context (the message never holds their text). */
const readTlsFiles = (certFile: string, keyFile: string): { key: Buffer; cert: Buffer } => {
  try {
    const files = { key: readFileSync(keyFile), cert: readFileSync(certFile) };
    createSecureContext(files);
    return files;
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `BULKHEAD_TLS_CERT / BULKHEAD_TLS_KEY (${certFile}, ${keyFile}): not a readable, matching PEM certificate and key (${(error as NodeJS.ErrnoException).code ?? 'invalid'})`);
  }
};

/**
 * Reloads the certificate and key when either file changes (a renewal): new connections get the new
 * pair; a pair that does not load (half-written, mismatched) is logged and the old one kept.
 */
const watchTlsFiles = (server: TlsServer, certFile: string, keyFile: string, log: (obj: object, msg: string) => void): void => {
  const reload = (): void => {
    try {
      server.setSecureContext(readTlsFiles(certFile, keyFile));
      log({ certFile }, 'TLS certificate reloaded');
    } catch (error) {
      log({ err: (error as Error).message }, 'TLS certificate not reloaded: keeping the previous one');
    }
  };
  watchFile(certFile, { interval: 500, persistent: false }, reload);
  watchFile(keyFile, { interval: 500, persistent: false }, reload);
  server.once('close', () => {
    unwatchFile(certFile);
    unwatchFile(keyFile);
  });
};

/** What a newly elected leader runs of the start-up recovery list: the take-over of a lost leader's jobs. */
const leaderRecoverySteps = new Set(['fail-interrupted-jobs', 'end-runs-of-ended-jobs', 'revoke-tokens-of-ended-jobs']);

/**
 * `bulkhead up`: opens the platform (on PGlite, taking the home's lock: a second server on the same home
 * is refused), runs start-up recovery (startup-recovery.ts) before anything takes traffic, bootstraps the
 * first platform-admin token (a generated one goes to `$BULKHEAD_HOME/initial-admin-token`, 0600, and is
 * printed only to a terminal), starts the job runner, the audit sealer and the HTTP server, and shuts down
 * gracefully on SIGINT/SIGTERM (stop accepting, finish in-flight requests, seal the audit log, close the
 * database, release the lock).
 */
export const runServer = async (config: Config): Promise<void> => {
  // Counts external memory (per-chunk stream buffers) in V8's global limit: server-node-flags.ts says why.
  applyServerRuntimeFlags();
  const platform = await createPlatform(config, {
    mode: 'server',
    open: { command: 'bulkhead up', create: true, advice: 'Use that server, or stop it first (SIGTERM lets it finish its requests and jobs). Embedded PGlite runs a single replica per home: to run several replicas, point them all at one PostgreSQL (BULKHEAD_DATABASE_URL).' },
  });
  const tls = config.tlsCertFile === undefined || config.tlsKeyFile === undefined ? undefined : readTlsFiles(config.tlsCertFile, config.tlsKeyFile);
  const app = await buildPlatformApp(platform, { https: tls, trustProxy: config.trustProxy });
  if (tls !== undefined) watchTlsFiles(app.server as unknown as TlsServer, config.tlsCertFile!, config.tlsKeyFile!, (obj, msg) => app.log.info({ component: 'tls', ...obj }, msg));
  await runStartupRecovery(
    { db: platform.db, instanceId: platform.instanceId, log: (obj, msg) => app.log.info({ component: 'recovery', ...obj }, msg) },
    startupRecoverySteps({
      db: platform.db, instanceId: platform.instanceId, storage: platform.storage, blobFiles: platform.storage.files, tenants: platform.tenants,
      // On PostgreSQL another replica may be leading and running jobs: only a newly elected leader ends
      // what a lost one ran (below). PGlite has one replica: what ran when it stopped is ended here.
      recoverInterruptedJobs: () => (platform.db.kind === 'pglite' ? platform.jobs.runner.recoverInterrupted() : Promise.resolve([])),
      meterInterruptedJobs: () => meterInterruptedJobs(platform.db, cgroupUsageReader(config.cgroupPrefix)),
      sweepImageStaging: (olderThanMs) => platform.imageStore.sweepStaging(olderThanMs),
      log: (obj, msg) => app.log.info({ component: 'recovery', ...obj }, msg),
    }),
  );
  const boot = await bootstrapPlatformAdmin(platform);
  if (boot?.generated === true) {
    // Never logged. Kept in a 0600 file in the home; shown only on an interactive terminal, since
    // redirected output (a log file, a journal) would keep a copy readable by whoever reads the logs.
    const file = await writeInitialAdminToken(config.home, boot.token);
    process.stderr.write(initialAdminTokenNotice(boot.token, file, process.stdout.isTTY === true && process.stderr.isTTY === true));
  } else if (boot !== undefined) {
    app.log.info('platform-admin token created from BULKHEAD_BOOTSTRAP_TOKEN');
  }
  // After recovery (which may wipe what dead workers left): the stored deployments' replicas start again.
  void platform.serving.deployments.recover().catch((error: unknown) => app.log.error({ err: error }, 'deployment recovery failed'));
  // Leader-only work (issue 16): the scheduler with the take-over of a lost leader's jobs (their runs
  // ended and tokens revoked, audited as recovery steps), and audit sealing. On PGlite this replica leads
  // from now until it stops; on PostgreSQL whichever replica holds the lease does.
  const recoveryLog = (obj: object, msg: string) => app.log.info({ component: 'recovery', ...obj }, msg);
  platform.onLeadership({
    name: 'job runner',
    start: async () => {
      await runStartupRecovery(
        { db: platform.db, instanceId: platform.instanceId, log: recoveryLog },
        startupRecoverySteps({
          db: platform.db, instanceId: platform.instanceId, storage: platform.storage, blobFiles: platform.storage.files, tenants: platform.tenants,
          recoverInterruptedJobs: () => platform.jobs.runner.takeOver(), log: recoveryLog,
        }).filter((step) => leaderRecoverySteps.has(step.name)),
      );
      await platform.jobs.runner.start();
    },
    stop: () => platform.jobs.runner.stop(),
  });
  let sealer: NodeJS.Timeout | undefined;
  platform.onLeadership({
    name: 'audit sealer',
    start: async () => {
      sealer = setInterval(() => {
        platform.audit.seal().catch((error: unknown) => app.log.error({ err: error }, 'audit seal failed'));
      }, config.auditSealIntervalMs);
      sealer.unref();
    },
    stop: async () => {
      if (sealer !== undefined) clearInterval(sealer);
      sealer = undefined;
    },
  });
  await platform.replicas.start();
  app.log.info({ replica: platform.replicas.status() }, 'replica started');
  const tiers = await platform.jobs.runner.hostProbe();
  app.log.info({ tiers: Object.fromEntries(Object.entries(tiers.tiers).map(([tier, state]) => [tier, state.available ? 'available' : `unavailable: ${state.install}`])), cgroups: describeCgroups(tiers.cgroup) }, 'isolation tiers this host provides');
  // Usage metering: request counters flushed every BULKHEAD_USAGE_FLUSH_INTERVAL_MS, ended jobs metered and
  // storage sampled every BULKHEAD_USAGE_SAMPLE_INTERVAL_MS (platform.close() flushes what is left).
  platform.monitoring.start();
  // The metrics listener, apart from the API (port 0: none). Failing to bind fails start-up.
  const metricsServer = config.metricsPort === 0 ? undefined : await startMetricsServer({ host: config.metricsHost, port: config.metricsPort, registry: platform.metrics });
  if (metricsServer !== undefined) {
    platform.onClose(() => metricsServer.close());
    app.log.info({ url: `${metricsServer.url}/metrics` }, 'metrics listener is up');
  }
  // Anomaly detection over the audit stream, and the request observer's summaries (when not turned off).
  platform.security.start();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    if (sealer !== undefined) clearInterval(sealer);
    // In-flight requests are finished, but none may hold shutdown hostage with a runaway query: after the
    // grace period the statement running now is ended (PGlite: its worker is terminated; committed
    // transactions stay, the interrupted one is rolled back) and its request answers with an error.
    setTimeout(() => {
      app.log.warn({ graceMs: config.shutdownDbGraceMs }, 'ending the running database statement: shutdown grace period over');
      void platform.db.interrupt?.();
    }, config.shutdownDbGraceMs).unref();
    try {
      await app.close();
      await platform.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const address = await app.listen({ host: config.host, port: config.port });
  // Read-only CLI commands on this home (doctor, admin verify-audit) find the server here.
  platform.homeLock?.setUrl(address);
  platform.replicas.setUrl(address);
  app.log.info({ database: platform.db.kind, rlsMode: platform.rlsMode, home: config.home }, 'bulkhead is up');
};
