import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  auditEventPageSchema, auditListQuerySchema, auditVerificationSchema, createPlatformTokenSchema, createUserSchema, createdTokenSchema, loginSchema, meSchema, platformTokenParamsSchema, tenantIdParamsSchema, tokenListSchema, tokenSchema, userListSchema, userSchema,
} from '../../contract/api-schemas.ts';
import { PLATFORM_TENANT_ID } from '../../db/index.ts';
import { listPlatformAuditEvents } from '../../audit/index.ts';
import { AppError } from '../../core/errors.ts';
import { identityErrors } from '../../identity/index.ts';
import type { HttpDeps } from '../http-deps.ts';
import { contextOf } from '../http-deps.ts';
import { requirePrincipal } from '../route-config.ts';
import { schedulerViewSchema } from '../../contract/scheduler-schemas.ts';
import { readSchedulerView } from '../../monitoring/index.ts';

/** Platform-level routes: identity of the caller, login, users, platform tokens, the platform audit chain. */
export const platformRoutes = (deps: HttpDeps): FastifyPluginAsyncZod => async (app) => {
  app.get('/api/v1/me', {
    config: { access: 'authenticated' },
    schema: { tags: ['identity'], summary: 'Who am I', response: { 200: meSchema } },
  }, async (request) => {
    const principal = requirePrincipal(request.principal);
    if (principal.kind === 'platform_admin') return { kind: principal.kind, tokenId: principal.tokenId, actor: principal.label, role: 'platform_admin' };
    const tenant = await deps.tenants.find(principal.tenantId);
    return { kind: principal.kind, tokenId: principal.tokenId, actor: principal.label, role: principal.customRole ?? principal.role, ...(tenant === undefined ? {} : { tenant }) };
  });

  app.post('/api/v1/auth/login', {
    config: { access: 'public' },
    schema: { tags: ['identity'], summary: 'Exchange a username and password for a session token', body: loginSchema, response: { 201: createdTokenSchema } },
  }, async (request, reply) => {
    let tenantId: string | undefined;
    if (request.body.tenant !== undefined) {
      const tenant = await deps.tenants.find(request.body.tenant);
      if (tenant === undefined) throw identityErrors.badCredentials();
      tenantId = tenant.id;
    }
    const { token, record } = await deps.identity.login({ username: request.body.username, password: request.body.password, tenantId });
    return reply.code(201).send({ ...record, token });
  });

  app.post('/api/v1/users', {
    config: { access: 'platform.users.write' },
    schema: { tags: ['users'], summary: 'Create a user (platform admin)', body: createUserSchema, response: { 201: userSchema } },
  }, async (request, reply) => reply.code(201).send(await deps.identity.createUser(contextOf(request), request.body)));

  app.get('/api/v1/users', {
    config: { access: 'platform.users.read' },
    schema: { tags: ['users'], summary: 'List users (platform admin)', response: { 200: userListSchema } },
  }, async () => ({ users: await deps.identity.listUsers() }));

  app.post('/api/v1/platform/tokens', {
    config: { access: 'platform.tenants.write' },
    schema: { tags: ['tokens'], summary: 'Create a platform-admin token (shown once)', body: createPlatformTokenSchema, response: { 201: createdTokenSchema } },
  }, async (request, reply) => {
    const { token, record } = await deps.identity.createToken(contextOf(request), null, { name: request.body.name, role: 'platform_admin', expiresInSeconds: request.body.expiresInSeconds });
    return reply.code(201).send({ ...record, token });
  });

  app.get('/api/v1/platform/tokens', {
    config: { access: 'platform.tenants.read' },
    schema: { tags: ['tokens'], summary: 'List platform-admin tokens', response: { 200: tokenListSchema } },
  }, async () => ({ tokens: await deps.identity.listTokens(null) }));

  app.delete('/api/v1/platform/tokens/:tokenId', {
    config: { access: 'platform.tenants.write' },
    schema: { tags: ['tokens'], summary: 'Revoke a platform-admin token', params: platformTokenParamsSchema, response: { 200: tokenSchema } },
  }, async (request) => deps.identity.revokeToken(contextOf(request), null, request.params.tokenId));

  app.get('/api/v1/platform/audit', {
    config: { access: 'platform.audit.read' },
    schema: { tags: ['audit'], summary: "The platform's own audit chain (authentication failures, tenant administration)", querystring: auditListQuerySchema, response: { 200: auditEventPageSchema } },
  }, async (request) => {
    const events = await listPlatformAuditEvents(deps.db, PLATFORM_TENANT_ID, { limit: request.query.limit, ...(request.query.before === undefined ? {} : { beforeId: request.query.before }) });
    const last = events.at(-1);
    return { events, nextBefore: events.length === request.query.limit && last !== undefined ? last.id : null };
  });

  app.get('/api/v1/platform/audit/verify', {
    config: { access: 'platform.audit.read' },
    schema: { tags: ['audit'], summary: "Verify the platform's audit chain", response: { 200: auditVerificationSchema } },
  }, async () => deps.audit.verify(PLATFORM_TENANT_ID));

  // A tenant's chain by its id, also after the tenant was deleted (its audit events are kept): what the
  // `verify later with` hint of a deletion runs from any shell while the server owns the database.
  app.get('/api/v1/platform/audit/tenants/:id/verify', {
    config: { access: 'platform.audit.read' },
    schema: { tags: ['audit'], summary: "Verify a tenant's audit chain by tenant id, also of a deleted tenant", params: tenantIdParamsSchema, response: { 200: auditVerificationSchema } },
  }, async (request) => {
    const result = await deps.audit.verify(request.params.id);
    if (result.eventsChecked === 0 && (await deps.tenants.find(request.params.id)) === undefined) {
      throw new AppError('NOT_FOUND', `no tenant and no audit events of a deleted tenant with id ${request.params.id}`);
    }
    return result;
  });

  app.get('/api/v1/platform/scheduler', {
    config: { access: 'platform.tenants.read' },
    schema: { tags: ['platform'], summary: "The scheduler's queue and fair share per tenant: jobs queued/admitted/running, weight, entitled share, current CPU share", response: { 200: schedulerViewSchema } },
  }, async () => readSchedulerView(deps.db));
};
