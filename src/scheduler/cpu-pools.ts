/**
 * CPU pools: which CPUs the shared pool holds and which are reserved whole for `dedicated` tenants.
 * Pure arithmetic (no IO, no clock): the job runner schedules each pool separately with `decide`, and the
 * serving side pins workers to the same CPUs (`cpusetFor`).
 */

/** What the pools need to know of a tenant: its id, its slug (for a stable order), tier and nominal CPU quota. */
export interface PoolTenant {
  id: string;
  slug: string;
  tier: string;
  /** Nominal CPU quota; undefined when unknown (counts as 1). */
  cpu: number | undefined;
}

export interface CpuPools {
  /** Dedicated tenants' reserved CPU ids (sorted ascending); a dedicated tenant missing here has none. */
  byTenant: Map<string, number[]>;
  /** The shared pool's CPU ids, sorted ascending. */
  shared: number[];
}

/**
 * On a host: dedicated tenants get whole CPUs of their own (`ceil(cpu quota)`, at least 1), taken from
 * the highest ids down, tenants in slug order; the rest form the shared pool. A reservation that would
 * leave the shared pool empty is skipped: the platform itself and the other tenants need one CPU.
 * Invariants (property-tested): pools are disjoint, their union is `cpuIds`, the shared pool is never
 * empty when `cpuIds` is not, and a tenant gets either exactly what it wants or nothing.
 */
export const hostCpuPools = (cpuIds: readonly number[], tenants: readonly PoolTenant[]): CpuPools => {
  const free = [...cpuIds].sort((a, b) => b - a);
  const byTenant = new Map<string, number[]>();
  for (const tenant of tenants.filter((t) => t.tier === 'dedicated').sort((a, b) => a.slug.localeCompare(b.slug))) {
    const want = cpusWanted(tenant);
    // Never reserve the last shared CPU: the platform itself and the other tenants need one.
    if (free.length - want < 1) continue;
    byTenant.set(tenant.id, free.splice(0, want).sort((a, b) => a - b));
  }
  return { byTenant, shared: free.sort((a, b) => a - b) };
};

/**
 * On a cluster (without Kueue) the shared pool is the configured capacity, and a dedicated tenant runs on
 * its own node pool, sized by its nominal CPU quota: a pool of its own that takes nothing from the shared
 * one. The "CPU ids" here only count cores; no cpuset is applied on a cluster.
 */
export const clusterCpuPools = (capacityCpu: number, tenants: readonly PoolTenant[]): CpuPools => {
  const cores = (n: number) => Array.from({ length: Math.max(0, Math.ceil(n)) }, (_, i) => i);
  const byTenant = new Map<string, number[]>();
  for (const tenant of tenants.filter((t) => t.tier === 'dedicated')) byTenant.set(tenant.id, cores(tenant.cpu ?? 1));
  return { byTenant, shared: cores(capacityCpu) };
};

/** Whole CPUs a dedicated tenant reserves: its CPU quota rounded up, at least 1. */
export const cpusWanted = (tenant: PoolTenant): number => Math.max(1, Math.ceil(tenant.cpu ?? 1));

/** A cpuset list (`"0,1,3"`) for CPU ids. */
export const cpuList = (ids: readonly number[]): string => ids.join(',');

/** One pool to schedule: its tenants (undefined: everyone without a reservation), its CPU count and cpuset. */
export interface CpuPool {
  tenantIds: ReadonlySet<string> | undefined;
  cpus: number;
  cpuset: string;
}

/**
 * The pools to schedule: the shared pool first (its CPU count capped by the configured capacity, 0 when
 * it has no CPU), then one pool per reservation.
 */
export const schedulingPools = (pools: CpuPools, capacityCpu: number): CpuPool[] => [
  { tenantIds: undefined, cpus: pools.shared.length > 0 ? Math.min(capacityCpu, pools.shared.length) : 0, cpuset: cpuList(pools.shared) },
  ...[...pools.byTenant].map(([tenantId, cpus]) => ({ tenantIds: new Set([tenantId]), cpus: cpus.length, cpuset: cpuList(cpus) })),
];

/** Whether a tenant's jobs belong to `pool`. */
export const inPool = (pools: CpuPools, pool: CpuPool, tenantId: string): boolean =>
  pool.tenantIds === undefined ? !pools.byTenant.has(tenantId) : pool.tenantIds.has(tenantId);

/**
 * The CPUs a tenant's processes may use: its reserved CPUs when it is `dedicated` (undefined when none
 * could be reserved), otherwise the shared pool (undefined when empty).
 */
export const cpusetOf = (pools: CpuPools, tenant: { id: string; tier: string } | undefined, tenantId: string): string | undefined => {
  const own = pools.byTenant.get(tenantId);
  if (own !== undefined) return cpuList(own);
  if (tenant?.tier === 'dedicated') return undefined;
  return pools.shared.length > 0 ? cpuList(pools.shared) : undefined;
};
