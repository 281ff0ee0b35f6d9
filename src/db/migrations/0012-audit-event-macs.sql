-- Audit events carry a MAC made with a key derived from the master key, which never enters the database
-- (docs/audit.md): a role that can write this table, a superuser included, cannot make a row that verifies.
--   event_uid       random id chosen by the writer and covered by the MAC: a copied row is a duplicate
--   mac, mac_kind   HMAC of the event's fields, tenant and uid; 'append' when the writing transaction made
--                   it, 'adopted' when the first start after this migration MACed an event written before it
--   seal_mac        HMAC binding a sealed event to its chain position (tenant, chain_seq, prev_hash, hash, mac)
--   quarantined_at  set by the sealer on a pending event whose MAC does not verify: never sealed
-- Events written before this migration have none of these until the platform's first start adopts them.
ALTER TABLE audit_events
  ADD COLUMN event_uid uuid,
  ADD COLUMN mac text,
  ADD COLUMN mac_kind text CHECK (mac_kind IN ('append', 'adopted')),
  ADD COLUMN seal_mac text,
  ADD COLUMN quarantined_at timestamptz;
CREATE UNIQUE INDEX audit_events_uid_idx ON audit_events (event_uid);

-- The sealer fills in the MAC columns of adopted events and the seal MAC, and quarantines forged rows.
-- Without the key none of these can be made to verify, so the grant gives the role no forging power.
GRANT UPDATE (event_uid, mac, mac_kind, seal_mac, quarantined_at) ON audit_events TO bulkhead_system;
