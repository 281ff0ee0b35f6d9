/**
 * The cluster job executor's decisions (`nextStep`), outcome conversion, refusal reasons and token
 * redaction, fed with plain observation objects shaped like what the API server returns. No fake API server:
 * the IO half is proven against a real cluster in `cluster-job-executor.e2e.test.ts` (runs with KUBECONFIG).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import fc from 'fast-check';
import { AppError } from '../../core/errors.ts';
import {
  describeError,
  initialWatchState,
  JOB_CONTAINER,
  KUEUE_ADMITTED_REASON,
  nextStep,
  redactToken,
  refusalReason,
  SUBMIT_REFUSED_REASON,
  toOutcome,
  withStop,
} from './cluster-job-executor.ts';
import type { ClusterJob, ClusterObservation, ClusterPod, JobEnding, WatchState, WatchStep } from './cluster-job-executor.ts';
import { buildJobManifest } from './job-manifest.ts';
import { fixtureConfig, fixtureJob, fixtureTenant } from './kubernetes-fixtures.ts';
import type { JobProgress, ObservedCondition, ObservedContainerState, ObservedWorkload } from './outcome-mapping.ts';
import { createLineSplitter } from './reconciler.ts';

const UID = 'b7f3c0de-0000-4000-8000-000000000001';
const OLD_UID = 'b7f3c0de-0000-4000-8000-0000000000ff';
const TOKEN = 'bhj_s3cr3t-T0ken-value-0123456789';

const job = (options: { suspend?: boolean; conditions?: ObservedCondition[]; active?: number; deleting?: boolean } = {}): ClusterJob => ({
  metadata: { name: 'job-x', uid: UID, ...(options.deleting === true ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
  spec: options.suspend === undefined ? {} : { suspend: options.suspend },
  status: { ...(options.conditions === undefined ? {} : { conditions: options.conditions }), ...(options.active === undefined ? {} : { active: options.active }) },
});
const failedJob = (reason: string) => job({ suspend: false, conditions: [{ type: 'Failed', status: 'True', reason }] });

const pod = (
  name: string,
  phase: string,
  state?: ObservedContainerState,
  options: { owner?: string; deleting?: boolean; reason?: string } = {},
): ClusterPod => ({
  metadata: {
    name,
    ownerReferences: [{ uid: options.owner ?? UID }],
    ...(options.deleting === true ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
  },
  status: {
    phase,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(state === undefined ? {} : { containerStatuses: [{ name: JOB_CONTAINER, state }] }),
  },
});
const running = (name = 'job-x-abcde', options: { deleting?: boolean } = {}) => pod(name, 'Running', { running: { startedAt: 'now' } }, options);
const exited = (exitCode: number, reason = 'Error', name = 'job-x-abcde') => pod(name, 'Failed', { terminated: { reason, exitCode } });
const workload = (...conditions: ObservedCondition[]): ObservedWorkload => ({ status: { conditions } });

const observe = (j: ClusterJob | undefined, pods: ClusterPod[] = [], options: { workload?: ObservedWorkload; now?: number } = {}): ClusterObservation => ({
  now: options.now ?? 0,
  job: j,
  pods,
  ...(options.workload === undefined ? {} : { workload: options.workload }),
});

/** Runs observations through `nextStep` from `state`, collecting everything it asked for. */
const drive = (state: WatchState, observations: ClusterObservation[]) => {
  const steps: WatchStep[] = [];
  let current = state;
  for (const o of observations) {
    const step = nextStep(current, o);
    steps.push(step);
    current = step.state;
    if (step.ending !== undefined) break;
  }
  return { steps, state: current, progress: steps.flatMap((s) => s.progress), logs: steps.flatMap((s) => s.followLogs), ending: steps.at(-1)?.ending };
};

const kueueState = () => initialWatchState({ kueue: true, jobUid: UID });
const plainState = () => initialWatchState({ kueue: false, jobUid: UID });
const pending = (reason: string): JobProgress => ({ state: 'pending', reason });

test('the executor follows the container buildJobManifest creates', () => {
  const manifest = buildJobManifest(fixtureJob(fixtureTenant('process')), fixtureConfig()) as any;
  assert.equal(manifest.spec.template.spec.containers[0].name, JOB_CONTAINER);
});

