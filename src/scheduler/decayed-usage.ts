/**
 * Decayed usage (issue 15): a tenant's past use counts for less the older it is, halving every half-life
 * (Slurm's PriorityDecayHalfLife, Kueue's admission fair sharing usage half-life; default 7 days). Usage is
 * measured in dominant-share time: a tenant holding 25 % of the pool's dominant resource for one hour
 * accrues 0.25 h (in ms here). Pure functions and one small ledger; the caller supplies every time.
 */

/** Seven days, in milliseconds. */
export const defaultUsageHalfLifeMs = 7 * 24 * 3600 * 1000;

/** What remains of one unit of usage after `elapsedMs`; an infinite half-life keeps everything. */
export const decayFactor = (elapsedMs: number, halfLifeMs: number): number =>
  halfLifeMs === Number.POSITIVE_INFINITY ? 1 : 0.5 ** (Math.max(0, elapsedMs) / halfLifeMs);

export interface DecayedUsage {
  /** Decayed dominant-share × ms, as of `atMs`. */
  readonly value: number;
  readonly atMs: number;
}

export const noUsage = (atMs: number): DecayedUsage => ({ value: 0, atMs });

/**
 * The usage at `nowMs` of a tenant that held dominant share `rate` (≥ 0) constantly since `usage.atMs`:
 * the old value decayed, plus the exact integral of the decayed rate, rate·h/ln2·(1 − 2^(−Δ/h)). A `nowMs`
 * before `usage.atMs` changes nothing (events out of order never add usage twice).
 */
export const accrue = (usage: DecayedUsage, nowMs: number, rate: number, halfLifeMs: number): DecayedUsage => {
  const elapsed = nowMs - usage.atMs;
  if (!(elapsed > 0)) return usage;
  const factor = decayFactor(elapsed, halfLifeMs);
  const added = halfLifeMs === Number.POSITIVE_INFINITY ? rate * elapsed : rate * (halfLifeMs / Math.LN2) * (1 - factor);
  return { value: usage.value * factor + Math.max(0, added), atMs: nowMs };
};

/** The usage as of `nowMs` with nothing held since `usage.atMs`. */
export const decayedValue = (usage: DecayedUsage, nowMs: number, halfLifeMs: number): number => accrue(usage, nowMs, 0, halfLifeMs).value;

/**
 * Decayed usage of many tenants, each accruing at the dominant share it holds between changes: call
 * `setRate` whenever a tenant's holding changes (admission, completion, preemption), `valuesAt` to read.
 */
export class DecayedUsageLedger {
  readonly #halfLifeMs: number;
  readonly #usage = new Map<string, DecayedUsage>();
  readonly #rate = new Map<string, number>();

  constructor(halfLifeMs: number = defaultUsageHalfLifeMs) {
    if (!(halfLifeMs > 0)) throw new RangeError('half-life must be > 0');
    this.#halfLifeMs = halfLifeMs;
  }

  /** From `nowMs` on, tenant `id` holds dominant share `rate`. */
  setRate(id: string, nowMs: number, rate: number): void {
    this.#usage.set(id, accrue(this.#usage.get(id) ?? noUsage(nowMs), nowMs, this.#rate.get(id) ?? 0, this.#halfLifeMs));
    this.#rate.set(id, Math.max(0, rate));
  }

  /** Every known tenant's decayed usage as of `nowMs` (without changing the ledger). */
  valuesAt(nowMs: number): Map<string, number> {
    const values = new Map<string, number>();
    for (const [id, usage] of this.#usage) values.set(id, accrue(usage, nowMs, this.#rate.get(id) ?? 0, this.#halfLifeMs).value);
    return values;
  }
}
