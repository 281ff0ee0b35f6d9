import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db } from '../db/index.ts';
import { withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { IdentityService, TokenRecord } from './identity-service.ts';

export interface ServiceAccount { id: string; name: string; description: string; createdAt: string }

export const serviceAccountErrors = {
  notFound: (name: string) => new AppError('NOT_FOUND', `service account '${name}' not found`),
  exists: (name: string) => new AppError('CONFLICT', `a service account named '${name}' already exists`),
  tooLong: (max: number) => new AppError('VALIDATION_FAILED', `a service-account token lives at most ${max} s (the operator's maximum)`),
};

export interface ServiceAccountService {
  list(tenantId: string): Promise<ServiceAccount[]>;
  create(ctx: RequestContext, tenantId: string, input: { name: string; description?: string | undefined }): Promise<ServiceAccount>;
  /** Deletes the account; its tokens go with it (and stop authenticating within the auth cache TTL). */
  remove(ctx: RequestContext, tenantId: string, name: string): Promise<void>;
  /**
   * A token of the account. It always expires: `expiresInSeconds` or the operator's default, never over the
   * operator's maximum. Role and scope were checked against the creator by the caller (the route).
   */
  createToken(ctx: RequestContext, tenantId: string, name: string, input: { tokenName: string; role: string; expiresInSeconds?: number | undefined; scope?: string[] | undefined; experiments?: string[] | undefined; models?: string[] | undefined; deployments?: string[] | undefined }): Promise<{ token: string; record: TokenRecord }>;
}

interface Row { id: string; name: string; description: string; created_at: Date }
const toAccount = (row: Row): ServiceAccount => ({ id: row.id, name: row.name, description: row.description, createdAt: new Date(row.created_at).toISOString() });

/** Service accounts (migration 0026): tenant principals with no password and no SSO, only expiring tokens. */
export const createServiceAccountService = (options: { db: Db; identity: IdentityService; tokenDefaultTtlSeconds: number; tokenMaxTtlSeconds: number }): ServiceAccountService => {
  const { db, identity } = options;
  const find = async (tenantId: string, name: string): Promise<Row> => {
    const row = await withTenant(db, tenantId, async (tx) => (await tx.query<Row>('SELECT id, name, description, created_at FROM service_accounts WHERE name = $1', [name])).rows[0], { readOnly: true });
    if (row === undefined) throw serviceAccountErrors.notFound(name);
    return row;
  };
  return {
    async list(tenantId) {
      return withTenant(db, tenantId, async (tx) => (await tx.query<Row>('SELECT id, name, description, created_at FROM service_accounts ORDER BY name')).rows.map(toAccount), { readOnly: true });
    },
    async create(ctx, tenantId, input) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<Row>(
          'INSERT INTO service_accounts (id, tenant_id, name, description) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id, name, description, created_at',
          [randomUUID(), tenantId, input.name, input.description ?? '']);
        if (rows[0] === undefined) throw serviceAccountErrors.exists(input.name);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'service_account.create', target: `service-account:${input.name}`, outcome: 'success', requestId: ctx.requestId });
        return toAccount(rows[0]);
      });
    },
    async remove(ctx, tenantId, name) {
      await withTenant(db, tenantId, async (tx) => {
        const { rowCount } = await tx.query('DELETE FROM service_accounts WHERE name = $1', [name]);
        if (rowCount === 0) throw serviceAccountErrors.notFound(name);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'service_account.delete', target: `service-account:${name}`, outcome: 'success', requestId: ctx.requestId });
      });
      identity.forgetCached();
    },
    async createToken(ctx, tenantId, name, input) {
      // Service-account tokens always expire, even where the identity service runs without the operator's
      // lifetime (it applies the same default and maximum to every token issued to people).
      const ttl = input.expiresInSeconds ?? options.tokenDefaultTtlSeconds;
      if (ttl > options.tokenMaxTtlSeconds) throw serviceAccountErrors.tooLong(options.tokenMaxTtlSeconds);
      const account = await find(tenantId, name);
      return identity.createToken(ctx, tenantId, {
        name: input.tokenName, role: input.role, kind: 'api', expiresInSeconds: ttl, serviceAccountId: account.id,
        ...(input.scope === undefined ? {} : { scopePermissions: input.scope }),
        ...(input.experiments === undefined ? {} : { scopeExperiments: input.experiments }),
        ...(input.models === undefined ? {} : { scopeModels: input.models }),
        ...(input.deployments === undefined ? {} : { scopeDeployments: input.deployments }),
      });
    },
  };
};
