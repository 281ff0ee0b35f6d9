/**
 * Scheduler simulator: replays synthetic workloads (bursty tenants, one greedy tenant, many small tenants,
 * and 1,000 tenants with 100,000 queued jobs) through the fair-share scheduler and through a
 * first-come-first-served baseline on the same trace, and prints decision latency, Jain's fairness index
 * of achieved vs ideal weighted-DRF shares, and utilization while demand exceeds capacity.
 *
 *   node_modules/.bin/node bench/scheduler-sim.ts            # all scenarios
 *   node_modules/.bin/node bench/scheduler-sim.ts scale      # one scenario by name
 *
 * Three policies on each trace: DRF (backfill: 'reserve', the default), DRF-greedy (backfill: 'greedy')
 * and FCFS. Deterministic traces (seeded PRNG); latencies are wall-clock and vary from run to run.
 * "One decision" = one SchedulerState.decideNext() call: choose the next job to admit (with any
 * preemptions it needs) or find that none is admissible. Event handling (enqueue, jobFinished) is timed
 * separately. FCFS decisions are timed the same way (one call = find the next job to admit or none).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { SchedulerState, weightedDrfShares } from '../src/scheduler/index.ts';
import type { Resources, SchedulerQuota } from '../src/scheduler/index.ts';

// ---------- trace ----------

interface Job {
  readonly id: string;
  readonly tenant: number;
  readonly cpuMilli: number;
  readonly mem: number;
  readonly gpu: number;
  readonly priority: number;
  readonly arrival: number;
  readonly duration: number;
  /** A gang of this many workers (the request is the whole gang's, admitted all at once); absent: a single job. */
  readonly workers?: number;
}

interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly capacity: { cpuMilli: number; mem: number; gpu: number };
  readonly weights: number[];
  readonly jobs: Job[];
  /** Stop the simulation at this simulated time (seconds). */
  readonly horizon: number;
  readonly maxConcurrentJobs: number;
  /** Fairness/utilization samples every this many simulated seconds. */
  readonly sampleEvery: number;
}

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

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
const expSample = (rand: () => number, mean: number): number => -Math.log(1 - rand()) * mean;

const bursty = (): Scenario => {
  const rand = mulberry32(1);
  const tenants = 16;
  const jobs: Job[] = [];
  for (let t = 0; t < tenants; t++) {
    // Each tenant is mostly idle, then submits bursts of 20-200 jobs at random times over 4 hours.
    const bursts = 2 + Math.floor(rand() * 4);
    for (let b = 0; b < bursts; b++) {
      const at = Math.floor(rand() * 4 * 3600);
      const size = 20 + Math.floor(rand() * 180);
      for (let i = 0; i < size; i++) {
        jobs.push({
          id: `b${jobs.length}`,
          tenant: t,
          cpuMilli: pick(rand, [500, 1000, 2000, 4000]),
          mem: pick(rand, [2048, 4096, 8192, 16384]),
          gpu: rand() < 0.1 ? 1 : 0,
          priority: rand() < 0.2 ? 1 : 0,
          arrival: at + Math.floor(rand() * 60),
          duration: 60 + Math.floor(rand() * 1740),
        });
      }
    }
  }
  return {
    name: 'bursty',
    description: '16 tenants, bursts of 20-200 jobs (0.5-4 cores, 2-16 GiB, 10% 1 GPU) over 4 h; pool 64 cores, 256 GiB, 8 GPUs',
    capacity: { cpuMilli: 64_000, mem: 256 * 1024, gpu: 8 },
    weights: Array.from({ length: tenants }, () => 1),
    jobs,
    horizon: 6 * 3600,
    maxConcurrentJobs: 1000,
    sampleEvery: 30,
  };
};

