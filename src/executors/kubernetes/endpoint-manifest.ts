/**
 * A model endpoint as a Deployment + ClusterIP Service in its tenant's namespace, hardened like jobs.
 * The gateway (in the platform namespace) is the only caller the network policies let in; it keeps the
 * per-tenant rate limits and concurrency caps. Pure: no IO.
 */
import type { ClusterConfig, EndpointSpec, KubeObject } from './kubernetes-types.ts';
import {
  containerSecurityContext,
  exactResources,
  placementFields,
  podSecurityContext,
  scratchVolume,
} from './job-manifest.ts';
import {
  kubernetesErrors,
  labelKeys,
  managedLabels,
  requireDnsLabel,
  tenantNamespace,
  validateTenant,
  WORKLOAD_IDENTITY,
} from './naming.ts';

/** The Deployment and Service name of an endpoint. */
export const endpointObjectName = (endpointName: string): string =>
  requireDnsLabel('endpoint name', `ep-${endpointName}`);

/**
 * Builds [Deployment, Service] for an endpoint. The pods speak the Open Inference Protocol (v2) on
 * `endpointPort` with its health routes as probes. A suspended tenant's endpoints render with 0 replicas,
 * so applying the bundle scales them down. The Service is ClusterIP only. Throws VALIDATION_FAILED for a
 * bad name or resources.
 */
export const buildEndpointManifests = (endpoint: EndpointSpec, config: ClusterConfig): KubeObject[] => {
  validateTenant(endpoint.tenant);
  requireDnsLabel('endpoint name', endpoint.name);
  if (!Number.isInteger(endpoint.replicas) || endpoint.replicas < 0) {
    throw kubernetesErrors.invalidInput('replicas must be a whole non-negative number', 'replicas');
  }
  if (!(endpoint.resources.cpu > 0) || !(endpoint.resources.memoryMiB > 0)) {
    throw kubernetesErrors.invalidInput('endpoint cpu and memory must be positive', 'resources');
  }
  const tenant = endpoint.tenant;
  const namespace = tenantNamespace(tenant, config);
  const name = endpointObjectName(endpoint.name);
  const selector = { [labelKeys.endpoint]: endpoint.name, [labelKeys.tenantId]: tenant.id };
  const labels = { ...managedLabels(tenant, 'endpoint'), [labelKeys.endpoint]: endpoint.name };
  // Model names and versions are free text, so they travel as annotations and env, never as labels.
  const annotations = { 'bulkhead.dev/model': endpoint.model, 'bulkhead.dev/model-version': endpoint.version };
  const replicas = tenant.status === 'suspended' ? 0 : endpoint.replicas;
  const probe = (path: string) => ({
    httpGet: { path, port: 'http' },
    periodSeconds: 10,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels, annotations },
      spec: {
        replicas,
        revisionHistoryLimit: 3,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels, annotations },
          spec: {
            serviceAccountName: WORKLOAD_IDENTITY,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            ...placementFields(tenant, config),
            securityContext: podSecurityContext(config),
            containers: [
              {
                name: 'server',
                image: endpoint.image,
                imagePullPolicy: config.imagePullPolicy,
                env: [
                  { name: 'BULKHEAD_TENANT', value: tenant.slug },
                  { name: 'BULKHEAD_ENDPOINT', value: endpoint.name },
                  { name: 'BULKHEAD_MODEL', value: endpoint.model },
                  { name: 'BULKHEAD_MODEL_VERSION', value: endpoint.version },
                  { name: 'HOME', value: '/tmp' },
                ],
                ports: [{ name: 'http', containerPort: config.endpointPort, protocol: 'TCP' }],
                readinessProbe: probe('/v2/health/ready'),
                livenessProbe: probe('/v2/health/live'),
                resources: exactResources(endpoint.resources),
                securityContext: containerSecurityContext(),
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [scratchVolume('tmp', config)],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels, annotations },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      },
    },
  ];
};
