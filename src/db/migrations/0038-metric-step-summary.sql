-- get-history-bulk-interval in logarithmic time (issue 20 item 2). MLflow samples a series by the
-- *position* of each step among the sorted distinct steps, and a B-tree cannot give a step's position
-- without counting the steps before it. Most series are logged at steps that form an arithmetic
-- progression (0, 1, 2, … or every 100th step), and for those the position of a step is arithmetic.
--
-- Each latest-metric row (one per run and key, upserted by every log-batch) therefore also summarises
-- the set of distinct steps the series has logged: when that set is exactly
-- {step_min + i · step_stride : 0 ≤ i < step_count} the three columns say so (stride 0 for one step);
-- when it is not, or is not known, step_stride is NULL and stays NULL (a batch merges into the summary
-- only while the union is still such a progression: the bulk interval then reads the steps as before).
-- Rows written before this migration have no summary (NULL).
--
-- Compatible one version back: the previous version's inserts into run_metrics do not maintain the
-- summary. They get `summarized = false` (the column's default; this version writes true), and the bulk
-- interval trusts a summary only while the series has no such row: a partial index finds one in one
-- probe, and is empty unless an older replica wrote points. Rows that exist when this runs read true
-- (the value given when the column was added), and their series have no summary anyway.
ALTER TABLE run_latest_metrics ADD COLUMN step_min bigint, ADD COLUMN step_count bigint, ADD COLUMN step_stride bigint;
ALTER TABLE run_metrics ADD COLUMN summarized boolean NOT NULL DEFAULT true;
ALTER TABLE run_metrics ALTER COLUMN summarized SET DEFAULT false;
CREATE INDEX run_metrics_unsummarized_idx ON run_metrics (tenant_id, run_id, key) WHERE NOT summarized;

-- The summary of the union of two progressions (a series' summary and a batch's), or NULLs when the
-- union is not known to be one: both on one lattice (same stride where both have several steps, offsets
-- congruent) and overlapping or adjacent on it. Arithmetic in numeric: steps may be anywhere in bigint.
CREATE FUNCTION bulkhead_step_union(m bigint, c bigint, d bigint, bm bigint, bc bigint, bd bigint,
                                    OUT step_min bigint, OUT step_count bigint, OUT step_stride bigint)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
  hi numeric;
  bhi numeric;
  s numeric;
  lo numeric;
  top numeric;
BEGIN
  IF m IS NULL OR c IS NULL OR d IS NULL OR bm IS NULL OR bc IS NULL OR bd IS NULL THEN RETURN; END IF;
  IF c = 1 AND bc = 1 THEN
    IF m = bm THEN
      step_min := m; step_count := 1; step_stride := 0;
      RETURN;
    END IF;
    s := abs(bm::numeric - m);
  ELSIF c = 1 THEN s := bd;
  ELSIF bc = 1 OR d = bd THEN s := d;
  ELSE RETURN;
  END IF;
  IF s <= 0 OR mod(bm::numeric - m, s) <> 0 THEN RETURN; END IF;
  hi := m::numeric + (c - 1)::numeric * d;
  bhi := bm::numeric + (bc - 1)::numeric * bd;
  IF bm > hi + s OR m > bhi + s THEN RETURN; END IF;
  lo := least(m::numeric, bm::numeric);
  top := greatest(hi, bhi);
  step_min := lo; step_count := (top - lo) / s + 1; step_stride := s;
END
$fn$;
