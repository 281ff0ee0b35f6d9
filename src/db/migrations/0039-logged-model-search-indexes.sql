-- logged-models/search at 100k models per experiment (issue 20 item 2): a page reads its rows in order
-- from an index and stops after max_results + 1, for the default order, every attribute order that
-- matters and `order_by metrics.<key>` (src/tracking/logged-model-service.ts, `searchLoggedModels`; plans
-- proven in src/tracking/logged-model-search-plans.int.test.ts).
--
-- Attribute orders. Each index is (tenant_id, experiment_id) followed by the order the compiler
-- (search-filter.ts, compileLoggedModelOrderBy) writes for that order_by, its tie-breakers included
-- (creation_time DESC, then id). The search states `tenant_id = $tenant` and reads one experiment per
-- LATERAL branch, so each branch is one index range. Names repeat a lot (MLflow's clients log every
-- version of a model under one name), so name has an index per direction: with one index, the other
-- direction would sort each group of equal names, i.e. all models when they share one. Equal times are
-- rare, so time orders have one index and the other direction sorts each (tiny) group of equal times.
-- logged_models_creation_idx replaces 0009's (tenant_id, experiment_id, creation_time DESC) and also
-- serves the experiments foreign key. Models are created a few per training run, so five indexes cost
-- little against one log_model call (several requests and an artifact upload).
CREATE INDEX logged_models_creation_idx ON logged_models (tenant_id, experiment_id, creation_time DESC, id);
DROP INDEX logged_models_experiment_idx;
CREATE INDEX logged_models_updated_idx ON logged_models (tenant_id, experiment_id, last_updated_time DESC, creation_time DESC, id);
CREATE INDEX logged_models_name_idx ON logged_models (tenant_id, experiment_id, name, creation_time DESC, id);
CREATE INDEX logged_models_name_desc_idx ON logged_models (tenant_id, experiment_id, name DESC, creation_time DESC, id);
CREATE INDEX logged_models_id_idx ON logged_models (tenant_id, experiment_id, id);

-- Metric orders. `order_by metrics.<key>` sorts by each model's latest point of the key (by timestamp,
-- then step; of equal (timestamp, step) the largest value, NaN above every number as PostgreSQL orders
-- float8), over all its points, over the points of one dataset name, or of one (name, digest). Computing
-- that per model on every page was linear in the experiment's models; this table keeps it, one row per
-- (model, key, dataset selector), upserted by the statement that links the points to the model
-- (insertLoggedModelMetrics in logged-model-queries.ts: same statement, same transaction).
-- dataset_name / dataset_digest are the selector: '' stands for "any" ('', '' = all the model's points of
-- the key; 'n', '' = the points of dataset n, whatever the digest; 'n', 'd' = of (n, d)). A stored point's
-- dataset fields are never '' (validation turns '' into absent), so '' cannot clash with a real name.
-- experiment_id and creation_time are copied from the model (neither ever changes) so that the search
-- index holds the whole order: (key, selector, value, creation_time DESC, model_id) within the
-- experiment. The other direction (value DESC, creation_time DESC, id ASC) reads the same index backwards
-- and sorts each group of equal values; a second index would double the write cost for ties that are
-- rare in metric values.
CREATE TABLE logged_model_latest_metrics (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model_id text NOT NULL,
  key text NOT NULL,
  dataset_name text NOT NULL,
  dataset_digest text NOT NULL,
  experiment_id bigint NOT NULL,
  creation_time bigint NOT NULL,
  value double precision NOT NULL,
  timestamp bigint NOT NULL,
  step bigint NOT NULL,
  PRIMARY KEY (tenant_id, model_id, key, dataset_name, dataset_digest),
  FOREIGN KEY (tenant_id, model_id) REFERENCES logged_models (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX logged_model_latest_metrics_search_idx
  ON logged_model_latest_metrics (tenant_id, experiment_id, key, dataset_name, dataset_digest, value, creation_time DESC, model_id);

-- The points linked so far, with the rule above (DISTINCT ON keeps the first row of each selector in
-- (timestamp, step, value) DESC order).
INSERT INTO logged_model_latest_metrics (tenant_id, model_id, key, dataset_name, dataset_digest, experiment_id, creation_time, value, timestamp, step)
SELECT DISTINCT ON (d.tenant_id, d.model_id, d.key, s.name, s.digest)
       d.tenant_id, d.model_id, d.key, s.name, s.digest, lm.experiment_id, lm.creation_time, d.value, d.timestamp, d.step
  FROM logged_model_metrics d
  JOIN logged_models lm ON lm.tenant_id = d.tenant_id AND lm.id = d.model_id
 CROSS JOIN LATERAL (VALUES ('', ''), (d.dataset_name, ''), (d.dataset_name, d.dataset_digest)) AS s(name, digest)
 WHERE s.name IS NOT NULL AND s.digest IS NOT NULL
 ORDER BY d.tenant_id, d.model_id, d.key, s.name, s.digest, d.timestamp DESC, d.step DESC, d.value DESC;

-- Row-level security and privileges exactly as the other logged-model tables (0009).
ALTER TABLE logged_model_latest_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE logged_model_latest_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON logged_model_latest_metrics TO bulkhead_app
  USING (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON logged_model_latest_metrics TO bulkhead_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON logged_model_latest_metrics TO bulkhead_app, bulkhead_system;

-- Planner statistics (0014's keeper): the logged-model tables join the tables it keeps fresh, so a search
-- after a bulk of new models plans with their real sizes. The same function, with five more names.
CREATE OR REPLACE FUNCTION tracking_refresh_statistics() RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  t record;
  done text[] := '{}';
BEGIN
  FOR t IN
    SELECT c.relname FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND c.relname IN ('runs', 'run_latest_metrics', 'run_params', 'run_tags', 'experiments', 'experiment_tags',
                         'registered_models', 'registered_model_tags', 'model_versions', 'model_version_tags', 'run_inputs',
                         'logged_models', 'logged_model_tags', 'logged_model_params', 'logged_model_metrics',
                         'logged_model_latest_metrics')
       AND (
         -- never analyzed, and not empty
         (c.reltuples < 0 AND pg_relation_size(c.oid) > 0)
         -- grew by more than 20 % (+ 8 pages) since the last analyze: works where the activity counters
         -- below lag (PostgreSQL flushes them up to 10 s late) or are never flushed (PGlite)
         OR pg_relation_size(c.oid) / current_setting('block_size')::bigint > 1.2 * c.relpages + 8
         -- autovacuum's rule on the activity counters
         OR coalesce(s.n_mod_since_analyze, 0) > 50 + 0.1 * greatest(c.reltuples, 0))
     ORDER BY c.relname
  LOOP
    EXECUTE format('ANALYZE %I', t.relname);
    done := done || t.relname::text;
  END LOOP;
  RETURN done;
END
$fn$;
REVOKE ALL ON FUNCTION tracking_refresh_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracking_refresh_statistics() TO bulkhead_system;
