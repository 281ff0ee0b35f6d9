import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MlflowError, isMlflowErrorCode, mlflowErrorCodes, mlflowErrors } from './mlflow-errors.ts';
import {
  assertParamKeysUnique,
  assertParamsImmutable,
  diffParams,
  mlflowLimits,
  posixNormpath,
  resolveRunName,
  searchPageLimits,
  validateBatchRequestSize,
  validateDatasetInput,
  validateExperimentId,
  validateExperimentName,
  validateExperimentTag,
  validateFinalStatus,
  validateLogBatch,
  validateLoggedModelName,
  validateMaxResults,
  validateMetric,
  validateMetricName,
  validateModelAliasName,
  validateModelName,
  validateModelVersion,
  validateModelVersionTag,
  validateParam,
  validateParamName,
  validateRegisteredModelTag,
  validateRunId,
  validateRunStatus,
  validateRunTag,
  validateArtifactLocation, validateRunUserId,
  validateTagName,
  viewTypeToStages,
} from './mlflow-validation.ts';

const rejects = (fn: () => unknown, message?: RegExp): void => {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MlflowError, `expected MlflowError, got ${String(error)}`);
    assert.equal(error.errorCode, 'INVALID_PARAMETER_VALUE');
    assert.equal(error.httpStatus, 400);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
};

