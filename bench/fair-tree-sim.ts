/**
 * Issue 15: a week-long trace with daily bursts over a two-level tree of 1,000 tenants (20 organizations
 * × 50 teams), on 2,000 and on 32,000 cores, through two policies side by side on the same trace:
 *
 * - flat: today's scheduler (SchedulerState, weighted DRF on what runs now), every team a flat tenant whose
 *   weight is its entitled share (org share × team share within the org), no nominal quota (all borrowing,
 *   so no reclaim preemption), backfill 'reserve' (the default);
 * - fair-tree: Fair Tree ordering (src/scheduler/fair-tree.ts `FairTreeIndex`) on decayed usage (half-life
 *   7 days, src/scheduler/decayed-usage.ts) plus the running charge (src/scheduler/fair-share.ts: what a
 *   tenant holds × 60 min, `runningChargeMs`). Once per simulated minute every tenant's key is refreshed
 *   (decay and accrual moved them all); then each admission picks the most deserving tenant with a queued
 *   job (`first()`), admits its head job if it fits (else skips that tenant this minute), and charges the
 *   job to the tenant's key at once — the rule the job runner's `decide` applies per admission.
 *
 * Printed per pool and policy: Jain's index over tenants of (time-averaged dominant share ÷ entitled
 * share), its min/max, the worst wait of a tenant under its share (longest stretch with queued jobs while
 * holding less than its entitled share), utilization (days 2–7: the first day fills the pool), and decision
 * times: p50/p99 of one admission decision, with the queue length at the end and its maximum. A fair-tree
 * *decision* is one pick + admit + charge, and the first decision of each minute also carries that minute's
 * key refresh (1,000 keys; timed separately too): the p99 is of that full per-admission cost.
 *
 *   node_modules/.bin/node bench/fair-tree-sim.ts            # both pools
 *   node_modules/.bin/node bench/fair-tree-sim.ts 2000       # one pool
 *   node_modules/.bin/node bench/fair-tree-sim.ts 2000 --half-life-days=1
 *   node_modules/.bin/node bench/fair-tree-sim.ts 2000 --per-tenant=/tmp/shares.csv   # every tenant's share
 *   node_modules/.bin/node bench/fair-tree-sim.ts 2000 --charge-minutes=0 --tree-only   # no running charge
 *   node_modules/.bin/node bench/fair-tree-sim.ts 2000 --per-minute --tree-only         # charge, order fixed per minute
 *
 * CPU only (dominant share = cpu share). Deterministic trace (seeded PRNG); times are wall-clock.
 */
import { performance } from 'node:perf_hooks';
import { appendFileSync, writeFileSync } from 'node:fs';
import { DecayedUsageLedger, FairTreeIndex, SchedulerState, runningChargeMs } from '../src/scheduler/index.ts';
import type { FairTreeNode } from '../src/scheduler/index.ts';

const ORGS = 20;
const TEAMS = 50;
const MINUTES = 7 * 24 * 60;
const minuteMs = 60_000;

const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

interface Job { id: number; tenant: number; cores: number; duration: number }
interface Trace {
  cores: number;
  nodes: FairTreeNode[];
  /** Per tenant (team) index: its id and entitled share. */
  teams: Array<{ id: string; entitled: number }>;
  arrivals: Job[][];
  jobCount: number;
}

