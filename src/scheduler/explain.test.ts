import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, explainJob, SchedulerState } from './index.ts';
import type { Resources, SchedulerInput, SchedulerQuota } from './index.ts';

const res = (cpu: number, memoryMiB = 0, gpu = 0): Resources => ({ cpu, memoryMiB, gpu });
const quota = (nominal: Resources, borrowingLimit: Resources, maxConcurrentJobs = 100, weight = 1): SchedulerQuota => ({
  nominal,
  borrowingLimit,
  maxConcurrentJobs,
  weight,
});

const snapshot: SchedulerInput = {
  capacity: res(8, 16_384, 1),
  quotas: {
    a: quota(res(4, 8192, 1), res(2, 4096, 0), 3, 2),
    b: quota(res(4, 8192, 0), res(4, 8192, 0), 10, 1),
  },
  running: [
    { id: 'a-r1', tenantId: 'a', request: res(2, 2048, 1), priority: 0, startedAt: 0 },
    { id: 'b-r1', tenantId: 'b', request: res(4, 4096), priority: 0, startedAt: 0 },
    { id: 'b-r2', tenantId: 'b', request: res(1, 1024), priority: 0, startedAt: 1 },
  ],
  queued: [
    { id: 'a-gpu', tenantId: 'a', request: res(1, 1024, 1), priority: 5, enqueuedAt: 10 },
    { id: 'a-later', tenantId: 'a', request: res(0.5, 512), priority: 0, enqueuedAt: 11 },
    { id: 'b-huge', tenantId: 'b', request: res(4, 1024), priority: 1, enqueuedAt: 12 },
    { id: 'b-never', tenantId: 'b', request: res(1, 1024, 2), priority: 0, enqueuedAt: 9 },
  ],
  now: 20,
};

describe('explain', () => {
  it('names the tenant GPU quota, its share and its positions', () => {
    const why = explainJob(snapshot, 'a-gpu');
    assert.ok(why !== undefined);
    assert.deepEqual(why.blockers, [
      { reason: 'tenant_quota_gpu', requested: 1, inUse: 1, limit: 1 },
      { reason: 'pool_gpu', requested: 1, inUse: 1, limit: 1 },
    ]);
    assert.equal(why.admissibleNow, false);
    assert.equal(why.satisfiable, true);
    assert.equal(why.positionInTenantQueue, 1);
    assert.equal(why.tenantQueueLength, 2);
    assert.equal(why.globalPosition, 1, 'priority 5 is first overall');
    assert.equal(why.globalQueueLength, 4);
    assert.equal(why.waitingMs, 10);
    // a uses 2/8 CPU, 2048/16384 memory, 1/1 GPU: dominant share 1 on GPU, weight 2.
    assert.equal(why.tenant.dominantShare, 1);
    assert.equal(why.tenant.dominantResource, 'gpu');
    assert.equal(why.tenant.weightedDominantShare, 0.5);
    assert.equal(why.tenant.borrowing, false);
    assert.match(why.summary, /tenant gpu quota: needs 1 GPUs, uses 1 of 1/);
  });

  it('says a job waits behind its own tenant’s head', () => {
    const why = explainJob(snapshot, 'a-later');
    assert.ok(why !== undefined);
    assert.deepEqual(
      why.blockers.map((b) => b.reason),
      ['behind_in_tenant_queue'],
    );
    assert.equal(why.blockers[0]?.aheadJobId, 'a-gpu');
    assert.equal(why.positionInTenantQueue, 2);
  });

  it('reports a job that can never run as unsatisfiable, with the pool and quota it exceeds', () => {
    const why = explainJob(snapshot, 'b-never');
    assert.ok(why !== undefined);
    assert.equal(why.satisfiable, false);
    assert.deepEqual(
      why.blockers.map((b) => b.reason),
      ['tenant_quota_gpu', 'pool_gpu'],
      'it does not wait behind anyone: it is set aside so it cannot block its tenant',
    );
    assert.match(why.summary, /can never run/);
  });

  it('explains every job left waiting after a decision, and ranks tenants by weighted share', () => {
    const decision = decide(snapshot);
    // b-huge asks 4 cores: b uses 5 of its 8 (nominal + borrowing) and the pool has 1 of 8 free.
    assert.deepEqual(decision.admitted, []);
    const byId = new Map(decision.waiting.map((w) => [w.jobId, w]));
    const huge = byId.get('b-huge');
    assert.ok(huge !== undefined);
    assert.deepEqual(
      huge.blockers.map((b) => b.reason),
      ['tenant_quota_cpu', 'pool_cpu'],
    );
    assert.equal(huge.wouldBorrow, true);
    assert.deepEqual(
      decision.waiting.map((w) => w.jobId),
      ['a-gpu', 'b-huge', 'b-never', 'a-later'],
    );
    // b: 5/8 CPU → 0.625 weighted; a: 0.5 weighted. b's head (b-huge) would borrow, a's would not.
    assert.equal(byId.get('a-gpu')?.fairShareRank, 1);
    assert.equal(huge.fairShareRank, 2);
    assert.equal(huge.tenantsWaiting, 2);
  });

  it('names the job a reservation holds pool room for', () => {
    const state = new SchedulerState(res(8));
    state.setQuota('big', quota(res(0), res(8)));
    state.setQuota('small', quota(res(0), res(8)));
    state.addRunning({ id: 's-run', tenantId: 'small', request: res(6), priority: 0, startedAt: 0 });
    state.enqueue({ id: 'big-1', tenantId: 'big', request: res(4), priority: 0, enqueuedAt: 1 });
    state.enqueue({ id: 'small-1', tenantId: 'small', request: res(1), priority: 0, enqueuedAt: 2 });
    assert.deepEqual(state.schedule(3).admitted, []);
    const small = explainJob(state, 'small-1', 3);
    assert.deepEqual(small?.blockers, [{ reason: 'pool_reserved', aheadJobId: 'big-1' }]);
    assert.match(small?.summary ?? '', /held for job big-1/);
    assert.equal(small?.fairShareRank, 2);
    const big = explainJob(state, 'big-1', 3);
    assert.deepEqual(
      big?.blockers.map((b) => b.reason),
      ['pool_cpu'],
    );
    assert.equal(big?.fairShareRank, 1);
  });

  it('marks a job admissible when the next decision would start it, reclaim included', () => {
    const state = new SchedulerState(res(4));
    state.setQuota('owner', quota(res(2), res(0)));
    state.setQuota('greedy', quota(res(2), res(2)));
    state.addRunning({ id: 'g1', tenantId: 'greedy', request: res(2), priority: 0, startedAt: 0 });
    state.addRunning({ id: 'g2', tenantId: 'greedy', request: res(2), priority: 0, startedAt: 1 });
    state.enqueue({ id: 'o1', tenantId: 'owner', request: res(1), priority: 0, enqueuedAt: 2 });
    const before = explainJob(state, 'o1', 3);
    assert.equal(before?.admissibleNow, true);
    assert.deepEqual(before?.blockers, []);
    assert.equal(state.decideNext(3)?.preempted[0]?.jobId, 'g2');
    assert.equal(explainJob(state, 'o1', 4), undefined, 'a running job has nothing to explain');
    assert.equal(explainJob(state, 'unknown', 4), undefined);
  });
});
