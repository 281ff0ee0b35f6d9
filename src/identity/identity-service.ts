import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db } from '../db/index.ts';
import { PLATFORM_TENANT_ID, isUuid, readAsSystem, withSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { canGrant, isBuiltInRole, parsePermissions, rolePermissions } from '../authz/index.ts';
import type { Action, Principal } from '../authz/index.ts';
import { roleRank } from '../contract/roles.ts';
import type { TenantRole } from '../contract/roles.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { displayPrefix, generateToken, hashToken, looksLikeToken } from './tokens.ts';

/** A built-in role, `platform_admin`, or the name of a custom role of the token's tenant (tenant_roles). */
export type TokenRole = TenantRole | 'platform_admin' | (string & {});
export type TokenKind = 'api' | 'session' | 'job' | 'endpoint';

export interface TokenRecord {
  id: string;
  tenantId: string | null;
  userId: string | null;
  name: string;
  role: TokenRole;
  kind: TokenKind;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** A token narrowed to part of its role: the permissions it keeps (null: all of its role's). */
  scope: string[] | null;
  experiments: string[] | null;
  /** Registered models (names) a narrowed token is limited to (null: not narrowed by model). */
  models: string[] | null;
  /** Deployments (names) a narrowed token is limited to (null: not narrowed by deployment). */
  deployments: string[] | null;
}

export interface User {
  id: string;
  username: string;
  displayName: string;
  isPlatformAdmin: boolean;
  status: 'active' | 'disabled';
  createdAt: string;
}

export interface Member {
  user: User;
  /** A built-in role or a custom role of the tenant. */
  role: string;
  createdAt: string;
}

export const identityErrors = {
  tokenNotFound: (id: string) => new AppError('NOT_FOUND', `token '${id}' not found`),
  userNotFound: (username: string) => new AppError('NOT_FOUND', `user '${username}' not found`),
  usernameTaken: (username: string) => new AppError('CONFLICT', `a user named '${username}' already exists`),
  roleAboveOwn: (role: string) => new AppError('FORBIDDEN', `cannot grant role '${role}', which is above your own`),
  badCredentials: () => new AppError('UNAUTHENTICATED', 'invalid username, password or tenant'),
  lifetimeTooLong: (max: number) => new AppError('VALIDATION_FAILED', `a token lives at most ${max} s (the operator's maximum token lifetime)`, { details: { maxSeconds: max } }),
};

interface TokenRow {
  id: string;
  tenant_id: string | null;
  user_id: string | null;
  name: string;
  role: TokenRole;
  kind: TokenKind;
  display_prefix: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  scope_permissions: string[] | null;
  scope_experiments: string[] | null;
  scope_models: string[] | null;
  scope_deployments: string[] | null;
}

const iso = (value: Date | null): string | null => (value === null ? null : new Date(value).toISOString());

const toTokenRecord = (row: TokenRow): TokenRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  userId: row.user_id,
  name: row.name,
  role: row.role,
  kind: row.kind,
  prefix: row.display_prefix,
  createdAt: iso(row.created_at)!,
  expiresAt: iso(row.expires_at),
  revokedAt: iso(row.revoked_at),
  lastUsedAt: iso(row.last_used_at),
  scope: row.scope_permissions === null ? null : [...row.scope_permissions].sort(),
  experiments: row.scope_experiments ?? null,
  models: row.scope_models ?? null,
  deployments: row.scope_deployments ?? null,
});

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  is_platform_admin: boolean;
  status: 'active' | 'disabled';
  created_at: Date;
  password_hash?: string | null;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  displayName: row.display_name,
  isPlatformAdmin: row.is_platform_admin,
  status: row.status,
  createdAt: iso(row.created_at)!,
});

const tokenColumns = 'id, tenant_id, user_id, name, role, kind, display_prefix, created_at, expires_at, revoked_at, last_used_at, scope_permissions, scope_experiments, scope_models, scope_deployments';
const userColumns = 'id, username, display_name, is_platform_admin, status, created_at';

