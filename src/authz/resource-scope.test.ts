import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceScopeNeed } from './resource-scope.ts';

const run = 'a'.repeat(32);

test('what a request addresses, for a token narrowed to experiments', () => {
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '7' }), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/2.0/mlflow/experiments/get?experiment_id=7', undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(resourceScopeNeed('GET', '/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=churn', undefined), { kind: 'experiment_name', name: 'churn' });
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/runs/log-metric', { run_id: run }), { kind: 'run', id: run });
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/runs/log-batch', { run_uuid: run }), { kind: 'run', id: run });
  assert.deepEqual(resourceScopeNeed('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${run}&metric_key=x`, undefined), { kind: 'run', id: run });
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['7', 8] }), { kind: 'experiments', ids: ['7', '8'] });
  assert.deepEqual(resourceScopeNeed('GET', `/api/2.0/mlflow-artifacts/artifacts/7/${run}/artifacts/m.onnx`, undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/2.0/mlflow-artifacts/artifacts?path=7/x', undefined), { kind: 'experiments', ids: ['7'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/v1/me', undefined), { kind: 'allow' });
});

test('anything that could reach past the experiments is denied', () => {
  for (const [method, url, body] of [
    ['POST', '/api/2.0/mlflow/experiments/create', { name: 'x' }],
    ['POST', '/api/2.0/mlflow/experiments/search', {}],
    ['POST', '/api/2.0/mlflow/runs/search', {}],
    ['POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [] }],
    ['POST', '/api/2.0/mlflow/runs/log-metric', {}],
    ['POST', '/api/2.0/mlflow/registered-models/create', {}],
    ['GET', '/api/2.0/mlflow/registered-models/search', undefined],
    ['GET', '/api/2.0/mlflow/model-versions/search?filter=name%3D%27churn%27', undefined],
    ['POST', '/api/2.0/mlflow/registered-models/rename', { name: 'churn' }],
    ['GET', '/api/v1/tenants/acme/deployments', undefined],
    ['POST', '/api/v1/tenants/acme/deployments', { name: 'web' }],
    ['GET', '/api/v1/tenants/acme/deployments/web/../other', undefined],
    ['GET', '/api/v1/tenants/acme/models/churn/versions/1', undefined],
    ['POST', '/api/v1/tenants/acme/jobs/j1/register-model', { name: 'churn' }],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/models/churn/v1/model.onnx', undefined],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/7/../8/x', undefined],
    ['GET', '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A', undefined],
    ['GET', '/api/v1/tenants/acme/jobs', undefined],
  ] as const) {
    assert.deepEqual(resourceScopeNeed(method, url, body), { kind: 'deny' }, `${method} ${url}`);
  }
});

test('what a request addresses, for a token narrowed to models and deployments', () => {
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/registered-models/create', { name: 'churn' }), { kind: 'models', names: ['churn'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/2.0/mlflow/registered-models/get?name=churn', undefined), { kind: 'models', names: ['churn'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/2.0/mlflow/model-versions/get-download-uri?name=churn&version=1', undefined), { kind: 'models', names: ['churn'] });
  assert.deepEqual(resourceScopeNeed('POST', '/api/2.0/mlflow/registered-models/rename', { name: 'churn', new_name: 'fraud' }), { kind: 'models', names: ['churn', 'fraud'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/v1/tenants/acme/models/churn/versions/2/lineage', undefined), { kind: 'models', names: ['churn'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/v1/tenants/acme/deployments/web', undefined), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('PATCH', '/api/v1/tenants/acme/deployments/web', { replicas: 2 }), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('GET', '/api/v1/tenants/acme/deployments/web/logs', undefined), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('POST', '/api/v1/tenants/acme/deployments', { name: 'web', model: 'churn', version: 1 }), { kind: 'models', names: ['churn'], deployments: ['web'] });
  assert.deepEqual(resourceScopeNeed('POST', '/v2/models/web/infer', Buffer.from('{}')), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('GET', '/v2/models/web/versions/3/ready', undefined), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('GET', '/v2/models/web', undefined), { kind: 'deployments', names: ['web'] });
  assert.deepEqual(resourceScopeNeed('GET', '/v2/health/ready', undefined), { kind: 'allow' });
});
