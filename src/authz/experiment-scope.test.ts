import { test } from 'node:test';
import assert from 'node:assert/strict';
import { experimentScopeNeed } from './experiment-scope.ts';

const run = 'a'.repeat(32);

test('what a request addresses, for a token narrowed to experiments', () => {
  assert.deepEqual(experimentScopeNeed('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '7' }), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(experimentScopeNeed('GET', '/api/2.0/mlflow/experiments/get?experiment_id=7', undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(experimentScopeNeed('GET', '/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=churn', undefined), { kind: 'experiment_name', name: 'churn' });
  assert.deepEqual(experimentScopeNeed('POST', '/api/2.0/mlflow/runs/log-metric', { run_id: run }), { kind: 'run', id: run });
  assert.deepEqual(experimentScopeNeed('POST', '/api/2.0/mlflow/runs/log-batch', { run_uuid: run }), { kind: 'run', id: run });
  assert.deepEqual(experimentScopeNeed('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${run}&metric_key=x`, undefined), { kind: 'run', id: run });
  assert.deepEqual(experimentScopeNeed('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['7', 8] }), { kind: 'experiments', ids: ['7', '8'] });
  assert.deepEqual(experimentScopeNeed('GET', `/api/2.0/mlflow-artifacts/artifacts/7/${run}/artifacts/m.onnx`, undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(experimentScopeNeed('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/x', undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(experimentScopeNeed('GET', '/api/v1/me', undefined), { kind: 'allow' });
});

test('anything that could reach past the experiments is denied', () => {
  for (const [method, url, body] of [
    ['POST', '/api/2.0/mlflow/experiments/create', { name: 'x' }],
    ['POST', '/api/2.0/mlflow/experiments/search', {}],
    ['POST', '/api/2.0/mlflow/runs/search', {}],
    ['POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [] }],
    ['POST', '/api/2.0/mlflow/runs/log-metric', {}],
    ['POST', '/api/2.0/mlflow/registered-models/create', { name: 'm' }],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/models/churn/v1/model.onnx', undefined],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/7/../8/x', undefined],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A', undefined],
    ['GET', '/api/v1/tenants/acme/jobs', undefined],
  ] as const) {
    assert.deepEqual(experimentScopeNeed(method, url, body), { kind: 'deny' }, `${method} ${url}`);
  }
});