const gangs = (): Scenario => {
  const rand = mulberry32(5);
  const tenants = 12;
  const jobs: Job[] = [];
  // Every tenant submits single jobs steadily and, now and then, a distributed-training gang of 2-8
  // workers × (4 cores, 16 GiB, 1 GPU): the gang is one request of workers × that, admitted whole.
  for (let t = 0; t < tenants; t++) {
    for (let at = expSample(rand, 420); at < 4 * 3600; at += expSample(rand, 420)) {
      const gang = rand() < 0.15;
      const workers = gang ? pick(rand, [2, 4, 4, 8]) : 1;
      const single = { cpuMilli: pick(rand, [1000, 2000, 4000]), mem: pick(rand, [2048, 4096, 8192]), gpu: rand() < 0.2 ? 1 : 0 };
      jobs.push({
        id: `n${jobs.length}`,
        tenant: t,
        cpuMilli: gang ? 4000 * workers : single.cpuMilli,
        mem: gang ? 16384 * workers : single.mem,
        gpu: gang ? workers : single.gpu,
        priority: 0,
        arrival: Math.floor(at),
        duration: gang ? 300 + Math.floor(rand() * 900) : 120 + Math.floor(rand() * 1080),
        ...(gang ? { workers } : {}),
      });
    }
  }
  jobs.sort((a, b) => a.arrival - b.arrival);
  return {
    name: 'gangs',
    description: '12 tenants: steady single jobs (1-4 cores, 20% 1 GPU) and 15% gangs of 2-8 workers × (4 cores, 16 GiB, 1 GPU) admitted whole; pool 64 cores, 256 GiB, 16 GPUs',
    capacity: { cpuMilli: 64_000, mem: 256 * 1024, gpu: 16 },
    weights: Array.from({ length: tenants }, () => 1),
    jobs,
    horizon: 6 * 3600,
    maxConcurrentJobs: 1000,
    sampleEvery: 30,
  };
};

const greedy = (): Scenario => {
  const rand = mulberry32(2);
  const tenants = 8;
  const jobs: Job[] = [];
  // Tenant 0 dumps 3,000 long jobs at t=0; the 7 others arrive steadily (Poisson), ~9 cores each on average.
  for (let i = 0; i < 3000; i++) {
    jobs.push({ id: `g${i}`, tenant: 0, cpuMilli: 4000, mem: 8192, gpu: 0, priority: 0, arrival: 0, duration: 1800 });
  }
  for (let t = 1; t < tenants; t++) {
    for (let at = expSample(rand, 100); at < 4 * 3600; at += expSample(rand, 100)) {
      jobs.push({
        id: `g${jobs.length}`,
        tenant: t,
        cpuMilli: pick(rand, [1000, 2000]),
        mem: pick(rand, [2048, 4096]),
        gpu: 0,
        priority: 0,
        arrival: Math.floor(at),
        duration: 300 + Math.floor(rand() * 900),
      });
    }
  }
  jobs.sort((a, b) => a.arrival - b.arrival);
  return {
    name: 'greedy',
    description: '1 greedy tenant submits 3,000 × 4-core 30-min jobs at t=0; 7 tenants arrive steadily; pool 64 cores, 256 GiB',
    capacity: { cpuMilli: 64_000, mem: 256 * 1024, gpu: 0 },
    weights: Array.from({ length: tenants }, () => 1),
    jobs,
    horizon: 4 * 3600,
    maxConcurrentJobs: 1000,
    sampleEvery: 30,
  };
};

