/**
 * A run's artifacts by run id, as MLflow's tracking server serves them: `GET {prefix}/artifacts/list`
 * (`run_id` or `run_uuid`, `path`) answers `{ root_uri, files: [{ path, is_dir, file_size }] }` with paths
 * relative to the run's artifact root; `GET /get-artifact` (and `{prefix}/get-artifact`) streams one file.
 * For the caller's own runs and for runs of experiments another tenant shared with it (issue 15); any
 * other run is RESOURCE_DOES_NOT_EXIST. The run-artifact service (src/tracking/run-artifacts.ts) decides.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RunArtifactService } from '../../tracking/index.ts';
import { requirePrincipal, requireTenant } from '../route-config.ts';
import { sendDownload } from '../bandwidth-hooks.ts';

const prefixes = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'] as const;
const config = { access: 'artifacts.read' as const, tenantFrom: 'token' as const, errorFormat: 'mlflow' as const };
const query = z.object({ run_id: z.string().max(64).optional(), run_uuid: z.string().max(64).optional(), path: z.string().max(1024).optional() });

const scopeOf = (request: FastifyRequest) => ({
  tenantId: requireTenant(request.tenant).id,
  actor: requirePrincipal(request.principal).label,
  requestId: String(request.id),
});

const runIdOf = (q: z.infer<typeof query>): string => q.run_id ?? q.run_uuid ?? '';

export const runArtifactRoutes = (deps: { runArtifacts: RunArtifactService }): FastifyPluginAsyncZod => async (app) => {
  const { runArtifacts } = deps;

  for (const prefix of prefixes) {
    app.get(`${prefix}/artifacts/list`, { config, schema: { tags: ['mlflow'], summary: "List a run's artifacts", querystring: query, ...(prefix === prefixes[0] ? {} : { hide: true }) } }, async (request) => {
      const listed = await runArtifacts.list(scopeOf(request), runIdOf(request.query), request.query.path ?? '');
      return {
        root_uri: listed.rootUri,
        files: listed.files.map((file) => (file.isDir ? { path: file.path, is_dir: true } : { path: file.path, is_dir: false, file_size: file.size })),
      };
    });
  }

  for (const url of ['/get-artifact', ...prefixes.map((prefix) => `${prefix}/get-artifact`)]) {
    app.get(url, { config, schema: { hide: true, querystring: query } }, async (request, reply) => {
      const { file, stream } = await runArtifacts.open(scopeOf(request), runIdOf(request.query), request.query.path ?? '');
      return sendDownload(request, reply, file, stream);
    });
  }
};
