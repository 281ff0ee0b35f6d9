/**
 * MLflow's request validation rules and limits, as pure functions. Each validator returns the
 * normalized value to store and throws MlflowError INVALID_PARAMETER_VALUE (the code MLflow uses for
 * all of these) with a message close in meaning to MLflow's.
 *
 * Learned from MLflow: mlflow/utils/validation.py (names, lengths, batch limits, ids, aliases,
 * datasets), mlflow/store/tracking/sqlalchemy_store.py (param immutability, run-name/tag agreement,
 * NaN handling), mlflow/store/tracking/__init__.py and mlflow/store/model_registry/__init__.py (search
 * page sizes), mlflow/environment_variables.py (MLFLOW_TRUNCATE_LONG_VALUES defaults to true, so recent
 * MLflow servers truncate over-long param and run-tag values instead of refusing them).
 *
 * Lengths are counted in Unicode code points, as Python's `len` does.
 */

import { type MlflowError, mlflowErrors } from './mlflow-errors.ts';
import { loggedModelStatusNames } from './mlflow-entities.ts';

export const mlflowLimits = {
  maxMetricsPerBatch: 1000,
  maxParamsTagsPerBatch: 100,
  maxEntitiesPerBatch: 1000,
  maxBatchLogRequestBytes: 1_000_000,
  maxEntityKeyLength: 250,
  maxParamValueLength: 6000,
  maxTagValueLength: 5000,
  // A run's name and user are B-tree keys (runs_name_idx, runs_user_idx: migrations 0045, 0047), and an
  // index entry holds at most 2,704 bytes: 500 code points are at most 2,000 bytes of UTF-8. A longer name
  // failed runs/create with the database's error. (MLflow's SQL store: runs.name VARCHAR(250), user_id
  // VARCHAR(256).) The `mlflow.runName` tag is the name, so it has the same limit.
  maxRunNameLength: 500,
  maxRunUserIdLength: 500,
  // A run's artifact URI (its experiment's artifact location, the run id, `/artifacts`) is a B-tree key too
  // (runs_artifact_uri_idx, migration 0048): the location is held to 500 code points. (MLflow's SQL store:
  // experiments.artifact_location VARCHAR(256).)
  maxArtifactLocationLength: 500,
  maxExperimentNameLength: 500,
  maxExperimentTagKeyLength: 250,
  maxExperimentTagValueLength: 5000,
  maxModelRegistryTagKeyLength: 250,
  maxModelRegistryTagValueLength: 5000,
  maxRegisteredModelAliasLength: 255,
  // MLflow's SQL store: registered_models.name is VARCHAR(256) (mlflow/store/model_registry/dbmodels/models.py).
  maxRegisteredModelNameLength: 256,
  maxDatasetNameLength: 500,
  maxDatasetDigestLength: 36,
  maxDatasetSourceLength: 65_535,
  maxDatasetSchemaLength: 1_048_575,
  maxDatasetProfileLength: 16_777_215,
  maxInputTagKeyLength: 255,
  maxInputTagValueLength: 500,
} as const;

/** Default and maximum `max_results` of each search endpoint, as MLflow's stores define them. */
export const searchPageLimits = {
  runs: { default: 1000, max: 50_000 },
  experiments: { default: 1000, max: 50_000 },
  registeredModels: { default: 100, max: 1000 },
  modelVersions: { default: 10_000, max: 200_000 },
  // SearchLoggedModels: the proto's default is 50; MLflow's SQL store sets no maximum, this server 1000.
  loggedModels: { default: 50, max: 1000 },
} as const;

export const RUN_NAME_TAG = 'mlflow.runName';

export const runStatuses = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatus = (typeof runStatuses)[number];

export const viewTypes = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'] as const;
export type ViewType = (typeof viewTypes)[number];
export type LifecycleStage = 'active' | 'deleted';

export interface ValueOptions {
  /**
   * Truncate over-long param and run-tag values instead of refusing them. Default true, like MLflow
   * with its default MLFLOW_TRUNCATE_LONG_VALUES. Keys are never truncated.
   */
  readonly truncate?: boolean;
}

