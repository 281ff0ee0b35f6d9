/**
 * Fair share on decayed usage as the job runner uses it (issue 15): Fair Tree ranks, the persisted
 * ledger, and the real `SchedulerState` ordered by those ranks in a closed loop (what the runner does per
 * tick: sync holdings, rank, schedule). Properties: ranks agree with the Fair Tree order and never depend
 * on another subtree's internal split; no starvation; weights respected over time; a tenant that used
 * 10× its share waits behind one that used none until decay evens them out.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FairShareLedger, chargedUsage, fairShareView, rateOf, runningChargeMs } from './fair-share.ts';
import { FairTreeIndex, fairTreeOrder, fairTreeRanks } from './fair-tree.ts';
import type { FairTreeNode } from './fair-tree.ts';
import { SchedulerState } from './scheduler-core.ts';
import { decide } from './index.ts';
import type { QueuedJob, Resources, SchedulerInput } from './scheduler-types.ts';

const minute = 60 * 1000;
const hour = 60 * minute;
const day = 24 * hour;

/** Two levels: `orgs` organizations, each with 1–4 teams; weights 1–4. */
const twoLevelArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 4 })
  .map((orgs) => {
    const nodes: FairTreeNode[] = [];
    orgs.forEach(([orgWeight, teams], o) => {
      nodes.push({ id: `o${o}`, parentId: null, weight: orgWeight });
      teams.forEach((w, t) => nodes.push({ id: `o${o}.t${t}`, parentId: `o${o}`, weight: w }));
    });
    return nodes;
  });
const leavesOf = (nodes: readonly FairTreeNode[]) => nodes.filter((n) => !nodes.some((c) => c.parentId === n.id));
const usageArb = (nodes: readonly FairTreeNode[]) => fc.tuple(...leavesOf(nodes).map(() => fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }))))
  .map((values) => new Map(leavesOf(nodes).map((n, i) => [n.id, values[i]!])));

describe('Fair Tree ranks', () => {
  it('follow the Fair Tree order, sharing a rank only between sibling leaves of equal level share (property)', () => {
    fc.assert(fc.property(twoLevelArb.chain((nodes) => fc.tuple(fc.constant(nodes), usageArb(nodes))), ([nodes, usage]) => {
      const order = fairTreeOrder(nodes, usage);
      const ranks = fairTreeRanks(nodes, usage);
      assert.deepEqual(new Set(ranks.keys()), new Set(order));
      for (let i = 1; i < order.length; i += 1) {
        const before = ranks.get(order[i - 1]!)!;
        const here = ranks.get(order[i]!)!;
        assert.ok(before <= here, 'ranks never decrease along the order');
        if (before === here) {
          // An organization's own jobs compete as one more child of it (its `self` entry).
          const level = (id: string) => (nodes.some((c) => c.parentId === id) ? id : nodes.find((n) => n.id === id)!.parentId);
          assert.equal(level(order[i - 1]!), level(order[i]!), 'only siblings tie');
        }
      }
      // Competition ranking: the rank of the i-th is at most i + 1 and the first is 1.
      order.forEach((id, i) => assert.ok(ranks.get(id)! <= i + 1));
      assert.equal(ranks.get(order[0]!), 1);
    }));
  });

  it('two tenants that used nothing share rank 1 (DRF then decides between them)', () => {
    const nodes: FairTreeNode[] = [{ id: 'a', parentId: null, weight: 1 }, { id: 'b', parentId: null, weight: 1 }, { id: 'c', parentId: null, weight: 1 }];
    assert.deepEqual(Object.fromEntries(fairTreeRanks(nodes, new Map([['c', 5]]))), { a: 1, b: 1, c: 3 });
  });

  it("a tenant's rank never depends on another subtree's internal split (property)", () => {
    fc.assert(fc.property(twoLevelArb.chain((nodes) => fc.tuple(fc.constant(nodes), usageArb(nodes), fc.nat(), fc.nat())), ([nodes, usage, pick, seed]) => {
      const orgs = nodes.filter((n) => n.parentId === null);
      const org = orgs[pick % orgs.length]!;
      const teams = nodes.filter((n) => n.parentId === org.id);
      // Redistribute the organization's total among its teams (same total, another split).
      const total = teams.reduce((sum, t) => sum + (usage.get(t.id) ?? 0), 0);
      const resplit = new Map(usage);
      teams.forEach((t, i) => resplit.set(t.id, i === seed % teams.length ? total : 0));
      const before = fairTreeRanks(nodes, usage);
      const after = fairTreeRanks(nodes, resplit);
      for (const n of leavesOf(nodes)) if (n.parentId !== org.id) assert.equal(after.get(n.id), before.get(n.id), n.id);
    }));
  });
});

