/**
 * A training job as a `batch/v1` Job in its tenant's namespace, and the pod hardening shared with
 * endpoints. Pure: no IO.
 */
import type { Job } from '../../contract/job-schemas.ts';
import type { ClusterConfig, ClusterJobSpec, KubeObject, TenantSpec } from './kubernetes-types.ts';
import { podBandwidthAnnotations } from './tenant-bundle.ts';
import {
  cpuQuantity,
  JOB_TOKEN_MOUNT,
  kubernetesErrors,
  labelKeys,
  managedLabels,
  memoryQuantity,
  requireDnsLabel,
  tenantNamespace,
  tenantPlacement,
  tenantQueueName,
  validateTenant,
  WORKLOAD_IDENTITY,
} from './naming.ts';

/** Pod-level security context every tenant pod gets (Pod Security `restricted` and then some). */
export const podSecurityContext = (config: ClusterConfig) => ({
  runAsNonRoot: true,
  runAsUser: config.runAsUser,
  runAsGroup: config.runAsUser,
  fsGroup: config.runAsUser,
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Container-level security context every tenant container gets. */
export const containerSecurityContext = () => ({
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/** requests = limits: the pod is Guaranteed QoS and its quota charge is exactly what it may use. */
export const exactResources = (r: { cpu: number; memoryMiB: number; gpu?: number }) => {
  const amounts: Record<string, string> = { cpu: cpuQuantity(r.cpu), memory: memoryQuantity(r.memoryMiB) };
  if (r.gpu !== undefined && r.gpu > 0) amounts['nvidia.com/gpu'] = String(r.gpu);
  return { requests: { ...amounts }, limits: { ...amounts } };
};

/** A size-capped scratch directory; the root filesystem is read-only, so these are the only writable paths. */
export const scratchVolume = (name: string, config: ClusterConfig) => ({
  name,
  emptyDir: { sizeLimit: memoryQuantity(config.scratchSizeMiB) },
});

/** Tier placement spread into a pod spec; absent fields stay absent. */
export const placementFields = (tenant: TenantSpec, config: ClusterConfig): Record<string, unknown> => {
  const placement = tenantPlacement(tenant, config);
  return {
    ...(placement.runtimeClassName === undefined ? {} : { runtimeClassName: placement.runtimeClassName }),
    ...(placement.nodeSelector === undefined ? {} : { nodeSelector: placement.nodeSelector }),
    ...(placement.tolerations === undefined ? {} : { tolerations: placement.tolerations }),
  };
};

const RESERVED_ENV = /^(BULKHEAD_|MLFLOW_TRACKING_|HOME$)/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** The Job's name for a platform job id. */
export const jobName = (jobId: string): string => requireDnsLabel('job name', `job-${jobId.toLowerCase()}`);

/**
 * The one mapping from a job record to its cluster spec, used by the runner's cluster backend and by the
 * render route (`bulkhead k8s render --job`), so what is rendered is what runs: command, resources,
 * priority, the token Secret's name and the job's inputs (code bundle, datasets), which give the pod its
 * `inputs` init container. `env` is the job's own environment unless the caller adds the run's variables.
 */
export const clusterJobSpecOf = (
  job: Pick<Job, 'id' | 'command' | 'env' | 'resources' | 'priority' | 'codeBundle' | 'datasets'> & Partial<Pick<Job, 'image' | 'imageDigest'>>,
  tenant: TenantSpec,
  env: Readonly<Record<string, string>> = job.env,
): ClusterJobSpec => ({
  id: job.id,
  tenant,
  command: job.command,
  env,
  resources: job.resources,
  priority: job.priority,
  jobTokenSecretName: `${jobName(job.id)}-token`,
  inputs: { codeBundle: job.codeBundle, datasets: job.datasets.map((d) => ({ name: d.name, version: d.version })) },
  ...(job.image === null || job.image === undefined || job.imageDigest === null || job.imageDigest === undefined
    ? {}
    : { image: podImageOf(job.image, job.imageDigest) }),
});

/**
 * The pod image of a job on an OCI image (issue 17): the image's name pinned by the digest it resolved to
 * at submission (`name@sha256:…`), so the cluster pulls exactly what the job record names, whatever the
 * tag does later. Pure.
 */
export const podImageOf = (ref: string, digest: string): string => `${ref.split(/[:@]/)[0] ?? ref}@${digest}`;

const kueuePriorityClass = (priority: number, config: ClusterConfig): string | undefined => {
  let chosen: { name: string; minPriority: number } | undefined;
  for (const c of config.kueue.priorityClasses) {
    if (c.minPriority <= priority && (chosen === undefined || c.minPriority > chosen.minPriority)) chosen = c;
  }
  return chosen?.name;
};

const validateJob = (job: ClusterJobSpec): void => {
  validateTenant(job.tenant);
  if (job.tenant.status === 'suspended') throw kubernetesErrors.tenantSuspended(job.tenant.slug);
  if (job.command.length === 0) throw kubernetesErrors.invalidInput('job command must not be empty', 'command');
  const r = job.resources;
  if (!(r.cpu > 0) || !(r.memoryMiB > 0)) {
    throw kubernetesErrors.invalidInput('job cpu and memory must be positive', 'resources');
  }
  if (!Number.isInteger(r.gpu) || r.gpu < 0) {
    throw kubernetesErrors.invalidInput('job gpu must be a whole non-negative number', 'resources.gpu');
  }
  if (!Number.isInteger(r.timeoutSeconds) || r.timeoutSeconds < 1) {
    throw kubernetesErrors.invalidInput('job timeout must be a positive whole number of seconds', 'resources.timeoutSeconds');
  }
  requireDnsLabel('job token secret', job.jobTokenSecretName);
  for (const name of Object.keys(job.env)) {
    if (!ENV_NAME.test(name)) throw kubernetesErrors.invalidInput(`invalid environment variable name "${name}"`, 'env');
    // The platform's own variables locate the API and the token; a job must not redirect them.
    if (RESERVED_ENV.test(name)) throw kubernetesErrors.invalidInput(`environment variable "${name}" is reserved`, 'env');
  }
};

/**
 * Builds the Job for a platform job: in the tenant namespace, under the workload ServiceAccount (no API
 * token mounted), hardened pod and container security contexts, requests = limits = the job's resources,
 * `activeDeadlineSeconds` = its timeout, `backoffLimit: 0` (retries are the platform's decision), the
 * job token as a read-only projected secret at `/var/run/bulkhead/job-token/token`, tier placement, and —
 * with Kueue — the LocalQueue label and created suspended so Kueue admits it.
 *
 * Throws VALIDATION_FAILED for input Kubernetes cannot express and TENANT_SUSPENDED for a suspended tenant;
 * the executor turns either into a `refused` outcome.
 */
export const buildJobManifest = (job: ClusterJobSpec, config: ClusterConfig): KubeObject => {
  validateJob(job);
  const tenant = job.tenant;
  const namespace = tenantNamespace(tenant, config);
  const name = jobName(job.id);
  const podLabels = { ...managedLabels(tenant, 'job'), [labelKeys.jobId]: job.id };
  const priorityClass = config.kueue.enabled ? kueuePriorityClass(job.priority, config) : undefined;
  const labels: Record<string, string> = {
    ...podLabels,
    ...(config.kueue.enabled ? { [labelKeys.kueueQueueName]: tenantQueueName(tenant, config) } : {}),
    ...(priorityClass === undefined ? {} : { [labelKeys.kueuePriorityClass]: priorityClass }),
  };
  const userEnv = Object.keys(job.env)
    .sort()
    .map((key) => ({ name: key, value: job.env[key] ?? '' }));
  const tokenFromSecret = (name: string) => ({ name, valueFrom: { secretKeyRef: { name: job.jobTokenSecretName, key: 'token' } } });
  const inputs = job.inputs;
  const hasInputs = inputs !== undefined && (inputs.codeBundle !== null || inputs.datasets.length > 0);
  // The job's inputs come through the API, fetched by the platform's own CLI before the job starts, into
  // volumes the job then sees read-only. Same hardening and resources as the job itself.
  const inputsInit = hasInputs
    ? [
        {
          name: 'inputs',
          image: config.platformImage,
          imagePullPolicy: config.imagePullPolicy,
          command: ['bulkhead', 'inputs', 'fetch', '--data', '/data', '--code', '/code'],
          env: [
            { name: 'BULKHEAD_URL', value: config.platformApiUrl },
            tokenFromSecret('BULKHEAD_TOKEN'),
            { name: 'BULKHEAD_JOB_ID', value: job.id },
            { name: 'BULKHEAD_TENANT', value: tenant.slug },
            { name: 'HOME', value: '/tmp' },
          ],
          // No GPU: fetching files needs none (the pod's request is the larger of this and the job's).
          resources: exactResources({ cpu: job.resources.cpu, memoryMiB: job.resources.memoryMiB }),
          securityContext: containerSecurityContext(),
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'code', mountPath: '/code' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ]
    : [];
  const inputMounts = hasInputs
    ? [
        { name: 'data', mountPath: '/data', readOnly: true },
        { name: 'code', mountPath: '/code', readOnly: true },
      ]
    : [];
  const inputEnv = hasInputs
    ? [
        { name: 'BULKHEAD_DATA', value: '/data' },
        { name: 'BULKHEAD_CODE', value: '/code' },
      ]
    : [];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels,
      annotations: { 'bulkhead.dev/priority': String(job.priority) },
    },
    spec: {
      ...(config.kueue.enabled ? { suspend: true } : {}),
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      activeDeadlineSeconds: job.resources.timeoutSeconds,
      ttlSecondsAfterFinished: config.jobTtlSecondsAfterFinished,
      template: {
        metadata: { labels: podLabels, annotations: podBandwidthAnnotations(tenant.quota) },
        spec: {
          serviceAccountName: WORKLOAD_IDENTITY,
          automountServiceAccountToken: false,
          // Service links would leak every Service of the namespace into the environment.
          enableServiceLinks: false,
          restartPolicy: 'Never',
          ...placementFields(tenant, config),
          securityContext: podSecurityContext(config),
          ...(hasInputs ? { initContainers: inputsInit } : {}),
          containers: [
            {
              name: 'job',
              image: job.image ?? config.jobImage,
              imagePullPolicy: config.imagePullPolicy,
              command: [...job.command],
              env: [
                { name: 'BULKHEAD_JOB_ID', value: job.id },
                { name: 'BULKHEAD_TENANT', value: tenant.slug },
                { name: 'BULKHEAD_JOB_TOKEN_FILE', value: `${JOB_TOKEN_MOUNT}/token` },
                { name: 'MLFLOW_TRACKING_URI', value: config.platformApiUrl },
                // MLflow clients read the token from the environment only; the value stays in the Secret.
                tokenFromSecret('MLFLOW_TRACKING_TOKEN'),
                { name: 'HOME', value: '/workspace' },
                ...inputEnv,
                ...userEnv,
              ],
              workingDir: '/workspace',
              resources: exactResources(job.resources),
              securityContext: containerSecurityContext(),
              volumeMounts: [
                { name: 'job-token', mountPath: JOB_TOKEN_MOUNT, readOnly: true },
                { name: 'workspace', mountPath: '/workspace' },
                { name: 'outputs', mountPath: '/outputs' },
                { name: 'tmp', mountPath: '/tmp' },
                ...inputMounts,
              ],
            },
          ],
          volumes: [
            {
              name: 'job-token',
              projected: {
                defaultMode: 0o440,
                sources: [{ secret: { name: job.jobTokenSecretName, items: [{ key: 'token', path: 'token' }] } }],
              },
            },
            scratchVolume('workspace', config),
            scratchVolume('outputs', config),
            scratchVolume('tmp', config),
            ...(hasInputs ? [scratchVolume('data', config), scratchVolume('code', config)] : []),
          ],
        },
      },
    },
  };
};

/**
 * The Secret carrying a job's token, named `job.jobTokenSecretName` in the tenant namespace. The token is
 * a secret value: never render this object into logs, YAML previews or golden files. Apply it before the
 * Job; delete it with the Job (the executor owns both lifetimes).
 */
export const buildJobTokenSecret = (job: ClusterJobSpec, config: ClusterConfig, token: string): KubeObject => {
  validateJob(job);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: job.jobTokenSecretName,
      namespace: tenantNamespace(job.tenant, config),
      labels: { ...managedLabels(job.tenant, 'job'), [labelKeys.jobId]: job.id },
    },
    type: 'Opaque',
    immutable: true,
    stringData: { token },
  };
};