const invalid = (message: string): MlflowError => mlflowErrors.invalidParameter(message);

const codePointLength = (s: string): number => {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
};

const truncateCodePoints = (s: string, limit: number): string => {
  let out = '';
  let n = 0;
  for (const ch of s) {
    if (n === limit) break;
    out += ch;
    n += 1;
  }
  return out;
};

const preview = (s: string, limit = 250): string => truncateCodePoints(s, limit);

/** Throws unless `value` is at most `limit` code points; or truncates when `truncate` is set. */
const checkLength = (what: string, limit: number, value: string, truncate = false): string => {
  const length = codePointLength(value);
  if (length <= limit) return value;
  if (truncate) return truncateCodePoints(value, limit);
  throw invalid(`${what} '${preview(value)}' had length ${length}, which exceeded length limit of ${limit}`);
};

// ---------------------------------------------------------------------------------------------
// Key names

// Python's \w is Unicode-aware: letters, digits and underscore of any script.
const VALID_KEY_NAME = /^[/\p{L}\p{N}_.\- ]*$/u;
const BAD_CHARACTERS_MESSAGE =
  'Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).';

/** Python's posixpath.normpath, which MLflow uses to keep names from acting as other paths. */
export const posixNormpath = (path: string): string => {
  if (path === '') return '.';
  const initialSlashes = path.startsWith('/') ? (path.startsWith('//') && !path.startsWith('///') ? 2 : 1) : 0;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..' || (initialSlashes === 0 && parts.length === 0) || parts.at(-1) === '..') parts.push(part);
    else if (parts.length > 0) parts.pop();
  }
  const joined = '/'.repeat(initialSlashes) + parts.join('/');
  return joined === '' ? '.' : joined;
};

const pathNotUnique = (name: string): boolean => {
  const norm = posixNormpath(name);
  return norm !== name || norm === '.' || norm.startsWith('..') || norm.startsWith('/');
};

const validateKeyName = (what: string, name: unknown): string => {
  if (name === undefined || name === null) throw invalid(`${what} name cannot be None. A key name must be provided.`);
  if (typeof name !== 'string') throw invalid(`Invalid ${what.toLowerCase()} name: expected a string`);
  if (!VALID_KEY_NAME.test(name)) throw invalid(`Invalid ${what.toLowerCase()} name: '${preview(name)}'. ${BAD_CHARACTERS_MESSAGE}`);
  if (pathNotUnique(name)) {
    throw invalid(
      `Invalid ${what.toLowerCase()} name: '${preview(name)}'. Names may be treated as files in certain cases, and must ` +
        `not resolve to other names when treated as such. This name would resolve to '${preview(posixNormpath(name))}'`,
    );
  }
  return name;
};

/**
 * Validates a metric key: alphanumerics, `_ - . / space` only; not empty; not a path that normalizes
 * to something else (`a//b`, `./a`, `../a`, `/a`, `a/`); at most 250 code points. Returns the key.
 */
export const validateMetricName = (name: unknown): string =>
  checkLength('Metric name', mlflowLimits.maxEntityKeyLength, validateKeyName('Metric', name));

/** Validates a param key with the same rules as {@link validateMetricName}. */
export const validateParamName = (name: unknown): string =>
  checkLength('Param key', mlflowLimits.maxEntityKeyLength, validateKeyName('Parameter', name));

/** Validates a tag key (runs, experiments, registered models, model versions) with the same rules. */
export const validateTagName = (name: unknown): string => validateKeyName('Tag', name);

// ---------------------------------------------------------------------------------------------
// Metrics, params, tags

export interface MetricInput {
  readonly key?: unknown;
  readonly value?: unknown;
  readonly timestamp?: unknown;
  readonly step?: unknown;
  /** MLflow 3: the logged model the point is about, and the dataset it was computed on. */
  readonly model_id?: unknown;
  readonly dataset_name?: unknown;
  readonly dataset_digest?: unknown;
}

