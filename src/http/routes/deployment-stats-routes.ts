import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { deploymentParamsSchema, deploymentStatsSchema } from '../../contract/deployment-schemas.ts';
import type { DeploymentService } from '../../serving/index.ts';
import type { InferenceWindow } from '../../monitoring/index.ts';
import { requireTenant } from '../route-config.ts';

/** A deployment's live request rate, latency and 429s, from this process's inference window (console). */
export const deploymentStatsRoutes = (deps: { deployments: DeploymentService; window: InferenceWindow }): FastifyPluginAsyncZod => async (app) => {
  app.get('/api/v1/tenants/:tenant/deployments/:name/stats', {
    config: { access: 'deployments.read' },
    schema: { tags: ['deployments'], summary: "This server process's recent inference requests for a deployment: requests/s, p50/p99 latency, 429s", params: deploymentParamsSchema, response: { 200: deploymentStatsSchema } },
  }, async (request) => {
    const tenantId = requireTenant(request.tenant).id;
    // Another tenant's (or no) deployment of that name: the service's 404.
    const view = await deps.deployments.get(tenantId, request.params.name);
    return { deployment: view.name, scope: 'process' as const, ...deps.window.read(tenantId, view.name) };
  });
};