export interface NewToken {
  name: string;
  role: TokenRole;
  kind?: TokenKind;
  userId?: string | undefined;
  expiresInSeconds?: number | undefined;
  /** Job tokens: the job the token belongs to (it works only through that job's relay). */
  jobId?: string | undefined;
  /**
   * Endpoint tokens (kind 'endpoint'): the deployment whose cluster pods fetch their model with it; the API
   * accepts it only for that generation's model artifact while this process serves it.
   */
  deploymentId?: string | undefined;
  /** Narrows the token to these experiments (ids, already resolved in its tenant). */
  scopeExperiments?: readonly string[] | undefined;
  /** Narrows the token to these registered models (names, checked to exist in its tenant). */
  scopeModels?: readonly string[] | undefined;
  /** Narrows the token to these deployments (names, checked to exist in its tenant). */
  scopeDeployments?: readonly string[] | undefined;
  /** Service-account tokens: the account (service_accounts) the token belongs to. */
  serviceAccountId?: string | undefined;
  /** Narrows the token to these catalogue permissions (names, already checked against its role and creator). */
  scopePermissions?: readonly string[] | undefined;
  /** Bootstrap only: use this token value instead of generating one. */
  presetToken?: string | undefined;
}

export interface IdentityService {
  /** Token → principal, or undefined for an unknown, expired or revoked token. Cached for `cacheTtlMs`. */
  authenticate(token: string): Promise<Principal | undefined>;
  /**
   * Why a token `authenticate` refused was refused, when it is a real token that was revoked or has expired
   * (the anomaly detector alerts on their use): its id and tenant (null for a platform token). Undefined for
   * an unknown token. Only called on the failure path; one indexed read.
   */
  findRejectedToken(token: string): Promise<{ tokenId: string; tenantId: string | null; reason: 'revoked_token' | 'expired_token' } | undefined>;
  createToken(ctx: RequestContext, tenantId: string | null, input: NewToken): Promise<{ token: string; record: TokenRecord }>;
  listTokens(tenantId: string | null): Promise<TokenRecord[]>;
  revokeToken(ctx: RequestContext, tenantId: string | null, tokenId: string): Promise<TokenRecord>;
  /**
   * Drops cached lookups made in this process: of one token, or all (a change made elsewhere: another
   * replica's revocation or role change, announced over LISTEN/NOTIFY).
   */
  forgetCached(tokenId?: string): void;
  createUser(ctx: RequestContext, input: { username: string; password?: string | undefined; displayName?: string | undefined; isPlatformAdmin?: boolean | undefined }): Promise<User>;
  listUsers(): Promise<User[]>;
  setPassword(ctx: RequestContext, username: string, password: string): Promise<void>;
  listMembers(tenantId: string): Promise<Member[]>;
  setMember(ctx: RequestContext, tenantId: string, username: string, role: string): Promise<Member>;
  removeMember(ctx: RequestContext, tenantId: string, username: string): Promise<void>;
  /** Username + password → a session token for one tenant (or a platform-admin session). */
  login(input: { username: string; password: string; tenantId?: string | undefined; ttlSeconds?: number }): Promise<{ token: string; record: TokenRecord }>;
  /**
   * Password sign-in naming no tenant (the web console): a platform admin gets a platform session, a member
   * of one tenant a session in it, a member of several the list to pick from (nothing minted); anyone
   * else bad credentials. The password is checked once, exactly as `login` does.
   */
  loginOrChoose(input: { username: string; password: string; ttlSeconds?: number }): Promise<{ token: string; record: TokenRecord } | { choose: Array<{ id: string; slug: string; name: string; status: string; role: string }> }>;
  /** True once any platform-admin token exists. */
  hasPlatformAdminToken(): Promise<boolean>;
  /**
   * Drops this process's cached lookups of a tenant's tokens (its tokens were deleted with the tenant):
   * they stop authenticating here at once, in other processes within the cache TTL.
   */
  forgetTenant(tenantId: string): void;
}

