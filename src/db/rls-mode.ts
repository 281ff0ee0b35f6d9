import type { Db, RlsMode } from './db-types.ts';

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
