/**
 * The Kubernetes backend: tenants as namespaces, jobs as batch/v1 Jobs, endpoints as Deployments +
 * ClusterIP Services, and Kueue for quota-aware fair queueing.
 *
 * Owns:
 * - pure, deterministic manifest builders (tenant bundle, jobs, endpoints, Kueue queues and flavors);
 * - the static multi-tenancy policy checks run over rendered objects (after the Multi-Tenancy Benchmark);
 * - multi-document YAML rendering;
 * - the mapping from Job / Pod / Kueue Workload status to the platform's job outcome;
 * - the reconciler: server-side apply (field manager `bulkhead`), drift detection, pruning, tenant
 *   deletion — through the injected `KubernetesClient`, with an adapter for `@kubernetes/client-node`;
 * - endpoint generations: the Deployment + Service + token Secret builders and the pure reading of a
 *   Deployment's rollout status (`observeEndpointGeneration`); the IO around them is the platform's
 *   (src/main/cluster-serving.ts);
 * - the cluster job executor (`createClusterJobExecutor`): runs one job as a Job with the local executor's
 *   contract (`RunningJob`, `Outcome`) — applies its token Secret and the Job, polls the Job, its pods and
 *   (with Kueue) its Workload, reports progress, streams the pod log (`PodLogSource`, adapter over
 *   client-node's `Log`), cancels by deleting the Job, preempts by deleting its pods with a grace, and
 *   always deletes the token Secret. Its decisions are the pure `nextStep`.
 *
 * Does not own:
 * - reading tenants, jobs or endpoints from the database, or mapping them onto the specs here;
 * - deciding admission (Bulkhead's scheduler, or Kueue when enabled), job state transitions, retries;
 * - choosing between the local and the cluster executor or serving backend (the composition root does);
 * - HTTP routes (`GET .../kubernetes/bundle`) and CLI commands (`bulkhead k8s render|apply`);
 * - loading the kubeconfig or cluster configuration from the environment (the composition root does);
 * - storing job outputs and logs (the executor hands pod log lines to its caller; jobs upload outputs with
 *   their token);
 * - installing cluster prerequisites: Kueue, RuntimeClasses, node pools, a NetworkPolicy-enforcing CNI.
 */
export type {
  ClusterConfig,
  EndpointSpec,
  ImagePullPolicy,
  IsolationTier,
  JobResources,
  ClusterJobSpec,
  KubeObject,
  KueueConfig,
  Labels,
  ManagedComponent,
  ResourceAmounts,
  TenantQuota,
  TenantSpec,
  TenantTreePlacement,
  TenantStatus,
} from './kubernetes-types.ts';
export type { ClusterConfigInput, TenantPlacement } from './naming.ts';
export {
  createClusterConfig,
  defaultClusterConfig,
  FIELD_MANAGER,
  labelKeys,
  managedSelector,
  tenantNamespace,
  tenantPlacement,
  tenantSpecOf,
} from './naming.ts';
export { buildTenantBundle } from './tenant-bundle.ts';
export { buildJobManifest, buildJobTokenSecret, clusterJobSpecOf, jobName } from './job-manifest.ts';
export { buildGangJobObjects, buildGpuFlavorObjects, gangServiceName, GANG_PORT } from './gang-manifest.ts';
export type { GangOptions, GpuFlavor } from './gang-manifest.ts';
export {
  buildEndpointManifests,
  buildEndpointTokenSecret,
  ENDPOINT_GENERATION_ANNOTATION,
  endpointObjectName,
  endpointTokenSecretName,
} from './endpoint-manifest.ts';
export type { EndpointObservation, EndpointPhase } from './endpoint-status.ts';
export { observeEndpointGeneration } from './endpoint-status.ts';
export { buildClusterKueueObjects, buildKueueConfiguration, buildTenantKueueObjects, validateKueueObject } from './kueue.ts';
export type { PolicyCheck, PolicyContext, PolicyResult } from './policy-checks.ts';
export { policyChecks, policyContextFor, policyViolations, runPolicyChecks } from './policy-checks.ts';
export { renderYaml } from './render-yaml.ts';
export type {
  JobObservation,
  JobOutcome,
  JobProgress,
  ObservedJob,
  ObservedPod,
  ObservedWorkload,
} from './outcome-mapping.ts';
export { mapJobOutcome } from './outcome-mapping.ts';
export type {
  DeleteTenantResult,
  DriftEntry,
  FieldDifference,
  KindRef,
  KubernetesClient,
  ObjectRef,
  PodLogSource,
  PropagationPolicy,
  ReconcileOptions,
  ReconcileResult,
} from './reconciler.ts';
export {
  createKubernetesClient,
  createPodLogSource,
  deleteTenant,
  diffOwnedFields,
  ENDPOINT_PRUNE_KINDS,
  reconcileTenant,
  TENANT_PRUNE_KINDS,
} from './reconciler.ts';
export type {
  ClusterJob,
  ClusterJobExecutor,
  ClusterJobExecutorLog,
  ClusterJobExecutorOptions,
  ClusterJobRun,
  ClusterObservation,
  ClusterPod,
  JobEnding,
  StopRequest,
  WatchState,
  WatchStep,
  WatchTiming,
} from './cluster-job-executor.ts';
export {
  createClusterJobExecutor,
  initialWatchState,
  KUEUE_ADMITTED_REASON,
  nextStep,
  withStop,
} from './cluster-job-executor.ts';
