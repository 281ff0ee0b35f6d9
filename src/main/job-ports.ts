import type { JobTrackingPort } from '../jobs/job-runner.ts';
import type { TrackingService } from '../tracking/index.ts';
import { isMlflowError } from '../tracking/index.ts';

const scopeOf = (tenantId: string) => ({ tenantId, actor: 'system:jobs', requestId: 'jobs' });

/**
 * Gives each job an MLflow run in the tenant's experiment (created on first use), so MLflow-style
 * logging from inside the job lands in the tenant's own tracking data.
 */
export const createJobTrackingPort = (tracking: TrackingService): JobTrackingPort => ({
  async createRun(tenantId, input) {
    const scope = scopeOf(tenantId);
    let experimentId: string;
    try {
      experimentId = (await tracking.getExperimentByName(scope, input.experimentName)).experiment_id;
    } catch (error) {
      if (!isMlflowError(error) || error.errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw error;
      try {
        experimentId = await tracking.createExperiment(scope, { name: input.experimentName });
      } catch (raced) {
        // Two jobs of one tenant starting at once: the other created it.
        if (!isMlflowError(raced) || raced.errorCode !== 'RESOURCE_ALREADY_EXISTS') throw raced;
        experimentId = (await tracking.getExperimentByName(scope, input.experimentName)).experiment_id;
      }
    }
    const run = await tracking.createRun(scope, {
      experiment_id: experimentId,
      run_name: input.runName,
      tags: Object.entries(input.tags).map(([key, value]) => ({ key, value })),
    });
    return { runId: run.info.run_id, experimentId: run.info.experiment_id };
  },
  async finishRun(tenantId, runId, status) {
    await tracking.updateRun(scopeOf(tenantId), runId, { status, end_time: Date.now() });
  },
});