export interface IdentityServiceOptions {
  db: Db;
  cacheTtlMs: number;
  now?: () => number;
  /**
   * The operator's token lifetime (BULKHEAD_SERVICE_TOKEN_DEFAULT_TTL_SECONDS / _MAX_): applies to every
   * token issued to a person or a service account — API tokens (tenant and platform) get the default when
   * none is asked for and are refused over the maximum; sessions (password, console, SSO) are shortened to
   * the maximum. Job and endpoint tokens (the platform's own, bound to one job or deployment generation)
   * and the operator's configured bootstrap token are not. Tokens already issued keep their expiry.
   * Undefined: no default and no maximum (unit tests of other behaviour).
   */
  tokenLifetime?: { defaultSeconds: number; maxSeconds: number } | undefined;
}

/**
 * The lifetime a new token gets (pure): see `IdentityServiceOptions.tokenLifetime`. Throws VALIDATION_FAILED
 * for an API token asked to outlive the maximum; nothing is written then.
 */
export const tokenLifetimeSeconds = (input: Pick<NewToken, 'kind' | 'expiresInSeconds' | 'presetToken'>, lifetime: IdentityServiceOptions['tokenLifetime']): number | undefined => {
  const kind = input.kind ?? 'api';
  if (lifetime === undefined || input.presetToken !== undefined || kind === 'job' || kind === 'endpoint') return input.expiresInSeconds;
  if (kind === 'session') return Math.min(input.expiresInSeconds ?? lifetime.defaultSeconds, lifetime.maxSeconds);
  const ttl = input.expiresInSeconds ?? lifetime.defaultSeconds;
  if (ttl > lifetime.maxSeconds) throw identityErrors.lifetimeTooLong(lifetime.maxSeconds);
  return ttl;
};

/**
 * Users, memberships and API tokens. Tokens are random (256 bits), shown once, stored as SHA-256 and
 * bound to one tenant and one role (or platform admin). Looking a token up crosses tenants and so runs
 * through withSystem; everything else about a tenant's tokens and members runs through withTenant.
 */
