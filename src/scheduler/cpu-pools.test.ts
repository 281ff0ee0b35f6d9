/**
 * Property tests of the CPU-pool arithmetic: for random hosts and random sets of tenants, the pools are a
 * partition of the host's CPUs, the shared pool keeps at least one CPU, reservations are whole and
 * all-or-nothing, and the result does not depend on the order tenants are listed in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clusterCpuPools, cpuList, cpusetOf, cpusWanted, hostCpuPools, inPool, schedulingPools } from './index.ts';
import type { PoolTenant } from './index.ts';

const tenantArb = fc.record({
  id: fc.uuid(),
  slug: fc.stringMatching(/^[a-z][a-z0-9-]{1,10}[a-z0-9]$/),
  tier: fc.constantFrom('process', 'sandbox', 'dedicated'),
  cpu: fc.option(fc.double({ min: 0.1, max: 12, noNaN: true }), { nil: undefined }),
});
const tenantsArb = fc.uniqueArray(tenantArb, { selector: (t) => t.id, maxLength: 8 }).map((ts) => {
  // Slugs are unique per installation.
  const seen = new Set<string>();
  return ts.filter((t) => (seen.has(t.slug) ? false : (seen.add(t.slug), true)));
});
const cpuIdsArb = fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 32 });

describe('hostCpuPools', () => {
  it('partitions the host CPUs: disjoint pools whose union is every CPU id', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, (cpuIds, tenants) => {
      const pools = hostCpuPools(cpuIds, tenants);
      const all = [...pools.shared, ...[...pools.byTenant.values()].flat()];
      assert.equal(new Set(all).size, all.length, 'a CPU is in two pools');
      assert.deepEqual([...all].sort((a, b) => a - b), [...cpuIds].sort((a, b) => a - b));
    }));
  });

  it('keeps at least one shared CPU whenever the host has one', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, (cpuIds, tenants) => {
      const pools = hostCpuPools(cpuIds, tenants);
      if (cpuIds.length > 0) assert.ok(pools.shared.length >= 1);
      else assert.deepEqual(pools.shared, []);
    }));
  });

  it('reserves whole CPUs for dedicated tenants only, exactly ceil(quota) (at least 1) or none, sorted', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, (cpuIds, tenants) => {
      const pools = hostCpuPools(cpuIds, tenants);
      for (const [tenantId, cpus] of pools.byTenant) {
        const tenant = tenants.find((t) => t.id === tenantId);
        assert.equal(tenant?.tier, 'dedicated');
        assert.equal(cpus.length, Math.max(1, Math.ceil(tenant.cpu ?? 1)));
        assert.deepEqual(cpus, [...cpus].sort((a, b) => a - b));
      }
    }));
  });

  it('skips a reservation only when it would empty the shared pool (greedy in slug order)', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, (cpuIds, tenants) => {
      const pools = hostCpuPools(cpuIds, tenants);
      // Replay the greedy walk with counts only: an independent model of who gets CPUs.
      let free = cpuIds.length;
      for (const tenant of tenants.filter((t) => t.tier === 'dedicated').sort((a, b) => a.slug.localeCompare(b.slug))) {
        const want = cpusWanted(tenant);
        const fits = free - want >= 1;
        assert.equal(pools.byTenant.has(tenant.id), fits, `tenant ${tenant.slug} wanting ${want} with ${free} free`);
        if (fits) free -= want;
      }
      assert.equal(pools.shared.length, free);
    }));
  });

  it('takes reserved CPUs from the top: every reserved id is above every shared id', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, (cpuIds, tenants) => {
      const pools = hostCpuPools(cpuIds, tenants);
      const reserved = [...pools.byTenant.values()].flat();
      if (reserved.length > 0 && pools.shared.length > 0) assert.ok(Math.min(...reserved) > Math.max(...pools.shared));
    }));
  });

  it('does not depend on the order tenants or CPU ids are listed in', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, fc.integer(), (cpuIds, tenants, seed) => {
      const shuffle = <T>(xs: readonly T[]) => xs.map((x, i) => [((i + 1) * (seed | 1)) % 997, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
      const a = hostCpuPools(cpuIds, tenants);
      const b = hostCpuPools(shuffle(cpuIds), shuffle(tenants));
      assert.deepEqual(b.shared, a.shared);
      assert.deepEqual(new Map([...b.byTenant].sort()), new Map([...a.byTenant].sort()));
    }));
  });
});

describe('clusterCpuPools', () => {
  it('gives the shared pool ceil(capacity) cores and each dedicated tenant a pool of its own quota', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 512, noNaN: true }), tenantsArb, (capacity, tenants) => {
      const pools = clusterCpuPools(capacity, tenants);
      assert.equal(pools.shared.length, Math.ceil(capacity));
      const dedicated = tenants.filter((t) => t.tier === 'dedicated');
      assert.deepEqual([...pools.byTenant.keys()].sort(), dedicated.map((t) => t.id).sort());
      for (const t of dedicated) assert.equal(pools.byTenant.get(t.id)?.length, Math.ceil(t.cpu ?? 1));
    }));
  });
});

describe('schedulingPools and cpusetOf', () => {
  it('puts every tenant in exactly one pool, whose cpuset is the CPUs it may use', () => {
    fc.assert(fc.property(cpuIdsArb, tenantsArb, fc.integer({ min: 0, max: 64 }), (cpuIds, tenants, capacityCpu) => {
      const pools = hostCpuPools(cpuIds, tenants);
      const scheduled = schedulingPools(pools, capacityCpu);
      const shared = scheduled[0];
      assert.ok(shared !== undefined && shared.tenantIds === undefined);
      assert.equal(shared.cpus, Math.min(capacityCpu, pools.shared.length));
      for (const tenant of tenants) {
        const homes = scheduled.filter((pool) => inPool(pools, pool, tenant.id));
        assert.equal(homes.length, 1, `tenant ${tenant.slug} is in ${homes.length} pools`);
        const expected = cpusetOf(pools, tenant, tenant.id);
        if (tenant.tier === 'dedicated' && !pools.byTenant.has(tenant.id)) assert.equal(expected, undefined);
        else assert.equal(homes[0]?.cpuset, expected ?? '');
      }
    }));
  });

  it('cpuList joins ids with commas', () => {
    assert.equal(cpuList([0, 2, 3]), '0,2,3');
    assert.equal(cpuList([]), '');
  });

  it('a concrete host: 4 CPUs, two dedicated tenants of 1.5 and 2 CPUs', () => {
    const tenants: PoolTenant[] = [
      { id: 't-b', slug: 'bravo', tier: 'dedicated', cpu: 2 },
      { id: 't-a', slug: 'alpha', tier: 'dedicated', cpu: 1.5 },
      { id: 't-c', slug: 'charlie', tier: 'sandbox', cpu: 8 },
    ];
    const pools = hostCpuPools([0, 1, 2, 3], tenants);
    // alpha comes first by slug and takes CPUs 2-3; bravo would leave no shared CPU and is skipped.
    assert.deepEqual(pools.byTenant.get('t-a'), [2, 3]);
    assert.equal(pools.byTenant.has('t-b'), false);
    assert.deepEqual(pools.shared, [0, 1]);
    assert.equal(cpusetOf(pools, tenants[1], 't-a'), '2,3');
    assert.equal(cpusetOf(pools, tenants[0], 't-b'), undefined);
    assert.equal(cpusetOf(pools, tenants[2], 't-c'), '0,1');
  });
});
