/**
 * Pure decisions of the byte limiter, over times in milliseconds given by the caller:
 * - `reserveBytes`: a shaping token bucket in its GCRA form (one number of state, the "theoretical arrival
 *   time" of the next byte). Bytes are never refused, they are given a start time: the caller waits that
 *   long, so concurrent streams of one tenant queue up in order and their sum keeps to the rate.
 * - `transferVerdict`: whether a body of a declared length would finish within a bound at the tenant's
 *   rate (counting what its other transfers already reserved), and if not, what to tell the caller.
 * - `weightedShares`: weighted max-min fair shares of a platform pipe (water-filling): a tenant alone gets
 *   all of it (up to its own quota), several get shares in proportion to their weights, and what a tenant
 *   limited below its share cannot use goes to the others.
 */

export type Direction = 'ingress' | 'egress';

export interface ByteRate {
  /** Sustained rate, bytes per second, > 0. */
  bytesPerSecond: number;
  /** Bytes that may pass at once after an idle period, >= 0. */
  burstBytes: number;
}

/**
 * Reserves `bytes` on a bucket whose next free time is `tat` (ms; 0 for a new bucket). Returns the new
 * `tat` and how long the caller waits before its bytes may pass (0: now). With `rate` bytes/s and a burst
 * of `burst` bytes, an idle bucket lets `burst` bytes through at once and then `rate` per second.
 */
export const reserveBytes = (tat: number, now: number, bytes: number, limit: ByteRate): { tat: number; waitMs: number } => {
  const perMs = limit.bytesPerSecond / 1000;
  const tolerance = limit.burstBytes / perMs;
  const next = Math.max(tat, now) + bytes / perMs;
  return { tat: next, waitMs: Math.max(0, next - tolerance - now) };
};

export type TransferVerdict =
  | { allowed: true; expectedSeconds: number }
  | { allowed: false; expectedSeconds: number; retryAfterSeconds: number; fitsAtThisRate: boolean };

/**
 * A body of `bytes` declared up front: allowed when it would be through within `boundSeconds` at `limit`,
 * after what the bucket (`tat`) already holds for the tenant's other transfers. Refused otherwise, with
 * `retryAfterSeconds`: when the backlog has drained enough for it to fit (`fitsAtThisRate`), or — a body
 * that is over the bound even on an idle bucket — the time it would take (it needs a higher quota, or to
 * be sent in parts).
 */
export const transferVerdict = (tat: number, now: number, bytes: number, limit: ByteRate, boundSeconds: number): TransferVerdict => {
  const { waitMs } = reserveBytes(tat, now, bytes, limit);
  const expectedSeconds = waitMs / 1000;
  if (expectedSeconds <= boundSeconds) return { allowed: true, expectedSeconds };
  const aloneSeconds = reserveBytes(0, now, bytes, limit).waitMs / 1000;
  const fitsAtThisRate = aloneSeconds <= boundSeconds;
  // Whole seconds, up (less a rounding error of the division, so 10 s of bytes say 10, not 11).
  const retryAfterSeconds = Math.max(1, Math.ceil((fitsAtThisRate ? expectedSeconds - boundSeconds : aloneSeconds) - 1e-6));
  return { allowed: false, expectedSeconds, retryAfterSeconds, fitsAtThisRate };
};

export interface ShareClaim {
  id: string;
  /** Fair-share weight, > 0. */
  weight: number;
  /** The most this claimant may use (its own quota), bytes/s. */
  cap: number;
}

/**
 * Weighted max-min fair shares of `capacity` among `claims`: each gets capacity × weight / Σweights,
 * except that a claimant capped below its share keeps only its cap and the rest is shared again among
 * the others, until no cap binds. The shares never add up to more than `capacity`.
 */
export const weightedShares = (capacity: number, claims: readonly ShareClaim[]): Map<string, number> => {
  const shares = new Map<string, number>();
  let open = claims.filter((claim) => claim.weight > 0);
  let remaining = capacity;
  for (;;) {
    const totalWeight = open.reduce((sum, claim) => sum + claim.weight, 0);
    if (open.length === 0 || totalWeight <= 0) break;
    const capped = open.filter((claim) => claim.cap <= (remaining * claim.weight) / totalWeight);
    if (capped.length === 0) {
      for (const claim of open) shares.set(claim.id, (remaining * claim.weight) / totalWeight);
      break;
    }
    for (const claim of capped) {
      shares.set(claim.id, claim.cap);
      remaining -= claim.cap;
    }
    open = open.filter((claim) => !capped.includes(claim));
  }
  return shares;
};

/** "50 MB/s": a rate as people read it (decimal units, as network rates are quoted). */
export const formatRate = (bytesPerSecond: number): string => {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s'];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${Number(value.toPrecision(3))} ${units[unit]}`;
};
