/**
 * The MLflow proxied-artifact API (mlflow/protos/mlflow_artifacts.proto): upload, download, list and
 * delete under `/api/2.0/mlflow-artifacts/` and `/ajax-api/2.0/mlflow-artifacts/`, plus multipart
 * upload. The tenant comes from the token; every path lives in that tenant's own namespace, so another
 * tenant's path is simply not found. Errors are `{ error_code, message }`; a storage-quota refusal is
 * HTTP 400 RESOURCE_LIMIT_EXCEEDED (not 403/5xx: the Python client retries 5xx for minutes).
 *
 * Multipart upload: `mpu/create` answers one signed, expiring URL per part pointing back at this server
 * (`mpu/upload/<tenant>/<upload>/<part>`), because the client PUTs parts with plain `requests.put` and no
 * credentials (mlflow/store/artifact/http_artifact_repo.py, `_upload_part`). The HMAC signature is the
 * authorization of that one route; it binds tenant, upload, part and expiry.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { ArtifactService } from '../../artifacts/index.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';
import { acceptRawBodies, contentLengthOf, discardRestOfBody, uploadStream } from './raw-body.ts';
import { admitTransfer, sendDownload, throttleUpload } from '../bandwidth-hooks.ts';

const prefixes = ['/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts'] as const;

const mlflow = (access: 'artifacts.read' | 'artifacts.write') => ({ access, tenantFrom: 'token' as const, errorFormat: 'mlflow' as const });

const wildcard = (request: FastifyRequest): string => (request.params as Record<string, string | undefined>)['*'] ?? '';

/** A refused upload: the rest of its body is discarded, and the error handler renders the error in MLflow's vocabulary. */
const rethrowForMlflow = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
  discardRestOfBody(request, reply);
  throw error;
};

const createBody = z.object({ path: z.string().min(1).max(4096), num_parts: z.coerce.number().int().min(1).max(10_000).default(1) });
const completeBody = z.object({
  path: z.string().min(1).max(4096),
  upload_id: z.string().uuid(),
  parts: z.array(z.object({ part_number: z.coerce.number().int().min(1).max(10_000), etag: z.string().max(200).default(''), url: z.string().max(8192).optional() })).min(1).max(10_000),
});
const abortBody = z.object({ path: z.string().min(1).max(4096), upload_id: z.string().uuid() });

