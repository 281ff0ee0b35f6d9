import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dominantShare, weightedDrfShares } from './drf.ts';

const close = (actual: number | undefined, expected: number, what: string): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);
};

describe('dominantShare', () => {
  it('takes the largest share and names its resource', () => {
    const share = dominantShare({ cpu: 2, memoryMiB: 1024, gpu: 0 }, { cpu: 8, memoryMiB: 2048, gpu: 4 });
    assert.equal(share.share, 0.5);
    assert.equal(share.resource, 'memory');
  });

  it('ignores resources the pool has none of', () => {
    const share = dominantShare({ cpu: 1, memoryMiB: 0, gpu: 3 }, { cpu: 4, memoryMiB: 1024, gpu: 0 });
    assert.equal(share.share, 0.25);
    assert.equal(share.resource, 'cpu');
  });

  it('is zero with no usage', () => {
    assert.deepEqual(dominantShare({ cpu: 0, memoryMiB: 0, gpu: 0 }, { cpu: 4, memoryMiB: 1024, gpu: 1 }), {
      share: 0,
      resource: undefined,
    });
  });
});

describe('weightedDrfShares (progressive filling)', () => {
  it('reproduces the example of the DRF paper: both users end at a 2/3 dominant share', () => {
    // 9 CPUs, 18 GB; A's tasks are <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>; both have unbounded demand.
    const shares = weightedDrfShares({ cpu: 9, memoryMiB: 18 * 1024, gpu: 0 }, [
      { tenantId: 'A', demand: { cpu: 100, memoryMiB: 400 * 1024, gpu: 0 }, weight: 1 },
      { tenantId: 'B', demand: { cpu: 300, memoryMiB: 100 * 1024, gpu: 0 }, weight: 1 },
    ]);
    close(shares.get('A'), 2 / 3, 'A');
    close(shares.get('B'), 2 / 3, 'B');
  });

  it('gives weights proportional dominant shares', () => {
    const shares = weightedDrfShares({ cpu: 12, memoryMiB: 1024, gpu: 0 }, [
      { tenantId: 'heavy', demand: { cpu: 100, memoryMiB: 0, gpu: 0 }, weight: 2 },
      { tenantId: 'light', demand: { cpu: 100, memoryMiB: 0, gpu: 0 }, weight: 1 },
    ]);
    close(shares.get('heavy'), 2 / 3, 'heavy');
    close(shares.get('light'), 1 / 3, 'light');
  });

  it('caps a tenant at its demand and gives the rest to the others', () => {
    const shares = weightedDrfShares({ cpu: 10, memoryMiB: 1024, gpu: 0 }, [
      { tenantId: 'small', demand: { cpu: 1, memoryMiB: 0, gpu: 0 }, weight: 1 },
      { tenantId: 'big', demand: { cpu: 100, memoryMiB: 0, gpu: 0 }, weight: 1 },
      { tenantId: 'none', demand: { cpu: 0, memoryMiB: 0, gpu: 0 }, weight: 1 },
    ]);
    close(shares.get('small'), 0.1, 'small');
    close(shares.get('big'), 0.9, 'big');
    close(shares.get('none'), 0, 'none');
  });

  it('never allocates more than capacity nor more than demand, and leaves no contended resource idle', () => {
    const demand = fc.record({
      cpu: fc.integer({ min: 0, max: 20_000 }).map((m) => m / 1000),
      memoryMiB: fc.integer({ min: 0, max: 64 * 1024 }),
      gpu: fc.integer({ min: 0, max: 8 }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.record({ demand, weight: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 12 }),
        (tenants) => {
          const capacity = { cpu: 16, memoryMiB: 32 * 1024, gpu: 4 };
          const input = tenants.map((t, i) => ({ tenantId: `t${i}`, demand: t.demand, weight: t.weight }));
          const shares = weightedDrfShares(capacity, input);
          const used = [0, 0, 0];
          const caps = [capacity.cpu, capacity.memoryMiB, capacity.gpu];
          let anyUnmet = false;
          for (const t of input) {
            const d = [t.demand.cpu, t.demand.memoryMiB, t.demand.gpu].map((x, r) => x / (caps[r] as number));
            const max = Math.max(...d);
            const share = shares.get(t.tenantId) ?? NaN;
            assert.ok(share <= max + 1e-9, 'allocation above demand');
            if (max > 0) d.forEach((x, r) => (used[r] = (used[r] as number) + (share * x) / max));
            if (share < max - 1e-9) anyUnmet = true;
          }
          for (const u of used) assert.ok(u <= 1 + 1e-9, `resource over-allocated: ${u}`);
          // Pareto efficiency: if someone's demand is unmet, some resource it needs is exhausted.
          if (anyUnmet) assert.ok(used.some((u) => u > 1 - 1e-6), `unmet demand with idle capacity: ${used.join(', ')}`);
        },
      ),
    );
  });
});
