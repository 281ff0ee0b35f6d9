import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FairTreeIndex, fairTreeFactors, fairTreeOrder, fairTreeRanks } from './fair-tree.ts';
import type { FairTreeNode } from './fair-tree.ts';
import { DecayedUsageLedger, accrue, decayFactor, defaultUsageHalfLifeMs, noUsage } from './decayed-usage.ts';

const hour = 3600 * 1000;
const day = 24 * hour;

/** A random tree of up to 4 levels: roots r0.., children r0.c0.., grandchildren ... with weights 1..8. */
const treeArb = fc.array(fc.tuple(fc.nat({ max: 3 }), fc.integer({ min: 1, max: 8 })), { minLength: 2, maxLength: 24 }).map((specs) => {
  const nodes: FairTreeNode[] = [];
  specs.forEach(([parentPick, weight], i) => {
    // Node i's parent: none (a root) or one of the earlier nodes, keeping depth ≤ 4.
    const candidates = nodes.filter((n) => n.id.split('.').length < 4);
    const parent = parentPick === 0 || candidates.length === 0 ? null : candidates[(parentPick * 7 + i) % candidates.length]!;
    nodes.push({ id: parent === null ? `n${i}` : `${parent.id}.n${i}`, parentId: parent === null ? null : parent.id, weight });
  });
  return nodes;
});

const leaves = (nodes: readonly FairTreeNode[]) => nodes.filter((n) => !nodes.some((c) => c.parentId === n.id));

describe('decayed usage', () => {
  it('halves every half-life, defaults to 7 days, and integrates a constant rate exactly', () => {
    assert.equal(defaultUsageHalfLifeMs, 7 * day);
    assert.ok(Math.abs(decayFactor(7 * day, defaultUsageHalfLifeMs) - 0.5) < 1e-12);
    const u = accrue(noUsage(0), 2 * day, 0.5, 1 * day);
    // ∫0^2d 0.5·2^(−(2d−s)/1d) ds = 0.5 · 1d/ln2 · (1 − 1/4)
    assert.ok(Math.abs(u.value - 0.5 * (day / Math.LN2) * 0.75) < 1e-3);
    assert.equal(accrue(u, day, 1, day), u, 'a time before the last one adds nothing');
  });

  it('accruing in steps equals accruing at once (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 10 * day }), { minLength: 1, maxLength: 20 }), fc.double({ min: 0, max: 1, noNaN: true }), (steps, rate) => {
      let stepped = noUsage(0);
      let t = 0;
      for (const step of steps) {
        t += step;
        stepped = accrue(stepped, t, rate, 7 * day);
      }
      const once = accrue(noUsage(0), t, rate, 7 * day);
      assert.ok(Math.abs(stepped.value - once.value) <= 1e-6 * Math.max(1, once.value));
    }));
  });

  it('a tenant that used 10× its share yesterday waits behind one that used none, until the decay evens them out', () => {
    const ledger = new DecayedUsageLedger(1 * day);
    const nodes: FairTreeNode[] = [{ id: 'heavy', parentId: null, weight: 1 }, { id: 'light', parentId: null, weight: 1 }];
    ledger.setRate('heavy', 0, 1);
    ledger.setRate('light', 0, 0.1);
    ledger.setRate('heavy', day, 0);
    ledger.setRate('light', day, 0);
    assert.deepEqual(fairTreeOrder(nodes, ledger.valuesAt(day)), ['light', 'heavy']);
    // Both now use the pool equally: heavy's history decays away, their usages converge (ratio → 1).
    ledger.setRate('heavy', day, 0.5);
    ledger.setRate('light', day, 0.5);
    const ratio = (t: number) => { const v = ledger.valuesAt(t); return v.get('heavy')! / v.get('light')!; };
    assert.ok(ratio(2 * day) > 1.5, `ratio after one day of equal use ${ratio(2 * day)}`);
    assert.ok(ratio(30 * day) < 1.01, `ratio after 30 half-lives ${ratio(30 * day)}`);
  });
});