test('Kueue deferral: queued, admitted (once), running, then the Job fails with its exit code', () => {
  const suspended = job({ suspend: true });
  const { steps, progress, logs, ending } = drive(kueueState(), [
    observe(suspended),
    observe(suspended), // nothing new: nothing reported
    observe(suspended, [], { workload: workload({ type: 'QuotaReserved', status: 'True' }, { type: 'Admitted', status: 'True' }) }),
    observe(job({ suspend: false, active: 1 }), [pod('job-x-abcde', 'Pending', { waiting: { reason: 'ContainerCreating' } })], { workload: workload({ type: 'Admitted', status: 'True' }) }),
    observe(job({ suspend: false, active: 1 }), [running()], { workload: workload({ type: 'Admitted', status: 'True' }) }),
    observe(job({ suspend: false, active: 1 }), [running()], { workload: workload({ type: 'Admitted', status: 'True' }) }),
    observe(failedJob('BackoffLimitExceeded'), [exited(3)], { workload: workload({ type: 'Admitted', status: 'True' }) }),
  ]);
  assert.deepEqual(steps.map((s) => s.progress.map((p) => (p.state === 'pending' ? p.reason : p.state))), [
    ['Suspended'],
    [],
    [KUEUE_ADMITTED_REASON], // admitted while the Job is still suspended: not "Suspended" again
    ['WaitingForPod'],
    ['running'],
    [],
    ['finished'],
  ]);
  assert.deepEqual(progress.slice(0, 4), [pending('Suspended'), pending(KUEUE_ADMITTED_REASON), pending('WaitingForPod'), { state: 'running' }]);
  assert.deepEqual(logs, ['job-x-abcde'], 'the log is followed once, when the container starts');
  assert.deepEqual(ending, { state: 'finished', outcome: 'failed', reason: 'BackoffLimitExceeded', message: 'the job failed', exitCode: 3 });
  assert.equal(steps.at(-1)?.deleteJob, false, 'a finished Job is left for its TTL');
});

test('Kueue: an unsuspended Job counts as admitted even before the Workload is read', () => {
  const { progress } = drive(kueueState(), [observe(job({ suspend: true })), observe(job({ suspend: false, active: 1 }), [running()])]);
  assert.deepEqual(progress, [pending('Suspended'), pending(KUEUE_ADMITTED_REASON), { state: 'running' }]);
});

test('Kueue: a requeue (eviction that is not a preemption) is reported, and so is the new admission', () => {
  const admitted = workload({ type: 'Admitted', status: 'True' });
  const evicted = workload({ type: 'Admitted', status: 'False' }, { type: 'Evicted', status: 'True', reason: 'PodsReadyTimeout' });
  const { progress, ending } = drive(kueueState(), [
    observe(job({ suspend: false, active: 1 }), [running()], { workload: admitted }),
    observe(job({ suspend: true }), [], { workload: evicted }),
    observe(job({ suspend: false, active: 1 }), [running('job-x-fghij')], { workload: admitted }),
  ]);
  assert.equal(ending, undefined);
  assert.deepEqual(progress, [pending(KUEUE_ADMITTED_REASON), { state: 'running' }, pending('Suspended'), pending(KUEUE_ADMITTED_REASON), { state: 'running' }]);
});

test('Kueue: a Workload evicted or preempted by Kueue is preempted, and the Job is deleted so Kueue cannot rerun it unwatched', () => {
  for (const w of [
    workload({ type: 'Evicted', status: 'True', reason: 'Preempted', message: 'Preempted to accommodate a workload' }),
    workload({ type: 'Preempted', status: 'True', reason: 'InCohortReclamation' }),
  ]) {
    const step = nextStep(kueueState(), observe(job({ suspend: true }), [], { workload: w }));
    assert.equal(step.ending?.outcome, 'preempted');
    assert.equal(step.deleteJob, true);
    assert.deepEqual(step.progress, [step.ending]);
  }
});

test('without Kueue: no admission progress, and a Workload (even a preempted one) is ignored', () => {
  const preempted = workload({ type: 'Preempted', status: 'True' });
  const { progress, ending } = drive(plainState(), [
    observe(job({ active: 0 }), [], { workload: preempted }),
    observe(job({ active: 1 }), [running()], { workload: preempted }),
  ]);
  assert.equal(ending, undefined);
  assert.deepEqual(progress, [pending('WaitingForPod'), { state: 'running' }]);
});

