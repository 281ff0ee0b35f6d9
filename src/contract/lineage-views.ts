/**
 * Lineage as the API answers it (GET …/lineage, POST …/register-model): which job, run, datasets and code
 * a model version came from, and what was made from a dataset version. Shared by the server, the CLI's
 * `bulkhead lineage` trees and a console.
 */
import { z } from 'zod';
import { tenantParamsSchema } from './api-schemas.ts';

/** `POST …/jobs/{id}/register-model`: the registered model's name and, optionally, which output to register. */
export const registerFromJobSchema = z.strictObject({ name: z.string().min(1).max(256), path: z.string().min(1).max(1024).optional() });

/** `…/models/{name}/versions/{version}` path parameters. */
export const modelVersionParamsSchema = tenantParamsSchema.extend({
  name: z.string().min(1).max(256),
  version: z.string().regex(/^[1-9]\d{0,9}$/).refine((v) => Number(v) <= 2_147_483_647, 'a model version is at most 2147483647'),
});

/** `…/datasets/{name}/versions/{version}` path parameters. */
export const datasetVersionParamsSchema = tenantParamsSchema.extend({ name: z.string().min(1).max(128), version: z.coerce.number().int().min(1).max(2_147_483_647) });

export interface LineageDataset {
  name: string;
  version: number;
  /** The dataset version's content digest; null when the version could not be read at record time. */
  digest: string | null;
}

export interface ModelVersionRef {
  name: string;
  version: number;
}

/**
 * Cross-tenant edges of a shared object (issue 15). The owner sees, per tenant that used its object, the
 * tenant's slug, the kind of use and when — never the names of the other tenant's deployments or jobs.
 * The grantee sees the owner's slug, its own uses, and its own deployments of a shared model version;
 * nothing upstream of the shared object (the owner's jobs, runs, datasets, code).
 */
export interface LineageSharing {
  /** The owner's slug when the caller reads another tenant's shared object; null for its own. */
  sharedFrom: string | null;
  /** Owner: every tenant that used the object in a deployment or a job. Grantee: its own uses (`tenant` is the owner). */
  uses: Array<{ tenant: string; kind: 'deployment' | 'job'; firstUsedAt: string; lastUsedAt: string }>;
  /** Grantee of a model version only: its own deployments of it. */
  deployments: Array<{ id: string; name: string }>;
}

export interface ModelLineage {
  model: { name: string; version: number; source: string; runId: string | null };
  /** False when no lineage row exists and the upstream was derived now from the version's run. */
  recorded: boolean;
  recordedAt: string | null;
  recordedBy: string | null;
  recordedVia: string | null;
  upstream: {
    job: { id: string; name: string; status: string; createdBy: string; finishedAt: string | null } | null;
    run: { id: string; experimentId: string | null } | null;
    /** Each dataset version read, with the model versions (this one included) that came from it. */
    datasets: Array<LineageDataset & { modelVersions: ModelVersionRef[] }>;
    codeBundle: string | null;
    codeDigest: string | null;
    /** The OCI image the job ran (issue 17): the reference as submitted and its manifest digest; null on the host's /usr. */
    image: { ref: string | null; digest: string } | null;
    params: Record<string, string>;
  };
  sharing: LineageSharing;
}

export interface DatasetLineage {
  dataset: { name: string; version: number; digest: string };
  /** Jobs that read this dataset version, newest first. */
  jobs: Array<{ id: string; name: string; status: string; runId: string | null }>;
  /** Model versions whose recorded lineage names this dataset version. */
  modelVersions: Array<ModelVersionRef & { jobId: string | null; runId: string | null; recordedAt: string }>;
  sharing: LineageSharing;
}

export interface RegisteredFromJob {
  /** The MLflow model version registered (its `ModelVersion` JSON; the fields a client prints). */
  model: { name: string; version: string; source: string };
  /** The artifact path of the ONNX file the version's source names. */
  onnxPath: string;
  /** True when model.json was converted to ONNX for this registration. */
  converted: boolean;
  lineage: ModelLineage;
}

