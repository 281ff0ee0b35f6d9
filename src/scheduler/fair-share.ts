/**
 * Fair share on decayed usage for the job runner (issue 15): each tenant's past holdings, per resource and
 * in dominant-share terms, decayed with a half-life (decayed-usage.ts), and the Fair Tree ranks over the
 * tenant tree (fair-tree.ts) that the scheduler orders tenants by. Pure: the caller supplies every time,
 * holding and tree, and persists the records `sync` returns (a record fully determines the future of its
 * tenant's usage until its holding changes again, so writing only on change loses nothing).
 *
 * The order key is the decayed usage plus the *running charge*: what a tenant holds now, in dominant share,
 * times `runningChargeMs` — as if its running jobs' next hour were already used. Slurm counts running
 * jobs' usage continuously; charging it at admission makes an admission move its tenant back in the order
 * at once, so one tenant cannot take a whole scheduling pass's free room because its decayed usage has not
 * caught up yet (on the 2,000-core simulator trace this took Jain's index from 0.988 to 0.9997). The
 * scheduler adds the charge of each job it admits within a pass (`FairTreeCharging`, scheduler-types.ts).
 */
import { accrue } from './decayed-usage.ts';
import type { DecayedUsage } from './decayed-usage.ts';
import { FairTreeIndex } from './fair-tree.ts';
import type { FairTreeNode } from './fair-tree.ts';
import type { Resources } from './scheduler-types.ts';

/** Decayed usage in unit·seconds: dominant share·s, core·s, MiB·s, GPU·s. */
export interface UsageVector {
  readonly dominant: number;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly gpu: number;
}

/** One tenant's persisted state: its decayed usage as of `atMs`, and what it held from then on (per second). */
export interface FairUsageRecord {
  readonly tenantId: string;
  readonly usage: UsageVector;
  readonly rate: UsageVector;
  readonly atMs: number;
}

const components = ['dominant', 'cpu', 'memoryMiB', 'gpu'] as const;
const zero: UsageVector = { dominant: 0, cpu: 0, memoryMiB: 0, gpu: 0 };

/** What holding `held` of a pool of `capacity` accrues per second: itself, and its dominant share. */
export const rateOf = (held: Resources, capacity: Resources): UsageVector => {
  const share = (used: number, cap: number) => (cap > 0 ? Math.max(0, used) / cap : 0);
  return {
    dominant: Math.max(share(held.cpu, capacity.cpu), share(held.memoryMiB, capacity.memoryMiB), share(held.gpu, capacity.gpu)),
    cpu: Math.max(0, held.cpu),
    memoryMiB: Math.max(0, held.memoryMiB),
    gpu: Math.max(0, held.gpu),
  };
};

const sameRate = (a: UsageVector, b: UsageVector): boolean => components.every((c) => a[c] === b[c]);

/** The record advanced to `nowMs` at its own rate (rates are per second, times in ms). */
const advance = (record: FairUsageRecord, nowMs: number, halfLifeMs: number): UsageVector => {
  const out: Record<(typeof components)[number], number> = { dominant: 0, cpu: 0, memoryMiB: 0, gpu: 0 };
  for (const c of components) {
    const start: DecayedUsage = { value: record.usage[c], atMs: record.atMs };
    out[c] = accrue(start, nowMs, record.rate[c] / 1000, halfLifeMs).value;
  }
  return out;
};

/**
 * Every tenant's decayed usage. `sync` with the current holdings at each scheduling pass; it returns the
 * records whose holding changed (to persist). Times never go backwards for a record: an earlier `nowMs`
 * accrues nothing.
 */
export class FairShareLedger {
  readonly halfLifeMs: number;
  readonly #records = new Map<string, FairUsageRecord>();

  constructor(halfLifeMs: number) {
    if (!(halfLifeMs > 0)) throw new RangeError('half-life must be > 0');
    this.halfLifeMs = halfLifeMs;
  }

  /**
   * Loads persisted records (a restart, a new leader). The time since a record was written counts as
   * holding nothing: no runner watched it, and the jobs of a stopped platform do not run on.
   */
  restore(records: Iterable<FairUsageRecord>): void {
    this.#records.clear();
    for (const r of records) this.#records.set(r.tenantId, { tenantId: r.tenantId, usage: { ...r.usage }, rate: zero, atMs: r.atMs });
  }

  /** From `nowMs` on, each tenant holds `holdings.get(id)` (none when missing). Returns the changed records. */
  sync(nowMs: number, holdings: ReadonlyMap<string, Resources>, capacity: Resources): FairUsageRecord[] {
    const changed: FairUsageRecord[] = [];
    for (const id of new Set([...this.#records.keys(), ...holdings.keys()])) {
      const held = holdings.get(id);
      const rate = held === undefined ? zero : rateOf(held, capacity);
      const before = this.#records.get(id);
      if (before !== undefined && sameRate(before.rate, rate)) continue;
      if (before === undefined && sameRate(zero, rate)) continue;
      const atMs = before === undefined ? nowMs : Math.max(before.atMs, nowMs);
      const record: FairUsageRecord = { tenantId: id, usage: before === undefined ? zero : advance(before, atMs, this.halfLifeMs), rate, atMs };
      this.#records.set(id, record);
      changed.push(record);
    }
    return changed;
  }

  /** Every known tenant's rate: what it holds now, per second (zero for none). */
  ratesNow(): Map<string, UsageVector> {
    return new Map([...this.#records].map(([id, r]) => [id, r.rate]));
  }

  /** Every known tenant's usage as of `nowMs` (the ledger is unchanged). */
  usageAt(nowMs: number): Map<string, UsageVector> {
    const out = new Map<string, UsageVector>();
    for (const [id, record] of this.#records) out.set(id, advance(record, Math.max(record.atMs, nowMs), this.halfLifeMs));
    return out;
  }
}

/** The running charge horizon: holding dominant share s adds s × this (in ms of usage) to the order key. */
export const runningChargeMs = 60 * 60 * 1000;

/** A tenant's order key: decayed dominant-share usage (share·s) plus the running charge of what it holds. */
export const chargedUsage = (usage: UsageVector, rate: UsageVector): number => usage.dominant + rate.dominant * (runningChargeMs / 1000);

/** What the scheduler and `explain` need of fair share at one moment. */
export interface FairShareView {
  /** 1 = served first; a tenant missing here comes after every ranked one. */
  readonly ranks: ReadonlyMap<string, number>;
  /** The tree and each tenant's order key (`chargedUsage`), for the scheduler to charge admissions to. */
  readonly nodes: readonly FairTreeNode[];
  readonly keys: ReadonlyMap<string, number>;
  readonly usage: ReadonlyMap<string, UsageVector>;
  /** How many tenants were ranked. */
  readonly tenants: number;
  readonly halfLifeMs: number;
}

/**
 * Fair Tree ranks over the tenant tree, on decayed dominant-share usage (DRF terms) plus the running
 * charge of what each tenant holds (`chargedUsage`), as of `nowMs`.
 */
export const fairShareView = (ledger: FairShareLedger, nodes: readonly FairTreeNode[], nowMs: number): FairShareView => {
  const usage = ledger.usageAt(nowMs);
  const rates = ledger.ratesNow();
  const keys = new Map([...usage].map(([id, u]) => [id, chargedUsage(u, rates.get(id) ?? zero)]));
  const index = new FairTreeIndex(nodes);
  for (const [id, key] of keys) index.setUsage(id, key);
  const ranks = index.ranks();
  return { ranks, nodes, keys, usage, tenants: ranks.size, halfLifeMs: ledger.halfLifeMs };
};
