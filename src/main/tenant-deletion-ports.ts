import type { TenantStorage } from '../artifacts/index.ts';
import { readdir, lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.ts';
import { isUuid, readAsSystem } from '../db/index.ts';
import type { Db } from '../db/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { JobRunner } from '../jobs/index.ts';
import type { JobStore } from '../jobs/index.ts';
import type { DeploymentService } from '../serving/index.ts';
import { findPlaintextFiles, servingRoots } from '../serving/index.ts';
import { defaultQuota } from '../tenants/index.ts';
import type { Tenant, TenantDeletionPorts, TenantFiles, TenantSuspensionPorts } from '../tenants/index.ts';
import { deleteTenant, tenantNamespace } from '../executors/kubernetes/index.ts';
import type { ClusterConfig, KubernetesClient } from '../executors/kubernetes/index.ts';

/** Regular files under `dir` and their bytes; symlinks are neither followed nor counted; a missing dir is empty. */
const measureDir = async (dir: string): Promise<TenantFiles> => {
  const total: TenantFiles = { bytes: 0, files: 0 };
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        total.bytes += (await lstat(full)).size;
        total.files += 1;
      }
    }
  };
  await walk(dir);
  return total;
};

const checkTenantId = (tenantId: string): void => {
  // The id becomes a path component below: only ever a UUID.
  if (!isUuid(tenantId)) throw new AppError('INTERNAL', 'tenant deletion called with a malformed tenant id');
};

/**
 * Connects tenant deletion to the job system, serving, the blob directories and (when configured) the
 * Kubernetes cluster.
 */
