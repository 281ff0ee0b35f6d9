/**
 * A cluster execution the test drives by hand: every started job is recorded as a submission that the test
 * ends with the outcome it wants; preemptions and cancellations settle at once (and are recorded).
 */
import type { ClusterExecution } from '../../src/jobs/index.ts';
import type { Outcome, RunningJob } from '../../src/executors/executor-contract.ts';

export interface Submission { jobId: string; tenantSlug: string; preempted: boolean; end(outcome: Omit<Outcome, 'usage'>): void }

export const scriptedCluster = () => {
  const submissions: Submission[] = [];
  const execution: ClusterExecution = {
    kueue: false,
    async ensureTenant() {},
    start(run): RunningJob {
      let settle!: (outcome: Outcome) => void;
      const outcome = new Promise<Outcome>((resolve) => {
        settle = resolve;
      });
      const submission: Submission = { jobId: run.job.id, tenantSlug: run.tenant.slug, preempted: false, end: (o) => settle({ ...o, usage: { wallMs: 5 } } as Outcome) };
      submissions.push(submission);
      return {
        jobId: run.job.id,
        wait: () => outcome,
        cancel: () => settle({ kind: 'cancelled', usage: { wallMs: 5 } }),
        preempt: () => {
          submission.preempted = true;
          settle({ kind: 'preempted', usage: { wallMs: 5 } });
        },
      };
    },
  };
  return { execution, submissions };
};
