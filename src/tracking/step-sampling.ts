/**
 * get-history-bulk-interval from step summaries (migration 0038): when every series asked for logged its
 * distinct steps as an arithmetic progression on one lattice, MLflow's sampled steps are computed here
 * from the summaries alone, and the database is asked only for the points at those steps — one index
 * probe per run and chosen step, whatever the length of the series. Anything else (a series with no
 * summary, progressions on different lattices) is left to the scanning statement (`bulkIntervalSql`).
 *
 * Steps are bigint here: positions `floor(k · n / max_results)` overflow doubles once a series is long.
 */

/** The distinct steps of one series: {first + i · stride : 0 ≤ i < count}, stride 0 when count is 1. */
export interface StepSummary {
  first: bigint;
  count: bigint;
  stride: bigint;
}

/**
 * The summary of each requested run's series (none for a run that never logged the key), whether the
 * summary can be trusted, and the series' highest step. Read as text: bigint steps exceed doubles.
 * `unsummarized`: the series has history rows written by a version that did not keep summaries.
 */
export const stepSummarySql = `SELECT u.id, l.step::text AS step, l.step_min::text AS step_min, l.step_count::text AS step_count,
       l.step_stride::text AS step_stride,
       EXISTS (SELECT 1 FROM run_metrics m WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3 AND NOT m.summarized) AS unsummarized
  FROM unnest($2::text[]) AS u(id)
  LEFT JOIN run_latest_metrics l ON l.tenant_id = $1::uuid AND l.run_id = u.id AND l.key = $3`;

export interface StepSummaryRow {
  id: string;
  step: string | null;
  step_min: string | null;
  step_count: string | null;
  step_stride: string | null;
  unsummarized: boolean;
}

/**
 * The summaries of the rows, or undefined when any series cannot be sampled from its summary: history
 * written by an older version, no summary kept (not a progression, or logged before migration 0038), or
 * a summary whose last step is not the series' highest (never expected; checked because a wrong summary
 * would sample silently wrong steps).
 */
export const summariesOf = (rows: readonly StepSummaryRow[]): StepSummary[] | undefined => {
  const out: StepSummary[] = [];
  for (const row of rows) {
    if (row.unsummarized) return undefined;
    if (row.step === null) continue;
    if (row.step_min === null || row.step_count === null || row.step_stride === null) return undefined;
    const summary = { first: BigInt(row.step_min), count: BigInt(row.step_count), stride: BigInt(row.step_stride) };
    if (summary.count < 1n || summary.first + (summary.count - 1n) * summary.stride !== BigInt(row.step)) return undefined;
    out.push(summary);
  }
  return out;
};

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;

/**
 * MLflow's sampled steps (get_metric_history_bulk_interval_impl, as `bulkIntervalSql` computes them) of
 * the union of the series, ascending: over the sorted distinct steps in [start, end] (default [0, the
 * highest step]), every one when there are at most `maxResults`, otherwise the positions
 * floor(k · n / maxResults) for k < maxResults and the last; plus each series' first and last step inside
 * the interval. Undefined when the series are not on one lattice (then their union's positions are not
 * arithmetic here).
 */
export const sampleSummarizedSteps = (series: readonly StepSummary[], maxResults: number, interval?: readonly [bigint, bigint]): bigint[] | undefined => {
  let lattice = 0n;
  for (const s of series) {
    if (s.count === 1n) continue;
    if (lattice === 0n) lattice = s.stride;
    else if (s.stride !== lattice) return undefined;
  }
  if (lattice === 0n) lattice = 1n;
  const residue = series.length === 0 ? 0n : mod((series[0] as StepSummary).first, lattice);
  if (series.some((s) => mod(s.first, lattice) !== residue)) return undefined;

  const lastOf = (s: StepSummary) => s.first + (s.count - 1n) * s.stride;
  let highest: bigint | undefined;
  for (const s of series) if (highest === undefined || lastOf(s) > highest) highest = lastOf(s);
  const [lo, hi] = interval ?? [0n, highest ?? 0n];

  // Each series clipped to [lo, hi] on the lattice, then merged where they overlap or touch.
  const ranges: [bigint, bigint][] = [];
  for (const s of series) {
    const last = lastOf(s);
    const a = s.first >= lo ? s.first : s.first + ((lo - s.first + lattice - 1n) / lattice) * lattice;
    const b = last <= hi ? last : last - ((last - hi + lattice - 1n) / lattice) * lattice;
    if (a <= b) ranges.push([a, b]);
  }
  ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const r of ranges) {
    const top = merged.at(-1);
    if (top !== undefined && r[0] <= top[1] + lattice) {
      if (r[1] > top[1]) top[1] = r[1];
    } else merged.push([r[0], r[1]]);
  }
  let n = 0n;
  for (const [a, b] of merged) n += (b - a) / lattice + 1n;

  const positions: bigint[] = [];
  const max = BigInt(maxResults);
  if (n <= max) for (let i = 0n; i < n; i += 1n) positions.push(i);
  else {
    for (let k = 0n; k < max; k += 1n) positions.push((k * n) / max);
    positions.push(n - 1n);
  }
  // Positions ascend: walk the merged ranges once.
  const chosen = new Set<bigint>();
  let range = 0;
  let before = 0n;
  for (const p of positions) {
    while (range < merged.length) {
      const [a, b] = merged[range] as [bigint, bigint];
      const size = (b - a) / lattice + 1n;
      if (p < before + size) break;
      before += size;
      range += 1;
    }
    const r = merged[range];
    if (r !== undefined) chosen.add(r[0] + (p - before) * lattice);
  }
  for (const s of series) {
    for (const step of [s.first, lastOf(s)]) if (step >= lo && step <= hi) chosen.add(step);
  }
  return [...chosen].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
};

/**
 * The points of the runs at the chosen steps ($4, as text: bigint), one probe of run_metrics_step_idx per
 * run and step; identical points are one (migration 0002). The lookup is a lateral subquery with OFFSET 0:
 * given `step = ANY(…)` of a thousand steps, the planner estimates most of the series and reads all of it.
 */
export const pointsAtStepsSql = `SELECT DISTINCT p.run_id, p.step, p.timestamp, p.value
  FROM unnest($4::text[]::int8[]) AS c(step) CROSS JOIN unnest($2::text[]) AS u(id)
  CROSS JOIN LATERAL (SELECT m.run_id, m.step, m.timestamp, m.value FROM run_metrics m
                       WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3 AND m.step = c.step OFFSET 0) p
  ORDER BY p.run_id, p.step, p.timestamp, p.value`;
