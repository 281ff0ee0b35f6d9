/**
 * Gang admission over random traces (fast-check): gangs of 1..6 workers and single jobs of several
 * tenants are submitted and finish in random order while the scheduler decides. Checked at every step:
 * no partial gang (the pool and every tenant hold exactly the whole requests of the gangs running, never a
 * part of one), the pool and every tenant's nominal + borrowing limit hold for whole gangs, and no
 * deadlock: once submissions stop, finishing what runs always lets every gang that can ever run start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { explainJob, gangRequest, gangWaitNote, SchedulerState } from './index.ts';
import type { Resources, SchedulerQuota } from './index.ts';

const capacity: Resources = { cpu: 8, memoryMiB: 8192, gpu: 8 };
const tenants = ['a', 'b', 'c'] as const;
const quotaOf = (nominalGpu: number, borrowGpu: number): SchedulerQuota => ({
  nominal: { cpu: 4, memoryMiB: 4096, gpu: nominalGpu },
  borrowingLimit: { cpu: 4, memoryMiB: 4096, gpu: borrowGpu },
  maxConcurrentJobs: 10,
  weight: 1,
});

interface Gang {
  id: string;
  tenant: string;
  workers: number;
  perWorker: Resources;
}

const submission = fc.record({
  tenant: fc.constantFrom(...tenants),
  workers: fc.integer({ min: 1, max: 6 }),
  cpu: fc.constantFrom(0.25, 0.5, 1),
  memoryMiB: fc.constantFrom(128, 512, 1024),
  gpu: fc.integer({ min: 0, max: 2 }),
  priority: fc.integer({ min: 0, max: 2 }),
});
const event = fc.oneof(
  { weight: 3, arbitrary: submission.map((s) => ({ kind: 'submit' as const, ...s })) },
  { weight: 2, arbitrary: fc.nat(50).map((pick) => ({ kind: 'finish' as const, pick })) },
);

const sum = (gangs: Iterable<Gang>): Resources => {
  let cpu = 0;
  let memoryMiB = 0;
  let gpu = 0;
  for (const g of gangs) {
    const r = gangRequest(g.perWorker, g.workers);
    cpu += Math.round(r.cpu * 1000);
    memoryMiB += r.memoryMiB;
    gpu += r.gpu;
  }
  return { cpu: cpu / 1000, memoryMiB, gpu };
};
const leq = (a: Resources, b: Resources): boolean => a.cpu <= b.cpu + 1e-9 && a.memoryMiB <= b.memoryMiB && a.gpu <= b.gpu;

describe('gang admission', () => {
  it('never a partial gang, quotas and the pool hold for whole gangs, and no deadlock', () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 60 }), fc.constantFrom<'reserve' | 'greedy'>('reserve', 'greedy'), fc.integer({ min: 0, max: 4 }), (events, backfill, borrowGpu) => {
        const state = new SchedulerState(capacity, { backfill });
        const quotas = new Map<string, SchedulerQuota>(tenants.map((t) => [t, quotaOf(2, borrowGpu)]));
        for (const [t, q] of quotas) state.setQuota(t, q);
        const gangs = new Map<string, Gang>();
        const running = new Map<string, Gang>();
        let clock = 0;
        let n = 0;
        const check = (): void => {
          // The scheduler's books equal the whole requests of the running gangs: no worker of a gang is
          // ever counted (running) without all of its siblings.
          const pool = state.poolUsage;
          const expected = sum(running.values());
          assert.deepEqual({ cpu: Math.round(pool.cpu * 1000), memoryMiB: pool.memoryMiB, gpu: pool.gpu }, { cpu: Math.round(expected.cpu * 1000), memoryMiB: expected.memoryMiB, gpu: expected.gpu });
          assert.ok(leq(pool, capacity), 'the pool is never exceeded');
          for (const t of tenants) {
            const q = quotas.get(t) as SchedulerQuota;
            const used = sum([...running.values()].filter((g) => g.tenant === t));
            const limit = { cpu: q.nominal.cpu + q.borrowingLimit.cpu, memoryMiB: q.nominal.memoryMiB + q.borrowingLimit.memoryMiB, gpu: q.nominal.gpu + q.borrowingLimit.gpu };
            assert.ok(leq(used, limit), `tenant ${t} within nominal + borrowing for whole gangs`);
          }
        };
        const schedule = (): void => {
          const { admitted, preempted } = state.schedule(clock);
          for (const p of preempted) {
            const gang = running.get(p.jobId) as Gang;
            running.delete(p.jobId);
            // A preempted gang goes back to the queue whole.
            state.enqueue({ id: gang.id, tenantId: gang.tenant, request: gangRequest(gang.perWorker, gang.workers), priority: 0, enqueuedAt: clock });
          }
          for (const a of admitted) running.set(a.jobId, gangs.get(a.jobId) as Gang);
          check();
        };
        for (const e of events) {
          clock += 1;
          if (e.kind === 'submit') {
            const gang: Gang = { id: `g${n++}`, tenant: e.tenant, workers: e.workers, perWorker: { cpu: e.cpu, memoryMiB: e.memoryMiB, gpu: e.gpu } };
            gangs.set(gang.id, gang);
            state.enqueue({ id: gang.id, tenantId: gang.tenant, request: gangRequest(gang.perWorker, gang.workers), priority: e.priority, enqueuedAt: clock });
          } else {
            const ids = [...running.keys()];
            const id = ids[e.pick % Math.max(1, ids.length)];
            if (id !== undefined) {
              state.jobFinished(id);
              running.delete(id);
            }
          }
          schedule();
        }
        // No deadlock: with no new submissions, finishing what runs always lets the rest start. Every gang
        // that can ever run (fits its tenant's limit and the pool) runs within as many rounds as there are gangs.
        const finished = new Set<string>();
        for (let round = 0; round <= gangs.size + 1 && state.queuedCount > 0; round += 1) {
          for (const id of [...running.keys()]) {
            state.jobFinished(id);
            running.delete(id);
            finished.add(id);
          }
          clock += 1;
          schedule();
          for (const id of running.keys()) finished.add(id);
        }
        for (const gang of gangs.values()) {
          const q = quotas.get(gang.tenant) as SchedulerQuota;
          const whole = gangRequest(gang.perWorker, gang.workers);
          const limit = { cpu: q.nominal.cpu + q.borrowingLimit.cpu, memoryMiB: q.nominal.memoryMiB + q.borrowingLimit.memoryMiB, gpu: q.nominal.gpu + q.borrowingLimit.gpu };
          const satisfiable = leq(whole, limit) && leq(whole, capacity);
          const ran = finished.has(gang.id) || running.has(gang.id) || !state.jobRecord(gang.id) || state.jobRecord(gang.id)?.state === 'gone';
          if (satisfiable) assert.ok(ran, `gang ${gang.id} (${gang.workers} workers) never ran: deadlock or starvation`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('two gangs that each need more than half the pool: one runs, then the other — never both half-started', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 4 }), (pool, gpuPerWorker) => {
        // Each gang needs floor(pool/2)+1 .. pool GPUs: together they never fit, alone each does.
        const workersFor = (share: number) => Math.max(1, Math.floor(share / gpuPerWorker));
        const need = Math.floor(pool / 2) + 1;
        const workers = workersFor(need) * gpuPerWorker >= need ? workersFor(need) : workersFor(need) + 1;
        fc.pre(workers * gpuPerWorker <= pool && 2 * workers * gpuPerWorker > pool);
        const state = new SchedulerState({ cpu: 64, memoryMiB: 65536, gpu: pool });
        for (const t of ['x', 'y']) state.setQuota(t, { nominal: { cpu: 32, memoryMiB: 32768, gpu: pool }, borrowingLimit: { cpu: 0, memoryMiB: 0, gpu: 0 }, maxConcurrentJobs: 4, weight: 1 });
        const per = { cpu: 1, memoryMiB: 256, gpu: gpuPerWorker };
        state.enqueue({ id: 'gx', tenantId: 'x', request: gangRequest(per, workers), priority: 0, enqueuedAt: 1 });
        state.enqueue({ id: 'gy', tenantId: 'y', request: gangRequest(per, workers), priority: 0, enqueuedAt: 2 });
        const first = state.schedule(3).admitted.map((a) => a.jobId);
        assert.equal(first.length, 1, 'exactly one gang holds GPUs');
        assert.equal(state.poolUsage.gpu, workers * gpuPerWorker, 'and it holds all its workers\' GPUs');
        const waiting = first[0] === 'gx' ? 'gy' : 'gx';
        const why = explainJob(state, waiting, 4);
        assert.ok(why?.blockers.some((b) => b.reason === 'pool_gpu'), JSON.stringify(why?.blockers));
        state.jobFinished(first[0] as string);
        assert.deepEqual(state.schedule(5).admitted.map((a) => a.jobId), [waiting]);
      }),
      { numRuns: 100 },
    );
  });

  it('the whole gang is the request, exact to the millicore', () => {
    assert.deepEqual(gangRequest({ cpu: 0.1, memoryMiB: 100, gpu: 1 }, 3), { cpu: 0.3, memoryMiB: 300, gpu: 3 });
    assert.throws(() => gangRequest({ cpu: 1, memoryMiB: 1, gpu: 0 }, 0), RangeError);
    assert.match(gangWaitNote(4, { cpu: 0.5, memoryMiB: 256, gpu: 1 }), /gang of 4 workers admitted all at once: it waits until 2 cores, 1024 MiB and 4 GPUs are free together/);
    assert.equal(gangWaitNote(1, { cpu: 1, memoryMiB: 1, gpu: 0 }), '');
  });
});