export interface ValidMetric {
  readonly key: string;
  /** The value as logged; NaN and ±Infinity included. */
  readonly value: number;
  readonly isNan: boolean;
  readonly timestamp: number;
  readonly step: number;
  /** Set only for points that name a logged model (MLflow 3); absent on the plain ingest path. */
  readonly modelId?: string;
  readonly datasetName?: string;
  readonly datasetDigest?: string;
}

/** Proto3 JSON spells non-finite doubles as strings; numbers may also arrive as numeric strings. */
const parseDouble = (raw: unknown): number | undefined => {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return undefined;
  if (raw === 'NaN') return Number.NaN;
  if (raw === 'Infinity') return Number.POSITIVE_INFINITY;
  if (raw === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(raw.trim())) return undefined;
  return Number(raw);
};

/** int64 fields arrive as JSON numbers or decimal strings. Only safe integers are accepted. */
const parseInt64 = (raw: unknown): number | undefined => {
  const n = typeof raw === 'string' && /^-?\d{1,16}$/.test(raw) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
};

/**
 * Validates one metric of log-metric or log-batch: a valid key, a numeric value (NaN and ±Infinity
 * allowed, booleans not), a non-negative integer timestamp (required) and an integer step (default 0).
 * Integers beyond ±2^53 are refused rather than silently rounded.
 */
export const validateMetric = (metric: MetricInput): ValidMetric => {
  const key = validateKeyName('Metric', metric.key);
  const value = parseDouble(metric.value);
  if (value === undefined) {
    throw invalid(
      `Got invalid value ${preview(String(metric.value), 100)} for metric '${preview(key)}' (timestamp=${String(metric.timestamp)}). ` +
        'Please specify value as a valid double (64-bit floating point)',
    );
  }
  const timestamp = parseInt64(metric.timestamp);
  if (timestamp === undefined || timestamp < 0) {
    throw invalid(
      `Got invalid timestamp ${preview(String(metric.timestamp), 100)} for metric '${preview(key)}' (value=${String(value)}). ` +
        'Timestamp must be a nonnegative long (64-bit integer)',
    );
  }
  const step = metric.step === undefined || metric.step === null ? 0 : parseInt64(metric.step);
  if (step === undefined) {
    throw invalid(
      `Got invalid step ${preview(String(metric.step), 100)} for metric '${preview(key)}' (value=${String(value)}). ` +
        'Step must be a valid long (64-bit integer).',
    );
  }
  checkLength('Metric name', mlflowLimits.maxEntityKeyLength, key);
  const metricOf = { key, value, isNan: Number.isNaN(value), timestamp, step };
  if (metric.model_id === undefined && metric.dataset_name === undefined && metric.dataset_digest === undefined) return metricOf;
  // MLflow 3 fields: the dataset only matters for points linked to a model (it is not stored otherwise).
  const modelId = optionalMetricText('model_id', key, metric.model_id, 100);
  if (modelId === undefined) return metricOf;
  const datasetName = optionalMetricText('dataset_name', key, metric.dataset_name, mlflowLimits.maxDatasetNameLength);
  const datasetDigest = optionalMetricText('dataset_digest', key, metric.dataset_digest, mlflowLimits.maxDatasetDigestLength);
  return {
    ...metricOf, modelId,
    ...(datasetName === undefined ? {} : { datasetName }),
    ...(datasetDigest === undefined ? {} : { datasetDigest }),
  };
};

const optionalMetricText = (field: string, key: string, raw: unknown, limit: number): string | undefined => {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') throw invalid(`Invalid ${field} for metric '${preview(key)}': expected a string`);
  return checkLength(`Metric ${field}`, limit, raw);
};