describe('the fair-share ledger', () => {
  it('persists: records restored after a restart give the same usage at their time, and the gap counts as holding nothing (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 6 * hour }), fc.integer({ min: 0, max: 8 })), { minLength: 1, maxLength: 20 }), (steps) => {
      const capacity: Resources = { cpu: 8, memoryMiB: 8192, gpu: 0 };
      const ledger = new FairShareLedger(day);
      const persisted = new Map<string, ReturnType<FairShareLedger['sync']>[number]>();
      let t = 0;
      for (const [dt, cores] of steps) {
        t += dt;
        for (const r of ledger.sync(t, new Map(cores === 0 ? [] : [['a', { cpu: cores, memoryMiB: 0, gpu: 0 }]]), capacity)) persisted.set(r.tenantId, r);
      }
      const restored = new FairShareLedger(day);
      restored.restore(persisted.values());
      const record = persisted.get('a');
      if (record === undefined) return;
      // At the record's own time both agree exactly; later, the restored one has only decayed.
      const live = ledger.usageAt(record.atMs).get('a')!;
      const back = restored.usageAt(record.atMs).get('a')!;
      assert.ok(Math.abs(live.dominant - back.dominant) <= 1e-9 * Math.max(1, live.dominant));
      const later = restored.usageAt(record.atMs + day).get('a')!;
      assert.ok(Math.abs(later.cpu - back.cpu / 2) <= 1e-9 * Math.max(1, back.cpu));
    }));
  });

  it('counts dominant share × time and each resource × time, in seconds', () => {
    const ledger = new FairShareLedger(Number.POSITIVE_INFINITY);
    ledger.sync(0, new Map([['a', { cpu: 2, memoryMiB: 6144, gpu: 0 }]]), { cpu: 8, memoryMiB: 8192, gpu: 0 });
    const u = ledger.usageAt(hour).get('a')!;
    assert.ok(Math.abs(u.dominant - 0.75 * 3600) < 1e-6, 'memory is dominant: 6144/8192 for an hour');
    assert.ok(Math.abs(u.cpu - 2 * 3600) < 1e-6);
    assert.deepEqual(rateOf({ cpu: 1, memoryMiB: 0, gpu: 1 }, { cpu: 8, memoryMiB: 1, gpu: 2 }).dominant, 0.5);
  });
});

/**
 * The runner's loop in miniature: every `step`, jobs past their end finish, holdings are synced into the
 * ledger, Fair Tree ranks are set on the real SchedulerState, and it schedules. Each tenant keeps `backlog`
 * 1-core jobs queued. Returns per tenant: core·ms held, and the longest stretch with queued jobs and no
 * admission.
 */
