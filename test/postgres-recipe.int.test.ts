/**
 * The README's PostgreSQL recipe, run as written: its SQL block as a superuser (with this test's own role
 * and database names, since roles are cluster-wide), then the platform started with the LOGIN-only owner
 * as the migration URL and the NOINHERIT login as the query URL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/index.ts';
import { buildPlatformApp, bootstrapPlatformAdmin, createPlatform } from '../src/main/platform.ts';
import { createTestDatabase, postgresAdminUrl } from './support/databases.ts';

const readmeRecipe = (): string[] => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### PostgreSQL'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block !== undefined, 'README has a ```sql block under ### PostgreSQL');
  return block.split('\n').map((line) => line.replace(/--.*$/, '').trim()).filter((line) => line !== '').join(' ')
    .split(';').map((statement) => statement.trim()).filter((statement) => statement !== '');
};

const withClient = async <T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
};

test('the README PostgreSQL recipe works with a LOGIN-only owner (postgres)', async () => {
  const suffix = randomBytes(5).toString('hex');
  const ownerRole = `bh_recipe_owner_${suffix}`;
  const loginRole = `bh_recipe_login_${suffix}`;
  const database = `bh_recipe_${suffix}`;
  const password = `pw_${suffix}`;
  const statements = readmeRecipe().map((statement) => statement
    .replace(/\bbulkhead_owner\b/g, ownerRole)
    .replace(/\bDATABASE bulkhead\b/g, `DATABASE ${database}`)
    .replace(/\bROLE bulkhead\b(?!_)/g, `ROLE ${loginRole}`)
    .replace(/\bTO bulkhead\b(?!_)/g, `TO ${loginRole}`)
    .replace(/'\.\.\.'/g, `'${password}'`));
  assert.ok(statements.some((s) => s.startsWith(`CREATE ROLE ${ownerRole} LOGIN`)), statements.join('\n'));
  assert.ok(statements.some((s) => s.startsWith(`GRANT bulkhead_app, bulkhead_system, bulkhead_share_reader TO ${loginRole}`)), statements.join('\n'));

  const home = mkdtempSync(join(tmpdir(), 'bulkhead-recipe-'));
  try {
    await withClient(postgresAdminUrl, async (client) => {
      for (const statement of statements) {
        try {
          await client.query(statement);
        } catch (error) {
          // bulkhead_app, bulkhead_system and bulkhead_share_reader are cluster-wide: other test files (or an
          // earlier run) made them already, which is the case this test is about. Anything else fails the test.
          const creatingSharedRole = /^CREATE ROLE bulkhead_(app|system|share_reader) /.test(statement);
          if (!(creatingSharedRole && (error as { code?: string }).code === '42710')) throw error;
        }
      }
      // The owner really is LOGIN-only.
      const { rows } = await client.query('SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = $1', [ownerRole]);
      assert.deepEqual(rows[0], { rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
    });

    const url = (user: string): string => {
      const u = new URL(postgresAdminUrl);
      u.username = user;
      u.password = password;
      u.pathname = `/${database}`;
      return u.toString();
    };
    const config = loadConfig({}, {
      home, databaseUrl: url(loginRole), databaseMigrationUrl: url(ownerRole), databasePoolSize: 4,
      bootstrapToken: 'bh_recipe-platform-admin-token-0123456789abcdef', logLevel: 'silent',
    });
    const platform = await createPlatform(config);
    try {
      assert.equal(platform.rlsMode, 'enforced');
      await bootstrapPlatformAdmin(platform);
      const app = await buildPlatformApp(platform, { logger: false });
      try {
        const created = await app.inject({
          method: 'POST', url: '/api/v1/tenants', headers: { authorization: 'Bearer bh_recipe-platform-admin-token-0123456789abcdef' },
          payload: { slug: 'recipe', name: 'Recipe', tier: 'process' },
        });
        assert.equal(created.statusCode, 201, created.body);
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(JSON.parse(ready.body).rlsMode, 'enforced');
      } finally {
        await app.close();
      }
    } finally {
      await platform.close();
    }
    // A second start as the same owner: nothing left to migrate, nothing fails.
    const again = await createPlatform(config);
    await again.close();
    const inDatabase = new URL(postgresAdminUrl);
    inDatabase.pathname = `/${database}`;
    await withClient(inDatabase.toString(), async (client) => {
      const { rows } = await client.query(`SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'tenants'`);
      assert.equal(rows[0]?.tableowner, ownerRole);
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
    await withClient(postgresAdminUrl, async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${loginRole}`);
      await client.query(`DROP ROLE IF EXISTS ${ownerRole}`);
    });
  }
});

test('a login that cannot become bulkhead_share_reader is refused at start, with the GRANT to run (postgres)', async () => {
  const suffix = randomBytes(5).toString('hex');
  const loginRole = `bh_noshare_login_${suffix}`;
  const password = `pw_${suffix}`;
  const database = await createTestDatabase('postgres');
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-noshare-'));
  try {
    // Granted the two roles an installation had before migration 0035, not the new one.
    await withClient(postgresAdminUrl, async (client) => {
      await client.query(`CREATE ROLE ${loginRole} LOGIN NOINHERIT PASSWORD '${password}'`);
      await client.query(`GRANT bulkhead_app, bulkhead_system TO ${loginRole}`);
    });
    const url = new URL(database.ownerUrl as string);
    url.username = loginRole;
    url.password = password;
    const config = loadConfig({}, {
      home, databaseUrl: url.toString(), databaseMigrationUrl: database.ownerUrl as string, databasePoolSize: 2,
      bootstrapToken: 'bh_noshare-platform-admin-token-0123456789abcdef', logLevel: 'silent',
    });
    await assert.rejects(createPlatform(config), (error: Error) => {
      assert.match(error.message, /cannot become bulkhead_share_reader: as a superuser run GRANT bulkhead_share_reader TO/);
      return true;
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
    await database.drop();
    await withClient(postgresAdminUrl, (client) => client.query(`DROP ROLE IF EXISTS ${loginRole}`));
  }
});
