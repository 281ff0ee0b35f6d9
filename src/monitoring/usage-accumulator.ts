/**
 * Request-driven usage (API requests, inference requests and time, bytes downloaded) is counted in memory
 * and written to the ledger in one transaction per flush — never a database write per request.
 *
 * Each flush is one measurement, `req:<instance id>:<flush number>`: a flush whose COMMIT outcome is
 * unknown (connection lost) is retried with the same key and the same rows, so it lands exactly once.
 * What a SIGKILL loses: the counts since the last successful flush (at most `intervalMs` of requests, and
 * a failing flush's batch until it succeeds); a graceful stop (SIGTERM) flushes everything first.
 */
import type { Db } from '../db/index.ts';
import { withSystem } from '../db/index.ts';
import type { MeteredResource } from '../contract/usage.ts';
import { hourOf, insertLedgerEntries } from './usage-ledger.ts';
import type { LedgerEntry } from './usage-ledger.ts';

export type RequestResource = Extract<MeteredResource, 'apiRequests' | 'inferenceRequests' | 'inferenceSeconds' | 'artifactBytesDownloaded'>;

export interface UsageAccumulator {
  /** Adds `quantity` of `resource` for `tenantId` in the hour of `atMs` (default now). Synchronous, no IO. */
  add(tenantId: string, resource: RequestResource, quantity: number, atMs?: number): void;
  /** Writes what was counted so far (and any batch a failed flush left) in one transaction. */
  flush(): Promise<number>;
  /** Starts flushing every `intervalMs` (unref'd timer). */
  start(): void;
  /** Stops the timer and flushes what is left. */
  stop(): Promise<void>;
}

export const createUsageAccumulator = (deps: { db: Db; instanceId: string; intervalMs: number; now?: () => number; onError?: (error: unknown) => void }): UsageAccumulator => {
  const now = deps.now ?? Date.now;
  let counts = new Map<string, number>();
  let flushNumber = 0;
  // A batch whose write failed: retried as it is (same key) before anything newer is written.
  let unsent: LedgerEntry[] | undefined;
  let running: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const takeBatch = (): LedgerEntry[] => {
    const taken = counts;
    counts = new Map();
    flushNumber += 1;
    const source = `req:${deps.instanceId}:${String(flushNumber)}`;
    return [...taken].map(([key, quantity]) => {
      const [tenantId, resource, bucket] = key.split('|') as [string, RequestResource, string];
      return { tenantId, source, resource, bucketMs: Number(bucket), quantity };
    });
  };

  const flushOnce = async (): Promise<number> => {
    let written = 0;
    if (unsent !== undefined) {
      const batch = unsent;
      written += await withSystem(deps.db, (tx) => insertLedgerEntries(tx, batch));
      unsent = undefined;
    }
    if (counts.size === 0) return written;
    const batch = takeBatch();
    unsent = batch;
    written += await withSystem(deps.db, (tx) => insertLedgerEntries(tx, batch));
    unsent = undefined;
    return written;
  };

  const flush = (): Promise<number> => {
    // One flush at a time; a flush asked for during one runs after it (it may have new counts).
    const previous = running ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(flushOnce);
    running = next;
    void next.finally(() => {
      if (running === next) running = undefined;
    }).catch(() => {});
    return next;
  };

  return {
    add(tenantId, resource, quantity, atMs) {
      if (!(quantity > 0) || !Number.isFinite(quantity)) return;
      const key = `${tenantId}|${resource}|${String(hourOf(atMs ?? now()))}`;
      counts.set(key, (counts.get(key) ?? 0) + quantity);
    },
    flush,
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        flush().catch((error: unknown) => deps.onError?.(error));
      }, deps.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
};
