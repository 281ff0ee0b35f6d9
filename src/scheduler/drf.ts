/**
 * Weighted Dominant Resource Fairness (Ghodsi et al., NSDI 2011) arithmetic: a tenant's dominant share,
 * and the ideal allocation DRF converges to with perfectly divisible demands (progressive filling), which
 * the simulator compares the discrete scheduler against.
 */
import { AppError } from '../core/errors.ts';
import { dominantShareOfVec, toVec } from './resource-vector.ts';
import type { ResourceName, Resources } from './scheduler-types.ts';

export interface DominantShare {
  readonly share: number;
  readonly resource: ResourceName | undefined;
}

/**
 * The tenant's dominant share: max over resources of usage / capacity (resources the pool has none of are
 * ignored). Throws VALIDATION_FAILED for malformed resources.
 */
export const dominantShare = (usage: Resources, capacity: Resources): DominantShare =>
  dominantShareOfVec(toVec(usage, 'usage'), toVec(capacity, 'capacity'));

export interface DrfDemand {
  readonly tenantId: string;
  /** Everything the tenant would use if it could (already capped by its quota limit if it has one). */
  readonly demand: Resources;
  readonly weight: number;
}

/**
 * Ideal weighted DRF: progressive filling with divisible demands. Every tenant's allocation grows along
 * its demand vector, at a rate proportional to its weight in dominant-share terms, until either its
 * demand is met or a resource it uses is exhausted. Returns each tenant's dominant share of the pool.
 * Runs in O(T log T + T·R). Throws VALIDATION_FAILED for a weight <= 0.
 */
export const weightedDrfShares = (capacity: Resources, demands: readonly DrfDemand[]): Map<string, number> => {
  const cap = toVec(capacity, 'capacity');
  const capArr = [cap.cpu, cap.mem, cap.gpu];
  interface Entry {
    tenantId: string;
    weight: number;
    /** demand share per resource (demand / capacity; 0 where capacity is 0). */
    unit: number[];
    /** dominant share of the full demand. */
    maxShare: number;
    frozen: boolean;
  }
  const result = new Map<string, number>();
  const entries: Entry[] = [];
  for (const d of demands) {
    if (!(d.weight > 0)) throw new AppError('VALIDATION_FAILED', 'weight must be > 0', { details: { tenantId: d.tenantId } });
    const v = toVec(d.demand, 'demand');
    const raw = [v.cpu, v.mem, v.gpu].map((x, i) => ((capArr[i] as number) > 0 ? x / (capArr[i] as number) : 0));
    const maxShare = Math.max(...raw);
    result.set(d.tenantId, 0);
    if (maxShare <= 0) continue;
    entries.push({ tenantId: d.tenantId, weight: d.weight, unit: raw.map((x) => x / maxShare), maxShare, frozen: false });
  }
  // used[r]: share of resource r held by frozen tenants; rate[r]: d(used by active tenants)/d(level).
  const used = [0, 0, 0];
  const rate = [0, 0, 0];
  for (const e of entries) for (let r = 0; r < 3; r++) rate[r] = (rate[r] as number) + e.weight * (e.unit[r] as number);
  // Active tenants meet their demand in order of maxShare / weight.
  const byCap = [...entries].sort((a, b) => a.maxShare / a.weight - b.maxShare / b.weight);
  let capIndex = 0;
  let active = entries.length;
  const freeze = (e: Entry, share: number): void => {
    e.frozen = true;
    active--;
    result.set(e.tenantId, share);
    for (let r = 0; r < 3; r++) {
      used[r] = (used[r] as number) + share * (e.unit[r] as number);
      rate[r] = (rate[r] as number) - e.weight * (e.unit[r] as number);
    }
  };
  const saturated = [false, false, false];
  while (active > 0) {
    while (capIndex < byCap.length && (byCap[capIndex] as Entry).frozen) capIndex++;
    const next = byCap[capIndex];
    const demandLevel = next === undefined ? Infinity : next.maxShare / next.weight;
    let level = demandLevel;
    let bottleneck = -1;
    for (let r = 0; r < 3; r++) {
      const rr = rate[r] as number;
      if (saturated[r] || rr <= 1e-15) continue;
      const l = (1 - (used[r] as number)) / rr;
      if (l < level) {
        level = l;
        bottleneck = r;
      }
    }
    if (bottleneck < 0) {
      if (next === undefined) break;
      freeze(next, next.maxShare);
      continue;
    }
    saturated[bottleneck] = true;
    for (const e of entries) {
      if (!e.frozen && (e.unit[bottleneck] as number) > 0) freeze(e, Math.max(0, level) * e.weight);
    }
  }
  return result;
};
