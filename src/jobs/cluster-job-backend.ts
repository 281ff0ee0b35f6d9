/**
 * Jobs on a Kubernetes cluster (BULKHEAD_EXECUTOR=kubernetes): the job backend over the `ClusterExecution`
 * port. With Kueue the job is still `queued` when it is launched: Kueue's admission makes it `admitted`,
 * its pod running makes it `running`. Without Kueue it arrives admitted. Code bundles and datasets are
 * fetched by the pod's init container through the API with the job token; outputs are what the job
 * uploaded under its run.
 */
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { HostExecutor, HostProbe } from '../executors/host-executor-contract.ts';
import type { IdentityService } from '../identity/index.ts';
import type { ClusterExecution, JobBackend, JobStoragePort, JobTrackingPort } from './job-backend.ts';
import { createJobRun } from './job-backend.ts';

const backendContext: RequestContext = { actor: 'system:scheduler', requestId: 'scheduler' };

export interface ClusterJobBackendOptions {
  cluster: ClusterExecution;
  identity: Pick<IdentityService, 'createToken' | 'revokeToken'>;
  /** This host's executor: it runs no job here, but its probe is the host's and it reaps leftover cgroups. */
  host: Pick<HostExecutor, 'probe' | 'reapOrphans'>;
  storage?: JobStoragePort | undefined;
  tracking?: JobTrackingPort | undefined;
  log: { error(obj: object, msg: string): void };
}

export const createClusterJobBackend = (options: ClusterJobBackendOptions): JobBackend => {
  const { cluster, identity, storage } = options;
  let probe: HostProbe | undefined;
  return {
    admission: cluster.kueue ? 'kueue' : 'bulkhead',
    placement: 'cluster',
    launchFailure: 'the platform could not submit the job to the cluster',
    refusal: async () => undefined,
    async launch(job, tenant, quota, _grant, ctx) {
      // The Indexed Job + headless Service + NetworkPolicy of a gang are rendered (kubernetes
      // gang-manifest.ts) but not yet applied by the cluster executor: refuse rather than run one pod.
      if (job.workers > 1) throw new AppError('UNAVAILABLE', 'gang jobs (workers > 1) do not run on the Kubernetes backend yet; run them on a local executor');
      let tokenId: string | undefined;
      const release = async () => {
        if (tokenId !== undefined) await identity.revokeToken(backendContext, job.tenantId, tokenId).catch(() => {});
      };
      try {
        await cluster.ensureTenant(tenant, quota);
        const { runId, experimentId } = await createJobRun(options.tracking, job);
        // Valid while the job may wait in Kueue's queue and run; revoked when it ends.
        const created = await identity.createToken(backendContext, job.tenantId, { name: `job-${job.id}`, role: 'member', kind: 'job', jobId: job.id, expiresInSeconds: 7 * 24 * 3600 + job.resources.timeoutSeconds });
        tokenId = created.record.id;
        const run = { runId, experimentId, codeDigest: null };
        const env: Record<string, string> = { ...job.env };
        if (runId !== null) env['MLFLOW_RUN_ID'] = runId;
        if (experimentId !== null) env['MLFLOW_EXPERIMENT_ID'] = experimentId;
        if (ctx.cancelling()) throw new AppError('CONFLICT', 'cancelled while starting');
        const ran = { ...job, runId, experimentId };
        return {
          handle: cluster.start({
            job, tenant, quota, token: created.token, env,
            output: (line) => ctx.log(line.stream, line.line),
            onProgress: (progress) => {
              ctx.progress(progress, run).catch((error: unknown) => options.log.error({ err: error, jobId: job.id }, 'could not record cluster progress'));
            },
          }),
          run,
          scope: { runId, experimentId, inputs: { codeBundle: job.codeBundle, datasets: job.datasets } },
          // A cluster job has no host directory: its outputs are what it uploaded under its run's outputs/.
          collectOutputs: async () => (storage === undefined ? [] : storage.listUploadedOutputs(job.tenantId, ran)),
          endAccess: release,
          release,
        };
      } catch (error) {
        await release();
        throw error;
      }
    },
    hostProbe: async () => (probe ??= await options.host.probe()),
    reapOrphans: async () => {
      await options.host.reapOrphans([]);
    },
  };
};
