import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../core/errors.ts';
import { decide, SchedulerState } from './index.ts';
import type { QueuedJob, Resources, ScheduledJob, SchedulerQuota } from './index.ts';

const res = (cpu: number, memoryMiB = 0, gpu = 0): Resources => ({ cpu, memoryMiB, gpu });
const quota = (nominal: Resources, borrowingLimit: Resources, maxConcurrentJobs = 100, weight = 1): SchedulerQuota => ({
  nominal,
  borrowingLimit,
  maxConcurrentJobs,
  weight,
});
const queued = (id: string, tenantId: string, request: Resources, enqueuedAt: number, priority = 0): QueuedJob => ({
  id,
  tenantId,
  request,
  priority,
  enqueuedAt,
});
const running = (id: string, tenantId: string, request: Resources, startedAt: number, priority = 0): ScheduledJob => ({
  id,
  tenantId,
  request,
  priority,
  startedAt,
});

describe('decide: weighted DRF admission', () => {
  it('admits the DRF paper example in DRF order: A gets 3 tasks, B gets 2', () => {
    const capacity = res(9, 18 * 1024);
    // Nominal 0, borrowing up to the whole pool: pure DRF, nobody is an owner.
    const open = quota(res(0), capacity);
    const jobs: QueuedJob[] = [];
    for (let i = 0; i < 5; i++) {
      jobs.push(queued(`a${i}`, 'A', res(1, 4 * 1024), i));
      jobs.push(queued(`b${i}`, 'B', res(3, 1024), i + 0.5));
    }
    const decision = decide({ capacity, quotas: { A: open, B: open }, running: [], queued: jobs, now: 10 });
    assert.deepEqual(
      decision.admitted.map((a) => a.jobId),
      ['a0', 'b0', 'a1', 'b1', 'a2'],
    );
    assert.ok(decision.admitted.every((a) => a.borrowing));
    assert.deepEqual(decision.preempted, []);
    assert.equal(decision.waiting.length, 5);
  });

  it('serves a tenant of weight 2 twice the share of weight 1', () => {
    const capacity = res(12, 1024);
    const jobs: QueuedJob[] = [];
    for (let i = 0; i < 12; i++) {
      jobs.push(queued(`h${i}`, 'heavy', res(1), i));
      jobs.push(queued(`l${i}`, 'light', res(1), i));
    }
    const decision = decide({
      capacity,
      quotas: { heavy: quota(res(0), capacity, 100, 2), light: quota(res(0), capacity, 100, 1) },
      running: [],
      queued: jobs,
      now: 0,
    });
    const count = (t: string): number => decision.admitted.filter((a) => a.tenantId === t).length;
    assert.equal(count('heavy'), 8);
    assert.equal(count('light'), 4);
  });

  it('orders jobs within a tenant by priority, then enqueue time', () => {
    const decision = decide({
      capacity: res(2),
      quotas: { t: quota(res(2), res(0)) },
      running: [],
      queued: [queued('old-low', 't', res(1), 1, 0), queued('new-high', 't', res(1), 5, 9), queued('mid-low', 't', res(1), 3, 0)],
      now: 10,
    });
    assert.deepEqual(
      decision.admitted.map((a) => a.jobId),
      ['new-high', 'old-low'],
    );
    assert.equal(decision.waiting[0]?.jobId, 'mid-low');
  });

  it('keeps a tenant to nominal + borrowing limit and to max concurrent jobs', () => {
    const decision = decide({
      capacity: res(100, 100_000),
      quotas: { q: quota(res(2, 1000), res(1, 0)), c: quota(res(50, 50_000), res(0), 2) },
      running: [],
      queued: [
        queued('q1', 'q', res(2, 100), 1),
        queued('q2', 'q', res(1.5, 100), 2),
        queued('c1', 'c', res(1), 1),
        queued('c2', 'c', res(1), 2),
        queued('c3', 'c', res(1), 3),
      ],
      now: 5,
    });
    assert.deepEqual(new Set(decision.admitted.map((a) => a.jobId)), new Set(['q1', 'c1', 'c2']));
    const why = new Map(decision.waiting.map((w) => [w.jobId, w.blockers.map((b) => b.reason)]));
    assert.deepEqual(why.get('q2'), ['tenant_quota_cpu']);
    assert.deepEqual(why.get('c3'), ['max_concurrent_jobs']);
  });

  it('adds fractional cores exactly (millicores, no float drift)', () => {
    // 10 × 0.1 cores is exactly 1 core: in floating point 0.1 summed ten times is 0.9999999999999999.
    const jobs = Array.from({ length: 11 }, (_, i) => queued(`j${i}`, 't', res(0.1), i));
    const decision = decide({ capacity: res(1), quotas: { t: quota(res(1), res(0)) }, running: [], queued: jobs, now: 0 });
    assert.equal(decision.admitted.length, 10);
    assert.equal(decision.waiting[0]?.blockers[0]?.reason, 'tenant_quota_cpu');
  });

  it('lets a tenant borrow idle capacity up to its borrowing limit', () => {
    const decision = decide({
      capacity: res(8),
      quotas: { a: quota(res(4), res(3)), b: quota(res(4), res(4)) },
      running: [],
      queued: Array.from({ length: 10 }, (_, i) => queued(`a${i}`, 'a', res(1), i)),
      now: 0,
    });
    assert.equal(decision.admitted.length, 7);
    assert.deepEqual(
      decision.admitted.map((a) => a.borrowing),
      [false, false, false, false, true, true, true],
    );
  });
});

