/**
 * The JSON shapes of MLflow's entities as its REST API answers them (mlflow/protos/service.proto:
 * Experiment, Run, RunInfo, RunData, RunInputs, RunOutputs, LoggedModel; mlflow/protos/model_registry.proto:
 * RegisteredModel, ModelVersion), and the pure conversions from this module's database rows to them. No IO.
 *
 * Proto3 JSON conventions kept: int64 times as JSON numbers, model versions as strings, non-finite
 * doubles as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers; the MLflow clients
 * parse these strings back).
 */

export interface KeyValueJson {
  key: string;
  value: string;
}

export interface ExperimentJson {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  last_update_time: number;
  creation_time: number;
  tags: KeyValueJson[];
}

export interface MetricJson {
  key: string;
  value: number | string;
  timestamp: number;
  step: number;
}

export interface RunInfoJson {
  run_id: string;
  run_uuid: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: string;
}

export interface DatasetInputJson {
  tags: KeyValueJson[];
  dataset: { name: string; digest: string; source_type: string; source: string; schema?: string; profile?: string };
}

export interface RunJson {
  info: RunInfoJson;
  data: { metrics: MetricJson[]; params: KeyValueJson[]; tags: KeyValueJson[] };
  /** `model_inputs` (MLflow 3) only when the run has some, as proto3 JSON omits empty lists. */
  inputs: { dataset_inputs: DatasetInputJson[]; model_inputs?: { model_id: string }[] };
  /** MLflow 3: the logged models the run produced (runs/outputs); absent when none. */
  outputs?: { model_outputs: { model_id: string; step: number }[] };
}

export interface ModelVersionJson {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: string;
  description: string;
  source: string;
  run_id: string;
  status: string;
  status_message: string;
  tags: KeyValueJson[];
  run_link: string;
  aliases: string[];
  /** MLflow 3: the logged model the version was registered from, when it was. */
  model_id?: string;
}

export interface RegisteredModelJson {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  description: string;
  latest_versions: ModelVersionJson[];
  tags: KeyValueJson[];
  aliases: { alias: string; version: string }[];
}

/** A double as proto3 JSON spells it. */
export const jsonDouble = (value: number): number | string =>
  Number.isFinite(value) ? value : Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';

// Row shapes, as the queries in this module select them (json aggregates already parsed by the driver).

export interface ExperimentRow {
  id: number;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
  tags: KeyValueJson[] | null;
}

export const experimentJson = (row: ExperimentRow): ExperimentJson => ({
  experiment_id: String(row.id),
  name: row.name,
  artifact_location: row.artifact_location,
  lifecycle_stage: row.lifecycle_stage,
  last_update_time: Number(row.last_update_time),
  creation_time: Number(row.creation_time),
  tags: row.tags ?? [],
});

export interface RunInfoRow {
  id: string;
  experiment_id: number;
  name: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  lifecycle_stage: string;
  artifact_uri: string;
}

export interface RunRow extends RunInfoRow {
  metrics: MetricJson[] | null;
  params: KeyValueJson[] | null;
  tags: KeyValueJson[] | null;
  inputs: DatasetInputJson[] | null;
  model_inputs: { model_id: string }[] | null;
  model_outputs: { model_id: string; step: number }[] | null;
}

export const runInfoJson = (row: RunInfoRow): RunInfoJson => {
  const info: RunInfoJson = {
    run_id: row.id,
    run_uuid: row.id,
    run_name: row.name,
    experiment_id: String(row.experiment_id),
    user_id: row.user_id,
    status: row.status,
    start_time: Number(row.start_time),
    artifact_uri: row.artifact_uri,
    lifecycle_stage: row.lifecycle_stage,
  };
  if (row.end_time !== null) info.end_time = Number(row.end_time);
  return info;
};

export const runJson = (row: RunRow): RunJson => {
  const run: RunJson = {
    info: runInfoJson(row),
    data: { metrics: row.metrics ?? [], params: row.params ?? [], tags: row.tags ?? [] },
    inputs: { dataset_inputs: row.inputs ?? [] },
  };
  if (row.model_inputs !== null && row.model_inputs.length > 0) run.inputs.model_inputs = row.model_inputs;
  if (row.model_outputs !== null && row.model_outputs.length > 0) {
    run.outputs = { model_outputs: row.model_outputs.map((o) => ({ model_id: o.model_id, step: Number(o.step) })) };
  }
  return run;
};