export interface KeyValueInput {
  readonly key?: unknown;
  readonly value?: unknown;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

const requireStringValue = (what: string, key: string, value: unknown): string => {
  if (typeof value !== 'string') throw invalid(`${what} value for '${preview(key)}' must be a string`);
  return value;
};

/** Validates a run param: valid key (≤ 250), string value of at most 6000 code points (truncated by default). */
export const validateParam = (param: KeyValueInput, options: ValueOptions = {}): KeyValue => {
  const key = validateParamName(param.key);
  const value = requireStringValue('Param', key, param.value);
  return { key, value: checkLength('Param value', mlflowLimits.maxParamValueLength, value, options.truncate ?? true) };
};

/** Validates a run tag: valid key (≤ 250), string value of at most 5000 code points (truncated by default). */
export const validateRunTag = (tag: KeyValueInput, options: ValueOptions = {}): KeyValue => {
  const key = checkLength('Tag key', mlflowLimits.maxEntityKeyLength, validateTagName(tag.key));
  const value = requireStringValue('Tag', key, tag.value);
  const limit = key === RUN_NAME_TAG ? mlflowLimits.maxRunNameLength : mlflowLimits.maxTagValueLength;
  return { key, value: checkLength('Tag value', limit, value, options.truncate ?? true) };
};

/** Validates a run's `user_id`: at most 500 code points (mlflowLimits.maxRunUserIdLength). */
export const validateRunUserId = (userId: string): string => checkLength('user_id', mlflowLimits.maxRunUserIdLength, userId);

/** Validates an experiment's `artifact_location`: at most 500 code points (mlflowLimits.maxArtifactLocationLength). */
export const validateArtifactLocation = (location: string): string => checkLength('artifact_location', mlflowLimits.maxArtifactLocationLength, location);

/** Validates an experiment tag: valid key ≤ 250, value ≤ 5000 (never truncated, as in MLflow). */
export const validateExperimentTag = (tag: KeyValueInput): KeyValue => {
  const key = checkLength('Tag key', mlflowLimits.maxExperimentTagKeyLength, validateTagName(tag.key));
  const value = requireStringValue('Tag', key, tag.value);
  return { key, value: checkLength('Tag value', mlflowLimits.maxExperimentTagValueLength, value) };
};

/** Validates a registered model tag: valid key ≤ 250, value ≤ 5000. */
export const validateRegisteredModelTag = (tag: KeyValueInput): KeyValue => {
  const key = checkLength('Registered model key', mlflowLimits.maxModelRegistryTagKeyLength, validateTagName(tag.key));
  const value = requireStringValue('Registered model tag', key, tag.value);
  return { key, value: checkLength('Registered model value', mlflowLimits.maxModelRegistryTagValueLength, value) };
};

/** Validates a model version tag: valid key ≤ 250, value present and ≤ 5000. */
export const validateModelVersionTag = (tag: KeyValueInput): KeyValue => {
  const key = validateTagName(tag.key);
  if (tag.value === undefined || tag.value === null) throw invalid('Tag value cannot be None');
  const value = requireStringValue('Model version tag', key, tag.value);
  checkLength('Model version key', mlflowLimits.maxModelRegistryTagKeyLength, key);
  return { key, value: checkLength('Model version value', mlflowLimits.maxModelRegistryTagValueLength, value) };
};

// ---------------------------------------------------------------------------------------------
// log-batch

const checkBatchLimit = (what: string, limit: number, length: number): void => {
  if (length > limit) {
    throw invalid(
      `A batch logging request can contain at most ${limit} ${what}. Got ${length} ${what}. ` +
        `Please split up ${what} across multiple requests and try again.`,
    );
  }
};

/** Refuses a log-batch request body over 1,000,000 bytes (MLflow checks the raw JSON size first). */
export const validateBatchRequestSize = (bytes: number): void => {
  if (bytes > mlflowLimits.maxBatchLogRequestBytes) {
    throw invalid(
      `Batched logging API requests must be at most ${mlflowLimits.maxBatchLogRequestBytes} bytes, got a request of size ${bytes}.`,
    );
  }
};

/** Refuses a batch with ≥ 2 params of the same key, whatever their values (as MLflow does). */
export const assertParamKeysUnique = (params: readonly { readonly key: string }[]): void => {
  const seen = new Set<string>();
  const dupes = new Set<string>();
  for (const p of params) (seen.has(p.key) ? dupes : seen).add(p.key);
  if (dupes.size > 0) {
    throw invalid(
      `Duplicate parameter keys have been submitted: ${preview(JSON.stringify([...dupes]), 500)}. ` +
        'Please ensure the request contains only one param value per param key.',
    );
  }
};

export interface BatchInput {
  readonly metrics?: readonly MetricInput[] | null;
  readonly params?: readonly KeyValueInput[] | null;
  readonly tags?: readonly KeyValueInput[] | null;
}

export interface ValidBatch {
  readonly metrics: ValidMetric[];
  readonly params: KeyValue[];
  readonly tags: KeyValue[];
}

const asList = <T>(what: string, value: readonly T[] | null | undefined): readonly T[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${what} must be a list`);
  return value;
};

/**
 * Validates the content of a log-batch request: the size limits (≤ 1000 metrics, ≤ 100 params,
 * ≤ 100 tags, ≤ 1000 together), then every metric, param and tag, then unique param keys. MLflow checks
 * the items before the limits; the errors are the same, only which one is reported first can differ
 * when a request breaks both. Returns normalized (possibly truncated) entities. Nothing is partially
 * accepted: any failure throws. Call {@link validateBatchRequestSize} on the raw body first.
 */
export const validateLogBatch = (batch: BatchInput, options: ValueOptions = {}): ValidBatch => {
  const rawMetrics = asList('metrics', batch.metrics);
  const rawParams = asList('params', batch.params);
  const rawTags = asList('tags', batch.tags);
  // Limits are cheap: check them before walking 100k items of an abusive request. The outcome is the
  // same error set as MLflow's, only the order between two failures can differ.
  checkBatchLimit('metrics', mlflowLimits.maxMetricsPerBatch, rawMetrics.length);
  checkBatchLimit('params', mlflowLimits.maxParamsTagsPerBatch, rawParams.length);
  checkBatchLimit('tags', mlflowLimits.maxParamsTagsPerBatch, rawTags.length);
  checkBatchLimit(
    'metrics, params, and tags',
    mlflowLimits.maxEntitiesPerBatch,
    rawMetrics.length + rawParams.length + rawTags.length,
  );
  const metrics = rawMetrics.map((m) => validateMetric(m ?? {}));
  const params = rawParams.map((p) => validateParam(p ?? {}, options));
  const tags = rawTags.map((t) => validateRunTag(t ?? {}, options));
  assertParamKeysUnique(params);
  return { metrics, params, tags };
};

// ---------------------------------------------------------------------------------------------
// Param immutability

export interface ParamConflict {
  readonly key: string;
  readonly oldValue: string;
  readonly newValue: string;
}

/**
 * Splits incoming params against those already logged on the run: params whose key is new (to insert),
 * and conflicts (same key, different value). Re-logging an identical value is neither.
 */
export const diffParams = (
  existing: ReadonlyMap<string, string>,
  incoming: readonly KeyValue[],
): { readonly toInsert: KeyValue[]; readonly conflicts: ParamConflict[] } => {
  const toInsert: KeyValue[] = [];
  const conflicts: ParamConflict[] = [];
  for (const p of incoming) {
    const old = existing.get(p.key);
    if (old === undefined) toInsert.push(p);
    else if (old !== p.value) conflicts.push({ key: p.key, oldValue: old, newValue: p.value });
  }
  return { toInsert, conflicts };
};

/**
 * Enforces MLflow's param immutability: returns the params still to insert, or throws
 * INVALID_PARAMETER_VALUE ("Changing param values is not allowed…") naming every conflicting key with
 * its old and new value. The caller must read `existing` in the same transaction as the insert (and
 * insert with ON CONFLICT DO NOTHING, re-checking on conflict) so concurrent writers cannot slip by.
 */
export const assertParamsImmutable = (
  runId: string,
  existing: ReadonlyMap<string, string>,
  incoming: readonly KeyValue[],
): KeyValue[] => {
  const { toInsert, conflicts } = diffParams(existing, incoming);
  if (conflicts.length > 0) {
    const listed = conflicts.map((c) => ({ key: c.key, old_value: preview(c.oldValue, 100), new_value: preview(c.newValue, 100) }));
    throw invalid(
      `Changing param values is not allowed. Params were already logged='${preview(JSON.stringify(listed), 2000)}' for run ID='${runId}'.`,
    );
  }
  return toInsert;
};

// ---------------------------------------------------------------------------------------------
// Ids, names, enums

const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;
const EXPERIMENT_ID = /^[a-zA-Z0-9][\w-]{0,63}$/;

/** Validates a run id's shape (MLflow: alphanumeric start, then `[A-Za-z0-9_-]`, ≤ 256). */
export const validateRunId = (runId: unknown): string => {
  if (typeof runId !== 'string' || !RUN_ID.test(runId)) throw invalid(`Invalid run ID: '${preview(String(runId), 100)}'`);
  return runId;
};

/** Validates an experiment id's shape (MLflow: alphanumeric start, then `[A-Za-z0-9_-]`, ≤ 64). */
export const validateExperimentId = (experimentId: unknown): string => {
  const id = typeof experimentId === 'number' && Number.isSafeInteger(experimentId) ? String(experimentId) : experimentId;
  if (typeof id !== 'string' || !EXPERIMENT_ID.test(id)) throw invalid(`Invalid experiment ID: '${preview(String(experimentId), 100)}'`);
  return id;
};

/** Validates an experiment name: a non-empty string of at most 500 code points. */
export const validateExperimentName = (name: unknown): string => {
  if (name === undefined || name === null || name === '') throw invalid(`Invalid experiment name: '${name === '' ? '' : String(name)}'`);
  if (typeof name !== 'string') throw invalid(`Invalid experiment name: ${preview(String(name), 100)}. Expects a string.`);
  if (codePointLength(name) > mlflowLimits.maxExperimentNameLength) {
    throw invalid(`Experiment name exceeds the maximum length of ${mlflowLimits.maxExperimentNameLength} characters`);
  }
  return name;
};

/**
 * Decides a new run's name from the request's `run_name` and its `mlflow.runName` tag, as MLflow's
 * create-run does: if both are given they must agree (else INVALID_PARAMETER_VALUE); otherwise either
 * one. Returns undefined when neither is given: the caller then generates a name and must also store it
 * as the `mlflow.runName` tag. The name is held to mlflowLimits.maxRunNameLength.
 */
export const resolveRunName = (
  runName: string | undefined | null,
  tags: readonly { readonly key: string; readonly value: string }[],
): string | undefined => {
  const fromTag = tags.find((t) => t.key === RUN_NAME_TAG)?.value;
  const given = runName === null || runName === '' ? undefined : runName;
  const tagValue = fromTag === '' ? undefined : fromTag;
  if (given !== undefined && tagValue !== undefined && given !== tagValue) {
    throw invalid(
      `Both 'run_name' argument and '${RUN_NAME_TAG}' tag are specified, but with different values ` +
        `(run_name='${preview(given, 100)}', ${RUN_NAME_TAG}='${preview(tagValue, 100)}').`,
    );
  }
  const name = given ?? tagValue;
  return name === undefined ? undefined : checkLength('Run name', mlflowLimits.maxRunNameLength, name);
};

/** Validates a run status name (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED). */
export const validateRunStatus = (status: unknown): RunStatus => {
  if (typeof status === 'string' && (runStatuses as readonly string[]).includes(status)) return status as RunStatus;
  throw invalid(`Invalid run status '${preview(String(status), 100)}'. Valid values are ${runStatuses.join(', ')}`);
};

/**
 * Maps a view type (default ACTIVE_ONLY; MLflow also accepts the lowercase names) to the lifecycle
 * stages to include.
 */
export const viewTypeToStages = (viewType: unknown): LifecycleStage[] => {
  const v = viewType === undefined || viewType === null || viewType === '' ? 'ACTIVE_ONLY' : String(viewType).toUpperCase();
  switch (v) {
    case 'ACTIVE_ONLY':
      return ['active'];
    case 'DELETED_ONLY':
      return ['deleted'];
    case 'ALL':
      return ['active', 'deleted'];
    default:
      throw invalid(`Invalid view type '${preview(String(viewType), 100)}'. Valid values are ${viewTypes.join(', ')}`);
  }
};

/**
 * Validates a search endpoint's `max_results`: absent → the endpoint's default; otherwise a positive
 * integer no larger than its maximum (numeric strings accepted, as query parameters are strings).
 */
export const validateMaxResults = (raw: unknown, limits: { readonly default: number; readonly max: number }): number => {
  if (raw === undefined || raw === null || raw === '') return limits.default;
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw invalid(`Invalid value for max_results. It must be a positive integer, but got ${preview(String(raw), 100)}`);
  }
  if (n > limits.max) throw invalid(`Invalid value for max_results. It must be at most ${limits.max}, but got ${n}`);
  return n;
};

// mlflow/utils/validation.py, _validate_logged_model_name: characters that would make the name act as a
// path or a URI part.
const LOGGED_MODEL_NAME_BAD_CHARACTERS = ['/', ':', '.', '%', '"', "'"] as const;

/**
 * Validates the optional name of a new logged model: absent or empty → undefined (the server picks a
 * random name, as MLflow); otherwise a string of at most 500 code points without `/ : . % " '`.
 */
export const validateLoggedModelName = (name: unknown): string | undefined => {
  if (name === undefined || name === null || name === '') return undefined;
  if (typeof name !== 'string') throw invalid('Logged model name must be a string.');
  if (LOGGED_MODEL_NAME_BAD_CHARACTERS.some((c) => name.includes(c))) {
    throw invalid(
      `Invalid model name ('${preview(name)}') provided. Model name must be a non-empty string and cannot contain the following characters: ${LOGGED_MODEL_NAME_BAD_CHARACTERS.join(' ')}`,
    );
  }
  return checkLength('Logged model name', mlflowLimits.maxExperimentNameLength, name);
};

/** Statuses of a logged model: the Python entity's names, stored as such; the API speaks the proto names. */
export type LoggedModelStatus = keyof typeof loggedModelStatusNames;

/**
 * Validates the status of finalize-logged-model: LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, by
 * proto name or enum number (2, 3; proto JSON accepts both). PENDING and UNSPECIFIED are refused: the
 * proto documents only the two final states for this message.
 */
export const validateFinalStatus = (status: unknown): Exclude<LoggedModelStatus, 'PENDING'> => {
  if (status === undefined || status === null || status === '') throw invalid("Missing value for required parameter 'status'.");
  const byNumber: Record<string, Exclude<LoggedModelStatus, 'PENDING'>> = { '2': 'READY', '3': 'FAILED' };
  if (status === loggedModelStatusNames.READY) return 'READY';
  if (status === loggedModelStatusNames.FAILED) return 'FAILED';
  const found = (typeof status === 'number' || typeof status === 'string') && Object.hasOwn(byNumber, String(status)) ? byNumber[String(status)] : undefined;
  if (found === undefined) {
    throw invalid(
      `Invalid value ${preview(JSON.stringify(status), 100)} for parameter 'status': a logged model is finalized as ${loggedModelStatusNames.READY} or ${loggedModelStatusNames.FAILED}`,
    );
  }
  return found;
};

/**
 * Validates a registered model name: a non-empty string of at most 256 code points (MLflow's column).
 * `field` names the request parameter in the message (`name`, `new_name`).
 */
export const validateModelName = (name: unknown, field = 'name'): string => {
  if (name === undefined || name === null || name === '') throw invalid('Registered model name cannot be empty.');
  if (typeof name !== 'string') throw invalid('Registered model name must be a string.');
  const length = codePointLength(name);
  if (length > mlflowLimits.maxRegisteredModelNameLength) {
    throw invalid(
      `Invalid value for parameter '${field}': registered model name had length ${length}, which exceeded length limit of ${mlflowLimits.maxRegisteredModelNameLength}`,
    );
  }
  return name;
};

/** The largest model version: versions are `integer` columns (0002-tracking.sql), as in MLflow's SQL store. */
export const MAX_MODEL_VERSION = 2_147_483_647;

/**
 * Validates a model version number (a positive integer, or its decimal string) and returns it. A number
 * beyond the column's range cannot name a version: refused rather than sent to the database.
 */
export const validateModelVersion = (version: unknown): number => {
  const n = typeof version === 'string' && /^\d{1,15}$/.test(version.trim()) ? Number(version.trim()) : version;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_MODEL_VERSION) {
    throw invalid(`Model version must be an integer from 1 to ${MAX_MODEL_VERSION} (parameter 'version'), got '${preview(String(version), 100)}'`);
  }
  return n;
};

const ALIAS_NAME = /^[\w-]*$/;
const VERSION_ALIAS = /^[vV]\d+$/;

/**
 * Validates a registered model alias: non-empty, only `[A-Za-z0-9_-]`, ≤ 255 code points, not
 * `latest` (any case) and not of the form `v<digits>`, which both resolve to versions.
 */
export const validateModelAliasName = (alias: unknown): string => {
  if (alias === undefined || alias === null || alias === '') throw invalid('Registered model alias name cannot be empty.');
  if (typeof alias !== 'string') throw invalid('Registered model alias name must be a string.');
  if (!ALIAS_NAME.test(alias)) {
    throw invalid(
      `Invalid alias name: '${preview(alias)}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`,
    );
  }
  checkLength('Registered model alias name', mlflowLimits.maxRegisteredModelAliasLength, alias);
  if (alias.toLowerCase() === 'latest') throw invalid("'latest' alias name (case insensitive) is reserved.");
  if (VERSION_ALIAS.test(alias)) throw invalid(`Version alias name '${alias}' is reserved.`);
  return alias;
};

// ---------------------------------------------------------------------------------------------
// Datasets (log-inputs)

export interface DatasetInputInput {
  readonly dataset?: {
    readonly name?: unknown;
    readonly digest?: unknown;
    readonly source_type?: unknown;
    readonly source?: unknown;
    readonly schema?: unknown;
    readonly profile?: unknown;
  } | null;
  readonly tags?: readonly KeyValueInput[] | null;
}

const requiredString = (what: string, value: unknown): string => {
  if (value === undefined || value === null) throw invalid(`${what} cannot be None`);
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
  return value;
};

const maxLength = (what: string, limit: number, value: string): void => {
  if (codePointLength(value) > limit) throw invalid(`${what} exceeds the maximum length of ${limit}`);
};

/**
 * Validates one dataset input of log-inputs: dataset name (≤ 500), digest (≤ 36), source_type and
 * source (≤ 65,535) required; schema (≤ 1,048,575) and profile (≤ 16,777,215) optional; input tags need
 * key (≤ 255) and value (≤ 500).
 */
export const validateDatasetInput = (input: DatasetInputInput): void => {
  const dataset = input.dataset;
  if (dataset === undefined || dataset === null) throw invalid('Dataset cannot be None');
  const name = requiredString('Dataset name', dataset.name);
  const digest = requiredString('Dataset digest', dataset.digest);
  requiredString('Dataset source_type', dataset.source_type);
  const source = requiredString('Dataset source', dataset.source);
  maxLength('Dataset name', mlflowLimits.maxDatasetNameLength, name);
  maxLength('Dataset digest', mlflowLimits.maxDatasetDigestLength, digest);
  maxLength('Dataset source', mlflowLimits.maxDatasetSourceLength, source);
  if (dataset.schema !== undefined && dataset.schema !== null) {
    maxLength('Dataset schema', mlflowLimits.maxDatasetSchemaLength, requiredString('Dataset schema', dataset.schema));
  }
  if (dataset.profile !== undefined && dataset.profile !== null) {
    maxLength('Dataset profile', mlflowLimits.maxDatasetProfileLength, requiredString('Dataset profile', dataset.profile));
  }
  for (const tag of asList('Input tags', input.tags)) {
    if (tag === undefined || tag === null) throw invalid('InputTag cannot be None');
    const key = requiredString('InputTag key', tag.key);
    const value = requiredString('InputTag value', tag.value);
    maxLength('InputTag key', mlflowLimits.maxInputTagKeyLength, key);
    maxLength('InputTag value', mlflowLimits.maxInputTagValueLength, value);
  }
};
