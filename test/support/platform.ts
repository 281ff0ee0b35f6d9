/**
 * A whole platform over a real test database (PGlite or PostgreSQL, see databases.ts), with its HTTP app
 * for `app.inject()`, a platform-admin token, and helpers to make tenants and tokens through the API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/index.ts';
import type { Config } from '../../src/config/index.ts';
import type { DbKind } from '../../src/db/index.ts';
import { bootstrapPlatformAdmin, buildPlatformApp, createPlatform } from '../../src/main/platform.ts';
import type { Platform } from '../../src/main/platform.ts';
import { createTestDatabase } from './databases.ts';
import type { TestDatabase } from './databases.ts';

export const adminToken = 'bh_test-platform-admin-token-0123456789abcdefghij';

export interface TestTenant {
  id: string;
  slug: string;
  tokens: { owner: string; admin: string; member: string; viewer: string };
}

export interface TestPlatform {
  kind: DbKind;
  database: TestDatabase;
  platform: Platform;
  app: FastifyInstance;
  config: Config;
  home: string;
  /** An API call with a bearer token; returns status and parsed JSON. */
  call(method: string, url: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  createTenant(slug: string, tier?: 'process' | 'sandbox' | 'dedicated'): Promise<TestTenant>;
  close(): Promise<void>;
  /** Starts the app listening on a free loopback port (for the CLI and other real HTTP clients); returns its URL. */
  listen(): Promise<string>;
}

export const createTestPlatform = async (
  kind: DbKind,
  overrides: Partial<Record<keyof Config, unknown>> = {},
  options: Omit<Parameters<typeof createPlatform>[1] & object, 'db'> = {},
): Promise<TestPlatform> => {
  const database = await createTestDatabase(kind);
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-test-'));
  const config = loadConfig({}, { home, bootstrapToken: adminToken, logLevel: 'silent', authCacheTtlMs: 0, ...overrides });
  const platform = await createPlatform(config, { ...options, db: database.db });
  await bootstrapPlatformAdmin(platform);
  const app = await buildPlatformApp(platform, { logger: false });
  await app.ready();

  const call: TestPlatform['call'] = async (method, url, token, body) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    const response = await app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: body as object }) });
    let parsed: unknown;
    try {
      parsed = response.body === '' ? undefined : JSON.parse(response.body);
    } catch {
      parsed = response.body;
    }
    return { status: response.statusCode, body: parsed, headers: response.headers };
  };

  const createTenant: TestPlatform['createTenant'] = async (slug, tier = 'sandbox') => {
    const created = await call('POST', '/api/v1/tenants', adminToken, { slug, name: `Tenant ${slug}`, tier });
    if (created.status !== 201) throw new Error(`tenant create failed: ${JSON.stringify(created.body)}`);
    const tokens = {} as TestTenant['tokens'];
    for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
      const token = await call('POST', `/api/v1/tenants/${slug}/tokens`, adminToken, { name: `${role}-token`, role });
      if (token.status !== 201) throw new Error(`token create failed: ${JSON.stringify(token.body)}`);
      tokens[role] = token.body.token;
    }
    return { id: created.body.id, slug, tokens };
  };

  return {
    kind, database, platform, app, config, home, call, createTenant,
    async listen() {
      await app.listen({ host: '127.0.0.1', port: 0 });
      return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    },
    async close() {
      await app.close();
      await platform.close();
      await database.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
};