const simulate = (opts: { nodes: FairTreeNode[]; cores: number; halfLifeMs: number; durationMs: (seq: number) => number; untilMs: number; stepMs: number; seed?: Map<string, number>; backlog?: number }) => {
  const capacity: Resources = { cpu: opts.cores, memoryMiB: opts.cores * 1024, gpu: 0 };
  const state = new SchedulerState(capacity);
  const ledger = new FairShareLedger(opts.halfLifeMs);
  const tenants = leavesOf(opts.nodes).map((n) => n.id);
  if (opts.seed !== undefined) {
    ledger.restore([...opts.seed].map(([tenantId, dominantSeconds]) => ({ tenantId, usage: { dominant: dominantSeconds, cpu: 0, memoryMiB: 0, gpu: 0 }, rate: { dominant: 0, cpu: 0, memoryMiB: 0, gpu: 0 }, atMs: 0 })));
  }
  for (const id of tenants) {
    // No nominal: every job borrows, so the order is the fair-share order alone.
    state.setQuota(id, { nominal: { cpu: 0, memoryMiB: 0, gpu: 0 }, borrowingLimit: capacity, maxConcurrentJobs: 1000, weight: opts.nodes.find((n) => n.id === id)!.weight });
  }
  let seq = 0;
  const queued = new Map(tenants.map((id) => [id, 0]));
  const running: Array<{ id: string; tenantId: string; endsAt: number }> = [];
  const held = new Map(tenants.map((id) => [id, 0]));
  const lastAdmitted = new Map(tenants.map((id) => [id, 0]));
  const worstWait = new Map(tenants.map((id) => [id, 0]));
  const admissions: Array<{ at: number; tenantId: string }> = [];
  for (let now = 0; now < opts.untilMs; now += opts.stepMs) {
    for (let i = running.length - 1; i >= 0; i -= 1) {
      if (running[i]!.endsAt > now) continue;
      state.jobFinished(running[i]!.id);
      running.splice(i, 1);
    }
    for (const id of tenants) {
      while (queued.get(id)! < (opts.backlog ?? 3)) {
        const job: QueuedJob = { id: `j${seq}`, tenantId: id, request: { cpu: 1, memoryMiB: 1024, gpu: 0 }, priority: 0, enqueuedAt: now };
        seq += 1;
        state.enqueue(job);
        queued.set(id, queued.get(id)! + 1);
      }
    }
    const holdings = new Map<string, Resources>();
    for (const r of running) {
      const h = holdings.get(r.tenantId) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
      holdings.set(r.tenantId, { cpu: h.cpu + 1, memoryMiB: h.memoryMiB + 1024, gpu: 0 });
    }
    ledger.sync(now, holdings, capacity);
    const view = fairShareView(ledger, opts.nodes, now);
    for (const id of tenants) state.setFairRank(id, view.ranks.get(id) ?? Number.POSITIVE_INFINITY);
    for (const { jobId, tenantId } of state.schedule(now).admitted) {
      running.push({ id: jobId, tenantId, endsAt: now + opts.durationMs(Number(jobId.slice(1))) });
      queued.set(tenantId, queued.get(tenantId)! - 1);
      lastAdmitted.set(tenantId, now);
      admissions.push({ at: now, tenantId });
    }
    for (const id of tenants) {
      held.set(id, held.get(id)! + (holdings.get(id)?.cpu ?? 0) * opts.stepMs);
      worstWait.set(id, Math.max(worstWait.get(id)!, now - lastAdmitted.get(id)!));
    }
  }
  return { held, worstWait, admissions };
};

/** Each leaf's entitled share: the product of its and its ancestors' normalized weights. */
const entitled = (nodes: readonly FairTreeNode[]): Map<string, number> => {
  const share = (n: FairTreeNode): number => {
    const siblings = nodes.filter((s) => s.parentId === n.parentId);
    const own = n.weight / siblings.reduce((sum, s) => sum + s.weight, 0);
    const parent = nodes.find((p) => p.id === n.parentId);
    return parent === undefined ? own : own * share(parent);
  };
  return new Map(leavesOf(nodes).map((n) => [n.id, share(n)]));
};

