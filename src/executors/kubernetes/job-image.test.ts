/** Issue 17 on Kubernetes: a job's OCI image becomes its pod's image, pinned by the resolved digest. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildJobManifest, clusterJobSpecOf, podImageOf } from './job-manifest.ts';
import { fixtureConfig, fixtureTenant } from './kubernetes-fixtures.ts';

const digest = `sha256:${'ab'.repeat(32)}`;
const job = {
  id: '0b0b0b0b-0000-4000-8000-000000000001', command: ['python3', 'train.py'], env: {}, priority: 0, codeBundle: null, datasets: [],
  resources: { cpu: 1, memoryMiB: 512, gpu: 0, timeoutSeconds: 60 },
};

type Json = Record<string, any>;
const containerImages = (manifest: Json): string[] =>
  (manifest.spec.template.spec.containers as Json[]).map((c) => c.image as string);

test('the pod runs name@digest of the job\'s image, whether it was submitted by tag or by digest', () => {
  const config = fixtureConfig();
  for (const ref of ['torch:2.3', `torch@${digest}`, 'torch']) {
    const spec = clusterJobSpecOf({ ...job, image: ref, imageDigest: digest }, fixtureTenant('sandbox'));
    assert.equal(spec.image, `torch@${digest}`, ref);
    assert.deepEqual(containerImages(buildJobManifest(spec, config) as Json), [`torch@${digest}`], ref);
  }
  assert.equal(podImageOf('torch:2.3', digest), `torch@${digest}`);
});

test('a job without an image keeps the cluster\'s default job image', () => {
  const config = fixtureConfig();
  const spec = clusterJobSpecOf({ ...job, image: null, imageDigest: null }, fixtureTenant('sandbox'));
  assert.equal(spec.image, undefined);
  assert.deepEqual(containerImages(buildJobManifest(spec, config) as Json), [config.jobImage]);
});
