/**
 * Every table that holds rows of a tenant (it has a `tenant_id` column, or is `tenants` itself), in one
 * place, sorted by what tenant deletion does with it. test/tenant-delete.int.test.ts compares this list with
 * information_schema after all migrations: a migration that adds a tenant table fails that test until the
 * table is listed here.
 */

/**
 * A tenant's data, deleted in this order in one transaction: children before their parents, so that
 * foreign keys without ON DELETE CASCADE (artifact_files and dataset_files → blobs) hold at every
 * statement and each table's count is its own (nothing has been removed by a cascade first).
 */
export const tenantDataTables = [
  // Model registry and lineage.
  'model_lineage',
  'registered_model_aliases',
  'model_version_tags',
  'model_versions',
  'registered_model_tags',
  'registered_models',
  // MLflow 3 logged models (0009): they reference runs and experiments, so they go first.
  'run_model_links',
  'logged_model_latest_metrics',
  'logged_model_metrics',
  'logged_model_params',
  'logged_model_tags',
  'logged_models',
  // Experiment tracking. run_metrics has no foreign key at all (see 0002): deleted explicitly.
  'run_metrics',
  'run_latest_metrics',
  'run_inputs',
  'run_params',
  'run_tags',
  'runs',
  'experiment_tags',
  'experiments',
  'tracking_counters',
  // Datasets, artifacts, blobs, storage accounting, and the tenant's wrapped data key (crypto-shredding:
  // without it, no copy of the tenant's ciphertext can be decrypted again).
  'dataset_files',
  'dataset_versions',
  'datasets',
  'artifact_files',
  'multipart_parts',
  'multipart_uploads',
  'blobs',
  'storage_reservations',
  'storage_usage',
  'tenant_data_keys',
  // Serving, jobs, identity. Tokens before jobs (job tokens reference their job).
  'deployment_logs',
  'deployments',
  'api_tokens',
  // GPU shares (0029) reference their job and the shared device's grant; grants (0023) their job.
  'gpu_shares',
  'gpu_grants',
  // Service accounts (0026): after the tokens that reference them.
  'service_accounts',
  'job_logs',
  'jobs',
  // OCI images (0024): rows only; the shared files go at the next image garbage collection.
  'images',
  'image_defaults',
  'registry_credentials',
  // Metered usage (0015): no foreign key but the tenant's.
  'usage_ledger',
  // Decayed usage for fair share (0022).
  'fair_share_usage',
  'memberships',
  // Custom roles (0025): after the memberships and tokens that name them.
  'tenant_roles',
  // Security alerts (0016): the alert rows go with the tenant; their `security.alert` audit events stay.
  'security_alerts',
  // Cross-tenant lineage edges (0034) of objects the tenant owns. Edges of its uses of other tenants'
  // objects go with its tenants row (grantee_id ON DELETE CASCADE).
  'shared_uses',
  // Shares the tenant granted (0021). Shares granted *to* it go with its tenants row (ON DELETE CASCADE).
  'tenant_shares',
] as const;

/**
 * The tenant record: deleted last, after the tenant's files, so that an interrupted deletion still finds
 * the tenant (suspended, deletion started) and can be run again. `tenants` is keyed by `id`, the others by
 * `tenant_id`.
 */
export const tenantRecordTables = ['tenant_quotas', 'tenants'] as const;

/** Tables with a `tenant_id` that tenant deletion keeps, and why. */
export const retainedTenantTables = {
  audit_events: 'the audit log is append-only and hash-chained: a deleted tenant\'s chain stays verifiable',
  audit_checkpoints: 'the signed heads of the audit chains',
} as const;

export type TenantDataTable = (typeof tenantDataTables)[number];
export type TenantRecordTable = (typeof tenantRecordTables)[number];
