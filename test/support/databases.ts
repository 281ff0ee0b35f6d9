/**
 * Real databases for tests: every database test runs once on embedded PGlite and once on the local
 * PostgreSQL server, connecting as a login role that is neither superuser nor owner, so row-level
 * security really applies. Each call gets its own fresh, migrated database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgliteDb, createPostgresDb, migrate } from '../../src/db/index.ts';
import type { Db, DbKind } from '../../src/db/index.ts';

export const postgresAdminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const testLoginRole = 'bulkhead_test_login';

export interface TestDatabase {
  kind: DbKind;
  /** Connected as the application's login role: what the platform uses. */
  db: Db;
  /** Connected as the schema owner (a superuser): for tampering tests and set-up only. */
  owner: Db;
  /** A connection string for the application's login role (PostgreSQL only). */
  appUrl: string | undefined;
  /** A connection string for the schema owner (PostgreSQL only). */
  ownerUrl: string | undefined;
  drop(): Promise<void>;
}

const withAdminClient = async <T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
};

const ensureLoginRole = async (client: pg.Client): Promise<void> => {
  // Roles are cluster-wide and test files run in parallel: tolerate a concurrent creator.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      await client.query(`DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${testLoginRole}') THEN
          CREATE ROLE ${testLoginRole} LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        END IF; END $$`);
      return;
    } catch (error) {
      if (attempt === 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
  }
};

const grantApplicationRoles = async (client: pg.Client): Promise<void> => {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      await client.query(`GRANT bulkhead_app, bulkhead_system, bulkhead_share_reader TO ${testLoginRole}`);
      return;
    } catch (error) {
      if (attempt === 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
  }
};

export const createTestDatabase = async (kind: DbKind): Promise<TestDatabase> => {
  if (kind === 'pglite') {
    const db = await createPgliteDb();
    await migrate(db);
    return { kind, db, owner: db, appUrl: undefined, ownerUrl: undefined, drop: () => db.close() };
  }
  const name = `bh_test_${randomBytes(6).toString('hex')}`;
  await withAdminClient(postgresAdminUrl, async (client) => {
    await ensureLoginRole(client);
    await client.query(`CREATE DATABASE ${name}`);
  });
  const ownerUrl = new URL(postgresAdminUrl);
  ownerUrl.pathname = `/${name}`;
  const owner = createPostgresDb({ connectionString: ownerUrl.toString(), maxConnections: 4 });
  await migrate(owner);
  await withAdminClient(ownerUrl.toString(), grantApplicationRoles);
  const appUrl = new URL(ownerUrl);
  appUrl.username = testLoginRole;
  appUrl.password = '';
  const db = createPostgresDb({ connectionString: appUrl.toString(), maxConnections: 20 });
  return {
    kind,
    db,
    owner,
    appUrl: appUrl.toString(),
    ownerUrl: ownerUrl.toString(),
    async drop() {
      await db.close();
      await owner.close();
      await withAdminClient(postgresAdminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
};

export const databaseKinds: readonly DbKind[] = ['pglite', 'postgres'];

/**
 * The environment a `bulkhead up` child process needs to run on a test PostgreSQL database: the
 * application role's URL, and the schema owner's for the migration check at start-up.
 */
export const serverDatabaseEnv = (database: TestDatabase): Record<string, string> => {
  const appUrl = database.appUrl ?? '';
  const ownerUrl = new URL(postgresAdminUrl);
  ownerUrl.pathname = new URL(appUrl).pathname;
  return { BULKHEAD_DATABASE_URL: appUrl, BULKHEAD_DATABASE_MIGRATION_URL: ownerUrl.toString() };
};
