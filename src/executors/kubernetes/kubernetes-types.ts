/**
 * Inputs of the Kubernetes manifest builders, and the shape of what they produce. The platform maps its own
 * records (tenants, jobs, endpoints) onto these; nothing here knows about the database.
 */

import type { IsolationTier, TenantStatus } from '../../contract/roles.ts';
import type { ResourceAmounts, TenantQuota } from '../../contract/quota.ts';

export type { IsolationTier, TenantStatus, ResourceAmounts, TenantQuota };

export interface TenantSpec {
  id: string;
  /** DNS-1123 label; the namespace is `namespacePrefix + slug`. */
  slug: string;
  name: string;
  tier: IsolationTier;
  status: TenantStatus;
  quota: TenantQuota;
  /**
   * The tenant's place in the tenant tree (issue 15), for Kueue's hierarchical cohorts. Missing: a flat
   * tenant, whose ClusterQueue joins `kueue.cohort` as before.
   */
  tree?: TenantTreePlacement | undefined;
}

export interface TenantTreePlacement {
  /** The parent organization's slug; null for a root tenant (its queue or cohort joins `kueue.cohort`). */
  parentSlug: string | null;
  /**
   * For an organization (a tenant with children): the sum of its direct children's nominal amounts, which
   * are carved out of its own. Its Cohort holds the rest (nominal − children's); undefined for a leaf.
   */
  childrenNominal?: { cpu: number; memoryMiB: number; gpu: number } | undefined;
}

export type Labels = Readonly<Record<string, string>>;
export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface KueueConfig {
  enabled: boolean;
  /** Every tenant ClusterQueue joins this cohort so idle quota can be borrowed and reclaimed. */
  cohort: string;
  /** The ResourceFlavor of the shared node pool (used by `process` and `sandbox` tenants). */
  sharedFlavor: { name: string; nodeLabels: Labels };
  queueingStrategy: 'BestEffortFIFO' | 'StrictFIFO';
  /**
   * Kueue WorkloadPriorityClasses the platform's numeric job priority maps onto: the class with the highest
   * `minPriority` not above the job's priority wins. Empty: no priority class label.
   */
  priorityClasses: readonly { name: string; minPriority: number }[];
  /**
   * Admission fair sharing's usage half-life (Kueue Configuration `admissionFairSharing.usageHalfLifeTime`),
   * ms: the platform's fair-share half-life (BULKHEAD_FAIR_SHARE_HALF_LIFE), default 7 days.
   */
  usageHalfLifeMs: number;
}

export interface ClusterConfig {
  /** Tenant namespaces are `namespacePrefix + slug`. */
  namespacePrefix: string;
  /** Where the Bulkhead API server runs. */
  platformNamespace: string;
  platformApiSelector: Labels;
  platformApiPort: number;
  /** In-cluster URL of the API as seen from a job (MLFLOW_TRACKING_URI). */
  platformApiUrl: string;
  gatewayNamespace: string;
  gatewaySelector: Labels;
  dnsNamespace: string;
  dnsSelector: Labels;
  /** RuntimeClass for `sandbox` tenants; unset: the cluster's default runtime. */
  sandboxRuntimeClass?: string;
  /** VM-backed RuntimeClass for `dedicated` tenants (`gvisor`, `kata`, ...). */
  dedicatedRuntimeClass: string;
  /** Dedicated nodes carry label `labelKey=<slug>` and taint `taintKey=<slug>:NoSchedule`. */
  dedicatedNodePool: { labelKey: string; taintKey: string };
  kueue: KueueConfig;
  /** Default image for jobs when a ClusterJobSpec names none. */
  jobImage: string;
  /**
   * The platform's own image (it holds the `bulkhead` CLI): runs a job's `inputs` init container, which
   * fetches its code bundle and datasets through the API with the job token, and an endpoint's pods (its
   * `model` init container and the `bulkhead serve-model` server).
   */
  platformImage: string;
  imagePullPolicy: ImagePullPolicy;
  /** UID/GID workloads run as; never 0. */
  runAsUser: number;
  /** LimitRange defaults for containers that declare no resources. */
  containerDefaults: { cpu: number; memoryMiB: number };
  /** Size cap of each scratch emptyDir (/tmp, /workspace, /outputs). */
  scratchSizeMiB: number;
  /** Room in the pods quota for endpoint replicas (jobs get `maxConcurrentJobs`). */
  maxEndpointPods: number;
  endpointPort: number;
  /** Finished Jobs are garbage-collected after this long; the platform collects results before. */
  jobTtlSecondsAfterFinished: number;
}

export interface JobResources extends ResourceAmounts {
  timeoutSeconds: number;
}

export interface ClusterJobSpec {
  id: string;
  tenant: TenantSpec;
  /** argv; the first element is the program. */
  command: readonly string[];
  /** Non-secret environment only; secrets travel as projected volumes. */
  env: Readonly<Record<string, string>>;
  resources: JobResources;
  /** Unset: the cluster's `jobImage`. */
  image?: string;
  /** Higher runs first; mapped onto a Kueue WorkloadPriorityClass when configured. */
  priority: number;
  /** Secret (in the tenant namespace) holding the short-lived job token under key `token`. */
  jobTokenSecretName: string;
  /**
   * The job's inputs. When it has any, an init container (the platform image) fetches them through the
   * API into emptyDirs mounted read-only at `/code` and `/data/<name>` in the job container.
   */
  inputs?: { codeBundle: string | null; datasets: readonly { name: string; version: number }[] };
}

export interface EndpointSpec {
  /** DNS-1123 label, unique within the tenant. */
  name: string;
  tenant: TenantSpec;
  model: string;
  version: string;
  replicas: number;
  resources: { cpu: number; memoryMiB: number };
  /**
   * The platform's generation of this endpoint (lowercase letters and digits, at most 16): a new model
   * version or resources is a new generation, with its own token Secret, which rolls the pods.
   */
  generation: string;
  /** Secret (in the tenant namespace) holding this generation's endpoint token under key `token`. */
  tokenSecretName: string;
  /** The artifact path of the generation's `model.onnx` in the tenant's store; the token may read it and nothing else. */
  modelArtifactPath: string;
}

/** A rendered Kubernetes object: plain JSON, key order fixed by the builders so YAML output is stable. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** What part of the platform an object belongs to; the reconciler prunes per component. */
export type ManagedComponent = 'tenant' | 'job' | 'endpoint';
