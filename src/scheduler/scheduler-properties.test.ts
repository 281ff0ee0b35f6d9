/**
 * Property tests: random event sequences (enqueue, finish, cancel, quota change, scheduling passes) run
 * against the incremental scheduler while an independent, deliberately naive model of the same world
 * (plain arrays, recomputed from scratch every step) checks every decision.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decide, SchedulerState } from './index.ts';
import type { QueuedJob, Resources, ScheduledJob, SchedulingStep, SchedulerQuota } from './index.ts';

// ---- the model: integer vectors [millicores, MiB, GPUs] ----

type V = [number, number, number];
const R = [0, 1, 2] as const;
const add = (a: V, b: V): V => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const sub = (a: V, b: V): V => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const leq = (a: V, b: V): boolean => R.every((r) => a[r] <= b[r]);
const toRes = (v: V): Resources => ({ cpu: v[0] / 1000, memoryMiB: v[1], gpu: v[2] });

interface MJob {
  id: string;
  tenant: string;
  req: V;
  priority: number;
  enqueuedAt: number;
  seq: number;
  duration: number;
  startedAt: number;
}
interface MQuota {
  nominal: V;
  borrow: V;
  max: number;
  weight: number;
}

class Model {
  readonly capacity: V;
  readonly quotas = new Map<string, MQuota>();
  queued: MJob[] = [];
  running: MJob[] = [];
  /** The scheduler breaks the last ties by insertion order; a requeued job is inserted anew. */
  nextRequeueSeq = 1_000_000;
  readonly reserve: boolean;

  constructor(capacity: V, reserve: boolean) {
    this.capacity = capacity;
    this.reserve = reserve;
  }

  usage(tenant: string, running = this.running): V {
    return running.filter((j) => j.tenant === tenant).reduce<V>((acc, j) => add(acc, j.req), [0, 0, 0]);
  }
  poolUsed(running = this.running): V {
    return running.reduce<V>((acc, j) => add(acc, j.req), [0, 0, 0]);
  }
  limit(q: MQuota): V {
    return add(q.nominal, q.borrow);
  }
  /** Could run on an empty pool under the tenant's quota; the others must not block their tenant's queue. */
  canEverRun(job: MJob): boolean {
    const q = this.quotas.get(job.tenant);
    return q !== undefined && q.max > 0 && leq(job.req, this.limit(q)) && leq(job.req, this.capacity);
  }
  head(tenant: string): MJob | undefined {
    const own = this.queued.filter((j) => j.tenant === tenant && this.canEverRun(j));
    own.sort((a, b) => b.priority - a.priority || a.enqueuedAt - b.enqueuedAt || a.seq - b.seq);
    return own[0];
  }
  wds(tenant: string): number {
    const u = this.usage(tenant);
    const q = this.quotas.get(tenant);
    if (q === undefined) return Infinity;
    let share = 0;
    for (const r of R) if (this.capacity[r] > 0 && u[r] / this.capacity[r] > share) share = u[r] / this.capacity[r];
    return share / q.weight;
  }
  localOk(tenant: string, job: MJob): boolean {
    const q = this.quotas.get(tenant);
    if (q === undefined) return false;
    if (this.running.filter((j) => j.tenant === tenant).length >= q.max) return false;
    return leq(add(this.usage(tenant), job.req), this.limit(q));
  }
  withinNominal(tenant: string, job: MJob): boolean {
    const q = this.quotas.get(tenant);
    return q !== undefined && leq(add(this.usage(tenant), job.req), q.nominal);
  }
  fitsPool(job: MJob): boolean {
    return leq(add(this.poolUsed(), job.req), this.capacity);
  }
  tenantsWithWork(): string[] {
    return [...new Set(this.queued.filter((j) => this.canEverRun(j)).map((j) => j.tenant))];
  }
  key(tenant: string): Key {
    const head = this.head(tenant) as MJob;
    return { tenant, head, cls: this.withinNominal(tenant, head) ? 0 : 1, wds: this.wds(tenant) };
  }
  /**
   * `reserve` mode: the first tenant in DRF order whose head is within its limits but fits neither the
   * free pool nor (exact mode: nominal quotas fit the pool) its tenant's nominal quota, which would let
   * it reclaim. Tenants after it may only use pool room it does not need.
   */
  holder(): Key | undefined {
    if (!this.reserve) return undefined;
    let holder: Key | undefined;
    for (const tenant of this.tenantsWithWork()) {
      const k = this.key(tenant);
      if (!this.localOk(tenant, k.head) || this.fitsPool(k.head) || this.withinNominal(tenant, k.head)) continue;
      if (holder === undefined || keyBefore(k, holder)) holder = k;
    }
    return holder;
  }
  /** Pool room for `k`'s head, honouring the holder's reservation. */
  roomFor(k: Key, holder: Key | undefined): boolean {
    if (!this.fitsPool(k.head)) return false;
    if (holder === undefined || keyBefore(k, holder)) return true;
    // The holder claims what it needs of the free room, per resource; the rest stays usable.
    const free = sub(this.capacity, this.poolUsed());
    return R.every((r) => k.head.req[r] <= Math.max(0, free[r] - holder.head.req[r]));
  }
  /**
   * Tenants whose head job the scheduler must consider admissible. Only valid when the nominal quotas fit
   * the pool: then an owner's within-nominal job can always be made to fit by reclaiming borrowed capacity.
   */
  admissibleHeads(): Key[] {
    const holder = this.holder();
    const out: Key[] = [];
    for (const tenant of this.tenantsWithWork()) {
      const k = this.key(tenant);
      if (!this.localOk(tenant, k.head)) continue;
      if (k.cls === 0 || this.roomFor(k, holder)) out.push(k);
    }
    return out;
  }
}