describe('decide: reclaim', () => {
  const quotas = { owner: quota(res(4), res(0)), greedy: quota(res(4), res(4)) };

  it('preempts the borrower’s lowest-priority, most recently started jobs, and no more than needed', () => {
    const decision = decide({
      capacity: res(8),
      quotas,
      running: [
        running('g-old-low', 'greedy', res(1), 1, 0),
        running('g-new-low', 'greedy', res(1), 8, 0),
        running('g-mid-low', 'greedy', res(1), 5, 0),
        running('g-newest-high', 'greedy', res(1), 9, 5),
        running('g5', 'greedy', res(1), 2, 5),
        running('g6', 'greedy', res(1), 3, 5),
        running('g7', 'greedy', res(1), 4, 5),
        running('g8', 'greedy', res(1), 4, 5),
      ],
      queued: [queued('o1', 'owner', res(2), 10)],
      now: 11,
    });
    assert.deepEqual(
      decision.preempted.map((p) => p.jobId),
      ['g-new-low', 'g-mid-low'],
    );
    assert.deepEqual(decision.admitted, [{ jobId: 'o1', tenantId: 'owner', borrowing: false, afterPreempting: ['g-new-low', 'g-mid-low'] }]);
    assert.ok(decision.preempted.every((p) => p.forJobId === 'o1' && p.forTenantId === 'owner'));
  });

  it('does not preempt for a job that would make its owner borrow', () => {
    const decision = decide({
      capacity: res(8),
      quotas: { owner: quota(res(4), res(4)), greedy: quota(res(4), res(4)) },
      running: Array.from({ length: 6 }, (_, i) => running(`g${i}`, 'greedy', res(1), i)).concat([running('o0', 'owner', res(2), 0)]),
      queued: [queued('o-big', 'owner', res(3), 10)],
      now: 11,
    });
    assert.deepEqual(decision.preempted, []);
    assert.deepEqual(decision.admitted, []);
    assert.equal(decision.waiting[0]?.wouldBorrow, true);
    assert.deepEqual(
      decision.waiting[0]?.blockers.map((b) => b.reason),
      ['pool_cpu'],
    );
  });

  it('never preempts a tenant that is within its nominal quota', () => {
    const decision = decide({
      capacity: res(8),
      // Overcommitted nominals (10 > 8): the owner of 6 cannot take from the tenant sitting at its nominal 4.
      quotas: { a: quota(res(6), res(0)), b: quota(res(4), res(0)) },
      running: [running('b1', 'b', res(4), 0), running('a1', 'a', res(3), 0)],
      queued: [queued('a2', 'a', res(2), 1)],
      now: 2,
    });
    assert.deepEqual(decision.preempted, []);
    assert.deepEqual(decision.admitted, []);
  });

  it('preempts only jobs of tenants above nominal in the resource the pool is short of', () => {
    const decision = decide({
      capacity: res(8, 8000),
      quotas: {
        owner: quota(res(4, 4000), res(0)),
        memHog: quota(res(2, 1000), res(6, 7000)),
        cpuHog: quota(res(2, 3000), res(6, 7000)),
      },
      running: [running('m1', 'memHog', res(1, 3000), 5), running('c1', 'cpuHog', res(5, 1000), 1)],
      queued: [queued('o1', 'owner', res(3, 1000), 10)],
      now: 11,
    });
    // The pool is short of CPU only (6 of 8 in use, 3 asked); memHog is within nominal CPU.
    assert.deepEqual(
      decision.preempted.map((p) => p.jobId),
      ['c1'],
    );
  });
});