test('pods of an older Job with the same name (another uid) are ignored', () => {
  const leftover = pod('job-x-old', 'Failed', { terminated: { reason: 'OOMKilled', exitCode: 137 } }, { owner: OLD_UID });
  const step = nextStep(plainState(), observe(job({ active: 1 }), [leftover, running()]));
  assert.equal(step.ending, undefined, "the old pod's OOM is not this job's");
  assert.deepEqual(step.followLogs, ['job-x-abcde']);
  assert.deepEqual(step.progress, [{ state: 'running' }]);
});

test('a job that ended before it was ever seen running still has its log followed', () => {
  const step = nextStep(plainState(), observe(failedJob('BackoffLimitExceeded'), [exited(3)]));
  assert.deepEqual(step.followLogs, ['job-x-abcde']);
  assert.equal(step.ending?.outcome, 'failed');
});

test('outcomes from the cluster: succeeded, oom_killed, timed_out (Job left alone); refused (Job deleted); Job gone', () => {
  const cases: [ClusterObservation, JobEnding['outcome'], boolean][] = [
    [observe(job({ conditions: [{ type: 'Complete', status: 'True' }] }), [pod('p', 'Succeeded', { terminated: { exitCode: 0 } })]), 'succeeded', false],
    [observe(failedJob('BackoffLimitExceeded'), [exited(137, 'OOMKilled')]), 'oom_killed', false],
    [observe(failedJob('DeadlineExceeded'), [exited(143)]), 'timed_out', false],
    [observe(job({ active: 1 }), [pod('p', 'Pending', { waiting: { reason: 'CreateContainerConfigError', message: 'runAsNonRoot' } })]), 'refused', true],
    [observe(undefined), 'failed', false],
  ];
  for (const [o, outcome, deleteJob] of cases) {
    const step = nextStep(plainState(), o);
    assert.equal(step.ending?.outcome, outcome);
    assert.equal(step.deleteJob, deleteJob, `deleteJob for ${outcome}`);
  }
  assert.equal(nextStep(plainState(), observe(undefined)).ending?.reason, 'JobDeleted');
});

test('cancel: the Job is deleted, the outcome waits for the pods to go, then it is cancelled', () => {
  const state = withStop(plainState(), { kind: 'cancel', at: 1000 });
  const { steps, ending } = drive(state, [
    observe(job({ active: 1 }), [running()], { now: 1100 }),
    observe(job({ active: 1, deleting: true }), [running()], { now: 1200 }),
    observe(undefined, [running('job-x-abcde', { deleting: true })], { now: 3000 }),
    observe(undefined, [], { now: 5000 }),
  ]);
  assert.deepEqual(steps.map((s) => s.deleteJob), [true, false, false, false]);
  assert.deepEqual(steps.map((s) => s.ending?.outcome), [undefined, undefined, undefined, 'cancelled']);
  assert.deepEqual(steps.map((s) => s.progress.length), [0, 0, 0, 1]);
  assert.equal(ending?.reason, 'CancelRequested');
});

test('cancel: a pod that will not go ends the wait after the default grace plus the margin', () => {
  const state = withStop(initialWatchState({ kueue: false, jobUid: UID, timing: { settleMarginMs: 5000 } }), { kind: 'cancel', at: 0 });
  assert.equal(nextStep(state, observe(undefined, [running()], { now: 34_999 })).ending, undefined);
  const late = nextStep(state, observe(undefined, [running()], { now: 35_000 }));
  assert.equal(late.ending?.outcome, 'cancelled');
});

test('cancel: a job still queued in Kueue is cancelled at once (its Job deleted at clean-up); a Complete Job stays succeeded', () => {
  const queued = nextStep(withStop(kueueState(), { kind: 'cancel', at: 0 }), observe(job({ suspend: true })));
  assert.equal(queued.ending?.outcome, 'cancelled');
  assert.equal(queued.deleteJob, true);
  const complete = nextStep(withStop(plainState(), { kind: 'cancel', at: 0 }), observe(job({ conditions: [{ type: 'Complete', status: 'True' }] })));
  assert.equal(complete.ending?.outcome, 'succeeded');
});