interface Key {
  tenant: string;
  head: MJob;
  cls: number;
  wds: number;
}

const keyBefore = (a: Key, b: Key): boolean =>
  a.cls !== b.cls
    ? a.cls < b.cls
    : a.wds !== b.wds
      ? a.wds < b.wds
      : a.head.priority !== b.head.priority
        ? a.head.priority > b.head.priority
        : a.head.enqueuedAt !== b.head.enqueuedAt
          ? a.head.enqueuedAt < b.head.enqueuedAt
          : a.head.seq < b.head.seq;

// ---- generators ----

const TENANTS = ['t0', 't1', 't2', 't3', 't4'];

const capacityArb = fc.tuple(
  fc.integer({ min: 2, max: 16 }).map((c) => c * 1000),
  fc.integer({ min: 1, max: 32 }).map((m) => m * 1024),
  fc.integer({ min: 0, max: 4 }),
) as fc.Arbitrary<V>;

const pctArb = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 100 }) },
  { weight: 2, arbitrary: fc.integer({ min: 70, max: 100 }) },
);

/** Quota whose nominal is at most 1/|TENANTS| of the pool, so nominals never exceed capacity. */
const quotaArb = (capacity: V, overcommit: boolean): fc.Arbitrary<MQuota> =>
  fc.record({
    // Mostly close to the full fair slice, so owners often have room within nominal.
    nominalPct: fc.tuple(pctArb, pctArb, pctArb),
    borrowPct: fc.tuple(pctArb, pctArb, pctArb),
    max: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 4, arbitrary: fc.integer({ min: 3, max: 12 }) }),
    weight: fc.constantFrom(0.5, 1, 1, 2, 3),
  }).map(({ nominalPct, borrowPct, max, weight }) => {
    const share = overcommit ? 1 : 1 / TENANTS.length;
    const nominal = R.map((r) => Math.floor((capacity[r] * share * nominalPct[r]) / 100)) as V;
    const borrow = R.map((r) => Math.floor((capacity[r] * borrowPct[r]) / 100)) as V;
    return { nominal, borrow, max, weight };
  });

type Op =
  | { kind: 'enqueue'; tenant: number; req: V; priority: number; duration: number }
  | { kind: 'finish'; pick: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'quota'; tenant: number; quota: MQuota }
  | { kind: 'schedule' };

