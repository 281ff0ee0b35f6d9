import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEndpointManifests } from './endpoint-manifest.ts';
import { buildJobManifest } from './job-manifest.ts';
import { fixtureConfig, fixtureEndpoint, fixtureJob, fixtureTenant } from './kubernetes-fixtures.ts';
import { podBandwidthAnnotations } from './tenant-bundle.ts';

const quotaWith = (ingress: number, egress: number) => ({ ...fixtureTenant('sandbox').quota, ingressBytesPerSecond: ingress, egressBytesPerSecond: egress });

test("pod bandwidth annotations are the quota in bits per second, the pod's egress from the tenant's ingress", () => {
  assert.deepEqual(podBandwidthAnnotations(quotaWith(50_000_000, 125_000_000)), {
    'kubernetes.io/ingress-bandwidth': '1G',
    'kubernetes.io/egress-bandwidth': '400M',
  });
  // Not a round number: plain bits, still a valid quantity.
  assert.equal(podBandwidthAnnotations(quotaWith(1536, 1024))['kubernetes.io/egress-bandwidth'], '12288');
  assert.equal(podBandwidthAnnotations(quotaWith(1536, 1000))['kubernetes.io/ingress-bandwidth'], '8k');
  // The default quota (10 GiB/s) stays under the kubelet's 1P ceiling.
  assert.equal(podBandwidthAnnotations(quotaWith(10 * 1024 ** 3, 10 * 1024 ** 3))['kubernetes.io/ingress-bandwidth'], '85899345920');
});

test('job and endpoint pod templates carry them; a changed quota changes them', () => {
  const tenant = fixtureTenant('sandbox', { quota: quotaWith(2_000_000, 3_000_000) });
  const job = buildJobManifest(fixtureJob(tenant), fixtureConfig()) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
  assert.equal(job.spec.template.metadata.annotations['kubernetes.io/egress-bandwidth'], '16M');
  assert.equal(job.spec.template.metadata.annotations['kubernetes.io/ingress-bandwidth'], '24M');
  const deployment = buildEndpointManifests(fixtureEndpoint(tenant), fixtureConfig()).find((object) => object.kind === 'Deployment') as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
  assert.equal(deployment.spec.template.metadata.annotations['kubernetes.io/egress-bandwidth'], '16M');
});
