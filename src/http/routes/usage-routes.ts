/**
 * Usage and chargeback: `GET /api/v1/tenants/{tenant}/usage` (a tenant's metered usage per hour or day,
 * plus its storage against quota) and `GET /api/v1/usage/report?period=YYYY-MM` (platform admin: every
 * tenant; anyone else: their own tenant only). Another tenant is NOT_FOUND like every tenant route.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { usageQuerySchema, usageReportQuerySchema, usageReportSchema, usageSchema } from '../../contract/usage.ts';
import type { ArtifactService } from '../../artifacts/index.ts';
import type { UsageService } from '../../monitoring/index.ts';
import { requirePrincipal, requireTenant } from '../route-config.ts';

export const usageRoutes = (deps: { usage: UsageService; artifacts: ArtifactService }): FastifyPluginAsyncZod => async (app) => {
  app.get('/api/v1/tenants/:tenant/usage', {
    config: { access: 'usage.read' },
    schema: {
      tags: ['usage'],
      summary: "A tenant's metered usage in [from, to) per hour or day (UTC), each field in the unit its name and `units` give, and its storage use against its quota (bytes; reserved = uploads in flight)",
      params: tenantParamsSchema, querystring: usageQuerySchema, response: { 200: usageSchema },
    },
  }, async (request) => {
    const tenant = requireTenant(request.tenant);
    const [usage, storageBytes] = await Promise.all([deps.usage.tenantUsage(tenant.id, request.query), deps.artifacts.usage(tenant.id)]);
    const counted = request.server.bandwidth?.counters().find((counter) => counter.tenantId === tenant.id);
    return {
      ...usage, storageBytes,
      ...(request.server.bandwidth === undefined ? {} : {
        bandwidth: { ingressBytes: counted?.ingressBytes ?? 0, egressBytes: counted?.egressBytes ?? 0, throttledSeconds: counted?.throttledSeconds ?? 0 },
      }),
    };
  });

  app.get('/api/v1/usage/report', {
    config: { access: 'authenticated' },
    schema: {
      tags: ['usage'],
      summary: 'Chargeback report of a month (UTC) priced with the rate card: per tenant per resource, quantity, unit price, total. Platform admin: every tenant; otherwise the caller\'s tenant only',
      querystring: usageReportQuerySchema, response: { 200: usageReportSchema },
    },
  }, async (request) => {
    const principal = requirePrincipal(request.principal);
    return deps.usage.report(request.query.period, principal.kind === 'platform_admin' ? 'all' : { tenantId: principal.tenantId });
  });
};