const makeTrace = (cores: number): Trace => {
  const rand = mulberry32(15_2026 + cores);
  const nodes: FairTreeNode[] = [];
  const teams: Trace['teams'] = [];
  const orgWeights = Array.from({ length: ORGS }, () => 1 + Math.floor(rand() * 4));
  const orgTotal = orgWeights.reduce((a, b) => a + b, 0);
  for (let o = 0; o < ORGS; o += 1) {
    nodes.push({ id: `o${o}`, parentId: null, weight: orgWeights[o]! });
    const teamWeights = Array.from({ length: TEAMS }, () => 1 + Math.floor(rand() * 3));
    const teamTotal = teamWeights.reduce((a, b) => a + b, 0);
    for (let t = 0; t < TEAMS; t += 1) {
      const id = `o${o}.t${t}`;
      nodes.push({ id, parentId: `o${o}`, weight: teamWeights[t]! });
      teams.push({ id, entitled: (orgWeights[o]! / orgTotal) * (teamWeights[t]! / teamTotal) });
    }
  }
  // Daily bursts: each team submits, within its burst hour, 1.3× its entitled core-minutes of a day.
  const maxCores = cores >= 10_000 ? 8 : 2;
  const meanDuration = 120;
  const arrivals: Job[][] = Array.from({ length: MINUTES }, () => []);
  let id = 0;
  teams.forEach((team, index) => {
    const burstHour = Math.floor(rand() * 24);
    for (let day = 0; day < 7; day += 1) {
      let budget = 1.3 * team.entitled * cores * 24 * 60;
      while (budget > 0) {
        const jobCores = 1 + Math.floor(rand() * maxCores);
        const duration = Math.max(5, Math.min(480, Math.round(-Math.log(1 - rand()) * meanDuration)));
        const minute = day * 1440 + burstHour * 60 + Math.floor(rand() * 60);
        arrivals[minute]!.push({ id: id++, tenant: index, cores: jobCores, duration });
        budget -= jobCores * duration;
      }
    }
  });
  return { cores, nodes, teams, arrivals, jobCount: id };
};

interface Policy {
  name: string;
  enqueue(job: Job, now: number): void;
  finished(job: Job): void;
  /** Admits what fits at `now`, calling `admit` for each; returns nothing. */
  admitAll(now: number, admit: (job: Job) => void): void;
  queued(): number;
}

const flatPolicy = (trace: Trace, times: number[]): Policy => {
  const state = new SchedulerState({ cpu: trace.cores, memoryMiB: 1, gpu: 0 });
  trace.teams.forEach((team) => state.setQuota(team.id, {
    nominal: { cpu: 0, memoryMiB: 0, gpu: 0 }, borrowingLimit: { cpu: trace.cores, memoryMiB: 1, gpu: 0 }, maxConcurrentJobs: 1_000_000, weight: team.entitled,
  }));
  const byId = new Map<string, Job>();
  return {
    name: 'flat (DRF now)',
    enqueue(job, now) {
      byId.set(String(job.id), job);
      state.enqueue({ id: String(job.id), tenantId: trace.teams[job.tenant]!.id, request: { cpu: job.cores, memoryMiB: 0, gpu: 0 }, priority: 0, enqueuedAt: now });
    },
    finished(job) {
      state.jobFinished(String(job.id));
    },
    admitAll(now, admit) {
      for (;;) {
        const t0 = performance.now();
        const step = state.decideNext(now);
        times.push(performance.now() - t0);
        if (step === undefined) return;
        if (step.preempted.length > 0) throw new Error('no preemption expected: nobody has a nominal quota');
        admit(byId.get(step.admission.jobId)!);
      }
    },
    queued: () => state.queuedCount,
  };
};

/** `--half-life-days=N` (default 7, the platform's default). */
const halfLifeDays = Number(process.argv.find((a) => a.startsWith('--half-life-days='))?.split('=')[1] ?? 7);

/** `--charge-minutes=N`: the running charge horizon (fair-share.ts `runningChargeMs`), in minutes. */
const chargeMinutes = Number(process.argv.find((a) => a.startsWith('--charge-minutes='))?.split('=')[1] ?? runningChargeMs / minuteMs);
/** `--per-minute`: the order is fixed for the whole minute (the old policy) instead of charged per admission. */
const perMinute = process.argv.includes('--per-minute');

