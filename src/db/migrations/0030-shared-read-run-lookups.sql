-- Run search under the share policies (issue 20 after issue 15). The shared_read policies of 0022 admit a
-- run's params, tags, metrics and dataset inputs when its run is visible, through
-- `EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = x.tenant_id AND r.id = x.run_id)`. Inside the OR with
-- tenant_isolation, PostgreSQL may turn that EXISTS into a hashed subplan that reads every visible run
-- of the tenant once per statement (a BitmapOr over both tenant settings, 100k runs in a shared search of
-- a 100-row page). `OFFSET 0` keeps it a lookup per row by (tenant_id, id) (runs_tenant_id_id_key): the
-- planner does not flatten or hash a subquery with an OFFSET. Same meaning, row for row; the run's own
-- policies (tenant_isolation OR shared_read through tenant_shares) still decide whether the run is visible.
DROP POLICY shared_read ON run_params;
CREATE POLICY shared_read ON run_params FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_params.tenant_id AND r.id = run_params.run_id OFFSET 0));
DROP POLICY shared_read ON run_tags;
CREATE POLICY shared_read ON run_tags FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_tags.tenant_id AND r.id = run_tags.run_id OFFSET 0));
DROP POLICY shared_read ON run_metrics;
CREATE POLICY shared_read ON run_metrics FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_metrics.tenant_id AND r.id = run_metrics.run_id OFFSET 0));
DROP POLICY shared_read ON run_latest_metrics;
CREATE POLICY shared_read ON run_latest_metrics FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_latest_metrics.tenant_id AND r.id = run_latest_metrics.run_id OFFSET 0));
DROP POLICY shared_read ON run_inputs;
CREATE POLICY shared_read ON run_inputs FOR SELECT TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.shared_owner', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = run_inputs.tenant_id AND r.id = run_inputs.run_id OFFSET 0));
