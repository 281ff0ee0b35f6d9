/** A tenant's quota record: the shape the API, the scheduler integration and the Kubernetes builders share. */

export interface ResourceAmounts {
  /** CPU cores; fractions allowed. */
  cpu: number;
  memoryMiB: number;
  /** Whole GPUs. */
  gpu: number;
}

/** Per resource: an amount, or null for "no limit" (lends all its unused nominal). */
export interface LendingLimit {
  cpu: number | null;
  memoryMiB: number | null;
  gpu: number | null;
}

export interface TenantQuota extends ResourceAmounts {
  /** How much idle capacity the tenant may borrow above its nominal (guaranteed) amounts. */
  borrowingLimit: ResourceAmounts;
  /**
   * How much of its unused nominal amounts the tenant lends to its siblings' subtrees (Kueue's
   * lendingLimit); null: all of it. The rest of its nominal stays reserved for it even while idle.
   */
  lendingLimit: LendingLimit;
  maxConcurrentJobs: number;
  maxQueuedJobs: number;
  /** Artifact and dataset bytes, enforced by the artifact store while streaming. */
  storageBytes: number;
  /** API and inference request rate, enforced per tenant at the gateway. */
  requestsPerSecond: number;
  /** Fair-share weight, > 0. */
  weight: number;
  /** Bytes per second the platform receives for the tenant (uploads, request bodies), > 0; see docs/bandwidth.md. */
  ingressBytesPerSecond: number;
  /** Ingress bytes that may pass at once after an idle period. */
  ingressBurstBytes: number;
  /** Bytes per second the platform sends for the tenant (downloads, response bodies), > 0. */
  egressBytesPerSecond: number;
  /** Egress bytes that may pass at once after an idle period. */
  egressBurstBytes: number;
}

/** Database time (issue #25), enforced by the tenant gate of the data layer (src/db/db-time-quota.ts). */
export interface TenantQuota {
  /** The longest one of the tenant's database statements may run, in ms; over it: 429 DB_STATEMENT_TIMEOUT. */
  dbStatementTimeoutMs: number;
  /** The tenant's database operations admitted at once per platform process; over it: 429 DB_CONCURRENCY_LIMITED. */
  dbMaxConcurrentOperations: number;
  /**
   * Milliseconds of database time the tenant's operations may use per second on average (one second of it as
   * a burst); 0 = unlimited. Over it an operation waits; past the queue wait: 429 DB_TIME_LIMITED.
   */
  dbTimeMsPerSecond: number;
}
