import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointTokenAllows } from './endpoint-token-scope.ts';

const scope = { artifactPath: '1/abc/artifacts/model/model.onnx' };
const allowed = (method: string, url: string) => endpointTokenAllows(scope, method, url).ok;

test('an endpoint token reads exactly its model artifact, with GET, and nothing else', () => {
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx'), true);
  assert.equal(allowed('GET', '/ajax-api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx'), true);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model%2Fmodel.onnx'), true, 'encoded slashes name the same file');
  assert.equal(allowed('PUT', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx'), false);
  assert.equal(allowed('DELETE', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx'), false);
  assert.equal(allowed('HEAD', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx'), false);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/other.onnx'), false);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.onnx/x'), false);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/../model/model.onnx'), false);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts?path=1/abc/artifacts/model/model.onnx'), false, 'listing is not reading');
  assert.equal(allowed('GET', '/api/v1/me'), false);
  assert.equal(allowed('GET', '/api/v1/tenants/acme/deployments'), false);
  assert.equal(allowed('GET', '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A'), false, 'malformed escapes');
});
