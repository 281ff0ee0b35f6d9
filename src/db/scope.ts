import { AppError } from '../core/errors.ts';
import type { Db, Queryable, TransactionOptions, WorkLimits } from './db-types.ts';

export const APP_ROLE = 'bulkhead_app';
export const SYSTEM_ROLE = 'bulkhead_system';
/**
 * The role of shared reads only (withSharedRead): a member of bulkhead_app (its privileges and its
 * tenant_isolation policies) that the `shared_read` policies also apply to (migration 0035). Ordinary
 * transactions run as bulkhead_app, whose policies are a plain tenant equality.
 */
export const SHARE_READER_ROLE = 'bulkhead_share_reader';

/** The tenant id of the platform's own audit chain (events that belong to no tenant). */
export const PLATFORM_TENANT_ID = '00000000-0000-0000-0000-000000000000';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isUuid = (value: string): boolean => uuidPattern.test(value);

/**
 * Runs `fn` in one transaction as the application role with `bulkhead.tenant_id` set to `tenantId`, both
 * local to the transaction. Row-level security then admits only that tenant's rows, whatever SQL `fn`
 * runs: a forgotten `WHERE tenant_id` cannot leak. Commits when `fn` resolves, rolls back when it throws.
 *
 * The tenant id is inlined into the prelude (one round trip with BEGIN) only after it has matched the
 * strict UUID pattern above, so it cannot carry SQL.
 */
export const withTenant = async <T>(db: Db, tenantId: string, fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> => {
  if (!uuidPattern.test(tenantId)) {
    throw new AppError('INTERNAL', 'withTenant called with a malformed tenant id');
  }
  const gate = db.tenantGate;
  if (gate === undefined) return db.transaction(`${tenantScope(tenantId)};`, fn, options);
  // Under the tenant's database-time quota (db-time-quota.ts): admitted within its concurrency cap, every
  // statement bounded by its statement timeout.
  return gate.run(tenantId, (limits) => db.transaction(`${tenantScope(tenantId, limits)};`, fn, { ...options, limits }), { heavy: options.heavy === true });
};

/**
 * Like withTenant (as tenant `tenantId`, under its database-time quota), but the transaction also names
 * `ownerId` as the tenant whose shared objects it reads (`bulkhead.shared_owner`, issue 15), and runs as
 * bulkhead_share_reader: its `shared_read` policies (migrations 0021–0035) then admit, besides the
 * caller's own rows, exactly the rows of `ownerId` that a live share grants to the caller (or to one of
 * its ancestors) — the database decides, not this code. Ordinary transactions run as bulkhead_app, which
 * no shared_read policy applies to, so they never see a foreign row whatever their settings.
 */
export const withSharedRead = async <T>(db: Db, tenantId: string, ownerId: string, fn: (tx: Queryable) => Promise<T>, options: Pick<TransactionOptions, 'heavy'> = {}): Promise<T> => {
  if (!uuidPattern.test(tenantId) || !uuidPattern.test(ownerId)) {
    throw new AppError('INTERNAL', 'withSharedRead called with a malformed tenant id');
  }
  const owner = `,set_config('bulkhead.shared_owner','${ownerId}',true)`;
  const gate = db.tenantGate;
  if (gate === undefined) return db.transaction(`${tenantScope(tenantId, undefined, SHARE_READER_ROLE)}${owner};`, fn, { readOnly: true });
  return gate.run(tenantId, (limits) => db.transaction(`${tenantScope(tenantId, limits, SHARE_READER_ROLE)}${owner};`, fn, { readOnly: true, limits }), { heavy: options.heavy === true });
};

/**
 * The only way past row-level security: runs `fn` in one transaction as the system role, which sees every
 * tenant's rows. Use it for the few paths that must cross tenants (token lookup, tenant administration,
 * audit sealing) and nowhere else; `grep -rn withSystem src` lists them all.
 */
export const withSystem = async <T>(db: Db, fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> =>
  db.transaction(`${systemScope};`, fn, options);

/**
 * The scope of a transaction as one statement: the role and the tenant setting, both local to the
 * transaction (`set_config('role', …)` checks membership exactly as SET ROLE does).
 */
const tenantScope = (tenantId: string, limits?: WorkLimits, role: typeof APP_ROLE | typeof SHARE_READER_ROLE = APP_ROLE): string =>
  `SELECT set_config('role','${role}',true),set_config('bulkhead.tenant_id','${tenantId}',true)${limits === undefined ? '' : timeoutSetting(limits)}`;
/**
 * The tenant's statement timeout, local to the transaction like the scope (PostgreSQL applies it to each
 * later statement; PGlite ignores it, its driver's watchdog enforces the same limit). An integer only:
 * nothing else reaches the SQL text.
 */
const timeoutSetting = (limits: WorkLimits): string =>
  `,set_config('statement_timeout','${Math.max(1, Math.trunc(limits.statementTimeoutMs))}',true)`;
const systemScope = `SELECT set_config('role','${SYSTEM_ROLE}',true),set_config('bulkhead.tenant_id','',true)`;

/**
 * One read statement as tenant `tenantId`, in one round trip (see `Db.scopedRead`). The SQL must be static
 * code of this platform; values go in `params`. Row-level security applies exactly as in withTenant.
 */
export const readAsTenant = async <Row = Record<string, unknown>>(db: Db, tenantId: string, sql: string, params: readonly unknown[] = []) => {
  if (!uuidPattern.test(tenantId)) throw new AppError('INTERNAL', 'readAsTenant called with a malformed tenant id');
  const gate = db.tenantGate;
  if (gate === undefined) return db.scopedRead<Row>(tenantScope(tenantId), sql, params);
  return gate.run(tenantId, (limits) => db.scopedRead<Row>(tenantScope(tenantId, limits), sql, params, limits));
};

/** One read statement across tenants, in one round trip: the read-only twin of withSystem. */
export const readAsSystem = async <Row = Record<string, unknown>>(db: Db, sql: string, params: readonly unknown[] = []) =>
  db.scopedRead<Row>(systemScope, sql, params);

/**
 * SQLSTATE of bulkhead_refuse (migration 0041): a check inside a commit-ahead statement failed, so its
 * transaction rolled back and the caller may redo the work the classic way, reading the checks before COMMIT.
 */
export const REFUSED_SQLSTATE = 'BH001';

/** Whether `error` is a bulkhead_refuse refusal (see REFUSED_SQLSTATE). */
export const isRefusal = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === REFUSED_SQLSTATE;