const manySmall = (): Scenario => {
  const rand = mulberry32(3);
  const tenants = 200;
  const jobs: Job[] = [];
  const weights = Array.from({ length: tenants }, () => pick(rand, [1, 1, 2, 4]));
  // Offered load varies 20× between tenants (mean gap 10-200 s between 0.25-1 core jobs of 1-10 min):
  // some want less than their share, most want more; in total ≈ 1.5× the pool.
  for (let t = 0; t < tenants; t++) {
    const meanGap = 10 + rand() * 190;
    for (let at = expSample(rand, meanGap); at < 3 * 3600; at += expSample(rand, meanGap)) {
      jobs.push({
        id: `s${jobs.length}`,
        tenant: t,
        cpuMilli: pick(rand, [250, 500, 1000]),
        mem: pick(rand, [512, 1024, 2048, 4096]),
        gpu: 0,
        priority: rand() < 0.1 ? 1 : 0,
        arrival: Math.floor(at),
        duration: 60 + Math.floor(rand() * 540),
      });
    }
  }
  jobs.sort((a, b) => a.arrival - b.arrival);
  return {
    name: 'many-small',
    description: '200 small tenants (weights 1/1/2/4), Poisson arrivals of 0.25-1 core jobs, offered load from well under to well over their share; pool 512 cores, 2 TiB',
    capacity: { cpuMilli: 512_000, mem: 2 * 1024 * 1024, gpu: 0 },
    weights,
    jobs,
    horizon: 3 * 3600,
    maxConcurrentJobs: 1000,
    sampleEvery: 30,
  };
};

/**
 * 1,000 tenants, 100,000 jobs queued at t=0. `cores` sets the pool: with 32,000 cores a weight-1 tenant's
 * fair share is ≈ 18 cores (≈ 19 average jobs); with 2,000 cores it is ≈ 1.1 cores, about one job, so
 * whole-job granularity dominates any fairness measure.
 */
const scaleWith = (name: string, cores: number): (() => Scenario) => () => {
  const rand = mulberry32(4);
  const tenants = 1000;
  const weights = Array.from({ length: tenants }, () => pick(rand, [1, 1, 1, 2, 4]));
  // Queue lengths are skewed (Zipf-like): a few tenants hold most of the 100,000 queued jobs.
  const zipf = Array.from({ length: tenants }, (_, i) => 1 / (i + 1) ** 0.8);
  const zsum = zipf.reduce((a, b) => a + b, 0);
  const jobs: Job[] = [];
  const backlog = 100_000;
  for (let i = 0; i < backlog; i++) {
    let u = rand() * zsum;
    let t = 0;
    while (t < tenants - 1 && u > (zipf[t] as number)) u -= zipf[t++] as number;
    jobs.push({
      id: `x${i}`,
      tenant: t,
      cpuMilli: pick(rand, [250, 500, 1000, 2000]),
      mem: pick(rand, [512, 1024, 2048, 4096, 8192]),
      gpu: rand() < 0.02 ? 1 : 0,
      priority: rand() < 0.1 ? 1 : 0,
      arrival: 0,
      duration: 120 + Math.floor(rand() * 1680),
    });
  }
  // Shuffle the order at t=0 so FCFS sees the tenants interleaved.
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j] as Job, jobs[i] as Job];
  }
  // Then a steady trickle (proportional to the pool) from random tenants for the hour.
  const gap = 1000 / cores;
  let extra = 0;
  for (let at = expSample(rand, gap); at < 3600; at += expSample(rand, gap)) {
    jobs.push({
      id: `y${extra++}`,
      tenant: Math.floor(rand() * tenants),
      cpuMilli: pick(rand, [250, 500, 1000, 2000]),
      mem: pick(rand, [512, 1024, 2048, 4096]),
      gpu: 0,
      priority: 0,
      arrival: Math.floor(at),
      duration: 120 + Math.floor(rand() * 1680),
    });
  }
  const scaleOf = cores / 2000;
  return {
    name,
    description: `1,000 tenants (weights 1/2/4), 100,000 jobs queued at t=0 (Zipf-skewed per tenant) + arrivals for 1 h; pool ${cores.toLocaleString('en')} cores, ${8 * scaleOf} TiB, ${64 * scaleOf} GPUs`,
    capacity: { cpuMilli: cores * 1000, mem: 8 * 1024 * 1024 * scaleOf, gpu: 64 * scaleOf },
    weights,
    jobs,
    horizon: 3600,
    maxConcurrentJobs: 1000,
    sampleEvery: 60,
  };
};

// ---------- schedulers under test ----------

