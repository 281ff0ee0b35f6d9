-- Tenant deletion (src/tenants/tenant-deletion.ts; the table list is src/db/tenant-tables.ts).
--
-- A deletion runs in steps (stop jobs and deployments, delete the tenant's rows in one transaction, remove
-- its files, remove the tenant record) and may be interrupted between them. The tenant row stays until the
-- last step and carries when the deletion started: a tenant whose deletion has started cannot be resumed
-- (made active again), and running the deletion again finishes it.
ALTER TABLE tenants ADD COLUMN deletion_started_at timestamptz;

-- The deletion's transaction runs as the system role, which so far could only read these tables (the
-- application deletes artifacts and blobs as the tenant itself; dataset versions and data keys are never
-- deleted but with their tenant). Dataset versions stay immutable: their trigger refuses UPDATE, not DELETE.
GRANT DELETE ON tenant_data_keys, storage_usage, blobs, artifact_files, datasets, dataset_versions, dataset_files TO bulkhead_system;
