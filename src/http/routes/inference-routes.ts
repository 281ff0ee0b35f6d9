import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { inferenceModelParamsSchema, inferenceVersionParamsSchema } from '../../contract/deployment-schemas.ts';
import { retryAfterSeconds } from '../../serving/index.ts';
import type { DeploymentService, InvokeResult, TenantRateGuard } from '../../serving/index.ts';
import { requireTenant } from '../route-config.ts';

const modelParams = inferenceModelParamsSchema;
const versionParams = inferenceVersionParamsSchema;

/**
 * Open Inference Protocol v2 (REST) for the caller's tenant: the tenant comes from the token, so a model
 * name means this tenant's deployment of that name and nothing else. Errors are OIP's `{ "error": "..." }`
 * (authentication and authorization failures keep the platform's shape; they happen before routing).
 */
export const inferenceRoutes = (deps: { deployments: DeploymentService; rateGuard: TenantRateGuard }): FastifyPluginAsyncZod => async (app) => {
  const config = { access: 'inference.invoke', tenantFrom: 'token', errorFormat: 'oip' } as const;

  // OIP bodies are JSON; keep them as bytes so the gateway forwards them without re-encoding.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const send = (reply: FastifyReply, result: InvokeResult): FastifyReply => {
    if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
    return reply.code(result.status).type('application/json').send(result.body);
  };

  /** The tenant's token bucket first: over the rate, 429 at once, before any queue is touched. */
  const limited = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const decision = await deps.rateGuard.charge(request, requireTenant(request.tenant).id);
    if (decision.allowed) return false;
    send(reply, { status: 429, body: JSON.stringify({ error: 'this tenant is over its request rate; retry later' }), retryAfterSeconds: retryAfterSeconds(decision.retryAfterMs) });
    return true;
  };

  app.get('/v2/health/live', { config, schema: { tags: ['inference'], summary: 'OIP server liveness' } }, async (request, reply) => {
    if (await limited(request, reply)) return reply;
    return reply.send({ live: true });
  });
  app.get('/v2/health/ready', { config, schema: { tags: ['inference'], summary: "OIP server readiness: ready once any of the tenant's models serves" } }, async (request, reply) => {
    if (await limited(request, reply)) return reply;
    const ready = deps.deployments.tenantReady(requireTenant(request.tenant).id);
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  const model = (call: 'metadata' | 'ready' | 'infer') => async (request: FastifyRequest, reply: FastifyReply) => {
    if (await limited(request, reply)) return reply;
    const params = request.params as { name: string; version?: string };
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    if (call === 'infer' && (body === undefined || body.length === 0)) return send(reply, { status: 400, body: JSON.stringify({ error: 'the request body must be a JSON inference request' }) });
    const result = await deps.deployments.invoke(requireTenant(request.tenant).id, params.name, params.version, call, body);
    if (call === 'ready') return reply.code(result.status === 200 ? 200 : result.status === 404 ? 404 : 400).send(result.status === 404 ? result.body : { name: params.name, ready: result.status === 200 });
    return send(reply, result);
  };

  for (const [prefix, params] of [['/v2/models/:name', modelParams], ['/v2/models/:name/versions/:version', versionParams]] as const) {
    app.get(prefix, { config, schema: { tags: ['inference'], summary: 'OIP model metadata', params } }, model('metadata'));
    app.get(`${prefix}/ready`, { config, schema: { tags: ['inference'], summary: 'OIP model readiness', params } }, model('ready'));
    app.post(`${prefix}/infer`, { config, schema: { tags: ['inference'], summary: 'OIP inference', params } }, model('infer'));
  }
};