interface Step {
  jobId: string;
  preempted: string[];
}

interface Policy {
  readonly name: string;
  enqueue(job: Job, enqueuedAt: number): void;
  finished(jobId: string): void;
  /** One decision. */
  next(now: number): Step | undefined;
}

const res = (cpuMilli: number, mem: number, gpu: number): Resources => ({ cpu: cpuMilli / 1000, memoryMiB: mem, gpu });

/** Nominal proportional to weight; anyone may borrow the rest of the pool. */
const quotasOf = (s: Scenario): SchedulerQuota[] => {
  const total = s.weights.reduce((a, b) => a + b, 0);
  return s.weights.map((w) => {
    const nominal = {
      cpuMilli: Math.floor((s.capacity.cpuMilli * w) / total),
      mem: Math.floor((s.capacity.mem * w) / total),
      gpu: Math.floor((s.capacity.gpu * w) / total),
    };
    return {
      nominal: res(nominal.cpuMilli, nominal.mem, nominal.gpu),
      borrowingLimit: res(s.capacity.cpuMilli - nominal.cpuMilli, s.capacity.mem - nominal.mem, s.capacity.gpu - nominal.gpu),
      maxConcurrentJobs: s.maxConcurrentJobs,
      weight: w,
    };
  });
};

const drfPolicy = (s: Scenario, backfill: 'reserve' | 'greedy'): Policy => {
  const state = new SchedulerState(res(s.capacity.cpuMilli, s.capacity.mem, s.capacity.gpu), { backfill });
  quotasOf(s).forEach((q, t) => state.setQuota(`t${t}`, q));
  return {
    name: backfill === 'reserve' ? 'DRF' : 'DRF-greedy',
    enqueue: (job, enqueuedAt) =>
      state.enqueue({ id: job.id, tenantId: `t${job.tenant}`, request: res(job.cpuMilli, job.mem, job.gpu), priority: job.priority, enqueuedAt }),
    finished: (jobId) => {
      state.jobFinished(jobId);
    },
    next: (now) => {
      const step = state.decideNext(now);
      return step === undefined ? undefined : { jobId: step.admission.jobId, preempted: step.preempted.map((p) => p.jobId) };
    },
  };
};

/**
 * First come, first served with first-fit backfilling: scan the global queue in arrival order and admit
 * the first job that fits the pool and its tenant's limits (same limits as DRF: nominal + borrowing, max
 * concurrent jobs). No fairness, no preemption.
 */
const fcfsPolicy = (s: Scenario): Policy => {
  const quotas = quotasOf(s);
  const queue: (Job | undefined)[] = [];
  let head = 0;
  const used = { cpu: 0, mem: 0, gpu: 0 };
  const tenantUse = s.weights.map(() => ({ cpu: 0, mem: 0, gpu: 0, jobs: 0 }));
  const running = new Map<string, Job>();
  const minCpu = s.jobs.reduce((m, j) => Math.min(m, j.cpuMilli), Infinity);
  const minMem = s.jobs.reduce((m, j) => Math.min(m, j.mem), Infinity);
  return {
    name: 'FCFS',
    enqueue: (job) => {
      queue.push(job);
    },
    finished: (jobId) => {
      const job = running.get(jobId);
      if (job === undefined) return;
      running.delete(jobId);
      used.cpu -= job.cpuMilli;
      used.mem -= job.mem;
      used.gpu -= job.gpu;
      const u = tenantUse[job.tenant] as { cpu: number; mem: number; gpu: number; jobs: number };
      u.cpu -= job.cpuMilli;
      u.mem -= job.mem;
      u.gpu -= job.gpu;
      u.jobs--;
    },
    next: () => {
      while (head < queue.length && queue[head] === undefined) head++;
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      for (let i = head; i < queue.length; i++) {
        if (s.capacity.cpuMilli - used.cpu < minCpu || s.capacity.mem - used.mem < minMem) return undefined;
        const job = queue[i];
        if (job === undefined) continue;
        const q = quotas[job.tenant] as SchedulerQuota;
        const u = tenantUse[job.tenant] as { cpu: number; mem: number; gpu: number; jobs: number };
        const limitCpu = Math.round((q.nominal.cpu + q.borrowingLimit.cpu) * 1000);
        const limitMem = q.nominal.memoryMiB + q.borrowingLimit.memoryMiB;
        const limitGpu = q.nominal.gpu + q.borrowingLimit.gpu;
        if (
          used.cpu + job.cpuMilli <= s.capacity.cpuMilli &&
          used.mem + job.mem <= s.capacity.mem &&
          used.gpu + job.gpu <= s.capacity.gpu &&
          u.cpu + job.cpuMilli <= limitCpu &&
          u.mem + job.mem <= limitMem &&
          u.gpu + job.gpu <= limitGpu &&
          u.jobs < q.maxConcurrentJobs
        ) {
          queue[i] = undefined;
          running.set(job.id, job);
          used.cpu += job.cpuMilli;
          used.mem += job.mem;
          used.gpu += job.gpu;
          u.cpu += job.cpuMilli;
          u.mem += job.mem;
          u.gpu += job.gpu;
          u.jobs++;
          return { jobId: job.id, preempted: [] };
        }
      }
      return undefined;
    },
  };
};

