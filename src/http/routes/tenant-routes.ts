import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  auditEventPageSchema, auditListQuerySchema, createServiceAccountSchema, createServiceAccountTokenSchema, serviceAccountListSchema, serviceAccountParamsSchema, serviceAccountSchema, createRoleSchema, customRoleSchema, permissionCatalogueSchema, roleListSchema, roleParamsSchema, updateRoleSchema, auditVerificationSchema, createTenantSchema, createTokenSchema, createdTokenSchema, deleteTenantQuerySchema, memberListSchema, memberParamsSchema, memberSchema, quotaSchema, setMemberSchema, tenantDeletionPlanSchema, tenantDeletionSummarySchema, tenantListSchema, tenantParamsSchema, tenantSchema, tenantTokenParamsSchema, tokenListSchema, tokenSchema, updateQuotaSchema, updateTenantSchema,
} from '../../contract/api-schemas.ts';

import { AppError } from '../../core/errors.ts';
import { withTenant } from '../../db/index.ts';
import { canGrant, isBuiltInRole, parsePermissions, permissionCatalogue, permissionOf, rolePermissions } from '../../authz/index.ts';
import type { Action, Principal } from '../../authz/index.ts';
import { tenantRoles } from '../../contract/roles.ts';
import { canGrantRole, identityErrors } from '../../identity/index.ts';
import type { HttpDeps } from '../http-deps.ts';
import { contextOf } from '../http-deps.ts';
import { requirePrincipal, requireTenant } from '../route-config.ts';