const opsArb = (capacity: V, overcommit: boolean): fc.Arbitrary<Op[]> => {
  // Mostly small jobs (up to 1/20 of the pool per unit, 1-3 units), sometimes a big one.
  const unit = (r: number, n: number): number => Math.max(1, Math.floor((capacity[r] as number) / 20)) * n;
  const small = fc.tuple(
    fc.integer({ min: 1, max: 3 }).map((n) => Math.max(100, Math.round(unit(0, n) / 100) * 100)),
    fc.integer({ min: 0, max: 3 }).map((n) => unit(1, n)),
    fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }),
  );
  const big = fc.tuple(
    fc.integer({ min: 1, max: capacity[0] / 100 }).map((c) => c * 100),
    fc.integer({ min: 0, max: capacity[1] }),
    fc.integer({ min: 0, max: 2 }),
  );
  const req = fc.oneof({ weight: 5, arbitrary: small }, { weight: 1, arbitrary: big }) as fc.Arbitrary<V>;
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('enqueue' as const),
        tenant: fc.integer({ min: 0, max: TENANTS.length - 1 }),
        req,
        priority: fc.integer({ min: 0, max: 2 }),
        duration: fc.integer({ min: 1, max: 8 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('quota' as const),
        tenant: fc.integer({ min: 0, max: TENANTS.length - 1 }),
        quota: quotaArb(capacity, overcommit),
      }),
    },
    { weight: 3, arbitrary: fc.constant({ kind: 'schedule' as const }) },
  );
  return fc.array(op, { minLength: 1, maxLength: 120, size: 'max' });
};

const worldArb = (overcommit: boolean) =>
  capacityArb.chain((capacity) =>
    fc.record({
      capacity: fc.constant(capacity),
      quotas: fc.array(quotaArb(capacity, overcommit), { minLength: TENANTS.length, maxLength: TENANTS.length }),
      ops: opsArb(capacity, overcommit),
    }),
  );

const toQuota = (q: MQuota): SchedulerQuota => ({
  nominal: toRes(q.nominal),
  borrowingLimit: toRes(q.borrow),
  maxConcurrentJobs: q.max,
  weight: q.weight,
});

// ---- the checks ----

interface CheckOptions {
  /** Nominal quotas fit the pool: the DRF order and the owners' guarantee can be checked exactly. */
  exact: boolean;
  backfill: 'reserve' | 'greedy';
}

/** Checks one step against the model (before the step), then applies it to the model. */
const checkStep = (model: Model, step: SchedulingStep, now: number, options: CheckOptions): void => {
  const { admission, preempted } = step;
  const job = model.queued.find((j) => j.id === admission.jobId);
  assert.ok(job !== undefined, `admitted ${admission.jobId}, which is not queued`);
  assert.equal(admission.tenantId, job.tenant);
  assert.equal(model.head(job.tenant)?.id, job.id, 'admitted a job that is not its tenant’s head');
  const q = model.quotas.get(job.tenant);
  assert.ok(q !== undefined, 'admitted a job of a tenant without quota');
  assert.equal(admission.borrowing, !model.withinNominal(job.tenant, job));

  if (options.exact) {
    // DRF order: no admissible tenant comes before the chosen one.
    const candidates = model.admissibleHeads();
    const chosen = candidates.find((c) => c.tenant === job.tenant);
    assert.ok(chosen !== undefined, 'the admitted job is not admissible in the model');
    for (const other of candidates) {
      assert.ok(!keyBefore(other, chosen), `DRF order: ${other.tenant} (${other.cls}, ${other.wds}) before ${chosen.tenant} (${chosen.cls}, ${chosen.wds})`);
    }
  }

  // Reclaim: only for an owner's within-nominal job that does not fit otherwise, only from borrowers.
  assert.deepEqual(
    [...admission.afterPreempting].sort(),
    preempted.map((p) => p.jobId).sort(),
  );
  if (preempted.length > 0) {
    assert.ok(model.withinNominal(job.tenant, job), 'preempted for a job that would borrow');
    assert.ok(!model.fitsPool(job), 'preempted although the job fitted');
    let running = model.running;
    for (const p of preempted) {
      const victim = running.find((j) => j.id === p.jobId);
      assert.ok(victim !== undefined, `preempted ${p.jobId}, which is not running`);
      assert.notEqual(victim.tenant, job.tenant, 'preempted the owner’s own job');
      const vq = model.quotas.get(victim.tenant);
      const vu = model.usage(victim.tenant, running);
      assert.ok(vq === undefined || !leq(vu, vq.nominal), `preempted ${p.jobId} of a tenant within its nominal quota`);
      running = running.filter((j) => j !== victim);
    }
    // Minimal: putting back any one victim makes the job not fit.
    for (const p of preempted) {
      const victim = model.running.find((j) => j.id === p.jobId) as MJob;
      assert.ok(!leq(add(add(model.poolUsed(running), victim.req), job.req), model.capacity), `preempted ${p.jobId} needlessly`);
    }
    model.running = running;
  }

  // Apply, then the hard limits.
  model.queued = model.queued.filter((j) => j !== job);
  job.startedAt = now;
  model.running.push(job);
  assert.ok(leq(model.poolUsed(), model.capacity), 'pool capacity exceeded');
  assert.ok(leq(model.usage(job.tenant), model.limit(q)), 'tenant nominal + borrowing limit exceeded');
  assert.ok(model.running.filter((j) => j.tenant === job.tenant).length <= q.max, 'max concurrent jobs exceeded');
};

