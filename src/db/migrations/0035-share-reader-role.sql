-- Shared reads get a role of their own (issue 20, after issue 15): bulkhead_share_reader.
--
-- Until now the shared_read policies (0021, 0022, 0030, 0034) applied to bulkhead_app, the role of every
-- tenant transaction. Permissive policies are ORed, so in every ordinary transaction the planner saw
-- `tenant_id = <tenant> OR (tenant_id = <shared owner> AND EXISTS …)` on each of these tables, although
-- the shared owner is never set there. That OR cost twice:
--   * estimates: a statement that names its tenant (the run search does, for index ranges) had the tenant
--     counted twice — the OR's selectivity times the equality's — so a tenant holding a tenth of the rows
--     was expected to hold a hundredth, and another tenant's volume changed its plans: measured at 10k
--     runs of B next to 100k of A, `metrics.m0 > 0.5 order_by metrics.m1 DESC` took 30.5 ms instead of
--     3.4 ms alone (read-all-and-sort instead of an index walk);
--   * planning: every statement planned the share subqueries it never ran (on PGlite a search statement
--     planned in 3.9 ms instead of about 1).
-- Now bulkhead_app has only tenant_isolation: `tenant_id = <tenant>`, an equality that joins the
-- statement's own `tenant_id = '<uuid>'` in one equivalence class (counted once). Shared reads
-- (scope.ts withSharedRead, and nothing else) run as bulkhead_share_reader, a member of bulkhead_app: it
-- has bulkhead_app's privileges and policies (its own rows) plus the shared_read policies, i.e. exactly
-- what bulkhead_app had before in a shared-read transaction. A transaction that sets the shared owner as
-- bulkhead_app now sees nothing of the owner.
--
-- The role is created only when missing (as 0001 does for the other two: CREATE ROLE checks CREATEROLE
-- first), and made a member of bulkhead_app only when it is not one yet. The login role the platform
-- connects with must be granted it, like the other two (README, PostgreSQL).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulkhead_share_reader') THEN
    CREATE ROLE bulkhead_share_reader NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
  IF NOT pg_has_role('bulkhead_share_reader', 'bulkhead_app', 'USAGE') THEN
    GRANT bulkhead_app TO bulkhead_share_reader;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE EXCEPTION 'bulkhead_share_reader must be a member of bulkhead_app, and this migration may not grant it: as a superuser run GRANT bulkhead_app TO bulkhead_share_reader (and GRANT bulkhead_share_reader TO the platform''s login role), then start again (README, PostgreSQL)';
END $$;

DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT tablename FROM pg_policies
            WHERE schemaname = current_schema() AND policyname = 'shared_read' AND roles = '{bulkhead_app}'
  LOOP
    EXECUTE format('ALTER POLICY shared_read ON %I TO bulkhead_share_reader', p.tablename);
  END LOOP;
END $$;
