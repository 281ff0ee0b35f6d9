-- Issue 16: many Bulkhead replicas on one PostgreSQL.
--
-- platform_replicas: one row per running replica (`bulkhead up`), its heartbeat renewed every
-- BULKHEAD_REPLICA_HEARTBEAT_MS. Replicas whose heartbeat is younger than the lease count as live: the
-- per-replica share of a tenant's request rate is its quota divided by their number.
CREATE TABLE platform_replicas (
  replica_id text PRIMARY KEY CHECK (length(replica_id) BETWEEN 1 AND 200),
  host text NOT NULL,
  pid integer NOT NULL,
  url text,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The leader's lease: one row, taken by whoever finds it expired, renewed by its holder. Every change of
-- holder (and every re-acquisition after the holder let it expire) increments fencing_token; the leader's
-- writes carry the token it was elected with and bulkhead_fence() refuses them once it is not current.
-- Times are the database's clock (now()), never a replica's.
CREATE TABLE platform_leader_lease (
  name text PRIMARY KEY CHECK (name = 'control'),
  holder text,
  fencing_token bigint NOT NULL DEFAULT 0,
  acquired_at timestamptz,
  expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO platform_leader_lease (name) VALUES ('control');

GRANT SELECT, INSERT, UPDATE, DELETE ON platform_replicas TO bulkhead_system;
GRANT SELECT, UPDATE ON platform_leader_lease TO bulkhead_system;

-- The fence: run in the same transaction as a leader's write (first statement after the scope). It
-- takes a share lock on the lease row, so a takeover (an UPDATE of that row) waits for the write to
-- commit, and a write that starts after the takeover sees the new token and fails: a paused old leader
-- that wakes up cannot write. SECURITY DEFINER: tenant-scoped transactions (bulkhead_app) cannot read the
-- lease table themselves.
CREATE FUNCTION bulkhead_fence(token bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM 1 FROM public.platform_leader_lease
   WHERE name = 'control' AND fencing_token = token AND expires_at > clock_timestamp()
   FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fenced: leadership with fencing token % is no longer current', token USING ERRCODE = 'BHFNC';
  END IF;
END $$;

-- Coherent caches: a committed change to what the auth path caches notifies every replica
-- (LISTEN bulkhead_invalidate); the cache TTL stays as the fallback when a notification is missed.
CREATE FUNCTION bulkhead_notify_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  row_data record;
  key text;
BEGIN
  IF TG_OP = 'DELETE' THEN row_data := OLD; ELSE row_data := NEW; END IF;
  -- Separate branches: a record has only its own table's fields.
  IF TG_ARGV[0] IN ('token', 'tenant') THEN
    key := row_data.id::text;
  ELSE
    key := row_data.tenant_id::text;
  END IF;
  PERFORM pg_notify('bulkhead_invalidate', TG_ARGV[0] || ':' || key);
  RETURN NULL;
END $$;

-- Not on every UPDATE: a token's use touches last_used_at, which must not flush every replica's cache.
CREATE TRIGGER api_tokens_invalidate AFTER UPDATE OF revoked_at, role, expires_at, tenant_id OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_invalidate('token');
CREATE TRIGGER tenants_invalidate AFTER UPDATE OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_invalidate('tenant');
CREATE TRIGGER tenant_quotas_invalidate AFTER INSERT OR UPDATE OR DELETE ON tenant_quotas
  FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_invalidate('quota');
CREATE TRIGGER memberships_invalidate AFTER UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_invalidate('role');

-- A submitted job wakes the leader's scheduler at once, whichever replica took the request.
CREATE FUNCTION bulkhead_notify_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bulkhead_jobs', '');
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION bulkhead_notify_jobs();