describe('MlflowError', () => {
  it("answers with MLflow's HTTP statuses", () => {
    const expected: Record<string, number> = {
      INVALID_PARAMETER_VALUE: 400,
      BAD_REQUEST: 400,
      RESOURCE_ALREADY_EXISTS: 400,
      UNAUTHENTICATED: 401,
      PERMISSION_DENIED: 403,
      RESOURCE_DOES_NOT_EXIST: 404,
      INTERNAL_ERROR: 500,
      INVALID_STATE: 500,
      RESOURCE_LIMIT_EXCEEDED: 500,
      NOT_IMPLEMENTED: 501,
    };
    assert.deepEqual(Object.keys(mlflowErrorCodes).sort(), Object.keys(expected).sort());
    for (const [code, status] of Object.entries(expected)) {
      assert.ok(isMlflowErrorCode(code));
      assert.equal(new MlflowError(code, 'm').httpStatus, status, code);
    }
    assert.equal(isMlflowErrorCode('NOT_FOUND'), false);
  });

  it('serializes as MLflow does', () => {
    const error = mlflowErrors.notFound('Run with id=x not found');
    assert.deepEqual(JSON.parse(JSON.stringify(error)), { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run with id=x not found' });
    assert.ok(error instanceof Error);
  });
});

describe('key names', () => {
  const valid = ['acc', 'loss/val', 'a.b-c_d e', 'métrique', '数据', 'x'.repeat(250), 'a/b/c', '.hidden', 'a..b'];
  for (const name of valid) {
    it(`accepts ${JSON.stringify(name.slice(0, 30))}`, () => {
      assert.equal(validateMetricName(name), name);
      assert.equal(validateParamName(name), name);
      assert.equal(validateTagName(name), name);
    });
  }

  const invalid: [unknown, RegExp][] = [
    [undefined, /cannot be None/],
    [null, /cannot be None/],
    [3, /expected a string/],
    ['', /would resolve to '\.'/],
    ['.', /would resolve to '\.'/],
    ['./a', /would resolve to 'a'/],
    ['a/', /would resolve to 'a'/],
    ['a//b', /would resolve to 'a\/b'/],
    ['a/./b', /would resolve/],
    ['../a', /resolve/],
    ['a/../b', /would resolve to 'b'/],
    ['/abs', /resolve/],
    ['a:b', /may only contain/],
    ["a'b", /may only contain/],
    ['a;b', /may only contain/],
    ['tab\there', /may only contain/],
  ];
  for (const [name, message] of invalid) {
    it(`refuses ${JSON.stringify(name)}`, () => {
      rejects(() => validateMetricName(name), message);
      rejects(() => validateParamName(name), message);
      rejects(() => validateTagName(name), message);
    });
  }

  it('limits metric and param keys to 250 code points', () => {
    rejects(() => validateMetricName('x'.repeat(251)), /length 251, which exceeded length limit of 250/);
    rejects(() => validateParamName('x'.repeat(251)), /exceeded length limit of 250/);
    // Code points, not UTF-16 units: 250 astral letters are fine.
    assert.equal(validateMetricName('𝒳'.repeat(250)).length, 500);
  });

  it("matches Python's posixpath.normpath", () => {
    const cases: [string, string][] = [
      ['', '.'],
      ['a', 'a'],
      ['a/', 'a'],
      ['//a', '//a'],
      ['///a', '/a'],
      ['a/../..', '..'],
      ['/..', '/'],
      ['./a/./b/', 'a/b'],
      ['a/b/../c', 'a/c'],
    ];
    for (const [input, output] of cases) assert.equal(posixNormpath(input), output, input);
  });
});

describe('validateMetric', () => {
  it('normalizes numbers, proto JSON strings and defaults', () => {
    assert.deepEqual(validateMetric({ key: 'm', value: 1.5, timestamp: 10, step: 2 }), { key: 'm', value: 1.5, isNan: false, timestamp: 10, step: 2 });
    assert.deepEqual(validateMetric({ key: 'm', value: '0.25', timestamp: '1700000000000' }), {
      key: 'm',
      value: 0.25,
      isNan: false,
      timestamp: 1_700_000_000_000,
      step: 0,
    });
    const nan = validateMetric({ key: 'm', value: 'NaN', timestamp: 0, step: -3 });
    assert.ok(Number.isNaN(nan.value));
    assert.equal(nan.isNan, true);
    assert.equal(nan.step, -3);
    assert.equal(validateMetric({ key: 'm', value: 'Infinity', timestamp: 0 }).value, Number.POSITIVE_INFINITY);
    assert.equal(validateMetric({ key: 'm', value: '-Infinity', timestamp: 0 }).value, Number.NEGATIVE_INFINITY);
    assert.ok(validateMetric({ key: 'm', value: Number.NaN, timestamp: 0 }).isNan);
  });

  it('refuses bad values, timestamps and steps', () => {
    rejects(() => validateMetric({ key: 'm', value: true, timestamp: 0 }), /invalid value true .*valid double/);
    rejects(() => validateMetric({ key: 'm', value: 'abc', timestamp: 0 }), /invalid value/);
    rejects(() => validateMetric({ key: 'm', value: null, timestamp: 0 }), /invalid value/);
    rejects(() => validateMetric({ key: 'm', value: 1, timestamp: -1 }), /invalid timestamp -1 .*nonnegative/);
    rejects(() => validateMetric({ key: 'm', value: 1 }), /invalid timestamp/);
    rejects(() => validateMetric({ key: 'm', value: 1, timestamp: 1.5 }), /invalid timestamp/);
    rejects(() => validateMetric({ key: 'm', value: 1, timestamp: 2 ** 60 }), /invalid timestamp/);
    rejects(() => validateMetric({ key: 'm', value: 1, timestamp: 0, step: 'x' }), /invalid step/);
    rejects(() => validateMetric({ key: '../m', value: 1, timestamp: 0 }), /Invalid metric name/);
  });
});

describe('params and tags', () => {
  it('truncates over-long param and run-tag values by default, as MLflow does', () => {
    assert.equal(validateParam({ key: 'p', value: 'x'.repeat(6001) }).value.length, 6000);
    assert.equal(validateParam({ key: 'p', value: 'x'.repeat(6000) }).value.length, 6000);
    assert.equal(validateRunTag({ key: 't', value: 'y'.repeat(5001) }).value.length, 5000);
    // Truncation counts code points and never splits a surrogate pair.
    assert.equal(validateParam({ key: 'p', value: '😀'.repeat(6001) }).value, '😀'.repeat(6000));
  });

  it('refuses over-long values when truncation is off', () => {
    rejects(() => validateParam({ key: 'p', value: 'x'.repeat(6001) }, { truncate: false }), /Param value .* had length 6001, which exceeded length limit of 6000/);
    rejects(() => validateRunTag({ key: 't', value: 'x'.repeat(5001) }, { truncate: false }), /exceeded length limit of 5000/);
  });

  it('refuses bad keys and non-string values', () => {
    rejects(() => validateParam({ key: 'a b/', value: 'v' }), /Invalid parameter name/);
    rejects(() => validateParam({ key: 'p', value: 3 }), /must be a string/);
    rejects(() => validateRunTag({ key: 't' }), /must be a string/);
    rejects(() => validateRunTag({ key: 'x'.repeat(251), value: '' }), /Tag key/);
  });

  it('never truncates experiment and registry tags', () => {
    assert.deepEqual(validateExperimentTag({ key: 'k', value: 'v' }), { key: 'k', value: 'v' });
    rejects(() => validateExperimentTag({ key: 'k', value: 'x'.repeat(5001) }), /limit of 5000/);
    rejects(() => validateExperimentTag({ key: 'k'.repeat(251), value: '' }), /limit of 250/);
    rejects(() => validateRegisteredModelTag({ key: 'k', value: 'x'.repeat(5001) }), /Registered model value/);
    rejects(() => validateModelVersionTag({ key: 'k', value: null }), /Tag value cannot be None/);
    rejects(() => validateModelVersionTag({ key: 'k', value: 'x'.repeat(5001) }), /Model version value/);
    assert.deepEqual(validateModelVersionTag({ key: 'k', value: '' }), { key: 'k', value: '' });
  });
});

describe('validateLogBatch', () => {
  const metric = (i: number) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 });
  const param = (i: number) => ({ key: `p${i}`, value: String(i) });
  const tag = (i: number) => ({ key: `t${i}`, value: String(i) });
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('accepts the maximum sizes', () => {
    assert.equal(validateLogBatch({ metrics: range(1000).map(metric) }).metrics.length, 1000);
    const full = validateLogBatch({ metrics: range(800).map(metric), params: range(100).map(param), tags: range(100).map(tag) });
    assert.equal(full.metrics.length + full.params.length + full.tags.length, 1000);
    assert.deepEqual(validateLogBatch({}), { metrics: [], params: [], tags: [] });
  });

  it('refuses batches over the limits', () => {
    rejects(() => validateLogBatch({ metrics: range(1001).map(metric) }), /at most 1000 metrics. Got 1001 metrics/);
    rejects(() => validateLogBatch({ params: range(101).map(param) }), /at most 100 params/);
    rejects(() => validateLogBatch({ tags: range(101).map(tag) }), /at most 100 tags/);
    rejects(
      () => validateLogBatch({ metrics: range(801).map(metric), params: range(100).map(param), tags: range(100).map(tag) }),
      /at most 1000 metrics, params, and tags. Got 1001/,
    );
  });

  it('refuses duplicate param keys, even with equal values', () => {
    rejects(() => validateLogBatch({ params: [param(1), param(1)] }), /Duplicate parameter keys have been submitted: \["p1"\]/);
    assert.doesNotThrow(() => assertParamKeysUnique([param(1), param(2)]));
  });

  it('validates every item and refuses the whole batch on one bad item', () => {
    rejects(() => validateLogBatch({ metrics: [metric(1), { key: 'bad:key', value: 1, timestamp: 0 }] }), /Invalid metric name/);
    rejects(() => validateLogBatch({ tags: [null as unknown as { key: string }] }), /Tag name cannot be None/);
    rejects(() => validateLogBatch({ metrics: 'x' as unknown as [] }), /must be a list/);
  });

  it('limits the raw request to 1 MB', () => {
    assert.doesNotThrow(() => validateBatchRequestSize(1_000_000));
    rejects(() => validateBatchRequestSize(1_000_001), /at most 1000000 bytes/);
  });
});

