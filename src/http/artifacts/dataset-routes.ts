/**
 * Native routes for datasets and storage usage, under `/api/v1/tenants/:tenant/...` (tenant from the
 * path; another tenant is NOT_FOUND). A version is uploaded as one tar stream (regular files and
 * directories only) in the body of `POST .../datasets/:name/versions`; it is downloaded file by file
 * (`GET .../versions/:version` lists files with digests, `.../files/<path>` streams one).
 */
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ArtifactService } from '../../artifacts/index.ts';
import type { DatasetService } from '../../datasets/index.ts';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';
import { acceptRawBodies, discardRestOfBody, uploadStream } from './raw-body.ts';
import { refuseOverBound } from '../bandwidth-hooks.ts';

const datasetSchema = z.object({ id: z.string(), name: z.string(), description: z.string(), createdAt: z.string(), latestVersion: z.number().nullable() });
const versionSchema = z.object({
  dataset: z.string(), version: z.number(), digest: z.string(), fileCount: z.number(), totalBytes: z.number(), createdBy: z.string(), createdAt: z.string(),
});
const fileSchema = z.object({ path: z.string(), digest: z.string(), size: z.number() });
const nameParams = tenantParamsSchema.extend({ name: z.string().max(200) });
// Versions are `integer` columns: a larger number cannot name one, and must not reach the database.
const versionParams = nameParams.extend({ version: z.union([z.literal('latest'), z.coerce.number().int().min(1).max(2_147_483_647)]) });

export const datasetRoutes = (deps: { datasets: DatasetService; artifacts: ArtifactService }): FastifyPluginAsyncZod => async (app) => {
  const { datasets, artifacts } = deps;
  const base = '/api/v1/tenants/:tenant';

  app.get(`${base}/usage`, {
    config: { access: 'usage.read' },
    schema: {
      tags: ['usage'], summary: "A tenant's storage use against its quota (bytes); reserved = uploads in flight; bandwidth = bytes this server process moved for it since it started", params: tenantParamsSchema,
      response: {
        200: z.object({
          storageBytes: z.object({ used: z.number(), reserved: z.number(), quota: z.number() }),
          bandwidth: z.object({ ingressBytes: z.number(), egressBytes: z.number(), throttledSeconds: z.number() }).optional(),
        }),
      },
    },
  }, async (request) => {
    const tenantId = requireTenant(request.tenant).id;
    const counted = request.server.bandwidth?.counters().find((counter) => counter.tenantId === tenantId);
    return {
      storageBytes: await artifacts.usage(tenantId),
      ...(request.server.bandwidth === undefined ? {} : {
        bandwidth: { ingressBytes: counted?.ingressBytes ?? 0, egressBytes: counted?.egressBytes ?? 0, throttledSeconds: counted?.throttledSeconds ?? 0 },
      }),
    };
  });

  app.get(`${base}/datasets`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'List datasets', params: tenantParamsSchema, response: { 200: z.object({ datasets: z.array(datasetSchema) }) } },
  }, async (request) => ({ datasets: await datasets.listDatasets(requireTenant(request.tenant).id) }));

  app.post(`${base}/datasets`, {
    config: { access: 'datasets.write' },
    schema: {
      tags: ['datasets'], summary: 'Create an empty dataset (pushing a version also creates it)', params: tenantParamsSchema,
      body: z.strictObject({ name: z.string().max(200), description: z.string().max(2000).optional() }), response: { 201: datasetSchema },
    },
  }, async (request, reply) => reply.code(201).send(await datasets.createDataset(contextOf(request), requireTenant(request.tenant).id, request.body.name, request.body.description)));

  app.get(`${base}/datasets/:name`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'Show a dataset', params: nameParams, response: { 200: datasetSchema } },
  }, async (request) => datasets.getDataset(requireTenant(request.tenant).id, request.params.name));

  app.get(`${base}/datasets/:name/versions`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'List versions, newest first', params: nameParams, response: { 200: z.object({ versions: z.array(versionSchema) }) } },
  }, async (request) => ({ versions: await datasets.listVersions(requireTenant(request.tenant).id, request.params.name) }));

  app.get(`${base}/datasets/:name/versions/:version`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: "Show a version ('latest' or a number) with its files", params: versionParams, response: { 200: versionSchema.extend({ files: z.array(fileSchema) }) } },
  }, async (request) => datasets.getVersion(requireTenant(request.tenant).id, request.params.name, request.params.version));

  app.get(`${base}/datasets/:name/versions/:version/files/*`, {
    config: { access: 'datasets.read' },
    schema: { tags: ['datasets'], summary: 'Download one file of a version (decrypted, streamed)', params: versionParams.extend({ '*': z.string() }) },
  }, async (request, reply) => {
    const tenantId = requireTenant(request.tenant).id;
    const version = request.params.version === 'latest' ? (await datasets.getVersion(tenantId, request.params.name, 'latest')).version : request.params.version;
    const { file, stream } = await datasets.openVersionFile(tenantId, request.params.name, version, request.params['*']);
    await refuseOverBound(request, reply, file.size, stream);
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(file.size))
      .header('x-content-type-options', 'nosniff').header('x-bulkhead-digest', file.digest).send(stream);
  });

  await app.register(async (rawScope) => {
    acceptRawBodies(rawScope);
    const raw = rawScope.withTypeProvider<ZodTypeProvider>();
    raw.post(`${base}/datasets/:name/versions`, {
      config: { access: 'datasets.write' },
      schema: { tags: ['datasets'], summary: 'Push a new immutable version: the body is a tar stream (application/x-tar)', params: nameParams, response: { 201: versionSchema } },
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