const fairTreePolicy = (trace: Trace, times: number[], orderTimes: number[]): Policy => {
  const ledger = new DecayedUsageLedger(halfLifeDays * 24 * 3600 * 1000);
  const index = new FairTreeIndex(trace.nodes);
  const chargeMs = chargeMinutes * minuteMs;
  const queues: Job[][] = trace.teams.map(() => []);
  const heads = trace.teams.map(() => 0);
  const held = trace.teams.map(() => 0);
  const changed = new Set<number>();
  const indexOf = new Map(trace.teams.map((team, i) => [team.id, i]));
  const blocked: number[] = [];
  let free = trace.cores;
  let queued = 0;
  /** The order key of tenant t: decayed usage plus the running charge of what it holds (share × horizon). */
  const charged = (t: number, decayed: number): number => decayed + (held[t]! / trace.cores) * chargeMs;
  return {
    name: 'fair-tree (decayed)',
    enqueue(job) {
      queues[job.tenant]!.push(job);
      queued += 1;
      index.setActive(trace.teams[job.tenant]!.id, true);
    },
    finished(job) {
      held[job.tenant]! -= job.cores;
      free += job.cores;
      changed.add(job.tenant);
    },
    admitAll(now, admit) {
      const ms = now * minuteMs;
      // Order work of this minute (decay moved every tenant's usage): timed into the first decision.
      const o0 = performance.now();
      for (const t of changed) ledger.setRate(trace.teams[t]!.id, ms, held[t]! / trace.cores);
      changed.clear();
      for (const [id, value] of ledger.valuesAt(ms)) index.setUsage(id, charged(indexOf.get(id)!, value));
      index.first();
      let pending = performance.now() - o0;
      orderTimes.push(pending);
      const decayedAt = (t: number): number => index.usageOf(trace.teams[t]!.id) - (held[t]! / trace.cores) * chargeMs;
      while (free > 0) {
        const s0 = performance.now();
        const id = index.first();
        if (id === undefined) {
          times.push(performance.now() - s0 + pending);
          break;
        }
        const t = indexOf.get(id)!;
        const queue = queues[t]!;
        const job = queue[heads[t]!]!;
        const fits = job.cores <= free;
        if (fits) {
          const before = decayedAt(t);
          heads[t]! += 1;
          queued -= 1;
          free -= job.cores;
          held[t]! += job.cores;
          changed.add(t);
          if (!perMinute) index.setUsage(id, charged(t, before));
          if (heads[t]! >= queue.length) index.setActive(id, false);
        } else {
          index.setActive(id, false);
          blocked.push(t);
        }
        times.push(performance.now() - s0 + pending);
        pending = 0;
        if (fits) admit(job);
        if (heads[t]! > 4096 && heads[t]! * 2 > queue.length) {
          queues[t] = queue.slice(heads[t]);
          heads[t] = 0;
        }
      }
      for (const t of blocked) index.setActive(trace.teams[t]!.id, heads[t]! < queues[t]!.length);
      blocked.length = 0;
      for (const t of changed) ledger.setRate(trace.teams[t]!.id, ms, held[t]! / trace.cores);
      changed.clear();
    },
    queued: () => queued,
  };
};

interface Result {
  /** Per tenant: time-averaged dominant (cpu) share and its entitled share, in trace order. */
  perTenant: Array<{ id: string; entitled: number; averageShare: number }>;
  jain: number;
  minRatio: number;
  maxRatio: number;
  worstWaitUnderShare: number;
  utilization: number;
  p50: number;
  p99: number;
  decisions: number;
  queuedAtEnd: number;
  maxQueued: number;
  orderP99?: number;
  orderMean?: number;
  wallS: number;
}