describe('the scheduler ordered by Fair Tree ranks', () => {
  it('without ranks, or with every tenant ranked alike, decisions are exactly DRF on what runs (property)', () => {
    const jobArb = fc.record({ tenant: fc.integer({ min: 0, max: 3 }), cpu: fc.integer({ min: 1, max: 4 }), priority: fc.integer({ min: 0, max: 2 }), at: fc.nat({ max: 100 }) });
    fc.assert(fc.property(fc.array(jobArb, { maxLength: 30 }), fc.array(jobArb, { maxLength: 10 }), fc.integer({ min: 1, max: 4 }), (queued, running, rank) => {
      const quotas = Object.fromEntries([0, 1, 2, 3].map((t) => [`t${t}`, { nominal: { cpu: 2 * t, memoryMiB: 0, gpu: 0 }, borrowingLimit: { cpu: 8, memoryMiB: 0, gpu: 0 }, maxConcurrentJobs: 10, weight: t + 1 }]));
      const input: SchedulerInput = {
        capacity: { cpu: 12, memoryMiB: 0, gpu: 0 },
        quotas,
        running: running.map((j, i) => ({ id: `r${i}`, tenantId: `t${j.tenant}`, request: { cpu: j.cpu, memoryMiB: 0, gpu: 0 }, priority: j.priority, startedAt: j.at })),
        queued: queued.map((j, i) => ({ id: `q${i}`, tenantId: `t${j.tenant}`, request: { cpu: j.cpu, memoryMiB: 0, gpu: 0 }, priority: j.priority, enqueuedAt: j.at })),
        now: 1000,
      };
      const flat = decide(input);
      const alike = decide({ ...input, fairRanks: { t0: rank, t1: rank, t2: rank, t3: rank } });
      assert.deepEqual(alike.admitted, flat.admitted);
      assert.deepEqual(alike.preempted, flat.preempted);
    }));
  });

  it('under contention, the better-ranked tenant is admitted first, whatever the queue order (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 6 }), fc.nat(), (tenants, pick) => {
      const best = `t${pick % tenants}`;
      const ids = Array.from({ length: tenants }, (_, i) => `t${i}`);
      const quotas = Object.fromEntries(ids.map((id) => [id, { nominal: { cpu: 1, memoryMiB: 0, gpu: 0 }, borrowingLimit: { cpu: 0, memoryMiB: 0, gpu: 0 }, maxConcurrentJobs: 1, weight: 1 }]));
      // Everyone queued one 1-core job (the best-ranked one last); the pool has room for one.
      const queued = ids.map((id, i) => ({ id: `j-${id}`, tenantId: id, request: { cpu: 1, memoryMiB: 0, gpu: 0 }, priority: 0, enqueuedAt: id === best ? 1000 : i }));
      const fairRanks = Object.fromEntries(ids.map((id) => [id, id === best ? 1 : 2]));
      const decision = decide({ capacity: { cpu: 1, memoryMiB: 0, gpu: 0 }, quotas, running: [], queued, now: 2000, fairRanks });
      assert.deepEqual(decision.admitted.map((a) => a.tenantId), [best]);
      assert.equal(decision.waiting.length, tenants - 1);
    }));
  });

  it('a tenant that used 10× its share waits behind one that used none, until the decay evens them out', () => {
    const nodes: FairTreeNode[] = [{ id: 'heavy', parentId: null, weight: 1 }, { id: 'idle', parentId: null, weight: 1 }];
    // heavy held the whole 4-core pool for 10 hours (its entitled half for 10 h would be 5
    // dominant-share·hours: it used far more than its share); idle used nothing.
    const { admissions } = simulate({
      nodes, cores: 4, halfLifeMs: 2 * hour, durationMs: () => 30 * minute, untilMs: 16 * hour, stepMs: minute,
      seed: new Map([['heavy', 10 * 3600]]), backlog: 4,
    });
    const first = admissions.filter((a) => a.at === 0);
    assert.deepEqual([...new Set(first.map((a) => a.tenantId))], ['idle'], 'at first only the tenant that used nothing starts');
    const heavyFirst = admissions.find((a) => a.tenantId === 'heavy');
    assert.ok(heavyFirst !== undefined, 'the heavy tenant is not starved: decay evens them out');
    assert.ok(heavyFirst.at > 0);
  });

  it('no starvation, and weights respected over time across a two-level tree (property)', () => {
    fc.assert(fc.property(twoLevelArb, fc.integer({ min: 4, max: 12 }), fc.integer({ min: 0, max: 1000 }), (nodes, cores, salt) => {
      const teams = leavesOf(nodes);
      // Enough cores that every team's entitled share is at least one job now and then.
      const { held, worstWait } = simulate({
        nodes, cores, halfLifeMs: 6 * hour, untilMs: 3 * day, stepMs: 5 * minute,
        durationMs: (seq) => (10 + ((seq * 7919 + salt) % 50)) * minute,
      });
      const total = [...held.values()].reduce((a, b) => a + b, 0);
      const shares = entitled(nodes);
      for (const team of teams) {
        // No starvation: although every team is always backlogged, each starts a job within a bounded
        // time — a few job lengths (≤ 1 h each) plus a few of the intervals at which its entitled share
        // of the pool frees one core (1 h ÷ (share × cores)).
        const bound = 3 * hour + 6 * hour / (shares.get(team.id)! * cores);
        assert.ok(worstWait.get(team.id)! <= bound, `${team.id} waited ${worstWait.get(team.id)! / hour} h`);
        // Weights over time: the team's part of all core-time is close to its entitled share (one job's
        // granularity on a small pool limits how close: ± one core's worth, relative to the pool).
        const got = held.get(team.id)! / total;
        assert.ok(Math.abs(got - shares.get(team.id)!) <= 1.2 / cores + 0.02, `${team.id}: ${got.toFixed(3)} vs entitled ${shares.get(team.id)!.toFixed(3)}`);
      }
    }), { numRuns: 15 });
  });
});