// ---------- simulation ----------

interface Result {
  policy: string;
  decisions: number;
  decisionP50: number;
  decisionP99: number;
  decisionP999: number;
  decisionMax: number;
  eventP99: number;
  jain: number;
  utilization: number;
  cpuUtilization: number;
  contendedSamples: number;
  completed: number;
  preemptions: number;
  wallSeconds: number;
  /** Mean and p90 wait from arrival to first admission (s), gangs and single jobs apart; NaN when none. */
  gangWaitMean: number;
  gangWaitP90: number;
  singleWaitMean: number;
  singleWaitP90: number;
  gangsAdmitted: number;
}

/** A binary min-heap of finish events (time, job, generation) — generation drops preempted runs. */
class FinishHeap {
  readonly #t: number[] = [];
  readonly #id: string[] = [];
  readonly #gen: number[] = [];
  get size(): number {
    return this.#t.length;
  }
  peekTime(): number {
    return this.#t[0] ?? Infinity;
  }
  push(t: number, id: string, gen: number): void {
    this.#t.push(t);
    this.#id.push(id);
    this.#gen.push(gen);
    let i = this.#t.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.#t[p] as number) <= t) break;
      this.#swap(i, p);
      i = p;
    }
  }
  pop(): { t: number; id: string; gen: number } {
    const out = { t: this.#t[0] as number, id: this.#id[0] as string, gen: this.#gen[0] as number };
    const last = this.#t.length - 1;
    this.#swap(0, last);
    this.#t.pop();
    this.#id.pop();
    this.#gen.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.#t.length && (this.#t[l] as number) < (this.#t[m] as number)) m = l;
      if (r < this.#t.length && (this.#t[r] as number) < (this.#t[m] as number)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return out;
  }
  #swap(a: number, b: number): void {
    [this.#t[a], this.#t[b]] = [this.#t[b] as number, this.#t[a] as number];
    [this.#id[a], this.#id[b]] = [this.#id[b] as string, this.#id[a] as string];
    [this.#gen[a], this.#gen[b]] = [this.#gen[b] as number, this.#gen[a] as number];
  }
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

class Samples {
  #data = new Float64Array(1 << 16);
  #n = 0;
  add(x: number): void {
    if (this.#n === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#n++] = x;
  }
  sorted(): Float64Array {
    return this.#data.slice(0, this.#n).sort();
  }
  get count(): number {
    return this.#n;
  }
}

const simulate = (s: Scenario, policy: Policy): Result => {
  const wallStart = performance.now();
  const tenants = s.weights.length;
  const byId = new Map(s.jobs.map((j) => [j.id, j]));
  const decisionLatency = new Samples();
  const eventLatency = new Samples();
  const finishes = new FinishHeap();
  const generation = new Map<string, number>();
  // Per-tenant running usage and queued demand (for ideal DRF shares and contention).
  const usage = Array.from({ length: tenants }, () => [0, 0, 0]);
  const queuedDemand = Array.from({ length: tenants }, () => [0, 0, 0]);
  const achievedSum = new Float64Array(tenants);
  const idealSum = new Float64Array(tenants);
  const cap = [s.capacity.cpuMilli, s.capacity.mem, s.capacity.gpu];
  const quotas = quotasOf(s);
  const limits = quotas.map((q) => [Math.round((q.nominal.cpu + q.borrowingLimit.cpu) * 1000), q.nominal.memoryMiB + q.borrowingLimit.memoryMiB, q.nominal.gpu + q.borrowingLimit.gpu]);
  let utilSum = 0;
  let cpuUtilSum = 0;
  let cpuContended = 0;
  let contended = 0;
  let completed = 0;
  let preemptions = 0;
  let nextArrival = 0;
  let nextSample = 0;
  const gangWaits = new Samples();
  const singleWaits = new Samples();
  const admittedOnce = new Set<string>();

  const addTo = (v: number[], j: Job, sign: number): void => {
    v[0] = (v[0] as number) + sign * j.cpuMilli;
    v[1] = (v[1] as number) + sign * j.mem;
    v[2] = (v[2] as number) + sign * j.gpu;
  };

  const sample = (): void => {
    const demands = [];
    const total = [0, 0, 0];
    for (let t = 0; t < tenants; t++) {
      const u = usage[t] as number[];
      const q = queuedDemand[t] as number[];
      const lim = limits[t] as number[];
      const d = [0, 1, 2].map((r) => Math.min((u[r] as number) + (q[r] as number), lim[r] as number));
      d.forEach((x, r) => (total[r] = (total[r] as number) + x));
      if (d.some((x) => x > 0)) demands.push({ tenantId: String(t), demand: res(d[0] as number, d[1] as number, d[2] as number), weight: s.weights[t] as number });
    }
    const used = [0, 1, 2].map((r) => usage.reduce((a, u) => a + (u[r] as number), 0));
    const contendedResources = [0, 1, 2].filter((r) => (cap[r] as number) > 0 && (total[r] as number) >= (cap[r] as number));
    if (contendedResources.length > 0) {
      contended++;
      utilSum += Math.max(...contendedResources.map((r) => (used[r] as number) / (cap[r] as number)));
      // Ideal shares are only meaningful when the pool is contended; otherwise everyone gets its demand.
      const ideal = weightedDrfShares(res(cap[0] as number, cap[1] as number, cap[2] as number), demands);
      for (const [id, share] of ideal) {
        const t = Number(id);
        const u = usage[t] as number[];
        let achieved = 0;
        for (let r = 0; r < 3; r++) if ((cap[r] as number) > 0) achieved = Math.max(achieved, (u[r] as number) / (cap[r] as number));
        achievedSum[t] = (achievedSum[t] as number) + achieved;
        idealSum[t] = (idealSum[t] as number) + share;
      }
    }
    if ((total[0] as number) >= (cap[0] as number)) {
      cpuContended++;
      cpuUtilSum += (used[0] as number) / (cap[0] as number);
    }
  };

  for (;;) {
    const now = Math.min(s.jobs[nextArrival]?.arrival ?? Infinity, finishes.peekTime());
    if (now === Infinity || now > s.horizon) break;
    while (nextSample < now) {
      sample();
      nextSample += s.sampleEvery;
    }
    while (finishes.size > 0 && finishes.peekTime() === now) {
      const f = finishes.pop();
      if (generation.get(f.id) !== f.gen) continue;
      const job = byId.get(f.id) as Job;
      generation.delete(f.id);
      addTo(usage[job.tenant] as number[], job, -1);
      const t0 = performance.now();
      policy.finished(f.id);
      eventLatency.add(performance.now() - t0);
      completed++;
    }
    while (nextArrival < s.jobs.length && (s.jobs[nextArrival] as Job).arrival === now) {
      const job = s.jobs[nextArrival++] as Job;
      addTo(queuedDemand[job.tenant] as number[], job, 1);
      const t0 = performance.now();
      policy.enqueue(job, job.arrival);
      eventLatency.add(performance.now() - t0);
    }
    for (;;) {
      const t0 = performance.now();
      const step = policy.next(now);
      decisionLatency.add(performance.now() - t0);
      if (step === undefined) break;
      for (const victimId of step.preempted) {
        // The caller's side of a preemption: stop it (its work is lost) and requeue it in its place.
        const victim = byId.get(victimId) as Job;
        generation.delete(victimId);
        addTo(usage[victim.tenant] as number[], victim, -1);
        addTo(queuedDemand[victim.tenant] as number[], victim, 1);
        policy.enqueue(victim, victim.arrival);
        preemptions++;
      }
      const job = byId.get(step.jobId) as Job;
      addTo(queuedDemand[job.tenant] as number[], job, -1);
      addTo(usage[job.tenant] as number[], job, 1);
      if (!admittedOnce.has(job.id)) {
        admittedOnce.add(job.id);
        ((job.workers ?? 1) > 1 ? gangWaits : singleWaits).add(now - job.arrival);
      }
      const gen = (generation.get(job.id) ?? 0) + 1;
      generation.set(job.id, gen);
      finishes.push(now + job.duration, job.id, gen);
    }
  }
  while (nextSample <= s.horizon) {
    sample();
    nextSample += s.sampleEvery;
  }
  const ratios: number[] = [];
  for (let t = 0; t < tenants; t++) if ((idealSum[t] as number) > 1e-12) ratios.push((achievedSum[t] as number) / (idealSum[t] as number));
  if (process.env['SCHED_SIM_DEBUG'] === '1') {
    // Where the unfairness sits: achieved/ideal by weight, and its spread.
    const byWeight = new Map<number, number[]>();
    for (let t = 0; t < tenants; t++) {
      if ((idealSum[t] as number) <= 1e-12) continue;
      const w = s.weights[t] as number;
      const list = byWeight.get(w) ?? [];
      list.push((achievedSum[t] as number) / (idealSum[t] as number));
      byWeight.set(w, list);
    }
    for (const [w, list] of [...byWeight].sort((a, b) => a[0] - b[0])) {
      list.sort((a, b) => a - b);
      const q = (p: number): string => (list[Math.floor(p * (list.length - 1))] as number).toFixed(2);
      let a = 0;
      let i = 0;
      for (let t = 0; t < tenants; t++) {
        if (s.weights[t] === w) {
          a += achievedSum[t] as number;
          i += idealSum[t] as number;
        }
      }
      console.log(
        `   [${policy.name}] weight ${w}: ${list.length} tenants, achieved/ideal p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)}; class total achieved/ideal ${(a / i).toFixed(2)}`,
      );
    }
  }
  const sumX = ratios.reduce((a, b) => a + b, 0);
  const sumX2 = ratios.reduce((a, b) => a + b * b, 0);
  const sorted = decisionLatency.sorted();
  const events = eventLatency.sorted();
  const mean = (x: Float64Array): number => (x.length === 0 ? NaN : x.reduce((a, b) => a + b, 0) / x.length);
  const gw = gangWaits.sorted();
  const sw = singleWaits.sorted();
  return {
    policy: policy.name,
    decisions: decisionLatency.count,
    decisionP50: quantile(sorted, 0.5),
    decisionP99: quantile(sorted, 0.99),
    decisionP999: quantile(sorted, 0.999),
    decisionMax: sorted[sorted.length - 1] ?? NaN,
    eventP99: quantile(events, 0.99),
    jain: ratios.length === 0 ? NaN : (sumX * sumX) / (ratios.length * sumX2),
    utilization: contended === 0 ? NaN : utilSum / contended,
    cpuUtilization: cpuContended === 0 ? NaN : cpuUtilSum / cpuContended,
    contendedSamples: contended,
    completed,
    preemptions,
    wallSeconds: (performance.now() - wallStart) / 1000,
    gangWaitMean: mean(gw),
    gangWaitP90: quantile(gw, 0.9),
    singleWaitMean: mean(sw),
    singleWaitP90: quantile(sw, 0.9),
    gangsAdmitted: gw.length,
  };
};

// ---------- report ----------

const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ratio = (a: number, b: number): string => (b === 0 || !Number.isFinite(a / b) ? '—' : `${(a / b).toFixed(2)}×`);

const report = (s: Scenario, drf: Result, greedy: Result, fcfs: Result): void => {
  console.log(`\n## ${s.name}: ${s.description}`);
  console.log(`   ${s.jobs.length.toLocaleString('en')} jobs, simulated ${s.horizon / 3600} h, samples every ${s.sampleEvery} s`);
  const rows: string[][] = [];
  const row = (label: string, f: (r: Result) => number, fmt: (x: number) => string, withRatio = true): void => {
    rows.push([label, fmt(f(drf)), fmt(f(greedy)), fmt(f(fcfs)), withRatio ? ratio(f(drf), f(fcfs)) : '']);
  };
  row('decision latency p50', (r) => r.decisionP50, us);
  row('decision latency p99', (r) => r.decisionP99, us);
  row('decision latency p99.9', (r) => r.decisionP999, us);
  row('decision latency max', (r) => r.decisionMax, us);
  row('event (enqueue/finish) p99', (r) => r.eventP99, us);
  row('decisions timed', (r) => r.decisions, String, false);
  row("Jain's index, achieved/ideal DRF", (r) => r.jain, (x) => x.toFixed(4));
  row('utilization while contended', (r) => r.utilization, pct);
  row('CPU utilization while CPU contended', (r) => r.cpuUtilization, pct);
  row('contended samples', (r) => r.contendedSamples, String, false);
  row('jobs completed', (r) => r.completed, String);
  row('preemptions', (r) => r.preemptions, String, false);
  row('wall time', (r) => r.wallSeconds, (x) => `${x.toFixed(1)} s`, false);
  if (s.jobs.some((j) => (j.workers ?? 1) > 1)) {
    const min = (x: number): string => `${(x / 60).toFixed(1)} min`;
    row('gangs admitted (whole)', (r) => r.gangsAdmitted, String);
    row('gang wait mean', (r) => r.gangWaitMean, min);
    row('gang wait p90', (r) => r.gangWaitP90, min);
    row('single-job wait mean', (r) => r.singleWaitMean, min);
    row('single-job wait p90', (r) => r.singleWaitP90, min);
  }
  const w = [36, 12, 12, 12, 9];
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i] as number)).join(' | ')} |`;
  console.log(line(['metric', 'DRF', 'DRF-greedy', 'FCFS', 'DRF/FCFS']));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
};

const scenarios: Record<string, () => Scenario> = {
  bursty,
  gangs,
  greedy,
  'many-small': manySmall,
  scale: scaleWith('scale', 32_000),
  'scale-coarse': scaleWith('scale-coarse', 2_000),
};
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(scenarios);
console.log(`scheduler-sim: node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}`);
for (const name of names) {
  const make = scenarios[name];
  if (make === undefined) {
    console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exitCode = 1;
    continue;
  }
  const scenario = make();
  const drf = simulate(scenario, drfPolicy(scenario, 'reserve'));
  const greedy = simulate(scenario, drfPolicy(scenario, 'greedy'));
  const fcfs = simulate(scenario, fcfsPolicy(scenario));
  report(scenario, drf, greedy, fcfs);
}