test('preempt: live pods are deleted with the grace (rounded up, at least 1 s); preempted once they are gone, whatever the Job says', () => {
  const state = withStop(plainState(), { kind: 'preempt', at: 0, graceMs: 9500 });
  const { steps, ending } = drive(state, [
    observe(job({ active: 1 }), [running(), pod('job-x-new', 'Pending')], { now: 10 }),
    observe(job({ active: 1 }), [running('job-x-abcde', { deleting: true })], { now: 2000 }),
    // With backoffLimit 0 the killed pod fails the Job: that is still a preemption, not a failure.
    observe(failedJob('BackoffLimitExceeded'), [exited(143)], { now: 9000 }),
  ]);
  assert.deepEqual(steps[0]?.deletePods, { names: ['job-x-abcde', 'job-x-new'], gracePeriodSeconds: 10 });
  assert.equal(steps[1]?.deletePods, undefined, 'a terminating pod is not deleted again');
  assert.equal(ending?.outcome, 'preempted');
  assert.equal(steps.at(-1)?.deleteJob, true);
  const zero = nextStep(withStop(plainState(), { kind: 'preempt', at: 0, graceMs: 0 }), observe(job({ active: 1 }), [running()]));
  assert.equal(zero.deletePods?.gracePeriodSeconds, 1, 'never 0: that would be a force deletion');
});

test('preempt: bounded by the grace plus the margin; a queued job is preempted at once; Complete stays succeeded', () => {
  const state = withStop(initialWatchState({ kueue: true, jobUid: UID, timing: { settleMarginMs: 1000 } }), { kind: 'preempt', at: 0, graceMs: 2000 });
  assert.equal(nextStep(state, observe(job({ suspend: false }), [running('p', { deleting: true })], { now: 2999 })).ending, undefined);
  assert.equal(nextStep(state, observe(job({ suspend: false }), [running('p', { deleting: true })], { now: 3000 })).ending?.outcome, 'preempted');
  assert.equal(nextStep(state, observe(job({ suspend: true }))).ending?.outcome, 'preempted');
  assert.equal(nextStep(state, observe(job({ conditions: [{ type: 'Complete', status: 'True' }] }))).ending?.outcome, 'succeeded');
});

test('the first stop request wins', () => {
  const cancelled = withStop(withStop(plainState(), { kind: 'cancel', at: 0 }), { kind: 'preempt', at: 1, graceMs: 5 });
  assert.equal(cancelled.stop?.kind, 'cancel');
});

test('an unreachable cluster: tolerated, reset by a good poll, given up after lostAfterMs', () => {
  const state = initialWatchState({ kueue: false, jobUid: UID, timing: { lostAfterMs: 10_000 } });
  const down = (now: number): ClusterObservation => ({ now, error: 'HTTP 503' });
  const a = drive(state, [down(0), down(9_999), observe(job({ active: 1 }), [running()], { now: 10_500 }), down(11_000), down(20_999)]);
  assert.equal(a.ending, undefined, 'a good poll resets the clock');
  const b = drive(state, [down(0), down(5_000), down(10_000)]);
  assert.equal(b.ending?.outcome, 'failed');
  assert.equal(b.ending?.reason, 'ClusterUnreachable');
  assert.match(b.ending?.message ?? '', /10 s: HTTP 503/);
  assert.equal(b.steps.at(-1)?.deleteJob, true);
  const c = drive(withStop(state, { kind: 'cancel', at: 0 }), [down(0), down(10_000)]);
  assert.equal(c.ending?.outcome, 'cancelled');
  // A preempt with a short grace does not wait the whole lostAfterMs for an unreachable cluster.
  const quick = initialWatchState({ kueue: false, jobUid: UID, timing: { lostAfterMs: 600_000, settleMarginMs: 1000 } });
  const d = drive(withStop(quick, { kind: 'preempt', at: 0, graceMs: 1000 }), [down(0), down(1999), down(2000)]);
  assert.equal(d.steps.length, 3);
  assert.equal(d.steps[1]?.ending, undefined);
  assert.equal(d.ending?.outcome, 'preempted');
});

