/**
 * Native routes for datasets (storage usage is part of `GET .../usage`, http/routes/usage-routes.ts), under `/api/v1/tenants/:tenant/...` (tenant from the
 * path; another tenant is NOT_FOUND). A version is uploaded as one tar stream (regular files and
 * directories only) in the body of `POST .../datasets/:name/versions`; it is downloaded file by file
 * (`GET .../versions/:version` lists files with digests, `.../files/<path>` streams one).
 */
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ArtifactService } from '../../artifacts/index.ts';
import type { DatasetService } from '../../datasets/index.ts';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import {
  createDatasetSchema, datasetFileParamsSchema, datasetListSchema, datasetParamsSchema, datasetSchema, datasetVersionFilesSchema,
  datasetVersionListSchema, datasetVersionRefParamsSchema, datasetVersionSchema,
} from '../../contract/dataset-schemas.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';
import { acceptRawBodies, discardRestOfBody, uploadStream } from './raw-body.ts';
import { refuseOverBound } from '../bandwidth-hooks.ts';

export const datasetRoutes = (deps: { datasets: DatasetService; artifacts: ArtifactService }): FastifyPluginAsyncZod => async (app) => {
  const { datasets, artifacts } = deps;
  const base = '/api/v1/tenants/:tenant';

  app.get(`${base}/datasets`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'List datasets', params: tenantParamsSchema, response: { 200: datasetListSchema } },
  }, async (request) => ({ datasets: await datasets.listDatasets(requireTenant(request.tenant).id) }));

  app.post(`${base}/datasets`, {
    config: { access: 'datasets.write' },
    schema: {
      tags: ['datasets'], summary: 'Create an empty dataset (pushing a version also creates it)', params: tenantParamsSchema,
      body: createDatasetSchema, response: { 201: datasetSchema },
    },
  }, async (request, reply) => reply.code(201).send(await datasets.createDataset(contextOf(request), requireTenant(request.tenant).id, request.body.name, request.body.description)));

  app.get(`${base}/datasets/:name`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'Show a dataset', params: datasetParamsSchema, response: { 200: datasetSchema } },
  }, async (request) => datasets.getDataset(requireTenant(request.tenant).id, request.params.name));

  app.get(`${base}/datasets/:name/versions`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'List versions, newest first', params: datasetParamsSchema, response: { 200: datasetVersionListSchema } },
  }, async (request) => ({ versions: await datasets.listVersions(requireTenant(request.tenant).id, request.params.name) }));

  app.get(`${base}/datasets/:name/versions/:version`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: "Show a version ('latest' or a number) with its files", params: datasetVersionRefParamsSchema, response: { 200: datasetVersionFilesSchema } },
  }, async (request) => datasets.getVersion(requireTenant(request.tenant).id, request.params.name, request.params.version, contextOf(request)));

  app.get(`${base}/datasets/:name/versions/:version/files/*`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'Download one file of a version (decrypted, streamed)', params: datasetFileParamsSchema },
  }, async (request, reply) => {
    const tenantId = requireTenant(request.tenant).id;
    const version = request.params.version === 'latest' ? (await datasets.getVersion(tenantId, request.params.name, 'latest', contextOf(request))).version : request.params.version;
    const { file, stream } = await datasets.openVersionFile(tenantId, request.params.name, version, request.params['*'], contextOf(request));
    await refuseOverBound(request, file.size, stream);
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(file.size))
      .header('x-content-type-options', 'nosniff').header('x-bulkhead-digest', file.digest).send(stream);
  });

  await app.register(async (rawScope) => {
    acceptRawBodies(rawScope);
    const raw = rawScope.withTypeProvider<ZodTypeProvider>();
    raw.post(`${base}/datasets/:name/versions`, {
      config: { access: 'datasets.write' },
      schema: { tags: ['datasets'], summary: 'Push a new immutable version: the body is a tar stream (application/x-tar)', params: datasetParamsSchema, response: { 201: datasetVersionSchema } },
    }, async (request, reply) => {
      try {
        const created = await datasets.pushVersionFromTar(contextOf(request), requireTenant(request.tenant).id, request.params.name, uploadStream(request), {
          // No up-front reservation: a tar's length counts headers and padding. File bytes are metered as they stream.
          contentLength: undefined,
        });
        return await reply.code(201).send(created);
      } catch (error) {
        discardRestOfBody(request, reply);
        throw error;
      }
    });
  });
};