/** After a pass: nothing admissible is left, and no owner waits within its nominal quota. */
const checkQuiescent = (model: Model, options: CheckOptions): void => {
  if (options.exact) {
    const left = model.admissibleHeads();
    assert.deepEqual(
      left.map((k) => k.head.id),
      [],
      'admissible jobs left waiting',
    );
    return;
  }
  // Overcommitted nominals: the model cannot tell which owners could reclaim, so only check that a job
  // that fits is held back by some reservation: a tenant before it whose head does not fit.
  const keys = model.tenantsWithWork().map((t) => model.key(t));
  for (const k of keys) {
    if (!model.localOk(k.tenant, k.head) || !model.fitsPool(k.head)) continue;
    assert.ok(model.reserve, `${k.head.id} fits but was left waiting`);
    const heldBack = keys.some(
      (h) =>
        keyBefore(h, k) &&
        model.localOk(h.tenant, h.head) &&
        !model.fitsPool(h.head) &&
        !R.every((r) => k.head.req[r] <= Math.max(0, model.capacity[r] - model.poolUsed()[r] - h.head.req[r])),
    );
    assert.ok(heldBack, `${k.head.id} fits, no reservation holds it back, but it was left waiting`);
  }
};

for (const backfill of ['reserve', 'greedy'] as const) {
describe(`scheduler properties (backfill: ${backfill})`, () => {
  it('with nominal quotas that fit the pool: limits hold, DRF order holds, owners are never refused for borrowers', () => {
    fc.assert(
      fc.property(worldArb(false), ({ capacity, quotas, ops }) => {
        runOpsTracking(capacity, quotas, ops, { exact: true, backfill });
      }),
      { numRuns: 300 },
    );
  });

  it('with overcommitted nominal quotas: capacity, tenant limits and reclaim rules still hold', () => {
    fc.assert(
      fc.property(worldArb(true), ({ capacity, quotas, ops }) => {
        runOpsTracking(capacity, quotas, ops, { exact: false, backfill });
      }),
      { numRuns: 300 },
    );
  });

  it('the pure function decides like the incremental state on the same snapshot', () => {
    fc.assert(pureMatchesIncremental(backfill), { numRuns: 200 });
  });
});
}

/**
 * CI found (2026-12-07) a world where the two disagreed: two running jobs of one tenant started in the same
 * pass, one of them preempted and requeued earlier, and reclaim broke the tie by when each record was
 * made. Replayed here on every run (fast-check's seed and shrunk path of that failure).
 */
it('regression: jobs started in the same pass are reclaimed in the same order by decide and the incremental state', () => {
  fc.assert(pureMatchesIncremental('greedy'), {
    seed: 1652821376,
    path: '137:11:0:1:0:1:1:1:1:1:1:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:1:0:0:2:2:2:2:8:7:7:7:7:17:17:21:23:23:23:23:23:35:41:41:41:41:41:50:47:0:0:0:0:45:45:45:53:53:53:63:68:68:68:68:68:68:68:79:77:77:77:84:84:83:83:84:87:85:83:84:101:101:101:109:109:109:113:113:113:117:116:122:122:127:127:127:127:127:127:132:64:123:123:123:123:127:120:120:120:120:121:121:121:121:133:133:133:133:133:139:139:114:119:124:131:140:123:130:123:129:130:128:128:128:130:139:130:130:134:24:48:75:17:88:92:103:109:80:103:103:103:103:108:84:79:79:80:80:79:79:79:79:79:82:80:79:79:79:81:79:81:80:79:79:79:79:102:102:102:102:102:102:106:105:106:107:107:107:110:110:136:116:116:123:124:124:124:120:117:115:115:115',
    endOnFailure: true,
  });
});

