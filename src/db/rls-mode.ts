import type { Db, RlsMode } from './db-types.ts';
import { APP_ROLE, SHARE_READER_ROLE, SYSTEM_ROLE } from './scope.ts';

/**
 * Says how strongly row-level security holds for this connection (see `RlsMode`): PGlite's session user
 * is always a superuser; on PostgreSQL the login role must be neither superuser nor the tables' owner.
 */
export const detectRlsMode = async (db: Db): Promise<RlsMode> => {
  if (db.kind === 'pglite') return 'guarded';
  const { rows } = await db.queryAsOwner<{ superuser: boolean; owns: boolean; bypass: boolean }>(
    `SELECT r.rolsuper AS superuser, r.rolbypassrls AS bypass,
            EXISTS (SELECT 1 FROM pg_tables t WHERE t.tablename = 'tenants' AND t.tableowner = session_user) AS owns
       FROM pg_roles r WHERE r.rolname = session_user`,
  );
  const row = rows[0];
  return row !== undefined && !row.superuser && !row.owns && !row.bypass ? 'enforced' : 'guarded';
};

/** The roles the login must be a member of: the scopes of scope.ts switch to them with set_config('role'). */
export const SCOPE_ROLES = [APP_ROLE, SYSTEM_ROLE, SHARE_READER_ROLE] as const;

/**
 * The scope roles the connection's login cannot become (empty on PGlite, whose session user is a
 * superuser). A missing one fails every transaction of its scope with "permission denied to set role" —
 * for bulkhead_share_reader (migration 0035) that would be every lookup of an id the tenant does not own,
 * since such lookups ask the shares next — so the platform refuses to start instead (platform.ts).
 */
export const missingScopeRoles = async (db: Db): Promise<string[]> => {
  if (db.kind === 'pglite') return [];
  const { rows } = await db.queryAsOwner<{ role: string }>(
    `SELECT r AS role FROM unnest($1::text[]) AS r
      WHERE NOT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN pg_has_role(session_user, r, 'MEMBER') ELSE false END`,
    [[...SCOPE_ROLES]],
  );
  return rows.map((row) => row.role);
};
