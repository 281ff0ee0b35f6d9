/**
 * The `data` group. Over HTTP: the database's RLS mode (`/readyz`), and that a deleted tenant is gone.
 * With `--database-url` (the platform's own login role, PostgreSQL only): the catalog — the login role
 * is no superuser, owns no table, has no BYPASSRLS (nor any role it can become), every table with a
 * `tenant_id` column has RLS enabled and forced, and outside a tenant scope it reads no tenant's rows;
 * and the deleted tenant's data key row is gone. With `--storage-path`: no blob file holds tenant A's
 * plaintext marker (artifacts at rest are ciphertext).
 */
import { opendir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { CheckResult } from './verify-types.ts';
import type { VerifyHttp } from './verify-http.ts';

export interface DataContext {
  http: VerifyHttp;
  adminToken: string;
  databaseUrl?: string | undefined;
  storagePath?: string | undefined;
  /** Tenant A's id and its plaintext marker (in an artifact A uploaded). */
  tenantAId: string;
  secret: string;
  /** Creates, fills and deletes a throwaway tenant; returns its id. */
  deletedTenant(): Promise<{ id: string; slug: string }>;
}

const row = (check: string, target: string, expectation: string, ok: boolean | 'skip', evidence: string, reproduce?: string): CheckResult => ({
  group: 'data', check, target, expectation, result: ok === 'skip' ? 'skip' : ok ? 'pass' : 'fail', evidence, ...(reproduce === undefined ? {} : { reproduce }),
});

/** Walks `root` (bounded: files and bytes) and returns the files whose content holds `marker`. */
const filesHolding = async (root: string, marker: string): Promise<{ scanned: number; hits: string[] }> => {
  const needle = Buffer.from(marker);
  const hits: string[] = [];
  let scanned = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of await opendir(dir)) {
      if (scanned >= 50_000) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && (await stat(path)).size <= 64 * 1024 * 1024) {
        scanned += 1;
        if ((await readFile(path)).includes(needle)) hits.push(path);
      }
    }
  };
  await walk(root);
  return { scanned, hits };
};