describe('the running charge (issue 15)', () => {
  const quotaOf = (weight: number) => ({ nominal: { cpu: 0, memoryMiB: 0, gpu: 0 }, borrowingLimit: { cpu: 64, memoryMiB: 0, gpu: 0 }, maxConcurrentJobs: 100, weight });
  const jobs = (tenantId: string, n: number, at: number): QueuedJob[] =>
    Array.from({ length: n }, (_, i) => ({ id: `${tenantId}-${i}`, tenantId, request: { cpu: 1, memoryMiB: 0, gpu: 0 }, priority: 0, enqueuedAt: at + i }));

  it('what a tenant holds now counts in its key: equal decayed usage, the one holding more ranks after', () => {
    const nodes: FairTreeNode[] = [{ id: 'busy', parentId: null, weight: 1 }, { id: 'calm', parentId: null, weight: 1 }];
    const ledger = new FairShareLedger(day);
    const capacity: Resources = { cpu: 4, memoryMiB: 0, gpu: 0 };
    // Both used the same until now; from now on busy holds half the pool.
    ledger.restore(['busy', 'calm'].map((tenantId) => ({ tenantId, usage: { dominant: 100, cpu: 0, memoryMiB: 0, gpu: 0 }, rate: { dominant: 0, cpu: 0, memoryMiB: 0, gpu: 0 }, atMs: 0 })));
    ledger.sync(0, new Map([['busy', { cpu: 2, memoryMiB: 0, gpu: 0 }]]), capacity);
    const view = fairShareView(ledger, nodes, 0);
    assert.deepEqual(Object.fromEntries(view.ranks), { calm: 1, busy: 2 });
    assert.equal(view.keys.get('busy'), chargedUsage(view.usage.get('busy')!, rateOf({ cpu: 2, memoryMiB: 0, gpu: 0 }, capacity)));
    assert.equal(view.keys.get('busy')! - view.keys.get('calm')!, 0.5 * runningChargeMs / 1000);
  });

  it('within one decision each admission is charged: the first-ranked tenant does not take all the free room', () => {
    const nodes: FairTreeNode[] = [{ id: 'a', parentId: null, weight: 1 }, { id: 'b', parentId: null, weight: 1 }];
    const input: SchedulerInput = {
      capacity: { cpu: 8, memoryMiB: 0, gpu: 0 }, quotas: { a: quotaOf(1), b: quotaOf(1) }, running: [],
      queued: [...jobs('a', 8, 0), ...jobs('b', 8, 100)], now: 1000, fairRanks: { a: 1, b: 2 },
    };
    // Ranks alone: a is ranked first for the whole pass and takes all 8 cores.
    assert.deepEqual(decide(input).admitted.map((x) => x.tenantId), Array(8).fill('a'));
    // Charged (a's key slightly lower): a first, then the two alternate, 4 cores each.
    const charged = decide({ ...input, fairCharging: { nodes, keys: { a: 0, b: 10 }, chargeSeconds: 3600 } });
    const admitted = charged.admitted.map((x) => x.tenantId);
    assert.equal(admitted[0], 'a');
    assert.equal(admitted.filter((t) => t === 'a').length, 4);
    assert.equal(admitted.filter((t) => t === 'b').length, 4);
  });

  it("with charging, a tenant's admissions never depend on another organization's internal split of its usage (property)", () => {
    fc.assert(fc.property(twoLevelArb.chain((nodes) => fc.tuple(fc.constant(nodes), usageArb(nodes), fc.nat(), fc.nat(), fc.integer({ min: 4, max: 24 }))), ([nodes, usage, pick, seed, cores]) => {
      const teams = leavesOf(nodes);
      const orgs = nodes.filter((n) => n.parentId === null);
      const org = orgs[pick % orgs.length]!;
      const inOrg = teams.filter((t) => t.parentId === org.id);
      // The same organization total, all on one of its teams.
      const total = inOrg.reduce((sum, t) => sum + (usage.get(t.id) ?? 0), 0);
      const resplit = new Map(usage);
      inOrg.forEach((t, i) => resplit.set(t.id, i === seed % inOrg.length ? total : 0));
      const run = (keys: ReadonlyMap<string, number>) => {
        const quotas = Object.fromEntries(teams.map((t) => [t.id, { ...quotaOf(1), borrowingLimit: { cpu: cores, memoryMiB: 0, gpu: 0 } }]));
        const queued = teams.flatMap((t, i) => jobs(t.id, cores, i * 1000));
        const index = new FairTreeIndex(nodes);
        for (const [id, key] of keys) index.setUsage(id, key);
        const decision = decide({
          capacity: { cpu: cores, memoryMiB: 0, gpu: 0 }, quotas, running: [], queued, now: 1e6,
          fairRanks: Object.fromEntries(index.ranks()), fairCharging: { nodes, keys: Object.fromEntries(keys), chargeSeconds: 3600 },
        });
        return decision.admitted.filter((x) => !inOrg.some((t) => t.id === x.tenantId)).map((x) => x.jobId);
      };
      assert.deepEqual(run(resplit), run(usage));
    }));
  });

  it('charged decisions split one pass among organizations by their weights (property)', () => {
    fc.assert(fc.property(twoLevelArb, fc.integer({ min: 8, max: 40 }), (nodes, cores) => {
      const teams = leavesOf(nodes);
      const quotas = Object.fromEntries(teams.map((t) => [t.id, { ...quotaOf(1), borrowingLimit: { cpu: cores, memoryMiB: 0, gpu: 0 } }]));
      const queued = teams.flatMap((t, i) => jobs(t.id, cores, i * 1000));
      const keys = Object.fromEntries(teams.map((t) => [t.id, 0]));
      const decision = decide({ capacity: { cpu: cores, memoryMiB: 0, gpu: 0 }, quotas, running: [], queued, now: 1e6, fairRanks: Object.fromEntries(teams.map((t) => [t.id, 1])), fairCharging: { nodes, keys, chargeSeconds: 3600 } });
      assert.equal(decision.admitted.length, cores);
      // Each organization gets its weight's share of the pass within one job per level.
      const orgs = nodes.filter((n) => n.parentId === null);
      const total = orgs.reduce((sum, o) => sum + o.weight, 0);
      for (const org of orgs) {
        const got = decision.admitted.filter((x) => x.tenantId.startsWith(`${org.id}.`)).length;
        assert.ok(Math.abs(got - (cores * org.weight) / total) <= 2, `${org.id}: ${got} of ${cores}, weight ${org.weight}/${total}`);
      }
    }));
  });
});
