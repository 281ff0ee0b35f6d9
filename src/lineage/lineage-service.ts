import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { AppError, isAppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { withTenant } from '../db/index.ts';
import { listOwnUsesOfShared, listUsesOfOwnObject, otherTenantIdBySlug } from '../sharing/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { ArtifactService } from '../artifacts/index.ts';
import type { DatasetService } from '../datasets/index.ts';
import type { Job } from '../contract/job-schemas.ts';
import type { DatasetLineage, LineageDataset, ModelLineage, RegisteredFromJob as RegisteredFromJobView } from '../contract/lineage-views.ts';
import { toJob } from '../jobs/index.ts';
import type { JobStore } from '../jobs/index.ts';
import { buildLogisticRegressionOnnx, parseLogisticRegressionJson } from '../onnx/index.ts';
import type { ModelVersionJson, RegistryService, TrackingScope, TrackingService } from '../tracking/index.ts';

type JobRow = Parameters<typeof toJob>[0];

/** What registering a job's model answers: the MLflow model version (its full JSON) and the lineage recorded. */
export type RegisteredFromJob = Omit<RegisteredFromJobView, 'model'> & { model: ModelVersionJson };

interface LineageRow {
  model_name: string;
  model_version: number;
  job_id: string | null;
  run_id: string | null;
  experiment_id: string | null;
  datasets: LineageDataset[];
  code_bundle: string | null;
  code_digest: string | null;
  params: Record<string, string>;
  source: string;
  recorded_via: string;
  recorded_by: string;
  recorded_at: Date | string;
}

const MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024;

export const lineageErrors = {
  jobNotFound: (id: string) => new AppError('NOT_FOUND', `job '${id}' not found`),
  notRegistrable: (job: Job) => new AppError('CONFLICT', `job '${job.id}' is ${job.status}; only a succeeded job's outputs can be registered`),
  noRun: (job: Job) => new AppError('CONFLICT', `job '${job.id}' has no MLflow run`),
  noModel: (job: Job) => new AppError('VALIDATION_FAILED', `job '${job.id}' left no model.onnx or model.json in /outputs; pass path`),
  pathNotOutput: (path: string) => new AppError('VALIDATION_FAILED', `'${path.slice(0, 200)}' is not one of the job's outputs`),
  unsupported: (path: string) => new AppError('VALIDATION_FAILED', `'${path.slice(0, 200)}' is neither an .onnx file nor a logistic-regression model.json`),
  badModelJson: (message: string) => new AppError('VALIDATION_FAILED', `the job's model.json cannot be converted to ONNX: ${message}`),
  onnxTaken: (path: string) => new AppError('CONFLICT', `'${path.slice(0, 200)}' is already one of the job's outputs; register it directly`),
};

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

const readAll = async (stream: Readable, limit: number): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw lineageErrors.badModelJson(`larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
};

/**
 * Model lineage: one row per model version naming the job and run that produced it, the dataset
 * versions (with digests) the job read, its code bundle digest and the run's parameters. Every read and
 * write runs in `withTenant` (row-level security); another tenant's job, model or dataset is NOT_FOUND.
 */
export const createLineageService = (deps: {
  db: Db;
  registry: RegistryService;
  tracking: TrackingService;
  datasets: DatasetService;
  artifacts: ArtifactService;
  jobs: JobStore;
  log?: { error(obj: object, msg: string): void };
}) => {
  const { db } = deps;

  const jobByRunIn = async (tx: Queryable, runId: string): Promise<Job | undefined> => {
    const row = (await tx.query<JobRow>('SELECT * FROM jobs WHERE run_id = $1 ORDER BY created_at DESC LIMIT 1', [runId])).rows[0];
    return row === undefined ? undefined : toJob(row);
  };

  const jobByRun = (tenantId: string, runId: string) => withTenant(db, tenantId, (tx) => jobByRunIn(tx, runId), { readOnly: true });

  /** What a job's lineage is made of, read now: dataset digests and the run's parameters. */
  const upstreamOf = async (scope: TrackingScope, job: Job) => {
    const datasets: LineageDataset[] = [];
    for (const ref of job.datasets) {
      let digest: string | null = null;
      try {
        digest = (await deps.datasets.getVersion(scope.tenantId, ref.name, ref.version)).digest;
      } catch {
        // Unreadable now (should not happen: versions are immutable); the name and version still count.
      }
      datasets.push({ name: ref.name, version: ref.version, digest });
    }
    let params: Record<string, string> = {};
    if (job.runId !== null) {
      try {
        const run = await deps.tracking.getRun(scope, job.runId);
        params = Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));
      } catch {
        // The run was deleted: no parameters to record.
      }
    }
    return { datasets, params };
  };

  /**
   * Records the lineage of model version `name`/`version` as coming from `job` (looked up by the
   * version's run when not given). Returns false when the run is no job's (nothing to record) or the
   * version already has lineage. Audited in the same transaction as the insert.
   */
  const record = async (
    scope: TrackingScope,
    version: { name: string; version: number; source: string; runId: string | null },
    via: 'register-from-job' | 'model-version-create',
    givenJob?: Job,
  ): Promise<boolean> => {
    const job = givenJob ?? (version.runId === null ? undefined : await jobByRun(scope.tenantId, version.runId));
    if (job === undefined) return false;
    const { datasets, params } = await upstreamOf(scope, job);
    return withTenant(db, scope.tenantId, async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO model_lineage (tenant_id, model_name, model_version, job_id, run_id, experiment_id, datasets, code_bundle, code_digest, params, source, recorded_via, recorded_by)
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13)
         ON CONFLICT (tenant_id, model_name, model_version) DO NOTHING RETURNING model_version`,
        [scope.tenantId, version.name, version.version, job.id, job.runId, job.experimentId, JSON.stringify(datasets), job.codeBundle, job.codeDigest,
          JSON.stringify(params), version.source, via, scope.actor],
      );
      if (inserted.rows.length === 0) return false;
      await appendAuditEvent(tx, {
        tenantId: scope.tenantId, actor: scope.actor, action: 'models.lineage.record', target: `model:${version.name}/${version.version}`,
        outcome: 'success', requestId: scope.requestId,
        details: { jobId: job.id, runId: job.runId, via, datasets: datasets.map((d) => `${d.name}:${d.version}`) },
      });
      return true;
    });
  };

  const modelVersionsOf = async (tx: Queryable, dataset: { name: string; version: number }): Promise<LineageRow[]> =>
    (await tx.query<LineageRow>(
      'SELECT * FROM model_lineage WHERE datasets @> $1::jsonb ORDER BY model_name, model_version',
      [JSON.stringify([{ name: dataset.name, version: dataset.version }])],
    )).rows;

  const modelLineage = async (scope: TrackingScope, name: string, rawVersion: string | number): Promise<ModelLineage> => {
    const found = await readModelLineage(scope, name, rawVersion);
    // Self-healing: a version created from a job's run whose lineage was not recorded (the server stopped
    // between the two commits, or recording failed) gets it recorded now, from the job as it is.
    if (!found.recorded && found.upstream.job !== null) {
      const job = await jobByRun(scope.tenantId, found.upstream.run?.id ?? '');
      if (job !== undefined && (await record(scope, { name: found.model.name, version: found.model.version, source: found.model.source, runId: found.model.runId }, 'model-version-create', job).catch(() => false))) {
        return readModelLineage(scope, name, rawVersion);
      }
    }
    return found;
  };

  /** The owner of `{owner}/{name}` when it names another existing tenant (issue 15); undefined otherwise. */
  const sharedOwnerOf = async (tenantId: string, qualified: string): Promise<{ ownerId: string; owner: string; name: string } | undefined> => {
    const slash = qualified.indexOf('/');
    if (slash <= 0) return undefined;
    const owner = qualified.slice(0, slash);
    const ownerId = await otherTenantIdBySlug(db, tenantId, owner);
    return ownerId === undefined ? undefined : { ownerId, owner, name: qualified.slice(slash + 1) };
  };

  /**
   * A model version another tenant shared with the caller (the registry has already read it under the
   * share policies, audited): the edge to the caller's own uses and deployments, and nothing upstream.
   */
  const sharedModelLineage = async (scope: TrackingScope, mv: ModelVersionJson, owner: { ownerId: string; owner: string; name: string }): Promise<ModelLineage> => {
    const version = Number(mv.version);
    const deployments = await withTenant(db, scope.tenantId, async (tx) => (await tx.query<{ id: string; name: string }>(
      'SELECT id, name FROM deployments WHERE tenant_id = $1 AND model = $2 AND version = $3 ORDER BY name', [scope.tenantId, mv.name, String(version)],
    )).rows, { readOnly: true });
    return {
      model: { name: mv.name, version, source: mv.source, runId: null },
      recorded: false,
      recordedAt: null,
      recordedBy: null,
      recordedVia: null,
      upstream: { job: null, run: null, datasets: [], codeBundle: null, codeDigest: null, image: null, params: {} },
      sharing: {
        sharedFrom: owner.owner,
        uses: await listOwnUsesOfShared(db, scope.tenantId, { ownerId: owner.ownerId, kind: 'model', name: owner.name, version }),
        deployments,
      },
    };
  };

  const readModelLineage = async (scope: TrackingScope, name: string, rawVersion: string | number): Promise<ModelLineage> => {
    const mv = await deps.registry.getModelVersion(scope, { name, version: String(rawVersion) });
    const version = Number(mv.version);
    const runId = mv.run_id === '' ? null : mv.run_id;
    if (name.includes('/')) {
      // Another tenant's version only if it is not the caller's own (a registered model name may hold '/').
      const own = await withTenant(db, scope.tenantId, async (tx) => (await tx.query('SELECT 1 FROM model_versions WHERE tenant_id = $1 AND name = $2 AND version = $3', [scope.tenantId, name, version])).rows.length > 0, { readOnly: true });
      const owner = own ? undefined : await sharedOwnerOf(scope.tenantId, name);
      if (owner !== undefined) return sharedModelLineage(scope, mv, owner);
    }
    const uses = await listUsesOfOwnObject(db, scope.tenantId, { kind: 'model', name, version });
    return withTenant(db, scope.tenantId, async (tx) => {
      const row = (await tx.query<LineageRow>('SELECT * FROM model_lineage WHERE model_name = $1 AND model_version = $2', [name, version])).rows[0];
      const jobId = row?.job_id ?? null;
      let job: Job | undefined;
      if (jobId !== null) {
        const found = (await tx.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [jobId])).rows[0];
        job = found === undefined ? undefined : toJob(found);
      } else if (row === undefined && runId !== null) {
        job = await jobByRunIn(tx, runId);
      }
      // Without a row, the upstream is derived from the job as it is now (no digests, no params).
      const datasets: LineageDataset[] = row?.datasets ?? (job?.datasets.map((d) => ({ name: d.name, version: d.version, digest: null })) ?? []);
      const withModels: ModelLineage['upstream']['datasets'] = [];
      for (const d of datasets) {
        withModels.push({ ...d, modelVersions: (await modelVersionsOf(tx, d)).map((r) => ({ name: r.model_name, version: Number(r.model_version) })) });
      }
      const effectiveRun = row?.run_id ?? job?.runId ?? runId;
      return {
        model: { name: mv.name, version, source: mv.source, runId },
        recorded: row !== undefined,
        recordedAt: row === undefined ? null : iso(row.recorded_at),
        recordedBy: row?.recorded_by ?? null,
        recordedVia: row?.recorded_via ?? null,
        upstream: {
          job: job === undefined ? null : { id: job.id, name: job.name, status: job.status, createdBy: job.createdBy, finishedAt: job.finishedAt },
          run: effectiveRun === null ? null : { id: effectiveRun, experimentId: row?.experiment_id ?? job?.experimentId ?? null },
          datasets: withModels,
          codeBundle: row?.code_bundle ?? job?.codeBundle ?? null,
          codeDigest: row?.code_digest ?? job?.codeDigest ?? null,
          image: job === undefined || job.imageDigest === null ? null : { ref: job.image, digest: job.imageDigest },
          params: row?.params ?? {},
        },
        sharing: { sharedFrom: null, uses, deployments: [] },
      };
    }, { readOnly: true });
  };

  return {
    record,

    modelLineage,

    async datasetLineage(tenantId: string, name: string, version: number): Promise<DatasetLineage> {
      const dv = await deps.datasets.getVersion(tenantId, name, version); // NOT_FOUND, also for another tenant's (unless shared)
      // A version another tenant shared (`{owner}/{name}`, read above under the share policies): the
      // caller's own jobs and models that used it, its own edges, nothing of the owner's. Dataset names
      // hold no '/', so a qualified name is never the caller's own.
      const owner = name.includes('/') ? await sharedOwnerOf(tenantId, name) : undefined;
      const uses = owner === undefined
        ? await listUsesOfOwnObject(db, tenantId, { kind: 'dataset', name: dv.dataset, version: dv.version })
        : await listOwnUsesOfShared(db, tenantId, { ownerId: owner.ownerId, kind: 'dataset', name: owner.name, version: dv.version });
      return withTenant(db, tenantId, async (tx) => {
        const ref = JSON.stringify([{ name: dv.dataset, version: dv.version }]);
        const jobs = (await tx.query<{ id: string; name: string; status: string; run_id: string | null }>(
          'SELECT id, name, status, run_id FROM jobs WHERE datasets @> $1::jsonb ORDER BY created_at DESC, id LIMIT 500', [ref],
        )).rows;
        const models = await modelVersionsOf(tx, { name: dv.dataset, version: dv.version });
        return {
          dataset: { name: dv.dataset, version: dv.version, digest: dv.digest },
          jobs: jobs.map((j) => ({ id: j.id, name: j.name, status: j.status, runId: j.run_id })),
          modelVersions: models.map((r) => ({ name: r.model_name, version: Number(r.model_version), jobId: r.job_id, runId: r.run_id, recordedAt: iso(r.recorded_at)! })),
          sharing: { sharedFrom: owner?.owner ?? null, uses, deployments: [] },
        };
      }, { readOnly: true });
    },

    /**
     * "Register a model from a job's outputs": picks the job's model file (`path`, else model.onnx, else
     * model.json converted to ONNX and stored next to it), creates the registered model if needed and a
     * new version whose source is `mlflow-artifacts:/<onnx path>` and run_id the job's run, and records its
     * lineage. Each step commits with its own audit event.
     */
    async registerFromJob(ctx: RequestContext, tenantId: string, jobId: string, input: { name: string; path?: string | undefined }): Promise<RegisteredFromJob> {
      const scope: TrackingScope = { tenantId, actor: ctx.actor, requestId: ctx.requestId };
      const job = await deps.jobs.get(tenantId, jobId); // NOT_FOUND, also for another tenant's job
      if (job.status !== 'succeeded') throw lineageErrors.notRegistrable(job);
      if (job.runId === null) throw lineageErrors.noRun(job);
      const outputs = job.outputs.map((o) => o.path);
      let chosen: string | undefined;
      if (input.path !== undefined) {
        const wanted = input.path.replace(/^\/+/, '');
        chosen = outputs.find((p) => p === wanted) ?? outputs.find((p) => p.endsWith(`/outputs/${wanted}`));
        if (chosen === undefined) throw lineageErrors.pathNotOutput(input.path);
      } else {
        const byDepth = (a: string, b: string) => a.split('/').length - b.split('/').length;
        chosen = outputs.filter((p) => posix.basename(p) === 'model.onnx').sort(byDepth)[0]
          ?? outputs.filter((p) => posix.basename(p) === 'model.json').sort(byDepth)[0];
        if (chosen === undefined) throw lineageErrors.noModel(job);
      }
      let onnxPath: string;
      let converted = false;
      if (chosen.endsWith('.onnx')) {
        onnxPath = chosen;
      } else if (chosen.endsWith('.json')) {
        onnxPath = chosen.replace(/\.json$/, '.onnx');
        if (outputs.includes(onnxPath)) throw lineageErrors.onnxTaken(onnxPath);
        const { stream } = await deps.artifacts.openArtifact(tenantId, chosen);
        let bytes: Uint8Array;
        try {
          bytes = buildLogisticRegressionOnnx(parseLogisticRegressionJson(JSON.parse((await readAll(stream, MAX_MODEL_JSON_BYTES)).toString('utf8'))));
        } catch (error) {
          if (error instanceof AppError) throw error;
          throw lineageErrors.badModelJson((error as Error).message);
        }
        await deps.artifacts.putArtifact(ctx, tenantId, onnxPath, Readable.from([Buffer.from(bytes)]), { contentLength: bytes.length });
        converted = true;
      } else {
        throw lineageErrors.unsupported(chosen);
      }
      try {
        await deps.registry.createRegisteredModel(scope, { name: input.name });
      } catch (error) {
        // Registered already (RESOURCE_ALREADY_EXISTS): a new version of it.
        if (!isAppError(error) || error.code !== 'CONFLICT') throw error;
      }
      const model = await deps.registry.createModelVersion(scope, { name: input.name, source: `mlflow-artifacts:/${onnxPath}`, run_id: job.runId });
      await record(scope, { name: model.name, version: Number(model.version), source: model.source, runId: job.runId }, 'register-from-job', job);
      return { model, onnxPath, converted, lineage: await modelLineage(scope, model.name, model.version) };
    },

    /**
     * The registry with automatic lineage: a model version created (e.g. through the MLflow API) whose
     * run_id is a job's run gets its lineage recorded right after the version commits. A failure to
     * record does not fail the version (it exists already); its lineage is then derived when read.
     */
    withAutomaticLineage(registry: RegistryService): RegistryService {
      return {
        ...registry,
        async createModelVersion(scope, input) {
          const created = await registry.createModelVersion(scope, input);
          if (created.run_id !== '' && created.run_id !== null) {
            // Not fatal for the version (MLflow clients must get it); reading the lineage records it later.
            await record(scope, { name: created.name, version: Number(created.version), source: created.source, runId: created.run_id }, 'model-version-create')
              .catch((error: unknown) => {
                deps.log?.error({ err: error, model: created.name, version: created.version }, 'could not record model lineage; it is recorded when first read');
                return false;
              });
          }
          return created;
        },
      };
    },
  };
};

export type LineageService = ReturnType<typeof createLineageService>;