export const mlflowArtifactRoutes = (deps: { artifacts: ArtifactService }): FastifyPluginAsyncZod => async (app) => {
  const { artifacts } = deps;

  for (const prefix of prefixes) {
    app.get(`${prefix}/artifacts`, {
      config: mlflow('artifacts.read'),
      schema: { hide: true, querystring: z.object({ path: z.string().max(1024).optional() }) },
    }, async (request) => {
      const tenant = requireTenant(request.tenant);
      const entries = await artifacts.listArtifacts(tenant.id, request.query.path ?? '');
      if (entries.length === 0) return {};
      return { files: entries.map((entry) => (entry.isDir ? { path: entry.name, is_dir: true } : { path: entry.name, is_dir: false, file_size: entry.size })) };
    });

    app.get(`${prefix}/artifacts/*`, { config: mlflow('artifacts.read'), schema: { hide: true } }, async (request, reply) => {
      const tenant = requireTenant(request.tenant);
      const { file, stream } = await artifacts.openArtifact(tenant.id, wildcard(request));
      return sendDownload(request, reply, file, stream);
    });

    app.delete(`${prefix}/artifacts/*`, { config: mlflow('artifacts.write'), schema: { hide: true } }, async (request) => {
      await artifacts.deleteArtifacts(contextOf(request), requireTenant(request.tenant).id, wildcard(request));
      return {};
    });

    app.post(`${prefix}/mpu/create/*`, { config: mlflow('artifacts.write'), schema: { hide: true, body: createBody } }, async (request) => {
      const tenant = requireTenant(request.tenant);
      const created = await artifacts.createMultipartUpload(contextOf(request), tenant.id, wildcard(request), request.body.path, request.body.num_parts);
      // Absolute URLs: the client PUTs to them as they are. Behind a proxy, the Host it forwards counts.
      const base = `${request.protocol}://${request.host}`;
      return {
        upload_id: created.uploadId,
        credentials: created.credentials.map((credential) => ({ url: `${base}${credential.pathAndQuery}`, part_number: credential.partNumber, headers: {} })),
      };
    });

    app.post(`${prefix}/mpu/complete/*`, { config: mlflow('artifacts.write'), schema: { hide: true, body: completeBody } }, async (request) => {
      const tenant = requireTenant(request.tenant);
      const path = [wildcard(request), clientName(request.body.path)].filter((p) => p !== '').join('/');
      await artifacts.completeMultipartUpload(contextOf(request), tenant.id, request.body.upload_id, path,
        request.body.parts.map((part) => ({ partNumber: part.part_number, etag: part.etag })));
      return {};
    });

    app.post(`${prefix}/mpu/abort/*`, { config: mlflow('artifacts.write'), schema: { hide: true, body: abortBody } }, async (request) => {
      const tenant = requireTenant(request.tenant);
      const path = [wildcard(request), clientName(request.body.path)].filter((p) => p !== '').join('/');
      await artifacts.abortMultipartUpload(contextOf(request), tenant.id, request.body.upload_id, path);
      return {};
    });
  }

  // Uploads: raw bodies, streamed.
  await app.register(async (rawScope) => {
    acceptRawBodies(rawScope);
    const raw = rawScope.withTypeProvider<ZodTypeProvider>();
    for (const prefix of prefixes) {
      raw.put(`${prefix}/artifacts/*`, { config: mlflow('artifacts.write'), schema: { hide: true } }, async (request, reply) => {
        const tenant = requireTenant(request.tenant);
        try {
          await artifacts.putArtifact(contextOf(request), tenant.id, wildcard(request), uploadStream(request), { contentLength: contentLengthOf(request) });
        } catch (error) {
          return rethrowForMlflow(request, reply, error);
        }
        return reply.type('application/json').send({});
      });

      // Authorized by the signature in the URL, not by a token (see the module comment).
      raw.put(`${prefix}/mpu/upload/:owner/:uploadId/:part`, {
        config: { access: 'public', errorFormat: 'mlflow' },
        schema: {
          hide: true,
          params: z.object({ owner: z.string().uuid(), uploadId: z.string().uuid(), part: z.coerce.number().int().min(1).max(10_000) }),
          querystring: z.object({ expires: z.coerce.number().int(), signature: z.string().max(100) }),
        },
      }, async (request, reply) => {
        // `owner`: the tenant the signed URL was issued for (not `:tenant`: this route resolves no tenant from its path).
        const { owner: tenantId, uploadId, part } = request.params;
        try {
          artifacts.verifyPartSignature(tenantId, uploadId, part, request.query.expires, request.query.signature);
          // No tenant was resolved for this route: the signature names it, and its bandwidth quota applies.
          await admitTransfer(request.server.bandwidth, tenantId, 'ingress', contentLengthOf(request) ?? 0);
          const etag = await artifacts.uploadPart(tenantId, uploadId, part, throttleUpload(request, tenantId, uploadStream(request)), contentLengthOf(request));
          return reply.header('etag', `"${etag}"`).type('application/json').send({});
        } catch (error) {
          return rethrowForMlflow(request, reply, error);
        }
      });
    }
  });
};

/** MLflow sends the client's local file path; the artifact takes its base name. */
const clientName = (raw: string): string => {
  const name = raw.split(/[/\\]/).filter((part) => part !== '').at(-1) ?? '';
  if (name === '') throw new AppError('VALIDATION_FAILED', 'path must name a file');
  return name;
};
