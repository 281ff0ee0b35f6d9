/**
 * The job lifecycle as one pure state machine: no IO, no clock, no database. The jobs service persists
 * the state and audits each transition; this file only decides which transitions exist.
 *
 *   queued ──admit──▶ admitted ──start──▶ running ──succeed/fail/oom_kill/time_out──▶ (terminal)
 *     │                 │                   │
 *     │                 ├──preempt──────────┴──preempt──▶ preempted ──requeue──▶ queued
 *     ├──cancel─────────┴──cancel───────────┴──cancel───▶ cancelled   (preempted ──cancel──▶ cancelled)
 *     └──refuse─────────┴──refuse───────────┴──refuse───▶ refused
 *
 * `running → refused` exists because the executor answers `start()` at once and reports a refusal
 * (the host cannot provide the tier) through the job's outcome, after the service may already have
 * recorded `running`. `preempted` is not terminal: a preempted job goes back to the queue.
 */
import type { JobState } from '../contract/job-schemas.ts';
import { AppError } from '../core/errors.ts';
import type { OutcomeKind } from '../executors/executor-contract.ts';

export const jobEvents = [
  'admit',
  'start',
  'succeed',
  'fail',
  'oom_kill',
  'time_out',
  'cancel',
  'preempt',
  'refuse',
  'requeue',
] as const;

export type JobEvent = (typeof jobEvents)[number];

/**
 * The whole transition table: for each state, the events it accepts and where they lead. Anything not
 * listed is rejected. Kept as data so tests can walk every (state, event) pair.
 */
const table: { readonly [S in JobState]: Partial<Record<JobEvent, JobState>> } = {
  queued: { admit: 'admitted', cancel: 'cancelled', refuse: 'refused' },
  admitted: { start: 'running', cancel: 'cancelled', preempt: 'preempted', refuse: 'refused' },
  running: {
    succeed: 'succeeded',
    fail: 'failed',
    oom_kill: 'oom_killed',
    time_out: 'timed_out',
    cancel: 'cancelled',
    preempt: 'preempted',
    refuse: 'refused',
  },
  preempted: { requeue: 'queued', cancel: 'cancelled' },
  succeeded: {},
  failed: {},
  oom_killed: {},
  timed_out: {},
  cancelled: {},
  refused: {},
};

export type TransitionResult = { ok: true; state: JobState } | { ok: false; error: AppError };

/**
 * Applies `event` to a job in state `from`.
 * Never throws: an event the state does not accept returns `{ ok: false }` with a `CONFLICT` AppError
 * (the job exists but is in the wrong state for this request, e.g. cancelling a finished job).
 */
export function transition(from: JobState, event: JobEvent): TransitionResult {
  const to = table[from][event];
  if (to === undefined) {
    return {
      ok: false,
      error: new AppError('CONFLICT', `a ${from} job cannot ${event.replace('_', ' ')}`, {
        details: { from, event },
      }),
    };
  }
  return { ok: true, state: to };
}

/** The events `state` accepts, in table order (for UIs and for "what can I do with this job"). */
export function allowedJobEvents(state: JobState): JobEvent[] {
  return jobEvents.filter((event) => table[state][event] !== undefined);
}

/** The event that records an executor outcome. Exhaustive: a new outcome kind fails to compile here. */
export function eventForOutcome(kind: OutcomeKind): JobEvent {
  switch (kind) {
    case 'succeeded':
      return 'succeed';
    case 'failed':
      return 'fail';
    case 'oom_killed':
      return 'oom_kill';
    case 'timed_out':
      return 'time_out';
    case 'cancelled':
      return 'cancel';
    case 'preempted':
      return 'preempt';
    case 'refused':
      return 'refuse';
  }
}
