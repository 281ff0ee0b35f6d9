/**
 * The one byte limiter of the platform: per tenant and direction (ingress = bytes the platform receives
 * for the tenant, egress = bytes it sends), a shaping token bucket at the tenant quota's rate and burst,
 * optionally inside a configured platform pipe shared by weight among the tenants moving bytes at the
 * moment. Every byte path (HTTP bodies, the job relay, local jobs' inputs and outputs) charges it through
 * `acquire`, or through the stream in bandwidth-stream.ts; `admit` decides about a declared length up
 * front. Keys: (tenant id, direction) — nothing else.
 *
 * Quotas are read through `limitsOf` at most once per `quotaCacheMs` (1 s) per tenant, and at once after
 * `forget` (the platform calls it when a quota changes in this process; the next piece waits for that
 * read). The once-a-second reads happen in the background, so no transfer waits on the database for them.
 * A changed limit applies from the next piece of the transfers already under way, not only to new ones. Limits are per process: with several
 * replicas each enforces the whole quota on its own traffic (docs/bandwidth.md, "Across replicas").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reserveBytes, transferVerdict, weightedShares } from './bandwidth-core.ts';
import type { ByteRate, Direction, TransferVerdict } from './bandwidth-core.ts';

export interface TenantBandwidth {
  ingress: ByteRate;
  egress: ByteRate;
  /** The tenant's fair-share weight (the scheduler's), > 0. */
  weight: number;
}

/** Bytes a tenant moved through this process since it started: what a metrics registry reads. */
export interface BandwidthCounter {
  tenantId: string;
  ingressBytes: number;
  egressBytes: number;
  /** Seconds its transfers waited for its limit (or its share of the pipe), summed over chunks. */
  throttledSeconds: number;
}

export interface AdmitDecision {
  verdict: TransferVerdict;
  /** The tenant's quota in that direction: what the refusal names. */
  limit: ByteRate;
}

export interface BandwidthLimiter {
  /**
   * Charges `bytes` to the tenant's bucket: undefined when they may pass now, otherwise a promise that
   * resolves when they may. Never refuses: throttling slows a stream, it does not fail it (the promise
   * rejects only when the tenant's quota cannot be read, e.g. the database is down).
   */
  acquire(tenantId: string, direction: Direction, bytes: number): Promise<void> | undefined;
  /**
   * Charges `bytes` at once and returns true when they may all pass now (the tenant's limits are loaded and
   * its bucket holds them); otherwise charges nothing and returns false. Lets a body that fits in the
   * tenant's burst skip the throttle stream.
   */
  tryTake(tenantId: string, direction: Direction, bytes: number): boolean;
  /** Whether a body of `bytes` declared up front would be through within `maxTransferSeconds`. Charges nothing. */
  admit(tenantId: string, direction: Direction, bytes: number): Promise<AdmitDecision>;
  /** The tenant's quota in that direction as last read (undefined before its first transfer): what a message names. */
  currentLimit(tenantId: string, direction: Direction): ByteRate | undefined;
  /**
   * How many bytes a stream should charge at a time: 1/20 s of the tenant's rate, between 1 KiB and 64 KiB,
   * so a piece never holds a stream long after its limit changed.
   */
  pieceBytes(tenantId: string, direction: Direction): number;
  /** Whether a shared platform pipe is configured in that direction (a tenant may then get less than its quota). */
  shared(direction: Direction): boolean;
  /** Drops the tenant's cached limits: its next chunk reads the quota again. */
  forget(tenantId: string): void;
  counters(): BandwidthCounter[];
  /** Off: nothing is throttled or counted (the benchmark's unthrottled baseline). */
  setEnabled(enabled: boolean): void;
  readonly enabled: boolean;
  readonly maxTransferSeconds: number;
}

