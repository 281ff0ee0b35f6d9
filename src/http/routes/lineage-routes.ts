import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { jobParamsSchema } from '../../contract/job-schemas.ts';
import { datasetVersionParamsSchema, modelVersionParamsSchema, registerFromJobSchema } from '../../contract/lineage-views.ts';
import type { LineageService } from '../../lineage/index.ts';
import { contextOf } from '../http-deps.ts';
import { requirePrincipal, requireTenant } from '../route-config.ts';

const jobParams = jobParamsSchema;
const modelVersionParams = modelVersionParamsSchema;
const datasetVersionParams = datasetVersionParamsSchema;

/**
 * Lineage: register a model version from a job's outputs (one call), and the lineage graph of a model
 * version (upstream: job, run, datasets, code, params) and of a dataset version (the jobs and model
 * versions that came from it). Another tenant's job, model or dataset answers NOT_FOUND.
 */
export const lineageRoutes = (deps: { lineage: LineageService }): FastifyPluginAsyncZod => async (app) => {
  app.post('/api/v1/tenants/:tenant/jobs/:id/register-model', {
    config: { access: 'models.write' },
    schema: {
      tags: ['models'], summary: "Register a model version from a succeeded job's outputs (model.onnx, or model.json converted to ONNX), recording its lineage",
      params: jobParams,
      body: registerFromJobSchema,
    },
  }, async (request, reply) => {
    const tenant = requireTenant(request.tenant);
    const registered = await deps.lineage.registerFromJob(contextOf(request), tenant.id, request.params.id, request.body);
    return reply.code(201).send(registered);
  });

  app.get('/api/v1/tenants/:tenant/models/:name/versions/:version/lineage', {
    config: { access: 'models.read' },
    schema: { tags: ['models'], summary: 'Where a model version came from: job, run, dataset versions, code digest, params', params: modelVersionParams },
  }, async (request) => {
    const tenant = requireTenant(request.tenant);
    return deps.lineage.modelLineage({ tenantId: tenant.id, actor: requirePrincipal(request.principal).label, requestId: String(request.id) }, request.params.name, request.params.version);
  });

  app.get('/api/v1/tenants/:tenant/datasets/:name/versions/:version/lineage', {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'What came from a dataset version: the jobs that read it and the model versions they produced', params: datasetVersionParams },
  }, async (request) => deps.lineage.datasetLineage(requireTenant(request.tenant).id, request.params.name, request.params.version));
};
