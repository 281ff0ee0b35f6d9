import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalStage, jsonDouble, modelVersionJson, runInfoJson } from './mlflow-entities.ts';

test('non-finite doubles become the proto3 JSON strings MLflow clients parse', () => {
  assert.equal(jsonDouble(Number.NaN), 'NaN');
  assert.equal(jsonDouble(Number.POSITIVE_INFINITY), 'Infinity');
  assert.equal(jsonDouble(Number.NEGATIVE_INFINITY), '-Infinity');
  assert.equal(jsonDouble(-0.5), -0.5);
  assert.equal(JSON.stringify({ v: jsonDouble(Number.NaN) }), '{"v":"NaN"}');
});

test('stages are matched case-insensitively and answered in canonical form', () => {
  assert.equal(canonicalStage('production'), 'Production');
  assert.equal(canonicalStage('NONE'), 'None');
  assert.equal(canonicalStage('prod'), undefined);
});

test('run info carries run_uuid, string experiment ids, and omits an unset end_time', () => {
  const info = runInfoJson({ id: 'a'.repeat(32), experiment_id: 7, name: 'n', user_id: 'u', status: 'RUNNING', start_time: 5, end_time: null, lifecycle_stage: 'active', artifact_uri: 'x' });
  assert.equal(info.run_uuid, info.run_id);
  assert.equal(info.experiment_id, '7');
  assert.ok(!('end_time' in info));
});

test('model versions are strings and an absent run id is empty, as MLflow answers', () => {
  const v = modelVersionJson({
    name: 'm', version: 3, creation_time: 1, last_updated_time: 2, description: '', user_id: '', current_stage: 'None', source: 'runs:/x/m',
    run_id: null, run_link: '', status: 'READY', status_message: '', tags: null, aliases: null,
  });
  assert.equal(v.version, '3');
  assert.equal(v.run_id, '');
  assert.deepEqual([v.tags, v.aliases], [[], []]);
});
