/**
 * The data layer: drivers for PostgreSQL (`pg`) and embedded PGlite behind one `Db` surface, the plain SQL
 * migrations, and the two transaction scopes every query runs in — `withTenant` (row-level security on
 * one tenant) and `withSystem` (the greppable way past it). It owns no domain queries: those live in each
 * module's `*-queries.ts`.
 *
 * PGlite runs in a worker thread (pglite-driver.ts), so no query blocks the event loop. The tenant gate
 * (db-time-quota.ts) applies each tenant's database-time quota — statement timeout, concurrent operations —
 * to all tenant work once the composition root attaches it (`withTenantGate`); it enforces limits, it does
 * not own the quota fields (tenants) or export metrics (it only counts). `withTenantCombined` (combine.ts)
 * lets a tenant's small commit-ahead writes that arrive together share one transaction.
 */
export type { Db, DbKind, Queryable, QueryOptions, QueryResult, RlsMode, TenantGate, TransactionOptions, WorkLimits } from './db-types.ts';
export { TransactionRolledBack } from './db-types.ts';
export { withTenantCombined } from './combine.ts';
export { createPostgresDb } from './postgres-driver.ts';
export { createPgliteDb } from './pglite-driver.ts';
export { migrate, loadMigrations } from './migrate.ts';
export { detectRlsMode, missingScopeRoles } from './rls-mode.ts';
export { withTenant, withSharedRead, withSystem, readAsTenant, readAsSystem, isUuid, isRefusal, APP_ROLE, SYSTEM_ROLE, SHARE_READER_ROLE, PLATFORM_TENANT_ID } from './scope.ts';
export { tenantDataTables, tenantRecordTables, retainedTenantTables } from './tenant-tables.ts';
export type { TenantDataTable, TenantRecordTable } from './tenant-tables.ts';
export { createDbTimeQuotaGate, withTenantGate, loadDbTimeLimits, isStatementTimeout, dbTimeErrors, defaultDbTimeLimits } from './db-time-quota.ts';
export type { DbTimeLimits, DbTimeQuotaGate, DbTimeUsage } from './db-time-quota.ts';