export interface ModelVersionRow {
  name: string;
  version: number;
  creation_time: number;
  last_updated_time: number;
  description: string;
  user_id: string;
  current_stage: string;
  source: string;
  run_id: string | null;
  run_link: string;
  status: string;
  status_message: string;
  tags: KeyValueJson[] | null;
  aliases: string[] | null;
  model_id?: string | null;
  /** Where a version registered from a logged model downloads from (not part of the JSON). */
  storage_location?: string | null;
}

export const modelVersionJson = (row: ModelVersionRow): ModelVersionJson => ({
  name: row.name,
  version: String(row.version),
  creation_timestamp: Number(row.creation_time),
  last_updated_timestamp: Number(row.last_updated_time),
  user_id: row.user_id,
  current_stage: row.current_stage,
  description: row.description,
  source: row.source,
  run_id: row.run_id ?? '',
  status: row.status,
  status_message: row.status_message,
  tags: row.tags ?? [],
  run_link: row.run_link,
  aliases: row.aliases ?? [],
  ...(row.model_id === undefined || row.model_id === null ? {} : { model_id: row.model_id }),
});

export interface RegisteredModelRow {
  name: string;
  creation_time: number;
  last_updated_time: number;
  description: string;
  user_id: string;
  tags: KeyValueJson[] | null;
  aliases: { alias: string; version: number }[] | null;
  latest_versions: ModelVersionRow[] | null;
}

export const registeredModelJson = (row: RegisteredModelRow): RegisteredModelJson => ({
  name: row.name,
  creation_timestamp: Number(row.creation_time),
  last_updated_timestamp: Number(row.last_updated_time),
  user_id: row.user_id,
  description: row.description,
  latest_versions: (row.latest_versions ?? []).map(modelVersionJson),
  tags: row.tags ?? [],
  aliases: (row.aliases ?? []).map((a) => ({ alias: a.alias, version: String(a.version) })),
});

/** A metric point linked to a logged model (service.proto Metric, with its MLflow 3 fields). */
export interface LoggedModelMetricJson extends MetricJson {
  model_id: string;
  run_id: string;
  dataset_name?: string;
  dataset_digest?: string;
}

/** service.proto LoggedModel: `info` (LoggedModelInfo) and `data` (LoggedModelData). */
export interface LoggedModelJson {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    creation_timestamp_ms: number;
    last_updated_timestamp_ms: number;
    artifact_uri: string;
    status: (typeof loggedModelStatusNames)[keyof typeof loggedModelStatusNames];
    model_type?: string;
    source_run_id?: string;
    status_message?: string;
    tags: KeyValueJson[];
  };
  data: { params: KeyValueJson[]; metrics: LoggedModelMetricJson[] };
}

/** The LoggedModelStatus enum names, by the stored status. */
export const loggedModelStatusNames = {
  PENDING: 'LOGGED_MODEL_PENDING',
  READY: 'LOGGED_MODEL_READY',
  FAILED: 'LOGGED_MODEL_UPLOAD_FAILED',
} as const;

export interface LoggedModelRow {
  id: string;
  experiment_id: number;
  name: string;
  artifact_location: string;
  creation_time: number;
  last_updated_time: number;
  model_type: string | null;
  source_run_id: string | null;
  status: keyof typeof loggedModelStatusNames;
  status_message: string | null;
  lifecycle_stage: string;
  tags: KeyValueJson[] | null;
  params: KeyValueJson[] | null;
  metrics: LoggedModelMetricJson[] | null;
}

export const loggedModelJson = (row: LoggedModelRow): LoggedModelJson => {
  const info: LoggedModelJson['info'] = {
    model_id: row.id,
    experiment_id: String(row.experiment_id),
    name: row.name,
    creation_timestamp_ms: Number(row.creation_time),
    last_updated_timestamp_ms: Number(row.last_updated_time),
    artifact_uri: row.artifact_location,
    status: loggedModelStatusNames[row.status],
    tags: row.tags ?? [],
  };
  if (row.model_type !== null) info.model_type = row.model_type;
  if (row.source_run_id !== null) info.source_run_id = row.source_run_id;
  if (row.status_message !== null) info.status_message = row.status_message;
  const metrics = (row.metrics ?? []).map((m) => ({ ...m, timestamp: Number(m.timestamp), step: Number(m.step) }));
  return { info, data: { params: row.params ?? [], metrics } };
};

// Registry stages (model_registry.proto; mlflow/entities/model_registry/model_version_stages.py).
export const modelStages = ['None', 'Staging', 'Production', 'Archived'] as const;
export type ModelStage = (typeof modelStages)[number];

/** Canonical stage for a case-insensitive name, or undefined. */
export const canonicalStage = (stage: string): ModelStage | undefined =>
  modelStages.find((s) => s.toLowerCase() === stage.toLowerCase());
