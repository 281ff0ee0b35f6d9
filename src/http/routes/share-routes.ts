/**
 * Issue 15: shares between tenants (`/api/v1/tenants/{tenant}/shares`) and the tenant tree view
 * (`/api/v1/tenants/{tenant}/tree`). Another tenant's share id is NOT_FOUND, as a missing one; the reads a
 * share allows go through the ordinary APIs (the MLflow registry), not through these routes.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { childParamsSchema, childQuotaSchema, createChildSchema, createShareSchema, shareListSchema, shareParamsSchema, shareSchema, tenantTreeSchema } from '../../contract/share-schemas.ts';
import { quotaSchema, tenantSchema } from '../../contract/api-schemas.ts';
import type { ShareService } from '../../sharing/index.ts';
import type { TenantService } from '../../tenants/index.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';

export const shareRoutes = (deps: { shares: ShareService; tenants: TenantService }): FastifyPluginAsyncZod => async (app) => {
  app.post('/api/v1/tenants/:tenant/shares', {
    config: { access: 'shares.write' },
    schema: {
      tags: ['shares'],
      summary: "Grant another tenant (or an organization's whole subtree) read access to one of this tenant's objects: resource model:{name}/{version}; audited in both tenants' logs",
      params: tenantParamsSchema, body: createShareSchema, response: { 201: shareSchema },
    },
  }, async (request, reply) => reply.code(201).send(await deps.shares.create(contextOf(request), requireTenant(request.tenant).id, request.body)));

  app.get('/api/v1/tenants/:tenant/shares', {
    config: { access: 'shares.read' },
    schema: { tags: ['shares'], summary: 'Shares this tenant granted and shares granted to it (or to its organization)', params: tenantParamsSchema, response: { 200: shareListSchema } },
  }, async (request) => ({ shares: await deps.shares.list(requireTenant(request.tenant).id) }));

  app.delete('/api/v1/tenants/:tenant/shares/:shareId', {
    config: { access: 'shares.write' },
    schema: { tags: ['shares'], summary: "Revoke one of this tenant's shares: the grantee's next read is 404", params: shareParamsSchema, response: { 200: shareSchema } },
  }, async (request) => deps.shares.revoke(contextOf(request), requireTenant(request.tenant).id, request.params.shareId));

  app.post('/api/v1/tenants/:tenant/children', {
    config: { access: 'subtree.write' },
    schema: {
      tags: ['tenants'],
      summary: "Create a child tenant under this organization (its admins; same isolation tier; nominal cpu/memory/gpu start at 0; at most 4 levels)",
      params: tenantParamsSchema, body: createChildSchema, response: { 201: tenantSchema },
    },
  }, async (request, reply) => {
    const org = requireTenant(request.tenant);
    return reply.code(201).send(await deps.tenants.create(contextOf(request), { slug: request.body.slug, name: request.body.name, tier: org.tier, parent: org.slug }));
  });

  app.put('/api/v1/tenants/:tenant/children/:child/quota', {
    config: { access: 'subtree.write' },
    schema: {
      tags: ['quota'],
      summary: "Set a descendant's nominal cpu/memory/gpu, borrowing and lending limits and weight (the organization's admins), validated against the tree; anything not below this tenant is 404",
      params: childParamsSchema, body: childQuotaSchema, response: { 200: quotaSchema },
    },
  }, async (request) => {
    const child = await deps.tenants.getDescendant(requireTenant(request.tenant).id, request.params.child);
    const { borrowingLimit, lendingLimit, ...rest } = request.body;
    const update = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const borrow = borrowingLimit === undefined ? undefined : Object.fromEntries(Object.entries(borrowingLimit).filter(([, v]) => v !== undefined));
    // null is kept: it sets "lends all" for that resource.
    const lend = lendingLimit === undefined ? undefined : Object.fromEntries(Object.entries(lendingLimit).filter(([, v]) => v !== undefined));
    return deps.tenants.setQuota(contextOf(request), child.id, {
      ...update, ...(borrow === undefined ? {} : { borrowingLimit: borrow }), ...(lend === undefined ? {} : { lendingLimit: lend }),
    });
  });

  app.get('/api/v1/tenants/:tenant/tree', {
    config: { access: 'tenant.read' },
    schema: { tags: ['tenants'], summary: 'The tenant and its subtree (organization nodes and teams): nominal quota, usage, and usage rolled up over each subtree', params: tenantParamsSchema, response: { 200: tenantTreeSchema } },
  }, async (request) => ({ tenants: await deps.tenants.tree(requireTenant(request.tenant).id) }));
};
