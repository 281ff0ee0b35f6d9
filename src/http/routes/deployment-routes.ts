import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { createDeploymentSchema, deploymentParamsSchema, updateDeploymentSchema } from '../../contract/deployment-schemas.ts';
import type { DeploymentService } from '../../serving/index.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';

const deploymentParams = deploymentParamsSchema;

/** Deployments of a tenant's models: create, list, show, update (roll / scale), delete, logs. */
export const deploymentRoutes = (deps: { deployments: DeploymentService }): FastifyPluginAsyncZod => async (app) => {
  app.post('/api/v1/tenants/:tenant/deployments', {
    config: { access: 'deployments.write' },
    schema: { tags: ['deployments'], summary: 'Deploy a registered model version (status becomes ready when it serves)', params: tenantParamsSchema, body: createDeploymentSchema },
  }, async (request, reply) => {
    const view = await deps.deployments.create(contextOf(request), requireTenant(request.tenant).id, request.body);
    return reply.code(201).send(view);
  });

  app.get('/api/v1/tenants/:tenant/deployments', {
    config: { access: 'deployments.read' },
    schema: { tags: ['deployments'], summary: "List the tenant's deployments", params: tenantParamsSchema },
  }, async (request) => ({ deployments: await deps.deployments.list(requireTenant(request.tenant).id) }));

  app.get('/api/v1/tenants/:tenant/deployments/:name', {
    config: { access: 'deployments.read' },
    schema: { tags: ['deployments'], summary: 'Show a deployment: status, replicas, restarts, last exit reason', params: deploymentParams },
  }, async (request) => deps.deployments.get(requireTenant(request.tenant).id, request.params.name));

  app.patch('/api/v1/tenants/:tenant/deployments/:name', {
    config: { access: 'deployments.write' },
    schema: { tags: ['deployments'], summary: 'Roll to another version or resources (no failed requests), scale, or change the concurrency cap', params: deploymentParams, body: updateDeploymentSchema },
  }, async (request) => deps.deployments.update(contextOf(request), requireTenant(request.tenant).id, request.params.name, request.body));

  app.delete('/api/v1/tenants/:tenant/deployments/:name', {
    config: { access: 'deployments.write' },
    schema: { tags: ['deployments'], summary: 'Delete a deployment (its replicas drain and stop)', params: deploymentParams },
  }, async (request, reply) => {
    await deps.deployments.remove(contextOf(request), requireTenant(request.tenant).id, request.params.name);
    return reply.code(204).send();
  });

  app.get('/api/v1/tenants/:tenant/deployments/:name/logs', {
    config: { access: 'deployments.read' },
    schema: { tags: ['deployments'], summary: "The deployment's worker output and supervisor events (last 2000 lines)", params: deploymentParams },
  }, async (request, reply) => {
    const lines = await deps.deployments.logs(requireTenant(request.tenant).id, request.params.name);
    return reply.type('text/plain; charset=utf-8').send(lines.map((l) => `${l}\n`).join(''));
  });
};
