/**
 * Golden files for every builder. `UPDATE_GOLDEN=1 node --test src/executors/kubernetes/golden.test.ts`
 * rewrites them; review the diff like code.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEndpointManifests } from './endpoint-manifest.ts';
import { buildGangJobObjects, buildGpuFlavorObjects } from './gang-manifest.ts';
import { buildJobManifest } from './job-manifest.ts';
import { fixtureConfig, fixtureEndpoint, fixtureGpuFlavors, fixtureJob, fixtureOrganization, fixtureTeamInOrganization, fixtureTenant } from './kubernetes-fixtures.ts';
import type { KubeObject } from './kubernetes-types.ts';
import { buildClusterKueueObjects, buildKueueConfiguration } from './kueue.ts';
import { createClusterConfig } from './naming.ts';
import { renderYaml } from './render-yaml.ts';
import { buildTenantBundle } from './tenant-bundle.ts';

const goldenDir = join(import.meta.dirname, 'golden');
const update = process.env['UPDATE_GOLDEN'] === '1';

const withKueue = fixtureConfig();
const withoutKueue = fixtureConfig({ kueue: { enabled: false } });
const noSandboxClass = createClusterConfig({ kueue: { enabled: false }, jobImage: withKueue.jobImage });
const suspended = fixtureTenant('sandbox', { status: 'suspended' });

const cases: Record<string, () => KubeObject[]> = {
  'job-gang-gpu.yaml': () => buildGangJobObjects(fixtureJob(fixtureTenant('sandbox')), { workers: 4, preferredTopology: 'cloud.provider.com/topology-rack' }, withKueue),
  'tenant-gpu-flavors.yaml': () => buildGpuFlavorObjects(fixtureTenant('sandbox'), fixtureGpuFlavors, withKueue),
  'cluster-kueue.yaml': () => buildClusterKueueObjects(withKueue),
  'tenant-process.yaml': () => buildTenantBundle(fixtureTenant('process'), withKueue),
  'tenant-sandbox.yaml': () => buildTenantBundle(fixtureTenant('sandbox'), withKueue),
  'tenant-dedicated.yaml': () => buildTenantBundle(fixtureTenant('dedicated'), withKueue),
  'tenant-organization-cohort.yaml': () => buildTenantBundle(fixtureOrganization(), withKueue),
  'tenant-team-in-organization.yaml': () => buildTenantBundle(fixtureTeamInOrganization(), withKueue),
  'kueue-configuration.yaml': () => [buildKueueConfiguration(withKueue)],
  'tenant-sandbox-no-kueue.yaml': () => buildTenantBundle(fixtureTenant('sandbox'), withoutKueue),
  'tenant-sandbox-suspended.yaml': () => buildTenantBundle(suspended, withKueue),
  'job-process.yaml': () => [buildJobManifest(fixtureJob(fixtureTenant('process')), withKueue)],
  'job-sandbox.yaml': () => [buildJobManifest(fixtureJob(fixtureTenant('sandbox')), withKueue)],
  'job-dedicated.yaml': () => [buildJobManifest(fixtureJob(fixtureTenant('dedicated')), withKueue)],
  'job-sandbox-no-kueue-no-runtime-class.yaml': () => [buildJobManifest(fixtureJob(fixtureTenant('sandbox')), noSandboxClass)],
  'job-with-inputs.yaml': () => [buildJobManifest({ ...fixtureJob(fixtureTenant('sandbox')), inputs: { codeBundle: 'code/train.tar.gz', datasets: [{ name: 'churn', version: 3 }] } }, withKueue)],
  'endpoint-sandbox.yaml': () => buildEndpointManifests(fixtureEndpoint(fixtureTenant('sandbox')), withKueue),
  'endpoint-dedicated.yaml': () => buildEndpointManifests(fixtureEndpoint(fixtureTenant('dedicated')), withKueue),
  'endpoint-sandbox-suspended.yaml': () => buildEndpointManifests(fixtureEndpoint(suspended), withKueue),
};

for (const [file, build] of Object.entries(cases)) {
  test(`golden ${file}`, () => {
    const rendered = renderYaml(build());
    assert.equal(renderYaml(build()), rendered, 'builders must be deterministic');
    const path = join(goldenDir, file);
    if (update) {
      mkdirSync(goldenDir, { recursive: true });
      writeFileSync(path, rendered);
      return;
    }
    assert.ok(existsSync(path), `missing golden file ${file}: run with UPDATE_GOLDEN=1`);
    assert.equal(rendered, readFileSync(path, 'utf8'), `${file} changed: review, then UPDATE_GOLDEN=1`);
  });
}