describe('backfill', () => {
  // 'big' has the lowest share but its 4-core job does not fit the 2 free cores; 'small' has 1-core jobs.
  const setup = (backfill: 'reserve' | 'greedy'): SchedulerState => {
    const state = new SchedulerState(res(8, 0, 1), { backfill });
    const open = quota(res(0), res(8, 0, 1));
    state.setQuota('big', open);
    state.setQuota('small', open);
    state.setQuota('gpu', open);
    state.addRunning(running('s-run', 'small', res(6), 0));
    state.addRunning(running('g-run', 'gpu', res(0, 0, 1), 0));
    state.enqueue(queued('big-1', 'big', res(4), 1));
    state.enqueue(queued('small-1', 'small', res(1), 2));
    state.enqueue(queued('small-2', 'small', res(1), 3));
    return state;
  };

  it('reserve: the room the fair-share winner needs accumulates for it instead of going to smaller jobs', () => {
    const state = setup('reserve');
    assert.deepEqual(state.schedule(4).admitted, []);
    assert.ok(state.jobFinished('s-run'));
    assert.deepEqual(
      state.schedule(5).admitted.map((a) => a.jobId),
      ['big-1', 'small-1', 'small-2'],
    );
  });

  it('reserve: jobs that do not need the reserved resources keep running', () => {
    const state = setup('reserve');
    state.enqueue(queued('gpu-1', 'gpu', res(0, 0, 1), 4));
    state.enqueue(queued('zero-cpu', 'small', res(0, 0, 0), 0, 9));
    assert.deepEqual(
      state.schedule(5).admitted.map((a) => a.jobId),
      ['zero-cpu'],
      'a job asking no CPU fits beside the reservation; the GPU job waits for the GPU',
    );
  });

  it('greedy: smaller jobs behind it take the free room', () => {
    const state = setup('greedy');
    assert.deepEqual(
      state.schedule(4).admitted.map((a) => a.jobId),
      ['small-1', 'small-2'],
    );
  });
});

