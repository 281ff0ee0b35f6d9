import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admitInTree, buildQuotaTree, reclaimOrder, subtreeUsage, validateQuotaTree } from './quota-tree.ts';
import type { QuotaTreeNode } from './quota-tree.ts';
import type { Resources } from './scheduler-types.ts';

const r = (cpu: number, memoryMiB = 0, gpu = 0): Resources => ({ cpu, memoryMiB, gpu });

/** cluster (100 cores) ─ org-east (40) ─ team-a (20), team-b (20); org-west (60) ─ team-c (60). */
const nodes: QuotaTreeNode[] = [
  { id: 'cluster', label: 'cluster', parentId: null, nominal: r(100, 1000, 0) },
  { id: 'east', label: 'org-east', parentId: 'cluster', nominal: r(40, 400, 0), borrowingLimit: { cpu: 0 } },
  { id: 'a', label: 'team-a', parentId: 'east', nominal: r(20, 200, 0) },
  { id: 'b', label: 'team-b', parentId: 'east', nominal: r(20, 200, 0) },
  { id: 'west', label: 'org-west', parentId: 'cluster', nominal: r(60, 600, 0) },
  { id: 'c', label: 'team-c', parentId: 'west', nominal: r(60, 600, 0) },
];

describe('quota tree', () => {
  it('validates: children over-committing a level are named with the level and the resource', () => {
    assert.deepEqual(validateQuotaTree(nodes), []);
    const over = validateQuotaTree(nodes.map((n) => (n.id === 'b' ? { ...n, nominal: r(21, 250, 0) } : n)));
    assert.deepEqual(over.map((p) => [p.level, p.node, p.resource]), [[1, 'org-east', 'cpu'], [1, 'org-east', 'memoryMiB']]);
    assert.match(over[0]!.message, /^level 1 \('org-east'\): its children's cpu guarantees \(41 cores\) exceed its own nominal cpu \(40 cores\)$/);
    // A lending limit above the node's own nominal: it cannot lend what it is not guaranteed.
    const lend = validateQuotaTree(nodes.map((n) => (n.id === 'b' ? { ...n, lendingLimit: { cpu: 21, gpu: 0 } } : n)));
    assert.deepEqual(lend.map((p) => [p.kind, p.level, p.node, p.resource]), [['lending-limit', 2, 'team-b', 'cpu']]);
    assert.match(lend[0]!.message, /^level 2 \('team-b'\): its cpu lending limit \(21 cores\) exceeds its own nominal cpu \(20 cores\)$/);
  });

  it('a sibling borrows its sibling\'s idle quota, but not past the parent\'s limit, and explain names that level', () => {
    const tree = buildQuotaTree(nodes);
    // team-a uses 30 of east's 40 (10 borrowed from idle team-b): fine.
    assert.deepEqual(admitInTree(tree, new Map(), 'a', r(30)), { admit: true });
    // 41 would pass org-east's 40, and org-east may not borrow from the cluster (borrowing limit 0).
    const refused = admitInTree(tree, new Map(), 'a', r(41));
    assert.equal(refused.admit, false);
    if (refused.admit) return;
    assert.deepEqual([refused.level, refused.node, refused.resource], [1, 'org-east', 'cpu']);
    assert.match(refused.message, /level 1 \('org-east'\)/);
    // Once team-b uses its own 15, team-a can take only 25.
    const usage = new Map([['b', r(15)]]);
    assert.equal(admitInTree(tree, usage, 'a', r(25)).admit, true);
    assert.equal(admitInTree(tree, usage, 'a', r(26)).admit, false);
    // A lending limit holds back part of an idle sibling's nominal.
    const lending = buildQuotaTree(nodes.map((n) => (n.id === 'b' ? { ...n, lendingLimit: { cpu: 5 } } : n)));
    assert.equal(admitInTree(lending, new Map(), 'a', r(25)).admit, true);
    const held = admitInTree(lending, new Map(), 'a', r(26));
    assert.equal(held.admit, false);
    if (!held.admit) {
      assert.equal(held.limit, 'parent');
      // explain says the idle room exists but the lender's limit keeps it back (team-b: 20 nominal, lends 5).
      assert.match(held.message, /15 of them idle but kept back by its siblings' lending limits/);
    }
    // A team's own borrowing limit is its own level (2).
    const capped = buildQuotaTree(nodes.map((n) => (n.id === 'a' ? { ...n, borrowingLimit: { cpu: 2 } } : n)));
    const own = admitInTree(capped, new Map(), 'a', r(23));
    assert.ok(!own.admit && own.level === 2 && own.node === 'team-a' && own.limit === 'borrowing');
  });

  it('unused capacity is lent inside the nearest subtree first: org-west lends to org-east only through the cluster', () => {
    const open = buildQuotaTree(nodes.map((n) => (n.id === 'east' ? { ...n, borrowingLimit: undefined } : n)));
    assert.equal(admitInTree(open, new Map(), 'a', r(100)).admit, true, 'the whole idle cluster');
    const west = new Map([['c', r(50)]]);
    assert.equal(admitInTree(open, west, 'a', r(50)).admit, true);
    const refused = admitInTree(open, west, 'a', r(51));
    assert.ok(!refused.admit && refused.node === 'cluster' && refused.level === 0);
  });

  it("rootBorrowing 'own-limit': a root tenant keeps its own borrowing limit (the pool is checked elsewhere)", () => {
    const flat = buildQuotaTree([{ id: 'solo', label: 'solo', parentId: null, nominal: r(2), borrowingLimit: { cpu: 3 } }]);
    assert.equal(admitInTree(flat, new Map(), 'solo', r(5)).admit, false, 'default: a root has its nominal only');
    assert.equal(admitInTree(flat, new Map(), 'solo', r(5), { rootBorrowing: 'own-limit' }).admit, true);
    const over = admitInTree(flat, new Map(), 'solo', r(6), { rootBorrowing: 'own-limit' });
    assert.ok(!over.admit && over.level === 0 && over.limit === 'borrowing');
  });

  it('reclaims borrowed capacity from the farthest borrower first', () => {
    const tree = buildQuotaTree(nodes.map((n) => (n.id === 'east' ? { ...n, borrowingLimit: undefined } : n)));
    // team-b borrows inside org-east, team-c borrows... nothing (under nominal), org-east borrows from west.
    const usage = new Map([['b', r(30)], ['c', r(10)], ['a', r(0)]]);
    const victims = reclaimOrder(tree, usage, 'c', [{ jobId: 'j-b', tenantId: 'b' }, { jobId: 'j-c', tenantId: 'c' }]);
    assert.deepEqual(victims.map((v) => v.jobId), ['j-b']);
    const deeper = new Map([['a', r(25)], ['c', r(0)]]);
    const order = reclaimOrder(buildQuotaTree([...nodes, { id: 'd', label: 'team-d', parentId: 'west', nominal: r(0) }]), new Map([...deeper, ['d', r(5)]]), 'b',
      [{ jobId: 'near', tenantId: 'a' }, { jobId: 'far', tenantId: 'd' }]);
    assert.deepEqual(order.map((v) => v.jobId), ['far', 'near']);
  });

  it('admission never lets any node exceed nominal + borrowing, nor a root its nominal (property)', () => {
    const tree = buildQuotaTree(nodes);
    const leaves = ['a', 'b', 'c'];
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(...leaves), fc.integer({ min: 1, max: 30 })), { maxLength: 40 }), (requests) => {
      const usage = new Map<string, Resources>();
      for (const [leaf, cpu] of requests) {
        if (admitInTree(tree, usage, leaf, r(cpu)).admit) usage.set(leaf, r((usage.get(leaf)?.cpu ?? 0) + cpu));
      }
      const total = subtreeUsage(tree, usage);
      assert.ok(total.get('cluster')!.cpu <= 100);
      assert.ok(total.get('east')!.cpu <= 40, 'org-east borrows nothing');
      assert.ok(total.get('west')!.cpu <= 100);
    }));
  });
});