test('property: progress is reported on transitions only, each pod log is followed once, the ending is the last progress', () => {
  const podArb = fc.record({
    name: fc.constantFrom('p1', 'p2'),
    phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed'),
    started: fc.boolean(),
    owner: fc.constantFrom(UID, UID, OLD_UID),
  });
  const obsArb = fc.record({
    exists: fc.boolean(),
    suspend: fc.boolean(),
    admitted: fc.boolean(),
    active: fc.nat(2),
    failed: fc.constantFrom(undefined, 'BackoffLimitExceeded', 'DeadlineExceeded'),
    pods: fc.array(podArb, { maxLength: 2 }),
  });
  fc.assert(
    fc.property(fc.boolean(), fc.array(obsArb, { minLength: 1, maxLength: 12 }), (kueue, raw) => {
      const observations = raw.map((r, i) =>
        observe(
          r.exists
            ? job({ suspend: r.suspend, active: r.active, ...(r.failed === undefined ? {} : { conditions: [{ type: 'Failed', status: 'True', reason: r.failed }] }) })
            : undefined,
          r.pods.map((p) => pod(p.name, p.phase, p.started ? { running: {} } : { waiting: { reason: 'ContainerCreating' } }, { owner: p.owner })),
          { now: i * 1000, workload: workload({ type: 'Admitted', status: r.admitted ? 'True' : 'False' }) },
        ),
      );
      const { progress, logs, ending } = drive(initialWatchState({ kueue, jobUid: UID }), observations);
      const keys = progress.map((p) => JSON.stringify(p));
      for (let i = 1; i < keys.length; i += 1) assert.notEqual(keys[i], keys[i - 1], 'no progress is reported twice in a row');
      assert.equal(new Set(logs).size, logs.length, 'no pod log is followed twice');
      const finished = progress.filter((p) => p.state === 'finished');
      if (ending === undefined) assert.equal(finished.length, 0);
      else assert.deepEqual(progress.at(-1), ending);
      if (!kueue) assert.ok(!progress.some((p) => p.state === 'pending' && p.reason === KUEUE_ADMITTED_REASON));
    }),
    { numRuns: 300 },
  );
});

test('toOutcome: exit codes and signals, refusal reasons, usage', () => {
  const finished = (outcome: JobEnding['outcome'], extra: Partial<JobEnding> = {}): JobEnding => ({ state: 'finished', outcome, reason: 'R', message: 'm', ...extra });
  assert.deepEqual(toOutcome(finished('failed', { exitCode: 3 }), 1234.4, TOKEN), { kind: 'failed', exitCode: 3, usage: { wallMs: 1234 } });
  assert.deepEqual(toOutcome(finished('failed', { exitCode: 137 }), 0, TOKEN), { kind: 'failed', exitCode: 137, signal: 'SIGKILL', usage: { wallMs: 0 } });
  assert.deepEqual(toOutcome(finished('failed'), 0, TOKEN), { kind: 'failed', exitCode: null, usage: { wallMs: 0 } });
  for (const kind of ['succeeded', 'oom_killed', 'timed_out', 'cancelled', 'preempted'] as const) {
    assert.deepEqual(toOutcome(finished(kind), 5, TOKEN), { kind, usage: { wallMs: 5 } });
  }
  assert.deepEqual(toOutcome(finished('refused', { reason: 'CreateContainerConfigError', message: 'image runs as root' }), 0, TOKEN), {
    kind: 'refused',
    reason: 'CreateContainerConfigError: image runs as root',
    usage: { wallMs: 0 },
  });
  const submit = toOutcome(finished('refused', { reason: SUBMIT_REFUSED_REASON, message: `invalid job: ${TOKEN}` }), 0, TOKEN);
  assert.deepEqual(submit, { kind: 'refused', reason: 'invalid job: [redacted]', usage: { wallMs: 0 } });
  // A container's termination message is the job's to write: the job could print its own token there.
  const leaked = toOutcome(finished('refused', { message: `token=${TOKEN}` }), 0, TOKEN);
  assert.ok(leaked.kind === 'refused' && !leaked.reason.includes(TOKEN));
});

test('redactToken: plain and base64 forms; short strings are not tokens', () => {
  const b64 = Buffer.from(TOKEN).toString('base64');
  assert.equal(redactToken(`a ${TOKEN} b ${b64} c ${TOKEN}`, TOKEN), 'a [redacted] b [redacted] c [redacted]');
  assert.equal(redactToken('exit 3', '3'), 'exit 3');
});

