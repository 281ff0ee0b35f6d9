-- Browser sessions of the web console (issue 11; src/http/console/console-sessions.ts). The cookie holds a
-- 256-bit random session secret; this table holds only its SHA-256, the SHA-256 of the session's CSRF
-- token, and the caller's access token sealed (AES-256-GCM) under a key derived from the session secret:
-- a copy of this table alone yields no usable credential. Every request re-authenticates the unsealed
-- token, so a revoked token or a suspended tenant ends its sessions at once. Platform-level rows (no
-- tenant_id): only the system role reads or writes them.
CREATE TABLE console_sessions (
  id uuid PRIMARY KEY,
  session_hash text NOT NULL UNIQUE,
  csrf_hash text NOT NULL,
  sealed_token text NOT NULL,
  -- The api_tokens row the session acts as, and whether signing out revokes it (password sign-in mints a
  -- session token of its own; a pasted access token is left alone).
  token_id uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  owns_token boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_id);

ALTER TABLE console_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE console_sessions FORCE ROW LEVEL SECURITY;
-- No policy for bulkhead_app: a tenant-scoped transaction sees no session at all.
CREATE POLICY system_access ON console_sessions TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions TO bulkhead_system;
-- Each sign-in deletes sessions that ended (expired or revoked) more than a day ago.
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