export const createIdentityService = (options: IdentityServiceOptions): IdentityService => {
  const { db, cacheTtlMs } = options;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { principal: Principal; expiresAt: number | null; cachedAt: number }>();
  const lastUsedWrites = new Map<string, number>();

  const forgetToken = (tokenId: string): void => {
    for (const [hash, entry] of cache) if (entry.principal.tokenId === tokenId) cache.delete(hash);
  };

  const touchLastUsed = (tokenId: string): void => {
    // At most one write a minute per token, off the request path: last-used time is advisory.
    const last = lastUsedWrites.get(tokenId) ?? 0;
    if (now() - last < 60_000) return;
    lastUsedWrites.set(tokenId, now());
    withSystem(db, (tx) => tx.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [tokenId])).catch(() => {});
  };

  const insertToken = async (ctx: RequestContext, tenantId: string | null, input: NewToken) => {
    const ttl = tokenLifetimeSeconds(input, options.tokenLifetime);
    const token = input.presetToken ?? generateToken();
    const id = randomUUID();
    const expiresAt = ttl === undefined ? null : new Date(now() + ttl * 1000);
    const columns = ['id', 'tenant_id', 'user_id', 'name', 'role', 'kind', 'token_hash', 'display_prefix', 'expires_at'];
    const params: unknown[] = [id, tenantId, input.userId ?? null, input.name, input.role, input.kind ?? 'api', hashToken(token), displayPrefix(token), expiresAt];
    if (input.jobId !== undefined) {
      columns.push('job_id');
      params.push(input.jobId);
    } else if (input.deploymentId !== undefined) {
      columns.push('deployment_id');
      params.push(input.deploymentId);
    }
    if (input.scopeExperiments !== undefined) {
      columns.push('scope_experiments');
      params.push([...input.scopeExperiments]);
    }
    if (input.scopeModels !== undefined) {
      columns.push('scope_models');
      params.push([...input.scopeModels]);
    }
    if (input.scopeDeployments !== undefined) {
      columns.push('scope_deployments');
      params.push([...input.scopeDeployments]);
    }
    if (input.serviceAccountId !== undefined) {
      columns.push('service_account_id');
      params.push(input.serviceAccountId);
    }
    if (input.scopePermissions !== undefined) {
      columns.push('scope_permissions');
      params.push([...input.scopePermissions]);
    }
    const sql = `INSERT INTO api_tokens (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${tokenColumns}`;
    const audit = {
      tenantId: tenantId ?? PLATFORM_TENANT_ID, actor: ctx.actor, action: 'token.create', target: `token:${id}`, outcome: 'success' as const, requestId: ctx.requestId,
      details: { name: input.name, role: input.role, kind: input.kind ?? 'api', ...(expiresAt === null ? {} : { expiresAt: expiresAt.toISOString() }), ...(input.scopePermissions === undefined ? {} : { scope: [...input.scopePermissions] }), ...(input.scopeExperiments === undefined ? {} : { experiments: [...input.scopeExperiments] }), ...(input.scopeModels === undefined ? {} : { models: [...input.scopeModels] }), ...(input.scopeDeployments === undefined ? {} : { deployments: [...input.scopeDeployments] }) },
    };
    const row = tenantId === null
      ? await withSystem(db, async (tx) => {
          const { rows } = await tx.query<TokenRow>(sql, params);
          await appendAuditEvent(tx, audit);
          return rows[0]!;
        })
      : await withTenant(db, tenantId, async (tx) => {
          const { rows } = await tx.query<TokenRow>(sql, params);
          await appendAuditEvent(tx, audit);
          return rows[0]!;
        });
    return { token, record: toTokenRecord(row) };
  };

  const findUser = async (username: string): Promise<UserRow | undefined> =>
    withSystem(db, async (tx) => (await tx.query<UserRow>(`SELECT ${userColumns}, password_hash FROM users WHERE username = $1`, [username])).rows[0], { readOnly: true });

  /** The active user whose password this is; bad credentials otherwise, in the same time for an unknown user. */
  const checkPassword = async (username: string, password: string): Promise<UserRow> => {
    const user = await findUser(username);
    const valid = user !== undefined && user.status === 'active' && user.password_hash != null
      ? await verifyPassword(password, user.password_hash)
      // Spend the same time on an unknown user, so timing does not reveal which usernames exist.
      : (await hashPassword(password), false);
    if (!valid || user === undefined) throw identityErrors.badCredentials();
    return user;
  };

  return {
    async authenticate(token) {
      if (!looksLikeToken(token)) return undefined;
      const hash = hashToken(token);
      const cached = cache.get(hash);
      if (cached !== undefined && now() - cached.cachedAt < cacheTtlMs) {
        if (cached.expiresAt !== null && cached.expiresAt <= now()) return undefined;
        touchLastUsed(cached.principal.tokenId);
        return cached.principal;
      }
      const { rows } = await readAsSystem<TokenRow & { username: string | null; job_id: string | null; deployment_id: string | null; role_permissions: string[] | null; service_account: string | null; scope_experiments: string[] | null; scope_models: string[] | null; scope_deployments: string[] | null }>(db,
          `SELECT t.id, t.tenant_id, t.user_id, t.name, t.role, t.kind, t.expires_at, t.revoked_at, u.username,
                  t.job_id, t.deployment_id, t.scope_permissions, t.scope_experiments, t.scope_models, t.scope_deployments, r.permissions AS role_permissions, s.name AS service_account
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
                  LEFT JOIN tenant_roles r ON r.tenant_id = t.tenant_id AND r.name = t.role
                  LEFT JOIN service_accounts s ON s.id = t.service_account_id
            WHERE t.token_hash = $1 AND (u.id IS NULL OR u.status = 'active')`,
          [hash],
        );
      const row = rows[0];
      if (row === undefined || row.revoked_at !== null) {
        cache.delete(hash);
        return undefined;
      }
      const expiresAt = row.expires_at === null ? null : new Date(row.expires_at).getTime();
      if (expiresAt !== null && expiresAt <= now()) return undefined;
      const label = row.service_account !== null ? `service-account:${row.service_account}` : row.job_id !== null ? `job:${row.job_id}` : row.deployment_id !== null ? `endpoint:${row.deployment_id}` : row.username !== null ? `user:${row.username}` : `token:${row.id}`;
      let principal: Principal;
      if (row.role === 'platform_admin') {
        principal = { kind: 'platform_admin', tokenId: row.id, userId: row.user_id ?? undefined, label };
      } else {
        // A custom role that no longer exists grants nothing: the token is refused like an unknown one.
        const access = tenantAccess(row.role, row.role_permissions, row.scope_permissions);
        if (access === undefined) return undefined;
        principal = { kind: 'tenant', tokenId: row.id, tenantId: row.tenant_id!, userId: row.user_id ?? undefined, label, ...access, ...(row.scope_experiments === null ? {} : { experiments: new Set(row.scope_experiments) }), ...(row.scope_models === null ? {} : { models: new Set(row.scope_models) }), ...(row.scope_deployments === null ? {} : { deployments: new Set(row.scope_deployments) }), ...(row.job_id !== null ? { jobId: row.job_id } : {}), ...(row.deployment_id !== null ? { deploymentId: row.deployment_id } : {}) };
      }
      if (cacheTtlMs > 0) cache.set(hash, { principal, expiresAt, cachedAt: now() });
      touchLastUsed(row.id);
      return principal;
    },

    async findRejectedToken(token) {
      if (!looksLikeToken(token)) return undefined;
      const { rows } = await readAsSystem<{ id: string; tenant_id: string | null; revoked_at: Date | null; expires_at: Date | null }>(db,
        'SELECT id, tenant_id, revoked_at, expires_at FROM api_tokens WHERE token_hash = $1', [hashToken(token)]);
      const row = rows[0];
      if (row === undefined) return undefined;
      if (row.revoked_at !== null) return { tokenId: row.id, tenantId: row.tenant_id, reason: 'revoked_token' };
      if (row.expires_at !== null && new Date(row.expires_at).getTime() <= now()) return { tokenId: row.id, tenantId: row.tenant_id, reason: 'expired_token' };
      return undefined;
    },

    createToken: insertToken,

    async listTokens(tenantId) {
      const sql = `SELECT ${tokenColumns} FROM api_tokens WHERE tenant_id ${tenantId === null ? 'IS NULL' : 'IS NOT NULL'} ORDER BY created_at, id`;
      const rows = tenantId === null
        ? await withSystem(db, async (tx) => (await tx.query<TokenRow>(sql)).rows, { readOnly: true })
        : await withTenant(db, tenantId, async (tx) => (await tx.query<TokenRow>(sql)).rows, { readOnly: true });
      return rows.map(toTokenRecord);
    },

    forgetCached(tokenId) {
      if (tokenId === undefined) cache.clear();
      else forgetToken(tokenId);
    },
    async revokeToken(ctx, tenantId, tokenId) {
      const run = async (tx: import('../db/index.ts').Queryable) => {
        const { rows } = await tx.query<TokenRow>(
          `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
            WHERE id = $1 AND tenant_id ${tenantId === null ? 'IS NULL' : 'IS NOT NULL'} RETURNING ${tokenColumns}`,
          [tokenId],
        );
        if (rows[0] === undefined) throw identityErrors.tokenNotFound(tokenId);
        await appendAuditEvent(tx, { tenantId: tenantId ?? PLATFORM_TENANT_ID, actor: ctx.actor, action: 'token.revoke', target: `token:${tokenId}`, outcome: 'success', requestId: ctx.requestId });
        return toTokenRecord(rows[0]);
      };
      if (!isUuid(tokenId)) throw identityErrors.tokenNotFound(tokenId);
      const record = tenantId === null ? await withSystem(db, run) : await withTenant(db, tenantId, run);
      forgetToken(tokenId);
      return record;
    },

    async createUser(ctx, input) {
      const id = randomUUID();
      const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
      try {
        return await withSystem(db, async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `INSERT INTO users (id, username, display_name, password_hash, is_platform_admin) VALUES ($1, $2, $3, $4, $5) RETURNING ${userColumns}`,
            [id, input.username, input.displayName ?? '', passwordHash, input.isPlatformAdmin ?? false],
          );
          await appendAuditEvent(tx, { tenantId: PLATFORM_TENANT_ID, actor: ctx.actor, action: 'user.create', target: `user:${input.username}`, outcome: 'success', requestId: ctx.requestId, details: { isPlatformAdmin: input.isPlatformAdmin ?? false } });
          return toUser(rows[0]!);
        });
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw identityErrors.usernameTaken(input.username);
        throw error;
      }
    },

    async listUsers() {
      return withSystem(db, async (tx) => (await tx.query<UserRow>(`SELECT ${userColumns} FROM users ORDER BY username`)).rows.map(toUser));
    },

    async setPassword(ctx, username, password) {
      const passwordHash = await hashPassword(password);
      await withSystem(db, async (tx) => {
        const { rowCount } = await tx.query('UPDATE users SET password_hash = $2 WHERE username = $1', [username, passwordHash]);
        if (rowCount === 0) throw identityErrors.userNotFound(username);
        await appendAuditEvent(tx, { tenantId: PLATFORM_TENANT_ID, actor: ctx.actor, action: 'user.password.set', target: `user:${username}`, outcome: 'success', requestId: ctx.requestId });
      });
    },

    async listMembers(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<UserRow & { role: string; member_since: Date }>(
          `SELECT u.id, u.username, u.display_name, u.is_platform_admin, u.status, u.created_at, m.role, m.created_at AS member_since
             FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY u.username`,
        );
        return rows.map((row) => ({ user: toUser(row), role: row.role, createdAt: iso(row.member_since)! }));
      }, { readOnly: true });
    },

    async setMember(ctx, tenantId, username, role: string) {
      // The user directory is shared: finding a user by name crosses tenants (withSystem); the
      // membership itself is written through the tenant's own scope.
      const user = await findUser(username);
      if (user === undefined) throw identityErrors.userNotFound(username);
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ created_at: Date }>(
          `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role RETURNING created_at`,
          [tenantId, user.id, role],
        );
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'member.set', target: `user:${username}`, outcome: 'success', requestId: ctx.requestId, details: { role } });
        return { user: toUser(user), role, createdAt: iso(rows[0]!.created_at)! };
      });
    },

    async removeMember(ctx, tenantId, username) {
      await withTenant(db, tenantId, async (tx) => {
        // Find the member's id first: once the membership is gone, RLS hides the user from this tenant.
        const { rows } = await tx.query<{ id: string }>(
          'SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.username = $1',
          [username],
        );
        const userId = rows[0]?.id;
        if (userId === undefined) throw identityErrors.userNotFound(username);
        await tx.query('DELETE FROM memberships WHERE user_id = $1', [userId]);
        // A removed member's session tokens for this tenant stop working too.
        await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'member.remove', target: `user:${username}`, outcome: 'success', requestId: ctx.requestId });
      });
      cache.clear();
    },

    async login(input) {
      const user = await checkPassword(input.username, input.password);
      const ctx = { actor: `user:${user.username}`, requestId: 'login' };
      const ttl = input.ttlSeconds ?? 12 * 3600;
      if (input.tenantId === undefined) {
        if (!user.is_platform_admin) throw identityErrors.badCredentials();
        return insertToken(ctx, null, { name: 'session', role: 'platform_admin', kind: 'session', userId: user.id, expiresInSeconds: ttl });
      }
      const tenantId = input.tenantId;
      const role = await withTenant(db, tenantId, async (tx) =>
        (await tx.query<{ role: string }>('SELECT role FROM memberships WHERE user_id = $1', [user.id])).rows[0]?.role);
      if (role === undefined) throw identityErrors.badCredentials();
      return insertToken(ctx, tenantId, { name: 'session', role, kind: 'session', userId: user.id, expiresInSeconds: ttl });
    },

    async loginOrChoose(input) {
      const user = await checkPassword(input.username, input.password);
      const ctx = { actor: `user:${user.username}`, requestId: 'login' };
      const ttl = input.ttlSeconds ?? 12 * 3600;
      if (user.is_platform_admin) return insertToken(ctx, null, { name: 'session', role: 'platform_admin', kind: 'session', userId: user.id, expiresInSeconds: ttl });
      // The user's own memberships across tenants (tenant-scoped rows: a read-only system read).
      const { rows: tenants } = await readAsSystem<{ id: string; slug: string; name: string; status: string; role: string }>(db,
        'SELECT t.id::text, t.slug, t.name, t.status, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.slug',
        [user.id]);
      const only = tenants.length === 1 ? tenants[0] : undefined;
      if (only !== undefined) return insertToken(ctx, only.id, { name: 'session', role: only.role, kind: 'session', userId: user.id, expiresInSeconds: ttl });
      if (tenants.length === 0) throw identityErrors.badCredentials();
      return { choose: tenants };
    },

    async hasPlatformAdminToken() {
      return withSystem(db, async (tx) => (await tx.query("SELECT 1 FROM api_tokens WHERE role = 'platform_admin' AND revoked_at IS NULL LIMIT 1")).rows.length > 0);
    },

    forgetTenant(tenantId) {
      for (const [hash, entry] of cache) if (entry.principal.kind === 'tenant' && entry.principal.tenantId === tenantId) cache.delete(hash);
    },
  };
};

