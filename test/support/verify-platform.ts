/**
 * A platform for the `bulkhead verify` tests, listening on loopback so the verifier attacks it over real
 * HTTP, on PGlite or PostgreSQL (as the non-owner login role, or one the test names). `brokenRoute`
 * adds the test-only fixture route below — the deliberate weakness the api group must catch.
 *
 * Why the fixture cannot reach a production build: it is defined here, in test/, and registered only by
 * this helper's argument. Nothing under src/ imports test/ (test/verify-fixture.int.test.ts checks the
 * source tree and that a production server's route catalog has no such route); the container images copy
 * src/ and bin/, not test/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/index.ts';
import type { Config } from '../../src/config/index.ts';
import { createPostgresDb } from '../../src/db/index.ts';
import type { DbKind } from '../../src/db/index.ts';
import { bootstrapPlatformAdmin, buildPlatformApp, createPlatform } from '../../src/main/platform.ts';
import type { Platform } from '../../src/main/platform.ts';
import { createTestDatabase } from './databases.ts';
import type { TestDatabase } from './databases.ts';
import { adminToken } from './platform.ts';

export { adminToken };

/** The fixture's URL: a tenant route whose access is `authenticated`, so the tenant check is skipped. */
export const brokenRouteUrl = '/api/v1/tenants/:tenant/verify-fixture/leak';

/**
 * A route that forgets the tenant check: any valid token reads any tenant's record (the kind of bug a
 * new route could ship with). Test-only: see the module comment.
 */
const brokenRoute = (platform: Platform): FastifyPluginAsyncZod => async (app) => {
  app.get(brokenRouteUrl, { config: { access: 'authenticated' }, schema: { hide: true } }, async (request, reply) => {
    const tenant = await platform.tenants.find((request.params as { tenant: string }).tenant);
    if (tenant === undefined) return reply.code(404).send({ code: 'NOT_FOUND', message: 'tenant not found' });
    return { id: tenant.id, slug: tenant.slug, name: tenant.name };
  });
};

export interface VerifyPlatform {
  url: string;
  database: TestDatabase;
  platform: Platform;
  app: FastifyInstance;
  home: string;
  close(): Promise<void>;
}

export const startVerifyPlatform = async (kind: DbKind, options: { brokenRoute?: boolean; loginUrl?: (database: TestDatabase) => Promise<string>; overrides?: Partial<Record<keyof Config, unknown>> } = {}): Promise<VerifyPlatform> => {
  const database = await createTestDatabase(kind);
  const loginUrl = options.loginUrl === undefined ? undefined : await options.loginUrl(database);
  const db = loginUrl === undefined ? database.db : createPostgresDb({ connectionString: loginUrl, maxConnections: 10 });
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-verify-'));
  const config = loadConfig({}, { home, bootstrapToken: adminToken, logLevel: 'silent', authCacheTtlMs: 0, ...options.overrides });
  const platform = await createPlatform(config, { db });
  await bootstrapPlatformAdmin(platform);
  // As `bulkhead up` does on its one replica (the leader): the job runner's scheduling loop (probe jobs run).
  await platform.jobs.runner.start();
  if (options.brokenRoute === true) platform.httpModules.push(brokenRoute(platform));
  const app = await buildPlatformApp(platform, { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    url, database, platform, app, home,
    async close() {
      await app.close();
      await platform.close();
      if (db !== database.db) await db.close();
      await database.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
};