const quantile = (values: number[], q: number): number => {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

const simulate = (trace: Trace, kind: 'flat' | 'fair-tree'): Result => {
  const started = performance.now();
  const times: number[] = [];
  const orderTimes: number[] = [];
  const policy = kind === 'flat' ? flatPolicy(trace, times) : fairTreePolicy(trace, times, orderTimes);
  const n = trace.teams.length;
  const finishes: Job[][] = Array.from({ length: MINUTES + 1 }, () => []);
  const held = new Float64Array(n);
  const coreMinutes = new Float64Array(n);
  const waiting = new Int32Array(n);
  const underSince = new Float64Array(n).fill(-1);
  let worstWait = 0;
  let used = 0;
  let usedAfterDay1 = 0;
  let maxQueued = 0;
  for (let now = 0; now < MINUTES; now += 1) {
    for (const job of finishes[now]!) {
      policy.finished(job);
      held[job.tenant]! -= job.cores;
      used -= job.cores;
    }
    for (const job of trace.arrivals[now]!) {
      policy.enqueue(job, now);
      waiting[job.tenant]! += 1;
    }
    maxQueued = Math.max(maxQueued, policy.queued());
    policy.admitAll(now, (job) => {
      held[job.tenant]! += job.cores;
      used += job.cores;
      waiting[job.tenant]! -= 1;
      finishes[Math.min(MINUTES, now + job.duration)]!.push(job);
    });
    for (let t = 0; t < n; t += 1) {
      coreMinutes[t]! += held[t]!;
      const under = waiting[t]! > 0 && held[t]! / trace.cores < trace.teams[t]!.entitled;
      if (under && underSince[t]! < 0) underSince[t] = now;
      if (!under && underSince[t]! >= 0) {
        worstWait = Math.max(worstWait, now - underSince[t]!);
        underSince[t] = -1;
      }
    }
    if (now >= 1440) usedAfterDay1 += used;
  }
  for (let t = 0; t < n; t += 1) if (underSince[t]! >= 0) worstWait = Math.max(worstWait, MINUTES - underSince[t]!);
  const ratios = trace.teams.map((team, t) => coreMinutes[t]! / (MINUTES * trace.cores) / team.entitled);
  const sum = ratios.reduce((a, b) => a + b, 0);
  const sumSq = ratios.reduce((a, b) => a + b * b, 0);
  return {
    perTenant: trace.teams.map((team, t) => ({ id: team.id, entitled: team.entitled, averageShare: coreMinutes[t]! / (MINUTES * trace.cores) })),
    jain: (sum * sum) / (n * sumSq),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    worstWaitUnderShare: worstWait,
    utilization: usedAfterDay1 / ((MINUTES - 1440) * trace.cores),
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    decisions: times.length,
    queuedAtEnd: policy.queued(),
    maxQueued,
    ...(orderTimes.length === 0 ? {} : { orderP99: quantile(orderTimes, 0.99), orderMean: orderTimes.reduce((a, b) => a + b, 0) / orderTimes.length }),
    wallS: (performance.now() - started) / 1000,
  };
};

const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
// --per-tenant=FILE: a CSV row per tenant, pool and policy (pool, policy, tenant, entitled share, time-averaged dominant share, ratio).
const perTenantFile = process.argv.find((a) => a.startsWith('--per-tenant='))?.split('=')[1];
if (perTenantFile !== undefined) writeFileSync(perTenantFile, 'cores,policy,tenant,entitled_share,average_dominant_share,ratio\n');
const pools = process.argv.slice(2).filter((a) => !a.startsWith('--')).map(Number).filter((x) => x > 0);
console.log(`fair-tree half-life: ${halfLifeDays} d`);
for (const cores of pools.length > 0 ? pools : [2000, 32000]) {
  const trace = makeTrace(cores);
  console.log(`\n== ${cores} cores, ${trace.teams.length} teams in ${ORGS} organizations, ${trace.jobCount} jobs over 7 days (daily bursts, 1.3× capacity) ==`);
  const only = process.argv.includes('--tree-only');
  const results = { ...(only ? {} : { flat: simulate(trace, 'flat') }), tree: simulate(trace, 'fair-tree') };
  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(5)} Jain(avg share / entitled) ${r.jain.toFixed(4)} (ratio min ${r.minRatio.toFixed(2)}, max ${r.maxRatio.toFixed(2)})` +
      ` | worst wait under share ${(r.worstWaitUnderShare / 60).toFixed(1)} h | utilization d2–7 ${(r.utilization * 100).toFixed(1)}%` +
      ` | decision${r.orderP99 === undefined ? '' : ' (pick+charge, incl. the minute\'s key refresh)'} p50 ${us(r.p50)} p99 ${us(r.p99)} over ${r.decisions}` +
      ` | queued max ${r.maxQueued}, at end ${r.queuedAtEnd}` +
      (r.orderP99 === undefined ? '' : ` | key refresh (1,000 keys, per minute) mean ${us(r.orderMean!)} p99 ${us(r.orderP99)}`) +
      ` | ${r.wallS.toFixed(1)} s`);
  }
  if (perTenantFile !== undefined) {
    // One row per tenant and policy: the time-averaged dominant share against the entitled share.
    const rows = Object.entries(results).flatMap(([name, r]) => r.perTenant.map((t) =>
      `${cores},${name},${t.id},${t.entitled.toExponential(6)},${t.averageShare.toExponential(6)},${(t.averageShare / t.entitled).toFixed(4)}`));
    appendFileSync(perTenantFile, `${rows.join('\n')}\n`);
    console.log(`per-tenant shares: ${rows.length} rows appended to ${perTenantFile}`);
  }
  if (results.flat !== undefined) console.log(`ratio fair-tree/flat: Jain ${(results.tree.jain / results.flat.jain).toFixed(2)}×, worst wait ${(results.tree.worstWaitUnderShare / Math.max(1, results.flat.worstWaitUnderShare)).toFixed(2)}×`);
}
