import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEndpointManifests } from './endpoint-manifest.ts';
import { observeEndpointGeneration } from './endpoint-status.ts';
import { fixtureConfig, fixtureEndpoint, fixtureTenant } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';

const deployment = (status: Record<string, unknown>, generation = 'g7a1b2c3d', metaGeneration = 2): KubeObject => {
  const [built] = buildEndpointManifests(fixtureEndpoint(fixtureTenant('sandbox'), { generation, tokenSecretName: `ep-churn-${generation}` }), fixtureConfig());
  return { ...built!, metadata: { ...built!.metadata, generation: metaGeneration }, status };
};
const done = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 };

test('endpoint status: missing, ready, and every way of not being ready yet', () => {
  assert.equal(observeEndpointGeneration(undefined, 'g1').phase, 'missing');
  assert.deepEqual(observeEndpointGeneration(deployment(done), 'g7a1b2c3d'), { phase: 'ready', desired: 2, ready: 2, updated: 2 });
  assert.equal(observeEndpointGeneration(deployment({ ...done, observedGeneration: 1 }), 'g7a1b2c3d').phase, 'progressing', 'controller behind');
  assert.equal(observeEndpointGeneration(deployment({ ...done, updatedReplicas: 1 }), 'g7a1b2c3d').phase, 'progressing', 'not all updated');
  assert.equal(observeEndpointGeneration(deployment({ ...done, replicas: 3 }), 'g7a1b2c3d').phase, 'progressing', 'an old pod is still there');
  assert.equal(observeEndpointGeneration(deployment({ ...done, readyReplicas: 1, availableReplicas: 1 }), 'g7a1b2c3d').phase, 'progressing', 'not all ready');
  assert.equal(observeEndpointGeneration(deployment({}), 'g7a1b2c3d').phase, 'progressing', 'no status yet');
});

test('endpoint status: another generation owns the template; a rollout past its deadline failed', () => {
  const old = observeEndpointGeneration(deployment({ ...done, replicas: 3, updatedReplicas: 1 }, 'gnew'), 'gold');
  assert.equal(old.phase, 'superseded');
  assert.equal(old.ready, 2, 'old pods still serve while the new ones roll out');
  const failed = observeEndpointGeneration(deployment({ ...done, updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "ep-churn-x" has timed out progressing.' }] }), 'g7a1b2c3d');
  assert.equal(failed.phase, 'failed');
  assert.match(failed.reason ?? '', /timed out/);
});