export const runDataChecks = async (ctx: DataContext): Promise<CheckResult[]> => {
  const results: CheckResult[] = [];
  const ready = await ctx.http.call({ method: 'GET', path: '/readyz' });
  const readiness = ready.body as { database?: string; rlsMode?: string } | undefined;
  const kind = readiness?.database ?? 'unknown';
  const mode = readiness?.rlsMode ?? 'unknown';
  results.push(row('RLS mode', `database (${kind})`, 'enforced on PostgreSQL; guarded on embedded PGlite (stops application bugs, not injected SQL)',
    kind === 'postgres' ? mode === 'enforced' : mode === 'guarded' || mode === 'enforced', `rlsMode: ${mode}`, `curl ${'$URL'}/readyz`));

  const deleted = await ctx.deletedTenant();
  let client: pg.Client | undefined;
  if (ctx.databaseUrl !== undefined) {
    client = new pg.Client({ connectionString: ctx.databaseUrl, connectionTimeoutMillis: 10_000, statement_timeout: 10_000 });
    await client.connect();
  }
  try {
    if (client === undefined) {
      results.push(row('login role', 'database', 'no superuser, owner or BYPASSRLS', 'skip', kind === 'postgres' ? 'pass --database-url (the platform\'s own connection string) to check the catalog' : 'embedded PGlite: its session user is a superuser by construction (rlsMode guarded)'));
      results.push(row('deleted tenant\'s data key', 'tenant_data_keys', 'no row for the deleted tenant', 'skip', 'needs --database-url'));
    } else {
      const role = (await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>('SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')).rows[0];
      results.push(row('login role is not superuser', `role ${role?.rolname}`, 'rolsuper = false', role?.rolsuper === false, `rolsuper = ${role?.rolsuper}`, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user'));
      results.push(row('login role has no BYPASSRLS', `role ${role?.rolname}`, 'rolbypassrls = false', role?.rolbypassrls === false, `rolbypassrls = ${role?.rolbypassrls}`, 'SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user'));
      const reachable = await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname <> current_user AND pg_has_role(current_user, oid, 'MEMBER') AND (rolsuper OR rolbypassrls)");
      results.push(row('no role it can become bypasses RLS', `role ${role?.rolname}`, 'no member-of role with SUPERUSER or BYPASSRLS', reachable.rows.length === 0,
        reachable.rows.length === 0 ? 'none' : reachable.rows.map((r) => `${r.rolname}${r.rolsuper ? ' SUPERUSER' : ''}${r.rolbypassrls ? ' BYPASSRLS' : ''}`).join(', '),
        "SELECT rolname FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER') AND (rolsuper OR rolbypassrls)"));
      const tables = await client.query<{ relname: string; owner: string; owns: boolean; rls: boolean; forced: boolean }>(
        `SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, pg_has_role(current_user, c.relowner, 'MEMBER') AS owns, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          ORDER BY c.relname`);
      for (const table of tables.rows) {
        results.push(row('RLS enabled and forced', `table ${table.relname}`, 'relrowsecurity and relforcerowsecurity', table.rls && table.forced, `enabled ${table.rls}, forced ${table.forced}`, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = '${table.relname}'`));
        results.push(row('login role does not own it', `table ${table.relname}`, 'owner is a role the login cannot become', !table.owns, `owner ${table.owner}`));
        // Outside any tenant scope, as the login role itself: tenant A's rows must be invisible (or refused).
        let visible = 0;
        let outcome: string;
        try {
          visible = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${table.relname}" WHERE tenant_id::text = $1`, [ctx.tenantAId])).rows[0]?.n ?? 0);
          outcome = `${visible} rows of tenant A visible`;
        } catch (error) {
          outcome = `refused: ${(error as Error).message.slice(0, 120)}`;
        }
        results.push(row('no rows outside a tenant scope', `table ${table.relname}`, "0 rows of tenant A, or permission denied", visible === 0, outcome, `SELECT count(*) FROM ${table.relname} WHERE tenant_id = '<A>'`));
      }
      // The key row is readable only as bulkhead_system; the login role may become it (docs/architecture.md).
      let keyRows: number | string;
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE bulkhead_system');
        keyRows = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM tenant_data_keys WHERE tenant_id::text = $1', [deleted.id])).rows[0]?.n ?? 0);
        // The control: a live tenant that stored a file has its key row, so "0 rows" is not an empty read.
        const live = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM tenant_data_keys WHERE tenant_id::text = $1', [ctx.tenantAId])).rows[0]?.n ?? 0);
        if (live === 0) keyRows = 'the key table shows no row even for live tenant A: nothing to compare';
      } catch (error) {
        keyRows = `unreadable: ${(error as Error).message.slice(0, 120)}`;
      } finally {
        await client.query('ROLLBACK');
      }
      results.push(row("deleted tenant's data key", 'tenant_data_keys', 'no row for the deleted tenant (crypto-shredded)', typeof keyRows === 'number' ? keyRows === 0 : 'skip', `tenant ${deleted.slug} (${deleted.id}): ${typeof keyRows === 'number' ? `${keyRows} key rows` : keyRows}`));
    }
  } finally {
    await client?.end();
  }
  const gone = await ctx.http.call({ method: 'GET', path: `/api/v1/tenants/${deleted.slug}`, token: ctx.adminToken });
  results.push(row('deleted tenant is gone', `tenant ${deleted.slug}`, '404, even to a platform admin', gone.status === 404, `${gone.status}`));

  if (ctx.storagePath === undefined) {
    results.push(row('artifacts at rest are ciphertext', 'storage', "no stored file holds A's plaintext", 'skip', 'pass --storage-path (e.g. $BULKHEAD_HOME/blobs) where the verifier may read it'));
  } else {
    const { scanned, hits } = await filesHolding(ctx.storagePath, ctx.secret);
    results.push(row('artifacts at rest are ciphertext', `storage ${ctx.storagePath}`, "no stored file holds A's plaintext", scanned === 0 ? 'skip' : hits.length === 0,
      scanned === 0 ? 'no files found there' : hits.length === 0 ? `${scanned} files scanned, none holds the marker` : `plaintext in: ${hits.slice(0, 5).join(', ')}`));
  }
  return results;
};
