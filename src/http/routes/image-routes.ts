/**
 * OCI images (issue 17): a tenant's private store under `/api/v1/tenants/:tenant/images` (another
 * tenant's image is NOT_FOUND by name and by digest) and the platform-wide public store under
 * `/api/v1/images` (import and delete for platform admins; every authenticated caller may list it).
 * Imports take the archive (OCI image layout or `docker save` tar) as the raw body, streamed. Pulls
 * (`POST …/images/pull`) fetch from a registry the operator configured, with the tenant's credentials for
 * it (`…/registry-credentials/:registry`: the password is write-only, sealed under the tenant's key).
 */
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import {
  imageListSchema, imageParamsSchema, imageReferenceSchema, imageSchema, importImageQuerySchema, publicImageParamsSchema, pullImageBodySchema,
  registryCredentialBodySchema, registryCredentialListSchema, registryCredentialParamsSchema, registryCredentialSchema,
} from '../../contract/image-schemas.ts';
import type { ImageService } from '../../images/index.ts';
import { z } from 'zod';
import { acceptRawBodies, discardRestOfBody, uploadStream } from '../artifacts/raw-body.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';

const resolvedSchema = z.object({ image: z.string(), name: z.string(), digest: z.string(), scope: z.enum(['tenant', 'public']) });

export const imageRoutes = (deps: { images: ImageService }): FastifyPluginAsyncZod => async (app) => {
  const { images } = deps;
  const base = '/api/v1/tenants/:tenant/images';

  app.get(base, {
    config: { access: 'images.read' },
    schema: { tags: ['images'], summary: "The tenant's private images, then the public ones", params: tenantParamsSchema, response: { 200: imageListSchema } },
  }, async (request) => ({ images: await images.list(requireTenant(request.tenant).id) }));

  app.get(`${base}/:ref`, {
    config: { access: 'images.read' },
    schema: { tags: ['images'], summary: 'Resolve name:tag or name@sha256:… to the digest a job would run', params: imageParamsSchema, response: { 200: resolvedSchema } },
  }, async (request) => images.resolve(requireTenant(request.tenant).id, request.params.ref));

  app.delete(`${base}/:ref`, {
    config: { access: 'images.write' },
    schema: { tags: ['images'], summary: 'Delete name:tag from the private store (its storage is released)', params: imageParamsSchema },
  }, async (request, reply) => {
    await images.remove(contextOf(request), requireTenant(request.tenant).id, request.params.ref);
    return reply.code(204).send();
  });

  app.post(`${base}/pull`, {
    config: { access: 'images.write' },
    schema: {
      tags: ['images'], summary: 'Pull an image from a configured OCI registry into the private store (verified and unpacked as an import)',
      params: tenantParamsSchema, body: pullImageBodySchema, response: { 201: imageSchema.extend({ pulledFrom: z.string() }) },
    },
  }, async (request, reply) => {
    const image = await images.pull(contextOf(request), requireTenant(request.tenant).id, request.body.reference, request.body.as);
    return reply.code(201).send(image);
  });

  const credentials = '/api/v1/tenants/:tenant/registry-credentials';
  app.get(credentials, {
    config: { access: 'images.read' },
    schema: { tags: ['images'], summary: "The registries the tenant has credentials for (usernames only, never a password)", params: tenantParamsSchema, response: { 200: registryCredentialListSchema } },
  }, async (request) => ({ credentials: await images.listCredentials(requireTenant(request.tenant).id) }));

  app.put(`${credentials}/:registry`, {
    config: { access: 'images.write' },
    schema: {
      tags: ['images'], summary: "Set the tenant's credentials for a configured registry (the password is sealed with the tenant's key)",
      params: registryCredentialParamsSchema, body: registryCredentialBodySchema, response: { 200: registryCredentialSchema },
    },
  }, async (request) => images.setCredential(contextOf(request), requireTenant(request.tenant).id, request.params.registry, request.body));

  app.delete(`${credentials}/:registry`, {
    config: { access: 'images.write' },
    schema: { tags: ['images'], summary: "Delete the tenant's credentials for a registry", params: registryCredentialParamsSchema },
  }, async (request, reply) => {
    await images.removeCredential(contextOf(request), requireTenant(request.tenant).id, request.params.registry);
    return reply.code(204).send();
  });

  const defaultSchema = z.object({ image: z.string().nullable() });
  app.get('/api/v1/tenants/:tenant/image-default', {
    config: { access: 'images.read' },
    schema: { tags: ['images'], summary: "The tenant's default image (jobs without `image` run on it); null when none", params: tenantParamsSchema, response: { 200: defaultSchema } },
  }, async (request) => ({ image: (await images.defaultFor(requireTenant(request.tenant).id)) ?? null }));

  app.put('/api/v1/tenants/:tenant/image-default', {
    config: { access: 'images.write' },
    schema: {
      tags: ['images'], summary: "Set (or with null clear) the tenant's default image; it must resolve for the tenant",
      params: tenantParamsSchema, body: z.strictObject({ image: imageReferenceSchema.nullable() }), response: { 200: defaultSchema },
    },
  }, async (request) => images.setDefault(contextOf(request), requireTenant(request.tenant).id, request.body.image ?? undefined));

  app.get('/api/v1/images', {
    config: { access: 'authenticated' },
    schema: { tags: ['images'], summary: 'The platform-wide public images', response: { 200: imageListSchema } },
  }, async () => ({ images: await images.listPublic() }));

  app.delete('/api/v1/images/:ref', {
    config: { access: 'platform.images.write' },
    schema: { tags: ['images'], summary: 'Delete name:tag from the public store (platform admins)', params: publicImageParamsSchema },
  }, async (request, reply) => {
    await images.removePublic(contextOf(request), request.params.ref);
    return reply.code(204).send();
  });

  await app.register(async (rawScope) => {
    acceptRawBodies(rawScope);
    const raw = rawScope.withTypeProvider<ZodTypeProvider>();
    raw.post(base, {
      config: { access: 'images.write' },
      schema: {
        tags: ['images'], summary: 'Import an image into the private store: the body is an OCI image layout or docker save tar',
        params: tenantParamsSchema, querystring: importImageQuerySchema, response: { 201: imageSchema },
      },
    }, async (request, reply) => {
      try {
        const image = await images.importTenantImage(contextOf(request), requireTenant(request.tenant).id, request.query.name, request.query.tag, uploadStream(request));
        return await reply.code(201).send(image);
      } catch (error) {
        discardRestOfBody(request, reply);
        throw error;
      }
    });
    raw.post('/api/v1/images', {
      config: { access: 'platform.images.write' },
      schema: {
        tags: ['images'], summary: 'Import an image into the platform-wide public store (platform admins)',
        querystring: importImageQuerySchema, response: { 201: imageSchema },
      },
    }, async (request, reply) => {
      try {
        const image = await images.importPublicImage(contextOf(request), request.query.name, request.query.tag, uploadStream(request));
        return await reply.code(201).send(image);
      } catch (error) {
        discardRestOfBody(request, reply);
        throw error;
      }
    });
  });
};