/** The property: `decide` on a snapshot of the world the ops left decides as the incremental state does. */
function pureMatchesIncremental(backfill: 'reserve' | 'greedy') {
  return fc.property(worldArb(false), ({ capacity, quotas, ops }) => {
    const model = runOpsTracking(capacity, quotas, ops, { exact: true, backfill });
    // Rebuild the world from a snapshot twice: once through the pure function, once incrementally
    // after arbitrary history (the state the ops left behind, plus one more pass).
    const snapshot = {
      capacity: toRes(capacity),
      quotas: Object.fromEntries([...model.quotas].map(([t, q]) => [t, toQuota(q)])),
      running: [...model.running].sort((a, b) => a.seq - b.seq).map(
        (j): ScheduledJob => ({ id: j.id, tenantId: j.tenant, request: toRes(j.req), priority: j.priority, startedAt: j.startedAt }),
      ),
      queued: [...model.queued].sort((a, b) => a.seq - b.seq).map(
        (j): QueuedJob => ({ id: j.id, tenantId: j.tenant, request: toRes(j.req), priority: j.priority, enqueuedAt: j.enqueuedAt }),
      ),
      now: 10_000,
    };
    const pure = decide(snapshot, { backfill });
    const again = decide(snapshot, { backfill });
    assert.deepEqual(pure, again, 'same input, same output');
    const live = model.state.schedule(10_000);
    assert.deepEqual(pure.admitted, live.admitted);
    assert.deepEqual(pure.preempted, live.preempted);
    // Every job still queued is explained (preempted ones are the caller's to requeue).
    const admittedIds = new Set(pure.admitted.map((a) => a.jobId));
    assert.deepEqual(
      pure.waiting.map((w) => w.jobId).sort(),
      model.queued.filter((j) => !admittedIds.has(j.id)).map((j) => j.id).sort(),
    );
    for (const w of pure.waiting) assert.equal(w.admissibleNow, false, `${w.jobId} is admissible after a full pass`);
  });
}

/** runOps, keeping preempted jobs so they can be requeued, and returning the model and state. */
const runOpsTracking = (capacity: V, quotas: MQuota[], ops: Op[], options: CheckOptions): Model & { state: SchedulerState } => {
  const model = new Model(capacity, options.backfill === 'reserve') as Model & { state: SchedulerState };
  const state = new SchedulerState(toRes(capacity), { backfill: options.backfill });
  model.state = state;
  quotas.forEach((q, i) => {
    model.quotas.set(TENANTS[i] as string, q);
    state.setQuota(TENANTS[i] as string, toQuota(q));
  });
  let now = 0;
  let seq = 0;
  for (const op of ops) {
    now++;
    switch (op.kind) {
      case 'enqueue': {
        const tenant = TENANTS[op.tenant] as string;
        const job: MJob = { id: `j${seq}`, tenant, req: op.req, priority: op.priority, enqueuedAt: now, seq: seq++, duration: op.duration, startedAt: -1 };
        model.queued.push(job);
        state.enqueue({ id: job.id, tenantId: tenant, request: toRes(job.req), priority: job.priority, enqueuedAt: now });
        break;
      }
      case 'finish': {
        if (model.running.length === 0) break;
        const job = model.running[op.pick % model.running.length] as MJob;
        model.running = model.running.filter((j) => j !== job);
        assert.ok(state.jobFinished(job.id));
        break;
      }
      case 'cancel': {
        if (model.queued.length === 0) break;
        const job = model.queued[op.pick % model.queued.length] as MJob;
        model.queued = model.queued.filter((j) => j !== job);
        assert.ok(state.cancel(job.id));
        break;
      }
      case 'quota': {
        const tenant = TENANTS[op.tenant] as string;
        model.quotas.set(tenant, op.quota);
        state.setQuota(tenant, toQuota(op.quota));
        break;
      }
      case 'schedule':
        schedulePass(model, state, now, options);
        break;
    }
    assert.equal(state.queuedCount, model.queued.length);
    assert.equal(state.runningCount, model.running.length);
  }
  return model;
};

