import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBoundedLabels, openApiRoute, OTHER_LABEL, statusClass, UNMATCHED_ROUTE } from './metric-labels.ts';

describe('bounded labels', () => {
  it('gives the first max keys their own label and every later one _other, for good', () => {
    const labels = createBoundedLabels(1000);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i += 1) seen.add(labels.label(`tenant-${String(i)}`));
    assert.equal(seen.size, 1001);
    assert.ok(seen.has(OTHER_LABEL));
    assert.equal(labels.size, 1000);
    // Stable: a labelled key keeps its label, an overflowing one stays _other.
    assert.equal(labels.label('tenant-5'), 'tenant-5');
    assert.equal(labels.label('tenant-4999'), OTHER_LABEL);
  });
});

describe('openApiRoute', () => {
  it('spells route templates as the OpenAPI document does', () => {
    assert.equal(openApiRoute('/api/v1/tenants/:tenant/jobs/:id'), '/api/v1/tenants/{tenant}/jobs/{id}');
    assert.equal(openApiRoute('/api/v1/tenants/:tenant/datasets/:name/versions/:version/files/*'), '/api/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/{*}');
    assert.equal(openApiRoute('/v2/models/:name/infer'), '/v2/models/{name}/infer');
    assert.equal(openApiRoute('/a/:id(\\d+)/b'), '/a/{id}/b');
    assert.equal(openApiRoute('/a/(\\d+)'), '/a/{regexp1}');
    assert.equal(openApiRoute('/a::watch'), '/a:watch');
    assert.equal(openApiRoute(undefined), UNMATCHED_ROUTE);
  });
  it('status classes', () => {
    assert.equal(statusClass(200), '2xx');
    assert.equal(statusClass(429), '4xx');
    assert.equal(statusClass(503), '5xx');
  });
});
