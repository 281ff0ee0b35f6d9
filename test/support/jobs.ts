/** Running a job through a test platform's API to its end, driving the runner by hand. */
import assert from 'node:assert/strict';
import type { TestPlatform, TestTenant } from './platform.ts';
import { waitFor } from './wait.ts';

export const terminalJobStates: ReadonlySet<string> = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

/** A job's log as its tenant's viewer reads it. */
export const jobLogs = async (p: TestPlatform, t: TestTenant, jobId: string): Promise<string> =>
  (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${t.slug}/jobs/${jobId}/logs`, headers: { authorization: `Bearer ${t.tokens.viewer}` } })).body;

/**
 * Submits `python3 -c code` as the tenant's member (0.5 CPU, 256 MiB, 60 s unless `resources` says
 * otherwise), ticks the runner until the job is in a final state, and returns the job and its log.
 */
export const runPythonJob = async (
  p: TestPlatform, t: TestTenant, code: string, resources: Record<string, unknown> = {},
): Promise<{ job: Record<string, any>; logs: string }> => {
  const created = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, {
    command: ['python3', '-c', code], resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60, ...resources },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = String(created.body.id);
  const job = await waitFor(`job ${id}`, async () => {
    await p.platform.jobs.runner.tick();
    const j = (await p.call('GET', `/api/v1/tenants/${t.slug}/jobs/${id}`, t.tokens.viewer)).body;
    return terminalJobStates.has(j.status) ? j : undefined;
  }, 60_000, 100);
  return { job, logs: await jobLogs(p, t, id) };
};
