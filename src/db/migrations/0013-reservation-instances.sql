-- Storage reservations carry the run of the platform that holds them (`<pid>:<start time>:<random>@<host>`),
-- so start-up recovery can release the reservations of a process that died mid-upload instead of letting
-- them count against the tenant's quota until they expire. NULL: not tied to a process (a multipart
-- upload's staged parts, which outlive the request that sent them; rows older than this migration).
-- The table keeps its row-level security (ENABLE + FORCE, tenant_isolation and system_access from 0003);
-- the new column needs no policy of its own.
ALTER TABLE storage_reservations ADD COLUMN instance_id text;
CREATE INDEX storage_reservations_instance_idx ON storage_reservations (instance_id) WHERE instance_id IS NOT NULL;