describe('param immutability', () => {
  const existing = new Map([
    ['lr', '0.1'],
    ['depth', '3'],
  ]);

  it('inserts new keys and ignores identical re-logs', () => {
    assert.deepEqual(assertParamsImmutable('run1', existing, [
      { key: 'lr', value: '0.1' },
      { key: 'epochs', value: '5' },
    ]), [{ key: 'epochs', value: '5' }]);
  });

  it('refuses a changed value, naming every conflict', () => {
    rejects(
      () => assertParamsImmutable('run1', existing, [
        { key: 'lr', value: '0.2' },
        { key: 'depth', value: '5' },
        { key: 'new', value: 'x' },
      ]),
      /Changing param values is not allowed\. Params were already logged=.*"key":"lr","old_value":"0\.1","new_value":"0\.2".*"key":"depth".* for run ID='run1'/,
    );
  });

  it('agrees with a model of the rule (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.constantFrom('1', '2')),
        fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.constantFrom('1', '2')),
        (old, incoming) => {
          const map = new Map(Object.entries(old));
          const list = Object.entries(incoming).map(([key, value]) => ({ key, value }));
          const { toInsert, conflicts } = diffParams(map, list);
          for (const p of list) {
            const before = map.get(p.key);
            assert.equal(toInsert.some((x) => x.key === p.key), before === undefined);
            assert.equal(conflicts.some((x) => x.key === p.key), before !== undefined && before !== p.value);
          }
        },
      ),
    );
  });
});