describe('Fair Tree ordering', () => {
  it('orders every node once; an unused sibling comes before a used one', () => {
    const nodes: FairTreeNode[] = [
      { id: 'org', parentId: null, weight: 1 }, { id: 'a', parentId: 'org', weight: 1 }, { id: 'b', parentId: 'org', weight: 1 },
      { id: 'solo', parentId: null, weight: 1 },
    ];
    const order = fairTreeOrder(nodes, new Map([['a', 5], ['b', 0], ['solo', 1]]));
    // org's own jobs (its self entry, no usage) tie with b at the top of org's children.
    assert.deepEqual(order, ['solo', 'org', 'b', 'a']);
    assert.deepEqual([...fairTreeFactors(order).values()], [1, 0.75, 0.5, 0.25]);
  });

  it("a node's order never depends on another subtree's internal split (property)", () => {
    fc.assert(fc.property(treeArb, fc.array(fc.nat({ max: 100 }), { minLength: 24, maxLength: 24 }), fc.nat(), fc.nat(), (nodes, amounts, pick, seed) => {
      const usage = new Map(nodes.map((n, i) => [n.id, amounts[i]!]));
      const internal = nodes.filter((n) => nodes.some((c) => c.parentId === n.id));
      if (internal.length === 0) return;
      const x = internal[pick % internal.length]!;
      const inX = (id: string) => id === x.id || id.startsWith(`${x.id}.`);
      // Move usage around inside X's subtree, keeping its total.
      const members = nodes.filter((n) => inX(n.id));
      const total = members.reduce((s, n) => s + usage.get(n.id)!, 0);
      const split = new Map(usage);
      members.forEach((n) => split.set(n.id, 0));
      split.set(members[seed % members.length]!.id, total);
      const block = (order: string[]) => order.map((id) => (inX(id) ? 'X' : id)).filter((id, i, all) => id !== 'X' || all[i - 1] !== 'X');
      assert.deepEqual(block(fairTreeOrder(nodes, split)), block(fairTreeOrder(nodes, usage)));
    }), { numRuns: 300 });
  });

  /** Serves one unit per tick to the first leaf in Fair Tree order; every leaf always wants more. */
  const simulate = (nodes: readonly FairTreeNode[], ticks: number, halfLifeTicks: number) => {
    const ledger = new DecayedUsageLedger(halfLifeTicks);
    const served = new Map<string, number>();
    const lastServed = new Map<string, number>();
    let worstGap = 0;
    const wanting = new Set(leaves(nodes).map((n) => n.id));
    for (let t = 0; t < ticks; t += 1) {
      const winner = fairTreeOrder(nodes, ledger.valuesAt(t)).find((id) => wanting.has(id))!;
      for (const id of wanting) ledger.setRate(id, t, id === winner ? 1 : 0);
      served.set(winner, (served.get(winner) ?? 0) + 1);
      worstGap = Math.max(worstGap, t - (lastServed.get(winner) ?? -1));
      lastServed.set(winner, t);
    }
    for (const id of wanting) worstGap = Math.max(worstGap, ticks - (lastServed.get(id) ?? -1));
    return { served, worstGap };
  };

  /** A leaf's entitled share: the product of its normalized weight at each level. */
  const entitled = (nodes: readonly FairTreeNode[], id: string): number => {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    let share = 1;
    for (let n = byId.get(id); n !== undefined; n = n.parentId === null ? undefined : byId.get(n.parentId)) {
      const siblings = nodes.filter((s) => s.parentId === n!.parentId);
      share *= n.weight / siblings.reduce((sum, s) => sum + s.weight, 0);
    }
    return share;
  };

  it('no starvation and weights respected over time on two-level trees (property)', () => {
    const twoLevel = fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 })
      .chain((groups) => fc.array(fc.integer({ min: 1, max: 4 }), { minLength: groups.length, maxLength: groups.length }).map((orgWeights) => {
        const nodes: FairTreeNode[] = [];
        groups.forEach((teams, g) => {
          nodes.push({ id: `o${g}`, parentId: null, weight: orgWeights[g]! });
          teams.forEach((w, t) => nodes.push({ id: `o${g}.t${t}`, parentId: `o${g}`, weight: w }));
        });
        return nodes;
      }));
    fc.assert(fc.property(twoLevel, (nodes) => {
      const teams = leaves(nodes);
      const ticks = 400 * teams.length;
      const { served, worstGap } = simulate(nodes, ticks, 10_000 * teams.length);
      const minShare = Math.min(...teams.map((t) => entitled(nodes, t.id)));
      // Bounded wait: nobody waits much longer than its share says (a few of its periods).
      assert.ok(worstGap <= Math.ceil(4 / minShare) + 2 * teams.length, `worst gap ${worstGap}, min share ${minShare}`);
      for (const team of teams) {
        const got = (served.get(team.id) ?? 0) / ticks;
        const want = entitled(nodes, team.id);
        assert.ok(Math.abs(got - want) <= 0.02 + 0.1 * want, `${team.id}: got ${got.toFixed(4)}, entitled ${want.toFixed(4)}`);
      }
    }), { numRuns: 40 });
  });
});