/** Tenants and everything a tenant administers about itself: members, tokens, quota, audit. */
export const tenantRoutes = (deps: HttpDeps): FastifyPluginAsyncZod => async (app) => {
  /**
   * What `principal` may hand out as `role` in `tenantId` (a membership or a token): a built-in role up to
   * its own rank, a custom role only if it holds every permission of it. Returns the role's actions.
   */
  const grantable = async (principal: Principal, tenantId: string, role: string): Promise<ReadonlySet<Action>> => {
    if (isBuiltInRole(role)) {
      if (!canGrantRole(principal, role)) throw identityErrors.roleAboveOwn(role);
      return rolePermissions[role];
    }
    const actions = await deps.roles.actionsOf(tenantId, role);
    if (actions === undefined) throw new AppError('VALIDATION_FAILED', `unknown role '${role}': a built-in role or one of GET /api/v1/tenants/{tenant}/roles`);
    const missing = canGrant(principal, actions);
    if (missing.length > 0) throw new AppError('FORBIDDEN', `cannot grant role '${role}': it holds permission(s) you do not: ${missing.join(', ')}`, { details: { missing } });
    return actions;
  };

  /** A token's role and optional scope, checked against its creator; returns the scope's names, sorted. */
  const grantableScope = async (principal: Principal, tenantId: string, role: string, requested: readonly string[] | undefined): Promise<string[] | undefined> => {
    const roleActions = await grantable(principal, tenantId, role);
    if (requested === undefined) return undefined;
    // A scope is a subset of the token's role: a name outside the catalogue or outside the role is refused.
    const parsed = parsePermissions(requested);
    const outside = [...parsed.unknown, ...parsed.platform, ...[...parsed.actions].filter((a) => !roleActions.has(a)).map(permissionOf)];
    if (outside.length > 0) throw new AppError('VALIDATION_FAILED', `scope names permission(s) outside role '${role}': ${outside.join(', ')}`, { details: { outside } });
    return [...parsed.actions].map(permissionOf).sort();
  };

  /** Experiment names → their ids in the tenant; a name that is not there is refused (nothing is made). */
  const experimentIds = async (tenantId: string, names: readonly string[] | undefined): Promise<string[] | undefined> => {
    if (names === undefined) return undefined;
    const rows = await withTenant(deps.db, tenantId, async (tx) =>
      (await tx.query<{ id: string; name: string }>('SELECT id::text AS id, name FROM experiments WHERE name = ANY($1::text[])', [[...names]])).rows, { readOnly: true });
    const missing = names.filter((name) => !rows.some((row) => row.name === name));
    if (missing.length > 0) throw new AppError('VALIDATION_FAILED', `no experiment named ${missing.map((n) => `'${n.slice(0, 100)}'`).join(', ')} in this tenant`, { details: { missing: missing.slice(0, 20) } });
    return [...new Set(rows.map((row) => row.id))].sort();
  };

  /**
   * Registered-model and deployment names → the same names, once each is shown to exist in the tenant; a
   * name that is not there is refused (nothing is made).
   */
  const existingNames = async (tenantId: string, table: 'registered_models' | 'deployments', what: string, names: readonly string[] | undefined): Promise<string[] | undefined> => {
    if (names === undefined) return undefined;
    const rows = await withTenant(deps.db, tenantId, async (tx) =>
      (await tx.query<{ name: string }>(`SELECT name FROM ${table} WHERE name = ANY($1::text[])`, [[...names]])).rows, { readOnly: true });
    const missing = names.filter((name) => !rows.some((row) => row.name === name));
    if (missing.length > 0) throw new AppError('VALIDATION_FAILED', `no ${what} named ${missing.map((n) => `'${n.slice(0, 100)}'`).join(', ')} in this tenant`, { details: { missing: missing.slice(0, 20) } });
    return [...new Set(names)].sort();
  };

  /** What a new token is narrowed to (permissions, experiments, models, deployments), each checked to exist and be grantable. */
  const narrowingOf = async (principal: Principal, tenantId: string, body: { role: string; scope?: string[] | undefined; experiments?: string[] | undefined; models?: string[] | undefined; deployments?: string[] | undefined }) => ({
    scope: await grantableScope(principal, tenantId, body.role, body.scope),
    experiments: await experimentIds(tenantId, body.experiments),
    models: await existingNames(tenantId, 'registered_models', 'registered model', body.models),
    deployments: await existingNames(tenantId, 'deployments', 'deployment', body.deployments),
  });

  app.get('/api/v1/tenants/:tenant/service-accounts', {
    config: { access: 'tokens.read' },
    schema: { tags: ['tokens'], summary: "List the tenant's service accounts", params: tenantParamsSchema, response: { 200: serviceAccountListSchema } },
  }, async (request) => ({ serviceAccounts: await deps.serviceAccounts.list(requireTenant(request.tenant).id) }));

  app.post('/api/v1/tenants/:tenant/service-accounts', {
    config: { access: 'tokens.write' },
    schema: { tags: ['tokens'], summary: 'Create a service account (no password, no SSO: it only holds expiring tokens)', params: tenantParamsSchema, body: createServiceAccountSchema, response: { 201: serviceAccountSchema } },
  }, async (request, reply) => reply.code(201).send(await deps.serviceAccounts.create(contextOf(request), requireTenant(request.tenant).id, request.body)));

  app.delete('/api/v1/tenants/:tenant/service-accounts/:account', {
    config: { access: 'tokens.write' },
    schema: { tags: ['tokens'], summary: 'Delete a service account and its tokens', params: serviceAccountParamsSchema },
  }, async (request, reply) => {
    await deps.serviceAccounts.remove(contextOf(request), requireTenant(request.tenant).id, request.params.account);
    return reply.code(204).send();
  });

  app.post('/api/v1/tenants/:tenant/service-accounts/:account/tokens', {
    config: { access: 'tokens.write' },
    schema: { tags: ['tokens'], summary: "Create a service account's token (shown once; it always expires: the operator's default and maximum apply)", params: serviceAccountParamsSchema, body: createServiceAccountTokenSchema, response: { 201: createdTokenSchema } },
  }, async (request, reply) => {
    const tenantId = requireTenant(request.tenant).id;
    const { scope, experiments, models, deployments } = await narrowingOf(requirePrincipal(request.principal), tenantId, request.body);
    const { token, record } = await deps.serviceAccounts.createToken(contextOf(request), tenantId, request.params.account, {
      tokenName: request.body.name, role: request.body.role, expiresInSeconds: request.body.expiresInSeconds, scope, experiments, models, deployments,
    });
    return reply.code(201).send({ ...record, token });
  });

  app.get('/api/v1/permissions', {
    config: { access: 'authenticated' },
    schema: { tags: ['roles'], summary: 'The permission catalogue: what built-in and custom roles are made of', response: { 200: permissionCatalogueSchema } },
  }, async () => ({ permissions: permissionCatalogue.map((entry) => ({ ...entry, builtInRoles: [...entry.builtInRoles] })) }));

  app.get('/api/v1/tenants/:tenant/roles', {
    config: { access: 'members.read' },
    schema: { tags: ['roles'], summary: "The tenant's roles: the four built-in ones and its custom roles", params: tenantParamsSchema, response: { 200: roleListSchema } },
  }, async (request) => ({
    builtIn: tenantRoles.map((name) => ({ name, permissions: [...rolePermissions[name]].map(permissionOf).sort() })),
    custom: await deps.roles.list(requireTenant(request.tenant).id),
  }));

  app.post('/api/v1/tenants/:tenant/roles', {
    config: { access: 'members.write' },
    schema: { tags: ['roles'], summary: 'Define a custom role (only permissions you hold; never platform-level ones)', params: tenantParamsSchema, body: createRoleSchema, response: { 201: customRoleSchema } },
  }, async (request, reply) => {
    const role = await deps.roles.create(contextOf(request), requirePrincipal(request.principal), requireTenant(request.tenant).id, request.body);
    return reply.code(201).send(role);
  });

  app.put('/api/v1/tenants/:tenant/roles/:role', {
    config: { access: 'members.write' },
    schema: { tags: ['roles'], summary: "Replace a custom role's permissions", params: roleParamsSchema, body: updateRoleSchema, response: { 200: customRoleSchema } },
  }, async (request) => {
    const role = await deps.roles.update(contextOf(request), requirePrincipal(request.principal), requireTenant(request.tenant).id, request.params.role, request.body);
    deps.identity.forgetCached();
    return role;
  });

  app.delete('/api/v1/tenants/:tenant/roles/:role', {
    config: { access: 'members.write' },
    schema: { tags: ['roles'], summary: 'Delete a custom role nobody holds', params: roleParamsSchema },
  }, async (request, reply) => {
    await deps.roles.remove(contextOf(request), requireTenant(request.tenant).id, request.params.role);
    deps.identity.forgetCached();
    return reply.code(204).send();
  });

  app.post('/api/v1/tenants', {
    config: { access: 'platform.tenants.write' },
    schema: { tags: ['tenants'], summary: 'Create a tenant (platform admin)', body: createTenantSchema, response: { 201: tenantSchema } },
  }, async (request, reply) => reply.code(201).send(await deps.tenants.create(contextOf(request), request.body)));

  app.get('/api/v1/tenants', {
    config: { access: 'authenticated' },
    schema: { tags: ['tenants'], summary: 'List tenants: all for a platform admin, your own otherwise', response: { 200: tenantListSchema } },
  }, async (request) => {
    const principal = requirePrincipal(request.principal);
    if (principal.kind === 'platform_admin') return { tenants: await deps.tenants.list() };
    const own = await deps.tenants.find(principal.tenantId);
    return { tenants: own === undefined ? [] : [own] };
  });

  app.get('/api/v1/tenants/:tenant', {
    config: { access: 'tenant.read' },
    schema: { tags: ['tenants'], summary: 'Show a tenant', params: tenantParamsSchema, response: { 200: tenantSchema } },
  }, async (request) => requireTenant(request.tenant));

  app.patch('/api/v1/tenants/:tenant', {
    config: { access: 'platform.tenants.write' },
    schema: { tags: ['tenants'], summary: 'Suspend or resume a tenant (platform admin). Suspension refuses every credential of the tenant at once, cancels its running jobs and stops its deployments (restarted on resumption); queued jobs wait', params: tenantParamsSchema, body: updateTenantSchema, response: { 200: tenantSchema } },
  }, async (request) => {
    const tenant = requireTenant(request.tenant);
    if (request.body.status === undefined) return tenant;
    // Applied again when the status does not change: a suspension whose stop step failed half-way is
    // finished by suspending again.
    const updated = request.body.status === tenant.status ? tenant : await deps.tenants.setStatus(contextOf(request), tenant.id, request.body.status);
    await deps.tenantSuspension.apply(contextOf(request), updated);
    return updated;
  });

  app.delete('/api/v1/tenants/:tenant', {
    config: { access: 'platform.tenants.delete' },
    schema: {
      tags: ['tenants'],
      summary: 'Delete a suspended tenant and everything it owns (platform admin); confirm=<the slug> is required. The audit log is kept. Run again to finish an interrupted deletion.',
      params: tenantParamsSchema, querystring: deleteTenantQuerySchema, response: { 200: tenantDeletionSummarySchema },
    },
  }, async (request) => deps.tenantDeletion.delete(contextOf(request), requireTenant(request.tenant), request.query.confirm));

  app.get('/api/v1/tenants/:tenant/deletion-plan', {
    config: { access: 'platform.tenants.read' },
    schema: { tags: ['tenants'], summary: 'What deleting the tenant would remove (platform admin; changes nothing)', params: tenantParamsSchema, response: { 200: tenantDeletionPlanSchema } },
  }, async (request) => deps.tenantDeletion.plan(requireTenant(request.tenant)));

  app.get('/api/v1/tenants/:tenant/quota', {
    config: { access: 'quota.read' },
    schema: { tags: ['quota'], summary: "Show a tenant's quota", params: tenantParamsSchema, response: { 200: quotaSchema } },
  }, async (request) => deps.tenants.getQuota(requireTenant(request.tenant).id));

  app.put('/api/v1/tenants/:tenant/quota', {
    config: { access: 'platform.quota.write' },
    schema: { tags: ['quota'], summary: "Change a tenant's quota (platform admin; every field optional)", params: tenantParamsSchema, body: updateQuotaSchema, response: { 200: quotaSchema } },
  }, async (request) => {
    const { borrowingLimit, lendingLimit, ...rest } = request.body;
    const update = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const borrow = borrowingLimit === undefined ? undefined : Object.fromEntries(Object.entries(borrowingLimit).filter(([, v]) => v !== undefined));
    // null is kept: it sets "lends all" (no limit) for that resource.
    const lend = lendingLimit === undefined ? undefined : Object.fromEntries(Object.entries(lendingLimit).filter(([, v]) => v !== undefined));
    return deps.tenants.setQuota(contextOf(request), requireTenant(request.tenant).id, {
      ...update, ...(borrow === undefined ? {} : { borrowingLimit: borrow }), ...(lend === undefined ? {} : { lendingLimit: lend }),
    });
  });

  app.get('/api/v1/tenants/:tenant/members', {
    config: { access: 'members.read' },
    schema: { tags: ['members'], summary: 'List members', params: tenantParamsSchema, response: { 200: memberListSchema } },
  }, async (request) => ({ members: await deps.identity.listMembers(requireTenant(request.tenant).id) }));

  app.put('/api/v1/tenants/:tenant/members/:username', {
    config: { access: 'members.write' },
    schema: { tags: ['members'], summary: 'Add a member or change their role', params: memberParamsSchema, body: setMemberSchema, response: { 200: memberSchema } },
  }, async (request) => {
    const principal = requirePrincipal(request.principal);
    await grantable(principal, requireTenant(request.tenant).id, request.body.role);
    return deps.identity.setMember(contextOf(request), requireTenant(request.tenant).id, request.params.username, request.body.role);
  });

  app.delete('/api/v1/tenants/:tenant/members/:username', {
    config: { access: 'members.write' },
    schema: { tags: ['members'], summary: 'Remove a member (their session tokens are revoked)', params: memberParamsSchema },
  }, async (request, reply) => {
    await deps.identity.removeMember(contextOf(request), requireTenant(request.tenant).id, request.params.username);
    return reply.code(204).send();
  });

  app.post('/api/v1/tenants/:tenant/tokens', {
    config: { access: 'tokens.write' },
    schema: { tags: ['tokens'], summary: 'Create an API token (shown once)', params: tenantParamsSchema, body: createTokenSchema, response: { 201: createdTokenSchema } },
  }, async (request, reply) => {
    const tenantId = requireTenant(request.tenant).id;
    const { scope, experiments, models, deployments } = await narrowingOf(requirePrincipal(request.principal), tenantId, request.body);
    const { token, record } = await deps.identity.createToken(contextOf(request), tenantId, {
      name: request.body.name,
      role: request.body.role,
      expiresInSeconds: request.body.expiresInSeconds,
      scopePermissions: scope,
      scopeExperiments: experiments,
      scopeModels: models,
      scopeDeployments: deployments,
    });
    return reply.code(201).send({ ...record, token });
  });

  app.get('/api/v1/tenants/:tenant/tokens', {
    config: { access: 'tokens.read' },
    schema: { tags: ['tokens'], summary: "List a tenant's tokens (never their values)", params: tenantParamsSchema, response: { 200: tokenListSchema } },
  }, async (request) => ({ tokens: await deps.identity.listTokens(requireTenant(request.tenant).id) }));

  app.delete('/api/v1/tenants/:tenant/tokens/:tokenId', {
    config: { access: 'tokens.write' },
    schema: { tags: ['tokens'], summary: 'Revoke a token', params: tenantTokenParamsSchema, response: { 200: tokenSchema } },
  }, async (request) => deps.identity.revokeToken(contextOf(request), requireTenant(request.tenant).id, request.params.tokenId));

  app.get('/api/v1/tenants/:tenant/audit', {
    config: { access: 'audit.read' },
    schema: { tags: ['audit'], summary: "A tenant's audit events, newest first", params: tenantParamsSchema, querystring: auditListQuerySchema, response: { 200: auditEventPageSchema } },
  }, async (request) => {
    const events = await deps.audit.list(requireTenant(request.tenant).id, { limit: request.query.limit, ...(request.query.before === undefined ? {} : { beforeId: request.query.before }) });
    const last = events.at(-1);
    return { events, nextBefore: events.length === request.query.limit && last !== undefined ? last.id : null };
  });

  app.get('/api/v1/tenants/:tenant/audit/verify', {
    config: { access: 'audit.read' },
    schema: { tags: ['audit'], summary: "Verify a tenant's audit chain", params: tenantParamsSchema, response: { 200: auditVerificationSchema } },
  }, async (request) => deps.audit.verify(requireTenant(request.tenant).id));

};
