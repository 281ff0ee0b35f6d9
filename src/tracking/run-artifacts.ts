/**
 * A run's artifacts, addressed by run id (MLflow's `artifacts/list` and `get-artifact`): the files under
 * the run's artifact root (`artifact_uri` without `mlflow-artifacts:/`) in the tenant's artifact store.
 * For a run of another tenant's experiment shared with the caller (issue 15) the same reads run in
 * withSharedRead transactions: the database admits the run (runs' shared_read policy, 0022) and exactly
 * the files under the artifact roots of shared runs (artifact_files' shared_read policy, 0034); the blob
 * is decrypted with the owner's key by the artifact service. Every shared read is audited in both chains.
 * Any other run — the owner's runs outside the shared experiment included — is RESOURCE_DOES_NOT_EXIST.
 */
import type { Readable } from 'node:stream';
import type { ArtifactFile, ArtifactService } from '../artifacts/index.ts';
import { normalizeArtifactPath } from '../contract/artifact-paths.ts';
import { isAppError } from '../core/errors.ts';
import type { Db } from '../db/index.ts';
import { withSharedRead, withTenant } from '../db/index.ts';
import { mlflowErrors } from './mlflow-errors.ts';
import { findRunOwner } from './tracking-queries.ts';
import { auditSharedRead } from '../sharing/index.ts';
import type { SharedReader } from '../sharing/index.ts';

const RUN_ID = /^[0-9a-f]{32}$/;
const SCHEME = 'mlflow-artifacts:/';

export interface RunArtifactEntry {
  /** Relative to the run's artifact root, as MLflow lists them. */
  path: string;
  isDir: boolean;
  size: number | undefined;
}

interface RunLocation {
  /** undefined for the caller's own run. */
  owner: { id: string; slug: string } | undefined;
  experimentId: string;
  artifactUri: string;
  /** The artifact root inside the store; undefined when the run's artifacts live elsewhere. */
  root: string | undefined;
}

const runNotFound = (runId: string) => mlflowErrors.notFound(`Run with id=${runId.slice(0, 100)} not found`);
const artifactNotFound = (path: string) => mlflowErrors.notFound(`Artifact '${path.slice(0, 300)}' not found`);

const rootOf = (artifactUri: string): string | undefined =>
  artifactUri.startsWith(SCHEME) ? artifactUri.slice(SCHEME.length).replace(/\/+$/, '') : undefined;

export const createRunArtifactService = (deps: { db: Db; artifacts: ArtifactService }) => {
  const { db, artifacts } = deps;

  const locate = async (scope: SharedReader, runId: string): Promise<RunLocation> => {
    if (!RUN_ID.test(runId)) throw runNotFound(runId);
    const sql = 'SELECT experiment_id, artifact_uri FROM runs WHERE tenant_id = $1 AND id = $2';
    const own = (await withTenant(db, scope.tenantId, async (tx) => (await tx.query<{ experiment_id: string; artifact_uri: string }>(sql, [scope.tenantId, runId])).rows[0], { readOnly: true }));
    if (own !== undefined) return { owner: undefined, experimentId: String(own.experiment_id), artifactUri: own.artifact_uri, root: rootOf(own.artifact_uri) };
    // Whose run it is (a system read of the owner only); whether the caller may see it is the database's
    // answer in the shared-read transaction below.
    const owner = await findRunOwner(db, runId);
    if (owner === undefined || owner.tenant_id === scope.tenantId) throw runNotFound(runId);
    const shared = await withSharedRead(db, scope.tenantId, owner.tenant_id, async (tx) => (await tx.query<{ experiment_id: string; artifact_uri: string }>(sql, [owner.tenant_id, runId])).rows[0]);
    if (shared === undefined) throw runNotFound(runId);
    return { owner: { id: owner.tenant_id, slug: owner.slug }, experimentId: String(shared.experiment_id), artifactUri: shared.artifact_uri, root: rootOf(shared.artifact_uri) };
  };

  const audit = (scope: SharedReader, run: RunLocation, runId: string, via: string, path: string): Promise<void> =>
    run.owner === undefined ? Promise.resolve() : auditSharedRead(db, scope, run.owner.id, `experiment:${run.owner.slug}/${run.experimentId}`, { runId, via, path });

  return {
    /**
     * artifacts/list: the immediate children of `path` (relative to the run's root; '' = the root). The
     * path is normalized first (VALIDATION_FAILED for '..', absolute paths and the like), so it cannot
     * leave the run's root; the database checks again for a shared run.
     */
    async list(scope: SharedReader, runId: string, rawPath: string): Promise<{ rootUri: string; files: RunArtifactEntry[] }> {
      const relative = normalizeArtifactPath(rawPath, { allowRoot: true });
      const run = await locate(scope, runId);
      const directory = run.root === undefined ? undefined : [run.root, relative].filter((p) => p !== '').join('/');
      const entries = directory === undefined ? []
        : run.owner === undefined ? await artifacts.listArtifacts(scope.tenantId, directory)
          : await artifacts.listSharedArtifacts(scope.tenantId, run.owner.id, directory);
      await audit(scope, run, runId, 'artifacts/list', relative);
      return {
        rootUri: run.artifactUri,
        files: entries.map((entry) => ({ path: relative === '' ? entry.name : `${relative}/${entry.name}`, isDir: entry.isDir, size: entry.size })),
      };
    },

    /** get-artifact: one file of the run and its (decrypted) content; RESOURCE_DOES_NOT_EXIST when missing or not admitted. */
    async open(scope: SharedReader, runId: string, rawPath: string): Promise<{ file: ArtifactFile; stream: Readable }> {
      const relative = normalizeArtifactPath(rawPath);
      const run = await locate(scope, runId);
      if (run.root === undefined) throw artifactNotFound(relative);
      const path = run.root === '' ? relative : `${run.root}/${relative}`;
      const found = await (run.owner === undefined ? artifacts.openArtifact(scope.tenantId, path) : artifacts.openSharedArtifact(scope.tenantId, run.owner.id, path))
        .catch((error: unknown) => {
          if (isAppError(error) && error.code === 'NOT_FOUND') throw artifactNotFound(relative);
          throw error;
        });
      try {
        await audit(scope, run, runId, 'get-artifact', relative);
      } catch (error) {
        found.stream.destroy();
        throw error;
      }
      return found;
    },
  };
};

export type RunArtifactService = ReturnType<typeof createRunArtifactService>;