describe('the incremental Fair Tree index', () => {
  const stepsArb = (nodes: readonly FairTreeNode[]) => fc.array(fc.tuple(fc.nat({ max: nodes.length - 1 }), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })), fc.boolean()), { maxLength: 40 });

  it('after any sequence of usage changes, orders and ranks exactly as a fresh computation (property)', () => {
    fc.assert(fc.property(treeArb.chain((nodes) => fc.tuple(fc.constant(nodes), stepsArb(nodes))), ([nodes, steps]) => {
      const index = new FairTreeIndex(nodes);
      const usage = new Map<string, number>();
      for (const [pick, value] of steps) {
        const id = nodes[pick]!.id;
        index.setUsage(id, value);
        usage.set(id, value);
        // Interleave reads, so that later changes land on refreshed (clean) levels too.
        if (value % 3 === 0) index.first();
      }
      assert.deepEqual(index.order(), fairTreeOrder(nodes, usage));
      assert.deepEqual(index.ranks(), fairTreeRanks(nodes, usage));
    }));
  });

  it('first() is the first of the order among active tenants, and undefined when none is active (property)', () => {
    fc.assert(fc.property(treeArb.chain((nodes) => fc.tuple(fc.constant(nodes), stepsArb(nodes))), ([nodes, steps]) => {
      const index = new FairTreeIndex(nodes);
      const active = new Set<string>();
      assert.equal(index.first(), undefined);
      for (const [pick, value, on] of steps) {
        const id = nodes[pick]!.id;
        index.setUsage(id, value);
        index.setActive(id, on);
        if (on) active.add(id);
        else active.delete(id);
        assert.equal(index.first(), index.order().find((x) => active.has(x)));
      }
    }));
  });

  it('charging each pick to the picked tenant serves weights in proportion within one pass (property)', () => {
    // The simulator's and the scheduler's per-admission rule: pick first(), add one unit to its usage.
    fc.assert(fc.property(treeArb, (nodes) => {
      const index = new FairTreeIndex(nodes);
      for (const n of nodes) index.setActive(n.id, true);
      const picks = new Map<string, number>();
      const rounds = 60 * nodes.length;
      for (let i = 0; i < rounds; i += 1) {
        const id = index.first()!;
        picks.set(id, (picks.get(id) ?? 0) + 1);
        index.setUsage(id, index.usageOf(id) + 1);
      }
      // Each tenant's picks ÷ its entitled share agree within a few picks of its own (granularity).
      // Entitled share: at each level a node's weight over its siblings' and its parent's own (self) weight.
      const kidsWeight = (id: string | null) => nodes.filter((c) => c.parentId === id).reduce((sum, c) => sum + c.weight, 0);
      const hasKids = (id: string) => nodes.some((c) => c.parentId === id);
      const subtree = (n: FairTreeNode): number => {
        const parent = nodes.find((x) => x.id === n.parentId);
        return parent === undefined ? n.weight / kidsWeight(null) : subtree(parent) * n.weight / (kidsWeight(parent.id) + parent.weight);
      };
      const share = (id: string): number => {
        const n = nodes.find((x) => x.id === id)!;
        return hasKids(id) ? subtree(n) * n.weight / (kidsWeight(id) + n.weight) : subtree(n);
      };
      for (const n of nodes) {
        const want = share(n.id) * rounds;
        assert.ok(Math.abs((picks.get(n.id) ?? 0) - want) <= 3 + 0.05 * want, `${n.id}: ${picks.get(n.id) ?? 0} picks, entitled ${want.toFixed(1)}`);
      }
    }));
  });
});
