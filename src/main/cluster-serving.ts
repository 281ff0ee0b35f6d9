/**
 * Adapts the kubernetes module to the serving backend's `ClusterEndpoints` port (BULKHEAD_EXECUTOR=kubernetes):
 * a generation is applied as its token Secret (server-side apply, immutable) and then the endpoint's
 * Deployment + Service through the reconciler (component `endpoint`, no pruning: one deployment's apply
 * must not prune another's objects); readiness is read from the Deployment's status
 * (`observeEndpointGeneration`); the gateway reaches the Service at its cluster DNS name.
 *
 * The token goes into the Secret and nowhere else: errors from the Secret's apply are reported by HTTP
 * status only, since an API error may quote the object it rejects.
 */
import { AppError } from '../core/errors.ts';
import {
  buildEndpointManifests,
  buildEndpointTokenSecret,
  endpointObjectName,
  endpointTokenSecretName,
  FIELD_MANAGER,
  labelKeys,
  managedSelector,
  observeEndpointGeneration,
  reconcileTenant,
  tenantNamespace,
  tenantSpecOf,
} from '../executors/kubernetes/index.ts';
import type { ClusterConfig, EndpointSpec, KubernetesClient, TenantSpec } from '../executors/kubernetes/index.ts';
import type { ClusterEndpointGeneration, ClusterEndpoints } from '../serving/index.ts';
import type { Tenant, TenantQuota, TenantService } from '../tenants/index.ts';

export interface ClusterEndpointsDeps {
  client: KubernetesClient;
  config: ClusterConfig;
  tenants: Pick<TenantService, 'find' | 'getQuota'>;
  /** Applies the tenant's namespace bundle (shared with the job backend: once per tenant and quota). */
  ensureTenant(tenant: Tenant, quota: TenantQuota): Promise<void>;
}

const statusOf = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown; statusCode?: unknown } | undefined)?.code ?? (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
};

/** Runs one cluster call; a failure becomes UNAVAILABLE naming `what` and the HTTP status, never the library's text. */
const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (error) {
    const status = statusOf(error);
    throw new AppError('UNAVAILABLE', `Kubernetes ${what} failed${status === undefined ? '' : ` (HTTP ${status})`}`);
  }
};

export const createClusterEndpoints = (deps: ClusterEndpointsDeps): ClusterEndpoints => {
  const { client, config } = deps;
  /** Tenant id → namespace, learnt on apply (the Service URL is asked for synchronously afterwards). */
  const namespaces = new Map<string, string>();

  const tenantOf = async (tenantId: string): Promise<{ tenant: Tenant; quota: TenantQuota; spec: TenantSpec }> => {
    const tenant = await deps.tenants.find(tenantId);
    if (tenant === undefined) throw new AppError('NOT_FOUND', 'tenant not found');
    const quota = await deps.tenants.getQuota(tenantId);
    const spec = tenantSpecOf(tenant, quota);
    namespaces.set(tenantId, tenantNamespace(spec, config));
    return { tenant, quota, spec };
  };
  const endpointSpec = (gen: ClusterEndpointGeneration, tenant: TenantSpec): EndpointSpec => ({
    name: gen.deploymentName,
    tenant,
    model: gen.spec.model,
    version: gen.spec.version,
    replicas: gen.spec.replicas,
    resources: { cpu: gen.spec.cpu, memoryMiB: gen.spec.memoryMiB },
    generation: gen.generation,
    tokenSecretName: endpointTokenSecretName(gen.deploymentName, gen.generation),
    modelArtifactPath: gen.modelArtifactPath,
  });
  const namespaceOf = async (tenantId: string): Promise<string> => namespaces.get(tenantId) ?? tenantNamespace((await tenantOf(tenantId)).spec, config);

  return {
    async apply(gen, token) {
      const { tenant, quota, spec } = await tenantOf(gen.tenantId);
      await deps.ensureTenant(tenant, quota);
      const endpoint = endpointSpec(gen, spec);
      const namespace = tenantNamespace(spec, config);
      const objects = buildEndpointManifests(endpoint, config);
      const secret = buildEndpointTokenSecret(endpoint, config, token);
      // Immutable and named per generation: applying it again (scaling, a rollback) changes nothing.
      await attempt('apply of the endpoint token Secret', () => client.apply(secret, { fieldManager: FIELD_MANAGER, force: true, dryRun: false }));
      await reconcileTenant(client, objects, { tenantId: gen.tenantId, namespace, component: 'endpoint', pruneKinds: [] });
    },

    async observe(gen) {
      const namespace = await namespaceOf(gen.tenantId);
      const name = endpointObjectName(gen.deploymentName);
      const deployment = await attempt(`read of Deployment ${name}`, () => client.get({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace }));
      return observeEndpointGeneration(deployment, gen.generation);
    },

    serviceUrl(gen) {
      const namespace = namespaces.get(gen.tenantId);
      if (namespace === undefined) throw new AppError('INTERNAL', 'serviceUrl before apply');
      return `http://${endpointObjectName(gen.deploymentName)}.${namespace}.svc.cluster.local:80`;
    },

    async retire(gen) {
      const namespace = await namespaceOf(gen.tenantId);
      const name = endpointTokenSecretName(gen.deploymentName, gen.generation);
      await attempt(`delete of Secret ${name}`, () => client.delete({ apiVersion: 'v1', kind: 'Secret', name, namespace }, { propagationPolicy: 'Background' }));
    },

    async remove(deployment) {
      const namespace = await namespaceOf(deployment.tenantId);
      const name = endpointObjectName(deployment.deploymentName);
      await attempt(`delete of Deployment ${name}`, () => client.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace }, { propagationPolicy: 'Background' }));
      await attempt(`delete of Service ${name}`, () => client.delete({ apiVersion: 'v1', kind: 'Service', name, namespace }, { propagationPolicy: 'Background' }));
      const selector = `${managedSelector(deployment.tenantId, 'endpoint')},${labelKeys.endpoint}=${deployment.deploymentName}`;
      const secrets = await attempt('list of endpoint token Secrets', () => client.list({ apiVersion: 'v1', kind: 'Secret', namespace, labelSelector: selector }));
      for (const secret of secrets) {
        await attempt(`delete of Secret ${secret.metadata.name}`, () => client.delete({ apiVersion: 'v1', kind: 'Secret', name: secret.metadata.name, namespace }, { propagationPolicy: 'Background' }));
      }
    },
  };
};
