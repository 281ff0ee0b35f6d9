import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCredentialParam, redactUrl } from './log-redaction.ts';

test('a signed multipart part URL keeps its path and loses its expiry and signature', () => {
  const url = '/api/2.0/mlflow-artifacts/mpu/upload/6f1c0a52-0000-4000-8000-000000000001/6f1c0a52-0000-4000-8000-000000000002/1?expires=1790000000&signature=c2lnbmF0dXJl';
  const redacted = redactUrl(url);
  assert.equal(redacted, '/api/2.0/mlflow-artifacts/mpu/upload/6f1c0a52-0000-4000-8000-000000000001/6f1c0a52-0000-4000-8000-000000000002/1?expires=[redacted]&signature=[redacted]');
  assert.doesNotMatch(redacted, /1790000000|c2lnbmF0dXJl/);
});

test('credential-shaped parameters are redacted whatever their case, encoding or position; others are kept', () => {
  assert.equal(redactUrl('/v2/health/ready?token=bh_secret'), '/v2/health/ready?token=[redacted]');
  assert.equal(redactUrl('/x?a=1&ACCESS_TOKEN=t1&b=2&Password=p&client-secret=s&api_key=k&X-Amz-Signature=z&key=v&run_id=r'),
    '/x?a=1&ACCESS_TOKEN=[redacted]&b=2&Password=[redacted]&client-secret=[redacted]&api_key=[redacted]&X-Amz-Signature=[redacted]&key=[redacted]&run_id=r');
  // A percent-encoded name is decoded before it is judged.
  assert.equal(redactUrl('/x?%74oken=t&q=1'), '/x?%74oken=[redacted]&q=1');
  // A parameter with no value, or repeated, is still redacted; a URL without a query is unchanged.
  assert.equal(redactUrl('/x?token&token=a&token=b'), '/x?token=[redacted]&token=[redacted]&token=[redacted]');
  assert.equal(redactUrl('/api/v1/tenants/acme/jobs'), '/api/v1/tenants/acme/jobs');
  assert.equal(redactUrl('/api/2.0/mlflow/runs/search?max_results=10&page_token'), '/api/2.0/mlflow/runs/search?max_results=10&page_token=[redacted]');
});

test('the list of credential names', () => {
  for (const name of ['token', 'bearer_token', 'id_token', 'refresh-token', 'password', 'passwd', 'pwd', 'secret', 'signature', 'sig', 'credential', 'credentials', 'key', 'apikey', 'private_key', 'auth', 'authorization', 'expires', 'session_id', 'X-Goog-Credential', 'code']) {
    assert.equal(isCredentialParam(name), true, name);
  }
  for (const name of ['run_id', 'experiment_id', 'max_results', 'follow', 'confirm', 'path', 'name', 'version', 'tenant']) {
    assert.equal(isCredentialParam(name), false, name);
  }
});
