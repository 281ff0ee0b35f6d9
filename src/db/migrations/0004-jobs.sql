-- Training jobs: records, logs, and the per-tenant counter row that serialises submissions.
-- Every table is tenant-owned: ENABLE + FORCE row-level security, as in 0001.

CREATE TABLE jobs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  status text NOT NULL CHECK (status IN ('queued', 'admitted', 'running', 'succeeded', 'failed', 'oom_killed',
                                         'timed_out', 'cancelled', 'preempted', 'refused')),
  tier text NOT NULL CHECK (tier IN ('process', 'sandbox', 'dedicated')),
  command jsonb NOT NULL,
  env jsonb NOT NULL DEFAULT '{}'::jsonb,
  cpu numeric NOT NULL CHECK (cpu > 0),
  memory_mib integer NOT NULL CHECK (memory_mib > 0),
  gpu integer NOT NULL DEFAULT 0 CHECK (gpu >= 0),
  timeout_seconds integer NOT NULL CHECK (timeout_seconds > 0),
  priority integer NOT NULL DEFAULT 0,
  datasets jsonb NOT NULL DEFAULT '[]'::jsonb,
  code_bundle text,
  code_digest text,
  run_id text,
  experiment_id text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- When the job (re)entered the queue: FIFO order within a priority, and "waiting since" in explain.
  queued_at timestamptz NOT NULL DEFAULT now(),
  admitted_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  preemptions integer NOT NULL DEFAULT 0,
  cancel_requested boolean NOT NULL DEFAULT false,
  exit_code integer,
  reason text,
  usage jsonb,
  outputs jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant_id, created_at DESC);
CREATE INDEX jobs_active_idx ON jobs (status) WHERE status IN ('queued', 'admitted', 'running');

CREATE TABLE job_logs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  stream text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
  line text NOT NULL,
  logged_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, seq)
);

-- Job tokens are api_tokens of kind 'job', bound to one job; they only work through that job's relay.
ALTER TABLE api_tokens ADD COLUMN job_id uuid REFERENCES jobs (id) ON DELETE CASCADE;

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON jobs TO bulkhead_system USING (true) WITH CHECK (true);

ALTER TABLE job_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_logs TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON job_logs TO bulkhead_system USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON jobs TO bulkhead_app;
GRANT SELECT, INSERT ON job_logs TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, job_logs TO bulkhead_system;
