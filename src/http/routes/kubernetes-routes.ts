import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { jobParamsSchema } from '../../contract/job-schemas.ts';
import { buildJobManifest, buildTenantBundle, clusterJobSpecOf, renderYaml, tenantSpecOf } from '../../executors/kubernetes/index.ts';
import type { JobStore } from '../../jobs/index.ts';
import type { ClusterConfig, TenantTreePlacement } from '../../executors/kubernetes/index.ts';
import type { QuotaTreeNode } from '../../scheduler/index.ts';
import type { TenantService } from '../../tenants/index.ts';
import { requireTenant } from '../route-config.ts';

/**
 * The tenant's Kubernetes bundle rendered from its record and quota, without a cluster: what
 * `bulkhead k8s render` prints and `bulkhead k8s apply` reconciles. Platform admin only.
 */
/**
 * Where the tenant sits in the tenant tree, for Kueue's hierarchical cohorts: its parent's slug, and for an
 * organization the sum of its children's nominal amounts (its Cohort holds the rest of its own).
 */
export const treePlacementOf = (nodes: readonly QuotaTreeNode[], tenantId: string): TenantTreePlacement | undefined => {
  const self = nodes.find((n) => n.id === tenantId);
  if (self === undefined) return undefined;
  const parent = self.parentId === null ? undefined : nodes.find((n) => n.id === self.parentId);
  const children = nodes.filter((n) => n.parentId === tenantId);
  return {
    parentSlug: parent?.label ?? null,
    ...(children.length === 0 ? {} : {
      childrenNominal: {
        cpu: Math.round(children.reduce((sum, c) => sum + c.nominal.cpu, 0) * 1000) / 1000,
        memoryMiB: children.reduce((sum, c) => sum + c.nominal.memoryMiB, 0),
        gpu: children.reduce((sum, c) => sum + c.nominal.gpu, 0),
      },
    }),
  };
};

export const kubernetesRoutes = (deps: { tenants: TenantService; cluster: ClusterConfig; jobs: JobStore }): FastifyPluginAsyncZod => async (app) => {
  app.get('/api/v1/tenants/:tenant/kubernetes/jobs/:id', {
    config: { access: 'platform.kubernetes.read' },
    schema: {
      tags: ['kubernetes'],
      summary: "Render a job's Kubernetes manifest (batch/v1 Job in the tenant namespace, hardened, Kueue-labelled) as YAML",
      params: jobParamsSchema,
      response: { 200: z.string() },
    },
  }, async (request, reply) => {
    const tenant = requireTenant(request.tenant);
    const job = await deps.jobs.get(tenant.id, request.params.id);
    const quota = await deps.tenants.getQuota(tenant.id);
    const manifest = buildJobManifest(clusterJobSpecOf(job, tenantSpecOf(tenant, quota)), deps.cluster);
    return reply.type('application/yaml').send(renderYaml([manifest]));
  });

  app.get('/api/v1/tenants/:tenant/kubernetes/bundle', {
    config: { access: 'platform.kubernetes.read' },
    schema: {
      tags: ['kubernetes'],
      summary: "Render a tenant's Kubernetes bundle (namespace, quota, limits, network policies, RBAC, Kueue queues) as multi-document YAML",
      params: tenantParamsSchema,
      response: { 200: z.string() },
    },
  }, async (request, reply) => {
    const tenant = requireTenant(request.tenant);
    const quota = await deps.tenants.getQuota(tenant.id);
    const objects = buildTenantBundle({ ...tenantSpecOf(tenant, quota), tree: treePlacementOf(await deps.tenants.quotaTree(), tenant.id) }, deps.cluster);
    return reply.type('application/yaml').send(renderYaml(objects));
  });
};