describe('ids, names and enums', () => {
  it('validates run and experiment ids', () => {
    assert.equal(validateRunId('0123abcdef'), '0123abcdef');
    assert.equal(validateRunId('a'.repeat(256)), 'a'.repeat(256));
    for (const bad of ['', '_a', 'a'.repeat(257), 'a/b', "a'", 7]) rejects(() => validateRunId(bad), /Invalid run ID/);
    assert.equal(validateExperimentId('0'), '0');
    assert.equal(validateExperimentId(42), '42');
    for (const bad of ['', '-1', 'a'.repeat(65), '1;', null]) rejects(() => validateExperimentId(bad), /Invalid experiment ID/);
  });

  it('validates experiment names', () => {
    assert.equal(validateExperimentName('Default'), 'Default');
    assert.equal(validateExperimentName('x'.repeat(500)), 'x'.repeat(500));
    rejects(() => validateExperimentName(''), /Invalid experiment name/);
    rejects(() => validateExperimentName(undefined), /Invalid experiment name/);
    rejects(() => validateExperimentName(5), /Expects a string/);
    rejects(() => validateExperimentName('x'.repeat(501)), /maximum length of 500/);
  });

  it('resolves run names from run_name and the mlflow.runName tag', () => {
    assert.equal(resolveRunName('a', []), 'a');
    assert.equal(resolveRunName(undefined, [{ key: 'mlflow.runName', value: 'b' }]), 'b');
    assert.equal(resolveRunName('c', [{ key: 'mlflow.runName', value: 'c' }]), 'c');
    assert.equal(resolveRunName('', []), undefined);
    assert.equal(resolveRunName(null, [{ key: 'other', value: 'x' }]), undefined);
    rejects(() => resolveRunName('a', [{ key: 'mlflow.runName', value: 'b' }]), /Both 'run_name' argument and 'mlflow.runName' tag/);
    // The name is an index key (runs_name_idx): at most 500 code points, 2,000 bytes of UTF-8 for 4-byte ones.
    assert.equal(resolveRunName('😀'.repeat(500), []), '😀'.repeat(500));
    rejects(() => resolveRunName('x'.repeat(501), []), /limit of 500/);
    rejects(() => resolveRunName(undefined, [{ key: 'mlflow.runName', value: 'x'.repeat(501) }]), /limit of 500/);
  });

  it("holds a run's name tag and user to 500 code points (index keys); other tags keep 5000", () => {
    assert.equal(validateRunTag({ key: 'mlflow.runName', value: 'y'.repeat(501) }).value.length, 500);
    rejects(() => validateRunTag({ key: 'mlflow.runName', value: 'y'.repeat(501) }, { truncate: false }), /exceeded length limit of 500/);
    assert.equal(validateRunTag({ key: 'mlflow.runNameX', value: 'y'.repeat(5000) }).value.length, 5000);
    assert.equal(validateRunUserId('😀'.repeat(500)), '😀'.repeat(500));
    rejects(() => validateRunUserId('u'.repeat(501)), /user_id .* exceeded length limit of 500/);
    // An experiment's artifact location: its runs' artifact URIs are index keys too (migration 0048).
    assert.equal(validateArtifactLocation(`mlflow-artifacts:/${'é'.repeat(482)}`).length, 500);
    rejects(() => validateArtifactLocation(`mlflow-artifacts:/${'é'.repeat(483)}`), /artifact_location .* exceeded length limit of 500/);
  });

  it('validates run statuses and view types', () => {
    for (const s of ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']) assert.equal(validateRunStatus(s), s);
    rejects(() => validateRunStatus('running'), /Invalid run status/);
    assert.deepEqual(viewTypeToStages(undefined), ['active']);
    assert.deepEqual(viewTypeToStages('DELETED_ONLY'), ['deleted']);
    assert.deepEqual(viewTypeToStages('all'), ['active', 'deleted']);
    rejects(() => viewTypeToStages('SOME'), /Invalid view type/);
  });

  it('validates max_results per endpoint', () => {
    assert.equal(validateMaxResults(undefined, searchPageLimits.runs), 1000);
    assert.equal(validateMaxResults('50000', searchPageLimits.runs), 50_000);
    assert.equal(validateMaxResults(undefined, searchPageLimits.registeredModels), 100);
    rejects(() => validateMaxResults(50_001, searchPageLimits.runs), /at most 50000/);
    rejects(() => validateMaxResults(1001, searchPageLimits.registeredModels), /at most 1000/);
    rejects(() => validateMaxResults(0, searchPageLimits.runs), /positive integer/);
    rejects(() => validateMaxResults('ten', searchPageLimits.runs), /positive integer/);
    assert.equal(validateMaxResults(200_000, searchPageLimits.modelVersions), 200_000);
  });

  it('validates registry names, versions and aliases', () => {
    assert.equal(validateModelName('m'), 'm');
    rejects(() => validateModelName(''), /cannot be empty/);
    assert.equal(validateModelName('m'.repeat(256)), 'm'.repeat(256));
    rejects(() => validateModelName('m'.repeat(257)), /parameter 'name'.*exceeded length limit of 256/);
    rejects(() => validateModelName('😀'.repeat(257), 'new_name'), /parameter 'new_name'/);
    assert.equal(validateModelVersion('3'), 3);
    assert.equal(validateModelVersion(7), 7);
    for (const bad of ['x', '1.5', 0, -1, '', 2_147_483_648, '3000000000']) rejects(() => validateModelVersion(bad), /Model version must be an integer/);
    assert.equal(validateModelVersion('2147483647'), 2_147_483_647);
    assert.equal(validateModelAliasName('champion_1-a'), 'champion_1-a');
    rejects(() => validateModelAliasName(''), /cannot be empty/);
    rejects(() => validateModelAliasName('a b'), /Invalid alias name/);
    rejects(() => validateModelAliasName('Latest'), /reserved/);
    rejects(() => validateModelAliasName('v12'), /Version alias name 'v12' is reserved/);
    rejects(() => validateModelAliasName('a'.repeat(256)), /limit of 255/);
  });
});

describe('validateDatasetInput', () => {
  const dataset = { name: 'train', digest: 'abc123', source_type: 'local', source: '{"uri": "x"}' };

  it('accepts a complete dataset input', () => {
    assert.doesNotThrow(() => validateDatasetInput({ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }));
  });

  it('refuses missing fields and over-long values', () => {
    rejects(() => validateDatasetInput({}), /Dataset cannot be None/);
    rejects(() => validateDatasetInput({ dataset: { ...dataset, digest: undefined } }), /Dataset digest cannot be None/);
    rejects(() => validateDatasetInput({ dataset: { ...dataset, name: 'x'.repeat(501) } }), /name exceeds the maximum length of 500/);
    rejects(() => validateDatasetInput({ dataset: { ...dataset, digest: 'x'.repeat(37) } }), /digest exceeds the maximum length of 36/);
    rejects(() => validateDatasetInput({ dataset, tags: [{ key: 'k', value: 'x'.repeat(501) }] }), /InputTag value exceeds/);
    rejects(() => validateDatasetInput({ dataset, tags: [{ key: 'k' }] }), /InputTag value cannot be None/);
  });

  it('exposes the limits it enforces', () => {
    assert.equal(mlflowLimits.maxDatasetDigestLength, 36);
  });
});

describe('MLflow 3 logged models', () => {
  it('keeps the plain metric shape unless a model id is given, and carries the model fields when it is', () => {
    assert.deepEqual(validateMetric({ key: 'a', value: 1, timestamp: 1, step: 0 }), { key: 'a', value: 1, isNan: false, timestamp: 1, step: 0 });
    assert.deepEqual(validateMetric({ key: 'a', value: 1, timestamp: 1, dataset_name: 'eval' }), { key: 'a', value: 1, isNan: false, timestamp: 1, step: 0 });
    assert.deepEqual(validateMetric({ key: 'a', value: 1, timestamp: 1, model_id: 'm-1', dataset_name: 'eval', dataset_digest: 'd' }), {
      key: 'a', value: 1, isNan: false, timestamp: 1, step: 0, modelId: 'm-1', datasetName: 'eval', datasetDigest: 'd',
    });
    rejects(() => validateMetric({ key: 'a', value: 1, timestamp: 1, model_id: 7 }), /model_id/);
    rejects(() => validateMetric({ key: 'a', value: 1, timestamp: 1, model_id: 'm-1', dataset_digest: 'x'.repeat(37) }), /dataset_digest/);
  });

  it('validates logged model names as MLflow does (no path or URI characters)', () => {
    assert.equal(validateLoggedModelName(undefined), undefined);
    assert.equal(validateLoggedModelName(''), undefined);
    assert.equal(validateLoggedModelName('my model_1-x'), 'my model_1-x');
    for (const bad of ['a/b', 'a:b', 'a.b', '50%', 'say "hi"', "it's", 'x'.repeat(501), 3]) rejects(() => validateLoggedModelName(bad));
  });

  it('finalizes only to READY or FAILED, by proto name or enum number', () => {
    assert.equal(validateFinalStatus('LOGGED_MODEL_READY'), 'READY');
    assert.equal(validateFinalStatus('LOGGED_MODEL_UPLOAD_FAILED'), 'FAILED');
    assert.equal(validateFinalStatus(2), 'READY');
    assert.equal(validateFinalStatus('3'), 'FAILED');
    rejects(() => validateFinalStatus(undefined), /Missing value for required parameter 'status'/);
    for (const bad of ['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_STATUS_UNSPECIFIED', 'READY', 0, 1, 4, true, {}]) rejects(() => validateFinalStatus(bad));
  });
});
