import type { JobTrackingPort } from '../jobs/index.ts';
import type { TrackingService } from '../tracking/index.ts';
import { isAppError } from '../core/errors.ts';

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
      if (!isAppError(error) || error.code !== 'NOT_FOUND') throw error;
      try {
        experimentId = await tracking.createExperiment(scope, { name: input.experimentName });
      } catch (raced) {
        // Two jobs of one tenant starting at once: the other created it.
        if (!isAppError(raced) || raced.code !== 'CONFLICT') throw raced;
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

import { constants } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { extractBundle, isTarBundle } from '../core/code-bundle.ts';
import type { ArtifactService } from '../artifacts/index.ts';
import type { DatasetService } from '../datasets/index.ts';
import type { JobStoragePort } from '../jobs/index.ts';
import { chargeBytes, throttled } from '../bandwidth/index.ts';
import type { BandwidthLimiter } from '../bandwidth/index.ts';

/**
 * Connects jobs to the encrypted artifact store: datasets and code bundles are decrypted into the job's
 * private directories; what the job leaves in /outputs is stored as the tenant's artifacts under its run.
 * Outputs are written by the job, so they are read without following links: only regular files count.
 */
export const createJobStoragePort = (artifacts: ArtifactService, datasets: DatasetService, bandwidth?: BandwidthLimiter): JobStoragePort => ({
  async materializeDataset(tenantId, name, version, dir) {
    // The dataset leaves the store for the job: its bytes are paid for at the tenant's egress rate first.
    if (bandwidth !== undefined) await chargeBytes(bandwidth, tenantId, 'egress', (await datasets.getVersion(tenantId, name, version)).totalBytes);
    const materialized = await datasets.materializeDatasetVersion(tenantId, name, version, dir);
    return { digest: materialized.digest };
  },
  async materializeCodeBundle(tenantId, ref, dir) {
    const opened = await artifacts.openArtifact(tenantId, ref);
    const { file } = opened;
    // The bundle leaves the store for the job: the tenant's egress quota, as if it were downloaded.
    const stream = bandwidth === undefined ? opened.stream : throttled(bandwidth, tenantId, 'egress', opened.stream);
    await mkdir(dir, { recursive: true });
    if (isTarBundle(ref)) {
      await pipeline(stream, extractBundle(dir));
    } else {
      await pipeline(stream, createWriteStream(join(dir, basename(ref)), { flags: 'wx', mode: 0o444 }));
    }
    return { digest: file.digest };
  },
  async listUploadedOutputs(tenantId, job) {
    if (job.runId === null || job.experimentId === null) return [];
    const files = await artifacts.listArtifactFiles(tenantId, `${job.experimentId}/${job.runId}/artifacts/outputs`);
    return files.map((file) => ({ path: file.path, size: file.size }));
  },
  async storeOutputs(tenantId, job, dir) {
    const prefix = job.runId !== null && job.experimentId !== null ? `${job.experimentId}/${job.runId}/artifacts/outputs` : `jobs/${job.id}/outputs`;
    const stored: Array<{ path: string; size: number }> = [];
    const walk = async (current: string, depth: number): Promise<void> => {
      if (depth > 32) return;
      for (const entry of await readdir(current, { withFileTypes: true })) {
        const full = join(current, entry.name);
        if (entry.isDirectory()) await walk(full, depth + 1);
        if (!entry.isFile()) continue; // symlinks, sockets, fifos: never followed, never read
        const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        try {
          const path = `${prefix}/${relative(dir, full)}`;
          // Outputs enter the store from the job: the tenant's ingress quota, as if they were uploaded.
          const read = handle.createReadStream({ autoClose: false });
          const saved = await artifacts.putArtifact({ actor: `job:${job.id}`, requestId: `job-${job.id}` }, tenantId, path, bandwidth === undefined ? read : throttled(bandwidth, tenantId, 'ingress', read));
          stored.push({ path: saved.path, size: saved.size });
        } finally {
          await handle.close();
        }
      }
    };
    await walk(dir, 0);
    return stored;
  },
});

