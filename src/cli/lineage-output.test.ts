/** The CLI's lineage trees print cross-tenant edges (issue 15) only when there are any. Pure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatasetLineage, ModelLineage } from '../contract/lineage-views.ts';
import { formatDatasetLineage, formatModelLineage } from './lineage-output.ts';

const model = (sharing: ModelLineage['sharing']): ModelLineage => ({
  model: { name: 'team-a/churn', version: 1, source: 'mlflow-artifacts:/models/churn/v1', runId: null },
  recorded: false, recordedAt: null, recordedBy: null, recordedVia: null,
  upstream: { job: null, run: null, datasets: [], codeBundle: null, codeDigest: null, image: null, params: {} },
  sharing,
});

test('a shared model version names its owner, the uses and the own deployments', () => {
  const text = formatModelLineage(model({
    sharedFrom: 'team-a',
    uses: [{ tenant: 'team-a', kind: 'deployment', firstUsedAt: '2026-01-01T00:00:00.000Z', lastUsedAt: '2026-01-02T00:00:00.000Z' }],
    deployments: [{ id: 'd1', name: 'theirs' }],
  }));
  assert.match(text, /shared by tenant team-a \(its upstream is not shown\)/);
  assert.match(text, /used here from tenant team-a in a deployment \(first 2026-01-01T00:00:00.000Z, last 2026-01-02T00:00:00.000Z\)/);
  assert.match(text, /deployed here as theirs/);
});

test("the owner's view names the tenant and the kind of use; nothing when there is no edge", () => {
  const dataset = (sharing: DatasetLineage['sharing']): DatasetLineage => ({ dataset: { name: 'churn', version: 1, digest: 'ab'.repeat(32) }, jobs: [], modelVersions: [], sharing });
  const used = formatDatasetLineage(dataset({ sharedFrom: null, uses: [{ tenant: 'team-b', kind: 'job', firstUsedAt: 'x', lastUsedAt: 'y' }], deployments: [] }));
  assert.match(used, /used by tenant team-b in a job/);
  const plain = formatDatasetLineage(dataset({ sharedFrom: null, uses: [], deployments: [] }));
  assert.doesNotMatch(plain, /tenant/);
  assert.equal(plain.split('\n').length, 3, 'the header and the two sections only');
});
