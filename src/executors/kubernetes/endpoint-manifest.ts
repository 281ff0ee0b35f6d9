/**
 * A model endpoint as a Deployment + ClusterIP Service in its tenant's namespace, hardened like jobs, and
 * the Secret holding one generation's endpoint token. The gateway (in the platform namespace) is the only
 * caller the network policies let in; it keeps the per-tenant rate limits and concurrency caps. Pure: no IO.
 *
 * A pod: the init container `model` (the platform image) runs `bulkhead model fetch --dest /model` with the
 * generation's endpoint token, which may read exactly that generation's model artifact; the `server`
 * container (the platform image) runs `bulkhead serve-model` — the OIP worker listening on `endpointPort` —
 * with the model mounted read-only. The token is needed only by the init container.
 */
import type { ClusterConfig, EndpointSpec, KubeObject } from './kubernetes-types.ts';
import { podBandwidthAnnotations } from './tenant-bundle.ts';
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

/** The name of the Secret holding generation `generation`'s endpoint token. */
export const endpointTokenSecretName = (endpointName: string, generation: string): string =>
  requireDnsLabel('endpoint token secret', `ep-${endpointName}-${generation}`);

/** The pod-template annotation naming the generation a Deployment's template belongs to. */
export const ENDPOINT_GENERATION_ANNOTATION = 'bulkhead.dev/generation';

const GENERATION = /^[a-z0-9]{1,16}$/;

const validateEndpoint = (endpoint: EndpointSpec): void => {
  validateTenant(endpoint.tenant);
  requireDnsLabel('endpoint name', endpoint.name);
  if (!Number.isInteger(endpoint.replicas) || endpoint.replicas < 0) {
    throw kubernetesErrors.invalidInput('replicas must be a whole non-negative number', 'replicas');
  }
  if (!(endpoint.resources.cpu > 0) || !(endpoint.resources.memoryMiB > 0)) {
    throw kubernetesErrors.invalidInput('endpoint cpu and memory must be positive', 'resources');
  }
  if (!GENERATION.test(endpoint.generation)) {
    throw kubernetesErrors.invalidInput('endpoint generation must be 1-16 lowercase letters or digits', 'generation');
  }
  requireDnsLabel('endpoint token secret', endpoint.tokenSecretName);
  const path = endpoint.modelArtifactPath;
  if (path === '' || path.startsWith('/') || path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw kubernetesErrors.invalidInput('model artifact path must be a relative path without empty, . or .. parts', 'modelArtifactPath');
  }
};

/**
 * Builds [Deployment, Service] for an endpoint. The pods speak the Open Inference Protocol (v2) on
 * `endpointPort` with its health routes as probes. A suspended tenant's endpoints render with 0 replicas,
 * so applying the bundle scales them down. The Service is ClusterIP only. Rolling updates never take a
 * serving pod away before its replacement is ready (maxUnavailable 0). Throws VALIDATION_FAILED for a bad
 * name, resources, generation, secret name or artifact path.
 */
export const buildEndpointManifests = (endpoint: EndpointSpec, config: ClusterConfig): KubeObject[] => {
  validateEndpoint(endpoint);
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
  const resources = exactResources(endpoint.resources);
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
          metadata: { labels, annotations: { ...annotations, [ENDPOINT_GENERATION_ANNOTATION]: endpoint.generation, ...podBandwidthAnnotations(endpoint.tenant.quota) } },
          spec: {
            serviceAccountName: WORKLOAD_IDENTITY,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            ...placementFields(tenant, config),
            securityContext: podSecurityContext(config),
            initContainers: [
              {
                name: 'model',
                image: config.platformImage,
                imagePullPolicy: config.imagePullPolicy,
                command: ['bulkhead', 'model', 'fetch', '--dest', '/model'],
                env: [
                  { name: 'BULKHEAD_URL', value: config.platformApiUrl },
                  { name: 'BULKHEAD_TOKEN', valueFrom: { secretKeyRef: { name: endpoint.tokenSecretName, key: 'token' } } },
                  { name: 'BULKHEAD_MODEL_PATH', value: endpoint.modelArtifactPath },
                  { name: 'HOME', value: '/tmp' },
                ],
                resources,
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: 'model', mountPath: '/model' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            containers: [
              {
                name: 'server',
                image: config.platformImage,
                imagePullPolicy: config.imagePullPolicy,
                command: [
                  'bulkhead', 'serve-model',
                  '--model', '/model/model.onnx',
                  // serve-model listens on loopback unless told otherwise; the Service reaches the pod's IP.
                  '--host', '0.0.0.0',
                  '--port', String(config.endpointPort),
                  '--name', endpoint.name,
                  '--version', endpoint.version,
                ],
                env: [
                  { name: 'BULKHEAD_TENANT', value: tenant.slug },
                  { name: 'BULKHEAD_ENDPOINT', value: endpoint.name },
                  { name: 'BULKHEAD_MODEL', value: endpoint.model },
                  { name: 'BULKHEAD_MODEL_VERSION', value: endpoint.version },
                  { name: 'ORT_DISABLE_TELEMETRY', value: '1' },
                  { name: 'HOME', value: '/tmp' },
                ],
                ports: [{ name: 'http', containerPort: config.endpointPort, protocol: 'TCP' }],
                readinessProbe: probe('/v2/health/ready'),
                livenessProbe: probe('/v2/health/live'),
                resources,
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: 'model', mountPath: '/model', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [scratchVolume('model', config), scratchVolume('tmp', config)],
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

/**
 * The Secret carrying one generation's endpoint token, named `endpoint.tokenSecretName`. The token is a
 * secret value: never render this object into logs, YAML previews or golden files. Immutable: a new
 * generation gets a new Secret (and so new pods); the old one is deleted once it no longer serves.
 */
export const buildEndpointTokenSecret = (endpoint: EndpointSpec, config: ClusterConfig, token: string): KubeObject => {
  validateEndpoint(endpoint);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: endpoint.tokenSecretName,
      namespace: tenantNamespace(endpoint.tenant, config),
      labels: { ...managedLabels(endpoint.tenant, 'endpoint'), [labelKeys.endpoint]: endpoint.name },
      annotations: { [ENDPOINT_GENERATION_ANNOTATION]: endpoint.generation },
    },
    type: 'Opaque',
    immutable: true,
    stringData: { token },
  };
};