test('refusalReason: validation, suspension, API refusals (403, 422), unreachable — never the token', () => {
  const tenant = fixtureTenant('process');
  const config = fixtureConfig();
  let validation: unknown;
  try {
    buildJobManifest(fixtureJob(tenant, { command: [] }), config);
  } catch (error) {
    validation = error;
  }
  assert.equal(refusalReason(validation, TOKEN, 'the job'), 'invalid job: job command must not be empty');
  let suspended: unknown;
  try {
    buildJobManifest(fixtureJob({ ...tenant, status: 'suspended' }), config);
  } catch (error) {
    suspended = error;
  }
  assert.equal(refusalReason(suspended, TOKEN, 'the job'), 'tenant team-process is suspended: no new workloads');

  const forbidden = new ApiException(403, 'Unsuccessful HTTP Request', JSON.stringify({ kind: 'Status', message: 'secrets is forbidden: User "bulkhead" cannot create resource "secrets"', code: 403 }), { authorization: 'Bearer cluster-cred' });
  assert.equal(
    refusalReason(forbidden, TOKEN, 'the job token Secret'),
    'the cluster refused the job token Secret (HTTP 403 Forbidden): secrets is forbidden: User "bulkhead" cannot create resource "secrets"',
  );
  const invalid = new ApiException(422, 'Unsuccessful HTTP Request', { message: `Secret "job-1-token" is invalid: data[token]: Invalid value: "${Buffer.from(TOKEN).toString('base64')}"` }, {});
  const reason = refusalReason(invalid, TOKEN, 'the job token Secret');
  assert.match(reason, /^the cluster refused the job token Secret \(HTTP 422 Invalid\): Secret "job-1-token" is invalid/);
  assert.ok(!reason.includes(Buffer.from(TOKEN).toString('base64')) && reason.includes('[redacted]'));
  assert.equal(refusalReason(new ApiException(500, 'x', 'not json', {}), TOKEN, 'the Job'), 'the cluster refused the Job (HTTP 500)');
  assert.equal(
    refusalReason(new Error('connect ECONNREFUSED 10.0.0.1:6443'), TOKEN, 'the Job'),
    'could not submit the Job to the cluster: connect ECONNREFUSED 10.0.0.1:6443',
  );
  // The library's own message embeds response headers and body: describeError never uses it.
  const described = describeError(forbidden, TOKEN);
  assert.ok(!described.includes('cluster-cred') && described.startsWith('HTTP 403: secrets is forbidden'));
  assert.equal(describeError(new AppError('CONFLICT', `busy ${TOKEN}`), TOKEN), 'busy [redacted]');
});

test('property: no refusal reason or error description contains the token, however the API quotes it', () => {
  const tokenArb = fc.stringMatching(/^[A-Za-z0-9_-]{8,48}$/);
  fc.assert(
    fc.property(tokenArb, fc.string(), fc.string(), fc.constantFrom(400, 403, 409, 422, 500), fc.boolean(), (token, before, after, status, base64) => {
      const quoted = base64 ? Buffer.from(token).toString('base64') : token;
      const error = new ApiException(status, 'Unsuccessful HTTP Request', JSON.stringify({ message: `${before}${quoted}${after}` }), {});
      for (const text of [refusalReason(error, token, 'the Job'), describeError(error, token), refusalReason(new Error(`${before}${quoted}`), token, 'the Job')]) {
        assert.ok(!text.includes(token), text);
        assert.ok(!text.includes(Buffer.from(token).toString('base64')), text);
      }
    }),
    { numRuns: 300 },
  );
});

test('createLineSplitter: newlines, a final partial line, split multi-byte characters, over-long lines', () => {
  const lines: string[] = [];
  const splitter = createLineSplitter((l) => lines.push(l), 8);
  const euro = Buffer.from('€'); // 3 bytes
  splitter.push(Buffer.from('hello\n\nwor'));
  splitter.push(Buffer.concat([Buffer.from('ld '), euro.subarray(0, 1)]));
  splitter.push(Buffer.concat([euro.subarray(1), Buffer.from('\n')]));
  splitter.push('0123456789abcdefXY');
  splitter.end();
  assert.deepEqual(lines, ['hello', '', 'world €', '01234567', '89abcdef', 'XY']);
});
