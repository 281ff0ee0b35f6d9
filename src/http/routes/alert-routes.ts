import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.ts';
import { PLATFORM_TENANT_ID } from '../../db/index.ts';
import type { Db } from '../../db/index.ts';
import { heldBy } from '../../authz/index.ts';
import type { Action, Principal } from '../../authz/index.ts';
import type { TenantService } from '../../tenants/index.ts';
import { alertIdParamsSchema, alertListQuerySchema, alertListSchema, alertSchema, falsePositiveSchema } from '../../contract/alerts.ts';
import { listAlerts, markFalsePositive } from '../../security/index.ts';
import type { AlertScope } from '../../security/index.ts';
import { contextOf } from '../http-deps.ts';
import { requirePrincipal } from '../route-config.ts';

/**
 * Security alerts on one path for two audiences: a platform admin sees every alert (platform-level ones
 * included), a tenant admin (or owner) its own tenant's, through row-level security; other tenant roles are
 * refused like any route they may not use. Another tenant's alert is NOT_FOUND, exactly like a missing one.
 */
export const alertRoutes = (deps: { db: Db; tenants: TenantService }): FastifyPluginAsyncZod => async (app) => {
  const scopeOf = (principal: Principal, action: Action): AlertScope => {
    if (principal.kind === 'platform_admin') return { kind: 'platform' };
    if (!heldBy(principal).has(action)) throw new AppError('FORBIDDEN', `your role may not perform ${action}`);
    return { kind: 'tenant', tenantId: principal.tenantId };
  };

  app.get('/api/v1/alerts', {
    config: { access: 'authenticated' },
    schema: {
      tags: ['alerts'], summary: 'Security alerts (platform admin: all; tenant admin: own tenant), newest first',
      querystring: alertListQuerySchema, response: { 200: alertListSchema },
    },
  }, async (request) => {
    const scope = scopeOf(requirePrincipal(request.principal), 'alerts.read');
    let tenantId: string | undefined;
    if (request.query.tenant !== undefined) {
      if (scope.kind !== 'platform') throw new AppError('VALIDATION_FAILED', 'tenant: only platform admins choose a tenant; yours is implied by your token');
      if (request.query.tenant === 'platform') tenantId = PLATFORM_TENANT_ID;
      else {
        const tenant = await deps.tenants.find(request.query.tenant);
        if (tenant === undefined) throw new AppError('NOT_FOUND', `tenant '${request.query.tenant.slice(0, 100)}' not found`);
        tenantId = tenant.id;
      }
    }
    return listAlerts(deps.db, scope, { ...request.query, ...(tenantId === undefined ? {} : { tenantId }) });
  });

  app.post('/api/v1/alerts/:id/false-positive', {
    config: { access: 'authenticated' },
    schema: {
      tags: ['alerts'], summary: 'Mark an alert a false positive (the detector raises that principal\'s threshold for that rule)',
      params: alertIdParamsSchema, body: falsePositiveSchema.optional(), response: { 200: alertSchema },
    },
  }, async (request) => {
    const scope = scopeOf(requirePrincipal(request.principal), 'alerts.write');
    return markFalsePositive(deps.db, scope, contextOf(request), request.params.id, request.body?.note);
  });
};
