-- Ingest (issue 20 item 4): runs, run_params and run_tags each checked `tenant_id REFERENCES tenants` on
-- every inserted row, although another key of the same row already implies it: a run references its
-- experiment by (tenant_id, experiment_id), and the experiment references its tenant; a param or tag
-- references its run by (tenant_id, run_id). Each of those checks was one more trigger call (an SPI query
-- that takes FOR KEY SHARE on the tenant's row, the one row every concurrent write of the tenant locks)
-- per inserted row. Deleting a tenant still cascades: tenants → experiments → runs → params and tags.
-- Measured with bench/ingest-statements.ts: 5–8 % less backend CPU per run (docs/benchmarks.md).
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_tenant_id_fkey;
ALTER TABLE run_params DROP CONSTRAINT IF EXISTS run_params_tenant_id_fkey;
ALTER TABLE run_tags DROP CONSTRAINT IF EXISTS run_tags_tenant_id_fkey;