/** One full pass, every step checked; preempted jobs are requeued with their original enqueue time. */
const schedulePass = (model: Model, state: SchedulerState, now: number, options: CheckOptions): void => {
  for (let step = state.decideNext(now); step !== undefined; step = state.decideNext(now)) {
    const victims = step.preempted.map((p) => model.running.find((j) => j.id === p.jobId));
    checkStep(model, step, now, options);
    for (const victim of victims) {
      assert.ok(victim !== undefined);
      victim.seq = model.nextRequeueSeq++;
      model.queued.push(victim);
      state.enqueue({ id: victim.id, tenantId: victim.tenant, request: toRes(victim.req), priority: victim.priority, enqueuedAt: victim.enqueuedAt });
    }
  }
  checkQuiescent(model, options);
};


describe('no starvation (backfill: reserve)', () => {
  it('over a bounded horizon every satisfiable job runs, and owners get their nominal share at once', () => {
    fc.assert(
      fc.property(
        worldArb(false).chain((world) =>
          fc.record({
            world: fc.constant(world),
            arrivals: fc.array(
              fc.record({
                at: fc.integer({ min: 0, max: 40 }),
                tenant: fc.integer({ min: 0, max: TENANTS.length - 1 }),
                cpu: fc.integer({ min: 1, max: world.capacity[0] / 100 }).map((c) => c * 100),
                mem: fc.integer({ min: 0, max: world.capacity[1] }),
                priority: fc.integer({ min: 0, max: 2 }),
                duration: fc.integer({ min: 1, max: 6 }),
              }),
              { maxLength: 60, size: 'max' },
            ),
          }),
        ),
        ({ world, arrivals }) => {
          const model = new Model(world.capacity, true);
          const state = new SchedulerState(toRes(world.capacity));
          // Every tenant may run at least one job at a time.
          world.quotas.forEach((q, i) => {
            const fixed = { ...q, max: Math.max(1, q.max) };
            model.quotas.set(TENANTS[i] as string, fixed);
            state.setQuota(TENANTS[i] as string, toQuota(fixed));
          });
          const jobs: MJob[] = arrivals.map((a, i) => ({
            id: `j${i}`,
            tenant: TENANTS[a.tenant] as string,
            req: [a.cpu, a.mem, 0],
            priority: a.priority,
            enqueuedAt: a.at,
            seq: i,
            duration: a.duration,
            startedAt: -1,
          }));
          const satisfiable = (j: MJob): boolean => model.canEverRun(j);
          const finishAt = new Map<string, number>();
          const done = new Set<string>();
          // Horizon: every job could run alone one after another, even after a preemption each time.
          const horizon = 41 + 2 * jobs.reduce((s, j) => s + j.duration, 0);
          for (let now = 0; now <= horizon; now++) {
            for (const j of model.running.filter((r) => finishAt.get(r.id) === now)) {
              model.running = model.running.filter((r) => r !== j);
              assert.ok(state.jobFinished(j.id));
              done.add(j.id);
            }
            for (const j of jobs.filter((a) => a.enqueuedAt === now)) {
              model.queued.push(j);
              state.enqueue({ id: j.id, tenantId: j.tenant, request: toRes(j.req), priority: j.priority, enqueuedAt: j.enqueuedAt });
            }
            const before = new Set(model.running.map((j) => j.id));
            schedulePass(model, state, now, { exact: true, backfill: 'reserve' });
            for (const j of model.running) if (!before.has(j.id)) finishAt.set(j.id, now + j.duration);
            if (now > 40 && model.queued.every((j) => !satisfiable(j)) && model.running.length === 0) break;
          }
          for (const j of jobs) if (satisfiable(j)) assert.ok(done.has(j.id), `${j.id} never ran (starved)`);
        },
      ),
      { numRuns: 150 },
    );
  });
});
