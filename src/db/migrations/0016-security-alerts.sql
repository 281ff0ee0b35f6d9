-- Security anomaly detection (src/security, docs/security-monitoring.md).
--
-- security_alerts: one row per alert the detector raised. A tenant table like every other (tenant_id, ENABLE +
-- FORCE row-level security, tenant_isolation for the application role, system_access for the system role).
-- Platform-level alerts — credential stuffing from one address, where the failed tokens name no tenant — carry
-- the platform's nil tenant id (00000000-…), the id the platform's own audit chain uses: no tenant's scope
-- can ever see them (no tenant has that id), and only platform admins read them, through withSystem.
-- `dedupe_key` makes raising idempotent: a detector that re-reads events after a restart, or a second
-- replica, cannot raise the same alert twice. The webhook columns are an outbox: the sender delivers rows
-- in state `pending` in the background, with retries and backoff, so no request ever waits on the receiver.
CREATE TABLE security_alerts (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  tenant_slug text NOT NULL DEFAULT '',
  kind text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  principal text NOT NULL,
  -- The detector's key for the principal within the rule: what a false-positive mark teaches it about.
  detector_key text NOT NULL,
  dedupe_key text NOT NULL UNIQUE,
  evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
  first_event_at timestamptz NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'false_positive')),
  marked_by text,
  marked_at timestamptz,
  webhook_state text NOT NULL DEFAULT 'none' CHECK (webhook_state IN ('none', 'pending', 'delivered', 'failed')),
  webhook_attempts integer NOT NULL DEFAULT 0,
  webhook_next_at timestamptz,
  webhook_last_error text
);
CREATE INDEX security_alerts_tenant_idx ON security_alerts (tenant_id, detected_at DESC);
CREATE INDEX security_alerts_webhook_idx ON security_alerts (webhook_next_at) WHERE webhook_state = 'pending';

ALTER TABLE security_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE security_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON security_alerts TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON security_alerts TO bulkhead_system USING (true) WITH CHECK (true);

-- A tenant admin reads its tenant's alerts and marks one a false positive; nothing else.
GRANT SELECT ON security_alerts TO bulkhead_app;
GRANT UPDATE (status, marked_by, marked_at) ON security_alerts TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON security_alerts TO bulkhead_system;

-- The detector's durable cursor into audit_events (by id), one row per reader name, and its lease: with
-- several replicas on one PostgreSQL, the replica holding an unexpired lease is the one detector (the others
-- take over when it lapses). Platform state, not a tenant's: no tenant_id, and only the system role may touch it.
CREATE TABLE security_detector_state (
  name text PRIMARY KEY,
  cursor_id bigint NOT NULL,
  holder text,
  lease_until timestamptz,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT SELECT, INSERT, UPDATE ON security_detector_state TO bulkhead_system;