export interface BandwidthLimiterOptions {
  limitsOf(tenantId: string): Promise<TenantBandwidth>;
  /** The platform's pipe per direction, bytes/s, shared by weight; absent: only the tenants' own quotas apply. */
  capacity?: Partial<Record<Direction, number>> | undefined;
  /** A declared body that would take longer than this at the tenant's rate is refused up front. */
  maxTransferSeconds: number;
  /** Milliseconds, monotonic. */
  clock?: () => number;
  quotaCacheMs?: number;
}

/** Under a shared pipe a tenant's burst is at most this much of its share, so a large quota burst cannot take the pipe. */
const SHARE_BURST_SECONDS = 0.1;
/** A tenant counts as moving bytes while its reservations reach to within this of now. */
const ACTIVE_WINDOW_MS = 250;

interface TenantState {
  limits: TenantBandwidth;
  readAt: number;
  tat: Record<Direction, number>;
}

export const createBandwidthLimiter = (options: BandwidthLimiterOptions): BandwidthLimiter => {
  const clock = options.clock ?? (() => performance.now());
  const cacheMs = options.quotaCacheMs ?? 1000;
  const states = new Map<string, TenantState>();
  const pending = new Map<string, Promise<TenantState>>();
  const totals = new Map<string, BandwidthCounter>();
  const shares: Record<Direction, { at: number; map: Map<string, number> } | undefined> = { ingress: undefined, egress: undefined };
  let enabled = true;
  let sweptAt = clock();

  const load = (tenantId: string): Promise<TenantState> => {
    const inFlight = pending.get(tenantId);
    if (inFlight !== undefined) return inFlight;
    const loading = options.limitsOf(tenantId).then((limits) => {
      const state = states.get(tenantId);
      if (state === undefined) {
        const created: TenantState = { limits, readAt: clock(), tat: { ingress: 0, egress: 0 } };
        states.set(tenantId, created);
        return created;
      }
      // Reservations made at the old rate are rescaled to the new one, so a changed limit applies to the
      // backlog of transfers under way too, not only to bytes reserved from now on.
      const now = clock();
      for (const direction of ['ingress', 'egress'] as const) {
        const backlog = state.tat[direction] - now;
        const ratio = state.limits[direction].bytesPerSecond / limits[direction].bytesPerSecond;
        if (backlog > 0 && Number.isFinite(ratio)) state.tat[direction] = now + backlog * ratio;
      }
      state.limits = limits;
      state.readAt = now;
      return state;
    }).finally(() => pending.delete(tenantId));
    pending.set(tenantId, loading);
    return loading;
  };

  /**
   * The tenant's state, its limits read again in the background when they are older than `cacheMs` (or
   * forgotten): the piece at hand goes at the limits known, the next ones at the new — no database read on
   * a transfer's path once a tenant is known. Undefined for a tenant not seen yet and after `forget` (a
   * change made in this process applies at once): the caller reads the limits first.
   */
  const fresh = (tenantId: string, now: number): TenantState | undefined => {
    const state = states.get(tenantId);
    if (state === undefined || state.readAt === -Infinity) return undefined;
    if (now - state.readAt >= cacheMs && !pending.has(tenantId)) {
      // A failed read keeps the known limits; the next piece tries again.
      void load(tenantId).catch(() => undefined);
    }
    return state;
  };

  const counter = (tenantId: string): BandwidthCounter => {
    let entry = totals.get(tenantId);
    if (entry === undefined) {
      entry = { tenantId, ingressBytes: 0, egressBytes: 0, throttledSeconds: 0 };
      totals.set(tenantId, entry);
    }
    return entry;
  };

  const sharesOf = (direction: Direction, capacity: number, now: number): Map<string, number> => {
    const cached = shares[direction];
    if (cached !== undefined && now - cached.at < 20) return cached.map;
    const claims = [];
    for (const [id, state] of states) {
      if (state.tat[direction] > now - ACTIVE_WINDOW_MS) claims.push({ id, weight: state.limits.weight, cap: state.limits[direction].bytesPerSecond });
    }
    const map = weightedShares(capacity, claims);
    shares[direction] = { at: now, map };
    return map;
  };

  /** The tenant's quota, narrowed to its weighted share of the pipe when one is configured. */
  const effectiveLimit = (tenantId: string, state: TenantState, direction: Direction, now: number): ByteRate => {
    const own = state.limits[direction];
    const capacity = options.capacity?.[direction];
    if (capacity === undefined) return own;
    if (state.tat[direction] <= now - ACTIVE_WINDOW_MS) {
      // Joining the set of active tenants: the shares change now, not at the next recomputation.
      state.tat[direction] = now;
      shares[direction] = undefined;
    }
    const share = sharesOf(direction, capacity, now).get(tenantId) ?? capacity;
    return { bytesPerSecond: Math.min(own.bytesPerSecond, share), burstBytes: Math.min(own.burstBytes, share * SHARE_BURST_SECONDS) };
  };

  const charge = (tenantId: string, state: TenantState, direction: Direction, bytes: number, now: number, onlyIfNow = false): number => {
    const reserved = reserveBytes(state.tat[direction], now, bytes, effectiveLimit(tenantId, state, direction, now));
    if (onlyIfNow && reserved.waitMs > 0) return reserved.waitMs;
    state.tat[direction] = reserved.tat;
    const total = counter(tenantId);
    if (direction === 'ingress') total.ingressBytes += bytes;
    else total.egressBytes += bytes;
    total.throttledSeconds += reserved.waitMs / 1000;
    return reserved.waitMs;
  };

  const sweep = (now: number): void => {
    if (now - sweptAt < 60_000) return;
    sweptAt = now;
    for (const [id, state] of states) if (now - state.readAt > 60_000 && state.tat.ingress < now && state.tat.egress < now) states.delete(id);
  };

  return {
    get enabled() {
      return enabled;
    },
    maxTransferSeconds: options.maxTransferSeconds,
    setEnabled(value) {
      enabled = value;
    },
    acquire(tenantId, direction, bytes) {
      if (!enabled || bytes <= 0) return undefined;
      const now = clock();
      sweep(now);
      const state = fresh(tenantId, now);
      if (state === undefined) {
        return load(tenantId).then(async (loaded) => {
          const waitMs = charge(tenantId, loaded, direction, bytes, clock());
          if (waitMs > 0) await sleep(waitMs);
        });
      }
      const waitMs = charge(tenantId, state, direction, bytes, now);
      return waitMs > 0 ? sleep(waitMs).then(() => undefined) : undefined;
    },
    tryTake(tenantId, direction, bytes) {
      if (!enabled || bytes <= 0) return true;
      const now = clock();
      const state = fresh(tenantId, now);
      return state !== undefined && charge(tenantId, state, direction, bytes, now, true) === 0;
    },
    async admit(tenantId, direction, bytes) {
      const state = fresh(tenantId, clock()) ?? (await load(tenantId));
      const limit = state.limits[direction];
      if (!enabled) return { verdict: { allowed: true, expectedSeconds: 0 }, limit };
      return { verdict: transferVerdict(state.tat[direction], clock(), bytes, limit, options.maxTransferSeconds), limit };
    },
    currentLimit(tenantId, direction) {
      return states.get(tenantId)?.limits[direction];
    },
    pieceBytes(tenantId, direction) {
      const limit = states.get(tenantId)?.limits[direction];
      return limit === undefined ? 64 * 1024 : Math.max(1024, Math.min(64 * 1024, Math.floor(limit.bytesPerSecond / 20)));
    },
    shared(direction) {
      return options.capacity?.[direction] !== undefined;
    },
    forget(tenantId) {
      const state = states.get(tenantId);
      // Keep the bucket (its reservations stand); only the limits are read again.
      if (state !== undefined) state.readAt = -Infinity;
    },
    counters() {
      return [...totals.values()].map((entry) => ({ ...entry }));
    },
  };
};
