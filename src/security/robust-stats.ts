/** Robust statistics over a principal's history of per-window values (median, MAD, a high quantile). */

export interface BaselineSummary {
  /** How many windows of history the baseline holds (zeros included). */
  windows: number;
  median: number;
  /** Median absolute deviation (unscaled). */
  mad: number;
  p95: number;
}

const quantileOfSorted = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
};

const medianOfSorted = (sorted: readonly number[]): number => {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const summarize = (values: readonly number[]): BaselineSummary => {
  const sorted = [...values].sort((a, b) => a - b);
  const median = medianOfSorted(sorted);
  const deviations = sorted.map((value) => Math.abs(value - median)).sort((a, b) => a - b);
  return { windows: sorted.length, median, mad: medianOfSorted(deviations), p95: quantileOfSorted(sorted, 0.95) };
};

/**
 * The alert threshold for a window's value: the largest of the floor, median + k·σ̂ (σ̂ = 1.4826·MAD, the
 * normal-consistent scale), and ratio·p95 — so a principal whose busiest normal windows are large is judged
 * against them, not against its median — times the false-positive factor the operators' feedback set.
 */
export const thresholdOf = (baseline: BaselineSummary, floor: number, k: number, ratio: number, factor: number): number =>
  Math.max(floor, baseline.median + k * 1.4826 * baseline.mad, ratio * baseline.p95) * factor;
