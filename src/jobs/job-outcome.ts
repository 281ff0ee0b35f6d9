/**
 * From an executor's outcome to a job's final state: the one exhaustive switch over outcomes. Pure, so
 * every kind is unit-tested; the runner applies the verdict (transition, log line, MLflow run status).
 */
import type { Job } from '../contract/job-schemas.ts';
import type { Outcome } from '../executors/executor-contract.ts';
import { eventForOutcome } from './job-state.ts';
import type { JobEvent } from './job-state.ts';

export interface OutcomeVerdict {
  /** The transition that records the outcome (from `running`; `cancel`/`refuse` also from earlier states). */
  event: JobEvent;
  exitCode: number | null;
  /** What the job's log and record say, or null for a success. */
  reason: string | null;
  /** How the job's MLflow run ends; undefined for a preemption (the job is requeued and runs again). */
  runStatus: 'FINISHED' | 'FAILED' | 'KILLED' | undefined;
}

/** The final state an outcome records, what the job's log says, and how its MLflow run ends. One exhaustive switch. */
export const outcomeVerdict = (job: Pick<Job, 'resources'>, outcome: Outcome): OutcomeVerdict => ({ event: eventForOutcome(outcome.kind), ...describe(job, outcome) });

const describe = (job: Pick<Job, 'resources'>, outcome: Outcome): Omit<OutcomeVerdict, 'event'> => {
  switch (outcome.kind) {
    case 'succeeded': return { exitCode: 0, reason: null, runStatus: 'FINISHED' };
    case 'failed': return { exitCode: outcome.exitCode, reason: outcome.signal === undefined ? `exited with code ${String(outcome.exitCode)}` : `killed by ${outcome.signal}`, runStatus: 'FAILED' };
    case 'oom_killed': return { exitCode: null, reason: `ran out of memory: exceeded its limit of ${job.resources.memoryMiB} MiB and was killed`, runStatus: 'FAILED' };
    case 'timed_out': return { exitCode: null, reason: `exceeded its timeout of ${job.resources.timeoutSeconds}s and was killed`, runStatus: 'FAILED' };
    case 'cancelled': return { exitCode: null, reason: 'cancelled', runStatus: 'KILLED' };
    case 'preempted': return { exitCode: null, reason: 'preempted to return borrowed capacity to its owner; requeued', runStatus: undefined };
    case 'refused': return { exitCode: null, reason: outcome.reason, runStatus: 'FAILED' };
    default: {
      const unreachable: never = outcome;
      throw new Error(`unhandled outcome ${JSON.stringify(unreachable)}`);
    }
  }
};


/**
 * The sandbox policy violations an outcome's usage reports (the local executor's counters of the job's
 * network namespace: connects and sends that tried to leave it), or undefined when there were none. The
 * job store audits them as `sandbox.violation` in the transaction that records the outcome.
 */
export const sandboxViolationOf = (usage: Record<string, unknown> | null | undefined): Record<string, number> | undefined => {
  const denied = usage?.['deniedNetwork'];
  if (denied === null || typeof denied !== 'object') return undefined;
  const counts: Record<string, number> = {};
  for (const name of ['refusedConnects', 'unroutableSends', 'closedPortDatagrams'] as const) {
    const value = (denied as Record<string, unknown>)[name];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) counts[name] = value;
  }
  return Object.keys(counts).length === 0 ? undefined : counts;
};