/**
 * A tenant principal may grant built-in roles up to its own rank, and only while it holds every permission
 * of the role (a custom-role or scoped principal ranks as `viewer` but holds less); platform admins may
 * grant any. Custom roles: `canGrant` on the role's permission set (authz/role-checks.ts).
 */
export const canGrantRole = (principal: Principal, role: TenantRole): boolean =>
  principal.kind === 'platform_admin' || (roleRank[principal.role] >= roleRank[role] && canGrant(principal, rolePermissions[role]).length === 0);

/**
 * A tenant token's role → the principal's role fields: a built-in role as it is; a custom role (its
 * permissions from tenant_roles, undefined when the role is gone) ranks as `viewer` and holds its set;
 * a scope keeps only the permissions it names.
 */
export const tenantAccess = (role: string, customPermissions: readonly string[] | null, scope: readonly string[] | null): { role: TenantRole; permissions?: ReadonlySet<Action>; customRole?: string } | undefined => {
  let base: { role: TenantRole; permissions?: ReadonlySet<Action>; customRole?: string };
  if (isBuiltInRole(role)) base = { role };
  else if (customPermissions === null) return undefined;
  else base = { role: 'viewer', permissions: parsePermissions(customPermissions).actions, customRole: role };
  if (scope === null) return base;
  const held = base.permissions ?? rolePermissions[base.role];
  const narrowed = new Set([...parsePermissions(scope).actions].filter((action) => held.has(action)));
  return { ...base, permissions: narrowed };
};