describe('SchedulerState events', () => {
  it('admits again when a job finishes, and picks the lowest weighted share', () => {
    const state = new SchedulerState(res(4));
    state.setQuota('a', quota(res(0), res(4)));
    state.setQuota('b', quota(res(0), res(4)));
    for (let i = 0; i < 4; i++) state.enqueue(queued(`a${i}`, 'a', res(1), i));
    assert.equal(state.schedule(10).admitted.length, 4);
    state.enqueue(queued('b0', 'b', res(1), 11));
    state.enqueue(queued('a4', 'a', res(1), 5));
    assert.equal(state.decideNext(12), undefined);
    assert.ok(state.jobFinished('a0'));
    assert.equal(state.decideNext(13)?.admission.jobId, 'b0');
    assert.ok(state.jobFinished('a1'));
    assert.equal(state.decideNext(14)?.admission.jobId, 'a4');
    assert.equal(state.queuedCount, 0);
    assert.equal(state.runningCount, 4);
  });

  it('applies a quota change to the next decision', () => {
    const state = new SchedulerState(res(8));
    state.setQuota('t', quota(res(1), res(0)));
    state.enqueue(queued('j1', 't', res(1), 0));
    state.enqueue(queued('j2', 't', res(1), 1));
    assert.deepEqual(
      state.schedule(1).admitted.map((a) => a.jobId),
      ['j1'],
    );
    state.setQuota('t', quota(res(2), res(0)));
    assert.deepEqual(
      state.schedule(2).admitted.map((a) => a.jobId),
      ['j2'],
    );
  });

  it('re-examines a pool-blocked tenant when capacity is freed or grows', () => {
    const state = new SchedulerState(res(2));
    state.setQuota('a', quota(res(0), res(8)));
    state.setQuota('b', quota(res(0), res(8)));
    state.enqueue(queued('a-small', 'a', res(1), 0));
    state.enqueue(queued('b-big', 'b', res(2), 1));
    assert.deepEqual(
      state.schedule(1).admitted.map((a) => a.jobId),
      ['a-small'],
    );
    state.setCapacity(res(3));
    assert.deepEqual(
      state.schedule(2).admitted.map((a) => a.jobId),
      ['b-big'],
    );
  });

  it('cancels queued jobs and ignores unknown ones', () => {
    const state = new SchedulerState(res(1));
    state.setQuota('t', quota(res(1), res(0)));
    state.enqueue(queued('x', 't', res(1), 0));
    state.enqueue(queued('y', 't', res(1), 1));
    assert.ok(state.cancel('x'));
    assert.equal(state.cancel('x'), false);
    assert.equal(state.jobFinished('nope'), false);
    assert.equal(state.decideNext(2)?.admission.jobId, 'y');
  });

  it('sets aside a job that can never run so it does not block its tenant, and brings it back when the quota grows', () => {
    const state = new SchedulerState(res(8));
    state.setQuota('t', quota(res(2), res(0)));
    state.enqueue(queued('too-big', 't', res(4), 0, 9));
    state.enqueue(queued('small', 't', res(1), 1));
    assert.deepEqual(
      state.schedule(2).admitted.map((a) => a.jobId),
      ['small'],
    );
    assert.equal(state.queuedCount, 1);
    state.setQuota('t', quota(res(2), res(3)));
    assert.deepEqual(
      state.schedule(3).admitted.map((a) => a.jobId),
      ['too-big'],
    );
  });

  it('keeps jobs of a tenant without quota waiting', () => {
    const state = new SchedulerState(res(4));
    state.enqueue(queued('x', 'ghost', res(1), 0));
    assert.equal(state.decideNext(1), undefined);
  });

  it('rejects duplicate ids and malformed resources or quotas', () => {
    const state = new SchedulerState(res(4));
    state.enqueue(queued('x', 't', res(1), 0));
    assert.throws(() => state.enqueue(queued('x', 't', res(1), 0)), (e) => isAppError(e) && e.code === 'CONFLICT');
    assert.throws(() => state.enqueue(queued('y', 't', res(0.0001), 0)), (e) => isAppError(e) && e.code === 'VALIDATION_FAILED');
    assert.throws(() => state.enqueue(queued('z', 't', res(1, 1.5), 0)), (e) => isAppError(e) && e.code === 'VALIDATION_FAILED');
    assert.throws(() => state.enqueue(queued('w', 't', res(-1), 0)), (e) => isAppError(e) && e.code === 'VALIDATION_FAILED');
    assert.throws(() => state.setQuota('t', quota(res(1), res(0), 1, 0)), (e) => isAppError(e) && e.code === 'VALIDATION_FAILED');
    assert.throws(() => new SchedulerState(res(Number.NaN)), (e) => isAppError(e) && e.code === 'VALIDATION_FAILED');
  });
});
