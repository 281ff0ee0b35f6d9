import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapJobOutcome } from './outcome-mapping.ts';
import type { ObservedCondition, ObservedJob, ObservedPod } from './outcome-mapping.ts';

const jobWith = (...conditions: ObservedCondition[]): ObservedJob => ({ spec: {}, status: { conditions } });
const failedJob = (reason: string) => jobWith({ type: 'Failed', status: 'True', reason });
const terminatedPod = (reason: string, exitCode: number): ObservedPod => ({
  status: { phase: 'Failed', containerStatuses: [{ name: 'job', state: { terminated: { reason, exitCode } } }] },
});
const outcome = (p: ReturnType<typeof mapJobOutcome>) => (p.state === 'finished' ? p.outcome : p.state);

test('Complete → succeeded, even when a cancel arrived late', () => {
  assert.equal(outcome(mapJobOutcome({ job: jobWith({ type: 'Complete', status: 'True' }) })), 'succeeded');
  assert.equal(outcome(mapJobOutcome({ job: jobWith({ type: 'Complete', status: 'True' }), cancelRequested: true })), 'succeeded');
  assert.equal(outcome(mapJobOutcome({ job: jobWith({ type: 'Complete', status: 'False' }) })), 'pending');
});

test('OOMKilled → oom_killed with the exit code', () => {
  const p = mapJobOutcome({ job: failedJob('BackoffLimitExceeded'), pods: [terminatedPod('OOMKilled', 137)] });
  assert.deepEqual(p, { state: 'finished', outcome: 'oom_killed', reason: 'OOMKilled', message: 'container exceeded its memory limit', exitCode: 137 });
});

test('DeadlineExceeded → timed_out (also from FailureTarget)', () => {
  assert.equal(outcome(mapJobOutcome({ job: failedJob('DeadlineExceeded'), pods: [terminatedPod('Error', 143)] })), 'timed_out');
  assert.equal(outcome(mapJobOutcome({ job: jobWith({ type: 'FailureTarget', status: 'True', reason: 'DeadlineExceeded' }) })), 'timed_out');
});

test('evicted or disrupted pods → preempted', () => {
  const evicted: ObservedPod = { status: { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' } };
  assert.equal(outcome(mapJobOutcome({ job: failedJob('BackoffLimitExceeded'), pods: [evicted] })), 'preempted');
  const disrupted: ObservedPod = { status: { phase: 'Failed', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }] } };
  assert.equal(outcome(mapJobOutcome({ job: failedJob('BackoffLimitExceeded'), pods: [disrupted] })), 'preempted');
});

test('Kueue preemption (Workload Evicted/Preempted) → preempted', () => {
  const job: ObservedJob = { spec: { suspend: true }, status: { conditions: [{ type: 'Suspended', status: 'True' }] } };
  const p = mapJobOutcome({ job, workload: { status: { conditions: [{ type: 'Evicted', status: 'True', reason: 'Preempted', message: 'Preempted to accommodate a workload' }] } } });
  assert.equal(outcome(p), 'preempted');
  assert.equal(p.state === 'finished' && p.reason, 'KueuePreempted');
  // An eviction for another reason (e.g. the queue was stopped) is not a preemption: still pending.
  assert.equal(outcome(mapJobOutcome({ job, workload: { status: { conditions: [{ type: 'Evicted', status: 'True', reason: 'ClusterQueueStopped' }] } } })), 'pending');
});

test('cancel requested or Job gone → cancelled / failed', () => {
  assert.equal(outcome(mapJobOutcome({ job: undefined, cancelRequested: true })), 'cancelled');
  assert.equal(outcome(mapJobOutcome({ job: jobWith(), cancelRequested: true })), 'cancelled');
  const gone = mapJobOutcome({ job: undefined });
  assert.equal(outcome(gone), 'failed');
  assert.equal(gone.state === 'finished' && gone.reason, 'JobDeleted');
});

test('unstartable containers and kubelet admission refusals → refused', () => {
  const root: ObservedPod = { status: { phase: 'Pending', containerStatuses: [{ name: 'job', state: { waiting: { reason: 'CreateContainerConfigError', message: 'container has runAsNonRoot and image will run as root' } } }] } };
  assert.equal(outcome(mapJobOutcome({ job: jobWith(), pods: [root] })), 'refused');
  const outOfGpu: ObservedPod = { status: { phase: 'Failed', reason: 'OutOfnvidia.com/gpu' } };
  assert.equal(outcome(mapJobOutcome({ job: jobWith(), pods: [outOfGpu] })), 'refused');
  const rejected = { status: { conditions: [{ type: 'Finished', status: 'True', reason: 'AdmissionChecksRejected' }] } };
  assert.equal(outcome(mapJobOutcome({ job: jobWith(), workload: rejected })), 'refused');
  // Pulling an image is retried by the kubelet: not a refusal yet.
  const pulling: ObservedPod = { status: { phase: 'Pending', containerStatuses: [{ name: 'job', state: { waiting: { reason: 'ErrImagePull' } } }] } };
  assert.equal(outcome(mapJobOutcome({ job: jobWith(), pods: [pulling] })), 'pending');
});

test('other failures → failed with the exit code', () => {
  const p = mapJobOutcome({ job: failedJob('BackoffLimitExceeded'), pods: [terminatedPod('Error', 3)] });
  assert.equal(outcome(p), 'failed');
  assert.equal(p.state === 'finished' && p.exitCode, 3);
});

test('not finished: suspended → pending, running pod → running', () => {
  assert.deepEqual(mapJobOutcome({ job: { spec: { suspend: true }, status: {} } }), { state: 'pending', reason: 'Suspended' });
  assert.equal(outcome(mapJobOutcome({ job: { status: { active: 1 } }, pods: [{ status: { phase: 'Running' } }] })), 'running');
  assert.equal(outcome(mapJobOutcome({ job: { status: { active: 1 } }, pods: [{ status: { phase: 'Pending' } }] })), 'pending');
});
