/** Latency figures of sequential requests, as the search benchmarks report them. */

/** The p-quantile (0–1) of ascending `sorted`: the sample at floor(p · n). */
export const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/**
 * `samples` calls one after another, after `warmups` untimed ones: p50 and p99 of their milliseconds, and
 * the rows the last one returned.
 */
export const timeSequential = async (
  call: () => Promise<{ ms: number; rows: number }>, samples: number, warmups = 3,
): Promise<{ p50: number; p99: number; rows: number }> => {
  for (let i = 0; i < warmups; i += 1) await call();
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < samples; i += 1) {
    const r = await call();
    times.push(r.ms);
    rows = r.rows;
  }
  times.sort((x, y) => x - y);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), rows };
};
