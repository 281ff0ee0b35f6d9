import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../core/errors.ts';
import { isTerminalJobState, jobStates, terminalJobStates, type JobState } from '../contract/job-schemas.ts';
import type { OutcomeKind } from '../executors/executor-contract.ts';
import { allowedJobEvents, eventForOutcome, jobEvents, transition, type JobEvent } from './job-state.ts';

// The expected table written out independently of the implementation: every pair not listed must fail.
const expected: Record<string, JobState> = {
  'queued/admit': 'admitted',
  'queued/cancel': 'cancelled',
  'queued/refuse': 'refused',
  'admitted/start': 'running',
  'admitted/cancel': 'cancelled',
  'admitted/preempt': 'preempted',
  'admitted/refuse': 'refused',
  'running/succeed': 'succeeded',
  'running/fail': 'failed',
  'running/oom_kill': 'oom_killed',
  'running/time_out': 'timed_out',
  'running/cancel': 'cancelled',
  'running/preempt': 'preempted',
  'running/refuse': 'refused',
  'preempted/requeue': 'queued',
  'preempted/cancel': 'cancelled',
};

test('every (state, event) pair: allowed pairs lead to the expected state, all others are CONFLICT', () => {
  let allowed = 0;
  for (const from of jobStates) {
    for (const event of jobEvents) {
      const result = transition(from, event);
      const want = expected[`${from}/${event}`];
      if (want === undefined) {
        assert.equal(result.ok, false, `${from} --${event}--> should be rejected`);
        if (!result.ok) {
          assert.ok(result.error instanceof AppError);
          assert.equal(result.error.code, 'CONFLICT');
          assert.deepEqual(result.error.details, { from, event });
        }
      } else {
        allowed += 1;
        assert.deepEqual(result, { ok: true, state: want }, `${from} --${event}-->`);
      }
    }
  }
  assert.equal(allowed, Object.keys(expected).length);
});

test('terminal states accept no event and are exactly the finished outcomes except preempted', () => {
  assert.deepEqual(
    [...terminalJobStates].sort(),
    ['cancelled', 'failed', 'oom_killed', 'refused', 'succeeded', 'timed_out'],
  );
  for (const state of jobStates) {
    assert.equal(isTerminalJobState(state), allowedJobEvents(state).length === 0, state);
  }
  assert.equal(isTerminalJobState('preempted'), false);
});

test('a preempted job is requeued and can run again to completion', () => {
  const path: JobEvent[] = ['admit', 'start', 'preempt', 'requeue', 'admit', 'start', 'succeed'];
  let state: JobState = 'queued';
  for (const event of path) {
    const result = transition(state, event);
    assert.ok(result.ok, `${state} --${event}-->`);
    state = result.state;
  }
  assert.equal(state, 'succeeded');
});

test('every state is reachable from queued', () => {
  const seen = new Set<JobState>(['queued']);
  const frontier: JobState[] = ['queued'];
  while (frontier.length > 0) {
    const state = frontier.pop() as JobState;
    for (const event of allowedJobEvents(state)) {
      const result = transition(state, event);
      if (result.ok && !seen.has(result.state)) {
        seen.add(result.state);
        frontier.push(result.state);
      }
    }
  }
  assert.deepEqual([...seen].sort(), [...jobStates].sort());
});

test('each outcome kind maps to an event that running accepts and lands in the state of that name', () => {
  const kinds: OutcomeKind[] = ['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'preempted', 'refused'];
  for (const kind of kinds) {
    const result = transition('running', eventForOutcome(kind));
    assert.deepEqual(result, { ok: true, state: kind });
  }
});

test('the rejection message names the state and the event', () => {
  const result = transition('succeeded', 'cancel');
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.error.message, /succeeded.*cancel/);
});
