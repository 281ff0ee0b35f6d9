/**
 * Noisy-neighbour protection, as pure decisions over an injectable clock:
 * - a token bucket per tenant (rate = the tenant quota's requestsPerSecond, burst = one second of it),
 *   shared by the inference gateway and the control-plane API;
 * - a concurrency gate per deployment (at most `maxConcurrency` in flight, at most `maxQueue` waiting).
 * Every rejection is immediate and carries how long to wait (`Retry-After`); a tenant's rejection reads
 * and writes only that tenant's bucket and that deployment's queue.
 */

export type Clock = () => number;

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface TokenBucket {
  take(now: number): LimitDecision;
}

/** A bucket holding at most `burst` tokens, refilled at `ratePerSecond`. Starts full. */
export const createTokenBucket = (ratePerSecond: number, burst: number, now: number): TokenBucket & { rate: number } => {
  let tokens = burst;
  let last = now;
  return {
    rate: ratePerSecond,
    take(at) {
      if (at > last) {
        tokens = Math.min(burst, tokens + ((at - last) / 1000) * ratePerSecond);
        last = at;
      }
      if (tokens >= 1) {
        tokens -= 1;
        return { allowed: true };
      }
      if (ratePerSecond <= 0) return { allowed: false, retryAfterMs: 60_000 };
      return { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) / ratePerSecond) * 1000) };
    },
  };
};

export interface TenantRateLimiter {
  /** Takes one token from the tenant's bucket (creating it at `ratePerSecond` if new or if the rate changed). */
  take(tenantId: string, ratePerSecond: number): LimitDecision;
  /** Turns the limiter off (every request allowed) or on: the benchmark's "protection off" baseline. */
  setEnabled(enabled: boolean): void;
  readonly enabled: boolean;
}

/**
 * Per-tenant token buckets. Burst = max(1, rate): a tenant may spend one second of its rate at once.
 * Buckets idle for more than a minute are dropped (they would be full again anyway).
 */
export const createTenantRateLimiter = (options: { clock?: Clock; burstSeconds?: number } = {}): TenantRateLimiter => {
  const clock = options.clock ?? (() => performance.now());
  const burstSeconds = options.burstSeconds ?? 1;
  const buckets = new Map<string, { bucket: ReturnType<typeof createTokenBucket>; usedAt: number }>();
  let enabled = true;
  let sweptAt = clock();
  return {
    get enabled() {
      return enabled;
    },
    setEnabled(value) {
      enabled = value;
    },
    take(tenantId, ratePerSecond) {
      if (!enabled) return { allowed: true };
      const now = clock();
      if (now - sweptAt > 60_000) {
        for (const [id, entry] of buckets) if (now - entry.usedAt > 60_000) buckets.delete(id);
        sweptAt = now;
      }
      let entry = buckets.get(tenantId);
      if (entry === undefined || entry.bucket.rate !== ratePerSecond) {
        entry = { bucket: createTokenBucket(ratePerSecond, Math.max(1, ratePerSecond * burstSeconds), now), usedAt: now };
        buckets.set(tenantId, entry);
      }
      entry.usedAt = now;
      return entry.bucket.take(now);
    },
  };
};

export type GateDecision = { admitted: true; release: () => void } | { admitted: false; retryAfterMs: number; reason: 'queue_full' | 'queue_timeout' };

export interface ConcurrencyGate {
  /** Admits now, queues (FIFO) while below `maxQueue` waiters, or refuses at once when the queue is full. */
  acquire(): Promise<GateDecision>;
  readonly inFlight: number;
  readonly queued: number;
  /** New limits apply to the next admissions; already admitted requests are not interrupted. */
  resize(maxConcurrency: number, maxQueue: number): void;
}

/**
 * A deployment's concurrency cap and bounded queue. A waiter that is not admitted within
 * `queueTimeoutMs` gives up with `queue_timeout` (the caller answers 429 too). Timers come from
 * `setTimer` so tests can drive them.
 */
export const createConcurrencyGate = (options: {
  maxConcurrency: number;
  maxQueue: number;
  queueTimeoutMs?: number;
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}): ConcurrencyGate => {
  let max = options.maxConcurrency;
  let maxQueue = options.maxQueue;
  const queueTimeoutMs = options.queueTimeoutMs ?? 10_000;
  const setTimer = options.setTimer ?? ((fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  });
  let inFlight = 0;
  const waiters: Array<{ admit: () => void }> = [];
  const release = (): void => {
    inFlight -= 1;
    pump();
  };
  const once = (): (() => void) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
    };
  };
  const pump = (): void => {
    while (inFlight < max && waiters.length > 0) {
      const next = waiters.shift()!;
      inFlight += 1;
      next.admit();
    }
  };
  return {
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiters.length;
    },
    resize(newMax, newQueue) {
      max = newMax;
      maxQueue = newQueue;
      pump();
    },
    acquire() {
      if (inFlight < max && waiters.length === 0) {
        inFlight += 1;
        return Promise.resolve({ admitted: true, release: once() });
      }
      if (waiters.length >= maxQueue) return Promise.resolve({ admitted: false, retryAfterMs: 1000, reason: 'queue_full' });
      return new Promise<GateDecision>((resolve) => {
        const waiter = {
          admit: () => {
            timer.cancel();
            resolve({ admitted: true, release: once() });
          },
        };
        const timer = setTimer(() => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) waiters.splice(index, 1);
          resolve({ admitted: false, retryAfterMs: 1000, reason: 'queue_timeout' });
        }, queueTimeoutMs);
        waiters.push(waiter);
      });
    },
  };
};

/** `Retry-After` is whole seconds (RFC 9110); never 0, so a client that honours it does back off. */
export const retryAfterSeconds = (retryAfterMs: number): number => Math.max(1, Math.ceil(retryAfterMs / 1000));