export const createTenantDeletionPorts = (deps: {
  jobs: { store: JobStore; runner: JobRunner; jobsDir: string };
  deployments: DeploymentService;
  identity: IdentityService;
  /** `$BULKHEAD_HOME/blobs`: one directory per tenant id (artifacts/blob-files.ts). */
  blobRoot: string;
  /** Its cache of unwrapped data keys is cleared for the deleted tenant. */
  storage?: Pick<TenantStorage, 'forgetTenant'>;
  cluster?: { client: KubernetesClient; config: ClusterConfig } | undefined;
  /** The image store (issue 17): after the tenant's image rows are gone, files only they referenced are collected. */
  images?: { collectGarbage(): Promise<unknown> } | undefined;
  /**
   * Where plaintext copies of the tenant's models are looked for: `home` ($BULKHEAD_HOME, less its
   * ciphertext and database directories) and the serving roots `<tmpDir>/bhs-*` (tmpDir default /tmp).
   */
  plaintext: { db: Db; home: string; tmpDir?: string };
}): TenantDeletionPorts => {
  const { store, runner, jobsDir } = deps.jobs;
  const namespaceOf = (tenant: Tenant, config: ClusterConfig): string =>
    // The namespace name depends on the prefix and the slug only; the quota in the spec is not read.
    tenantNamespace({ ...tenant, quota: defaultQuota }, config);

  return {
    jobs: {
      async cancelAll(ctx, tenantId) {
        let asked = 0;
        for (const job of await store.listActive(tenantId)) {
          try {
            await store.requestCancel(ctx, tenantId, job.id);
          } catch (error) {
            // It ended (or was cancelled) between the list and the request: nothing left to ask.
            if (error instanceof AppError && (error.code === 'CONFLICT' || error.code === 'NOT_FOUND')) continue;
            throw error;
          }
          // A job running in this process is killed now; one running in another server is cancelled by
          // that server's runner on its next tick (it reads cancel_requested).
          runner.cancel(job.id);
          asked += 1;
        }
        return asked;
      },
      async countActive(tenantId) {
        const ids = new Set((await store.listActive(tenantId)).map((job) => job.id));
        for (const id of runner.liveJobsOf(tenantId)) ids.add(id);
        return ids.size;
      },
    },
    deployments: {
      count: async (tenantId) => (await deps.deployments.list(tenantId)).length,
      async stopAll(tenantId) {
        // Replicas stop here; the deployment rows (and their logs) stay for the data transaction, so the
        // deletion's row counts are the plan's. Nothing is logged: a log line would be a row the plan lacked.
        const count = (await deps.deployments.list(tenantId)).length;
        await deps.deployments.pauseTenant(tenantId);
        return count;
      },
    },
    files: {
      measure: async (tenantId) => {
        checkTenantId(tenantId);
        return measureDir(join(deps.blobRoot, tenantId));
      },
      async remove(tenantId) {
        checkTenantId(tenantId);
        const blobDir = join(deps.blobRoot, tenantId);
        const found = await measureDir(blobDir);
        // rm does not follow symlinks: a link planted in place of a directory is removed, not its target.
        await rm(blobDir, { recursive: true, force: true });
        await rm(join(jobsDir, tenantId), { recursive: true, force: true });
        // Images are shared by digest across tenants: only what no other tenant, public image or active job uses goes.
        await deps.images?.collectGarbage();
        return found;
      },
    },
    cluster: deps.cluster === undefined ? undefined : {
      namespaceOf: (tenant) => namespaceOf(tenant, deps.cluster!.config),
      deleteTenant: async (tenant) =>
        (await deleteTenant(deps.cluster!.client, { tenantId: tenant.id, namespace: namespaceOf(tenant, deps.cluster!.config) })).deleted,
    },
    async wipeModelPlaintext(tenantId) {
      checkTenantId(tenantId);
      const { db, home, tmpDir } = deps.plaintext;
      // The artifact digest is the SHA-256 of the plaintext (artifacts are content-addressed).
      const { rows } = await readAsSystem<{ digest: string; size: string | number }>(db,
        `SELECT DISTINCT digest, size FROM artifact_files WHERE tenant_id = $1 AND path LIKE '%.onnx'`, [tenantId]);
      const wanted = rows.map((row) => ({ digest: row.digest, size: Number(row.size) }));
      const roots = [home, ...(await servingRoots(tmpDir))];
      const skip = [deps.blobRoot, join(home, 'db')];
      const found = await findPlaintextFiles(roots, wanted, skip);
      for (const path of found) await rm(path, { force: true }).catch(() => {});
      const remaining = await findPlaintextFiles(roots, wanted, skip);
      return { models: wanted.length, filesRemoved: found.length - remaining.length, filesRemaining: remaining.length };
    },
    forgetCredentials: (tenantId) => {
      deps.identity.forgetTenant(tenantId);
      deps.storage?.forgetTenant(tenantId);
    },
  };
};

/**
 * Connects suspension to the job system and serving: running jobs are cancelled here and, in another
 * server process, by that process's runner on its next tick (it reads cancel_requested).
 */
export const createTenantSuspensionPorts = (deps: {
  jobs: { store: JobStore; runner: JobRunner };
  deployments: DeploymentService;
}): TenantSuspensionPorts => ({
  jobs: {
    async cancelRunning(ctx, tenantId) {
      let asked = 0;
      for (const job of await deps.jobs.store.listActive(tenantId)) {
        // Queued (and preempted, about to be requeued) jobs wait: the runner admits no suspended tenant's job.
        if (job.status !== 'admitted' && job.status !== 'running') continue;
        try {
          await deps.jobs.store.requestCancel(ctx, tenantId, job.id);
        } catch (error) {
          if (error instanceof AppError && (error.code === 'CONFLICT' || error.code === 'NOT_FOUND')) continue;
          throw error;
        }
        deps.jobs.runner.cancel(job.id);
        asked += 1;
      }
      return asked;
    },
  },
  deployments: {
    pause: (tenantId) => deps.deployments.pauseTenant(tenantId, 'stopped: the tenant is suspended'),
    resume: (tenantId) => deps.deployments.resumeTenant(tenantId),
  },
});
