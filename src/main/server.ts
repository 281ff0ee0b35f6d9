import type { Config } from '../config/index.ts';
import { bootstrapPlatformAdmin, buildPlatformApp, createPlatform } from './platform.ts';

/**
 * `bulkhead up`: opens the platform, bootstraps the first platform-admin token, starts the audit sealer
 * and the HTTP server, and shuts down gracefully on SIGINT/SIGTERM (stop accepting, finish in-flight
 * requests, seal the audit log, close the database).
 */
export const runServer = async (config: Config): Promise<void> => {
  const platform = await createPlatform(config);
  const app = await buildPlatformApp(platform);
  const boot = await bootstrapPlatformAdmin(platform);
  if (boot?.generated === true) {
    // Printed once, on stderr, never logged: it is the only copy.
    process.stderr.write(`\nBulkhead platform-admin token (shown once, store it now):\n\n  ${boot.token}\n\n`);
  } else if (boot !== undefined) {
    app.log.info('platform-admin token created from BULKHEAD_BOOTSTRAP_TOKEN');
  }
  await platform.jobs.runner.start();
  const tiers = await platform.jobs.runner.hostProbe();
  app.log.info({ tiers: Object.fromEntries(Object.entries(tiers.tiers).map(([tier, state]) => [tier, state.available ? 'available' : `unavailable: ${state.install}`])) }, 'isolation tiers this host provides');
  const sealer = setInterval(() => {
    platform.audit.seal().catch((error: unknown) => app.log.error({ err: error }, 'audit seal failed'));
  }, config.auditSealIntervalMs);
  sealer.unref();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    clearInterval(sealer);
    try {
      await app.close();
      await platform.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  await app.listen({ host: config.host, port: config.port });
  app.log.info({ database: platform.db.kind, rlsMode: platform.rlsMode, home: config.home }, 'bulkhead is up');
};
