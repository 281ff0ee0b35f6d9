/**
 * The inference gateway's recent observations per deployment, kept in this process's memory for the
 * console's live view (GET …/deployments/{name}/stats): requests, latency percentiles and 429s over the
 * last `windowSeconds`. Per process: with several replicas each answers for the requests it served
 * (Prometheus has the platform-wide series). Bounded: at most `maxPerDeployment` observations per
 * deployment (the oldest go first) and `maxDeployments` deployments (the least recently observed go).
 */

export interface InferenceWindowStats {
  windowSeconds: number;
  requests: number;
  requestsPerSecond: number;
  /** Latency percentiles in milliseconds over the window; null without requests. */
  p50Ms: number | null;
  p99Ms: number | null;
  rateLimited: number;
  serverErrors: number;
}

export interface InferenceWindow {
  observe(tenantId: string, deployment: string, status: number, seconds: number): void;
  read(tenantId: string, deployment: string): InferenceWindowStats;
}

interface Observation { at: number; ms: number; status: number }

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;

export const createInferenceWindow = (options: { windowSeconds?: number; maxPerDeployment?: number; maxDeployments?: number; now?: () => number } = {}): InferenceWindow => {
  const windowSeconds = options.windowSeconds ?? 60;
  const maxPer = options.maxPerDeployment ?? 20_000;
  const maxDeployments = options.maxDeployments ?? 10_000;
  const now = options.now ?? Date.now;
  // Insertion order is recency order: a deployment observed again is moved to the end.
  const series = new Map<string, Observation[]>();
  const keyOf = (tenantId: string, deployment: string) => `${tenantId}\u0000${deployment}`;
  const prune = (list: Observation[], t: number) => {
    const from = t - windowSeconds * 1000;
    let i = 0;
    while (i < list.length && (list[i]?.at ?? t) < from) i++;
    if (i > 0) list.splice(0, i);
  };
  return {
    observe(tenantId, deployment, status, seconds) {
      const key = keyOf(tenantId, deployment);
      const t = now();
      let list = series.get(key);
      if (list === undefined) {
        if (series.size >= maxDeployments) {
          const oldest = series.keys().next();
          if (oldest.done !== true) series.delete(oldest.value);
        }
        list = [];
      } else series.delete(key);
      series.set(key, list);
      list.push({ at: t, ms: seconds * 1000, status });
      if (list.length > maxPer) list.splice(0, list.length - maxPer);
      else if (list.length % 256 === 0) prune(list, t);
    },
    read(tenantId, deployment) {
      const key = keyOf(tenantId, deployment);
      const list = series.get(key) ?? [];
      prune(list, now());
      if (list.length === 0) series.delete(key);
      const sorted = list.map((o) => o.ms).sort((a, b) => a - b);
      const round = (ms: number) => Math.round(ms * 1000) / 1000;
      return {
        windowSeconds,
        requests: list.length,
        requestsPerSecond: Math.round((list.length / windowSeconds) * 1000) / 1000,
        p50Ms: sorted.length === 0 ? null : round(percentile(sorted, 0.5)),
        p99Ms: sorted.length === 0 ? null : round(percentile(sorted, 0.99)),
        rateLimited: list.filter((o) => o.status === 429).length,
        serverErrors: list.filter((o) => o.status >= 500).length,
      };
    },
  };
};
