/**
 * Deployments on OCI images (issue 17), on PGlite and PostgreSQL with real sandboxed serving workers: a
 * deployment naming an image records its digest, its worker's `/` is the image's root (read through
 * /proc/<pid>/root of the running worker: the image's marker file, no host python3), inference answers;
 * another tenant's private image is NOT_FOUND for a deployment, the process tier is refused, and the image
 * stays in the store while a deployment runs on it, even after its tag is deleted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { waitFor } from './support/wait.ts';
import { buildShellImage } from './support/oci-images.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const image = buildShellImage('serving-image');

/** Pids of running serving workers of deployment `name` (their argv names the worker script and the deployment). */
const workerPids = (name: string): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
  try {
    const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.endsWith('oip-worker.ts')) && argv.includes(name) ? [Number(d)] : [];
  } catch {
    return [];
  }
});

for (const kind of databaseKinds) {
  describe(`deployments on images (${kind})`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    let version = '';
    const deploy = (tenant: TestTenant, body: Record<string, unknown>) => p.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, tenant.tokens.member, body);

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhsimg-${randomBytes(4).toString('hex')}` });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      for (const t of [acme, globex]) await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      const imported = await p.call('POST', '/api/v1/tenants/acme/images?name=srv&tag=1', acme.tokens.member, image.archive);
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', acme.tokens.member, { name: 'churn' });
      const path = `models/churn/${randomBytes(4).toString('hex')}`;
      const model = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['a', 'b'], weights: [1, 2], bias: 0 });
      const up = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, headers: { authorization: `Bearer ${acme.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(model) });
      assert.equal(up.statusCode, 200, up.body);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', acme.tokens.member, { name: 'churn', source: `mlflow-artifacts:/${path}` });
      version = String(created.body.model_version.version);
    });
    after(async () => {
      await p.call('DELETE', '/api/v1/tenants/acme/deployments/imgserve', acme.tokens.member);
      await p.close();
    });

    test('a deployment on an image: digest recorded, the worker\'s / is the image, inference answers', async () => {
      const created = await deploy(acme, { name: 'imgserve', model: 'churn', version, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 2, image: 'srv:1' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.image, created.body.imageDigest], ['srv:1', image.manifestDigest]);
      const ready = await waitFor('the deployment on an image to be ready', async () => {
        const d = await p.call('GET', '/api/v1/tenants/acme/deployments/imgserve', acme.tokens.viewer);
        if (d.body.status === 'failed') throw new Error(JSON.stringify(d.body));
        return d.body.status === 'ready' ? d.body : undefined;
      }, 90_000, 100);
      assert.equal(ready.imageDigest, image.manifestDigest);
      const answer = await p.call('POST', '/v2/models/imgserve/infer', acme.tokens.member, {
        inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }],
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok(Math.abs(answer.body.outputs[0].data[0] - sigmoid(3)) < 1e-5);
      // The sandboxed processes (bwrap's launcher stays in the host's mount namespace; the worker does not).
      const hostMounts = readlinkSync('/proc/self/ns/mnt');
      const pids = workerPids('imgserve').filter((pid) => readlinkSync(`/proc/${pid}/ns/mnt`) !== hostMounts);
      assert.ok(pids.length >= 1, 'a sandboxed worker process runs');
      for (const pid of pids) {
        assert.equal(readFileSync(`/proc/${pid}/root/etc/image-name`, 'utf8'), 'serving-image\n', "the worker's / is the image");
        assert.equal(existsSync(`/proc/${pid}/root/usr/bin/python3`), false, "the host's /usr is not there");
      }
    });

    test('deleting the tag keeps the digest while the deployment runs on it', async () => {
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/images/srv:1', acme.tokens.member)).status, 204);
      assert.ok(existsSync(join(p.home, 'images', 'rootfs', image.manifestDigest.slice(7), 'etc', 'image-name')));
    });

    test("another tenant's private image is NOT_FOUND for a deployment; the process tier cannot serve on an image", async () => {
      const imported = await p.call('POST', '/api/v1/tenants/acme/images?name=srv&tag=2', acme.tokens.member, image.archive);
      assert.equal(imported.status, 201);
      const other = await deploy(globex, { name: 'x', model: 'churn', version: '1', image: 'srv:2' });
      assert.equal(other.status, 404, JSON.stringify(other.body));
      assert.equal(other.body.message, "image 'srv:2' not found");
      const byDigest = await deploy(globex, { name: 'x', model: 'churn', version: '1', image: `srv@${image.manifestDigest}` });
      assert.equal(byDigest.status, 404);
      const proc = await p.createTenant('plain', 'process');
      const refused = await deploy(proc, { name: 'x', model: 'churn', version: '1', image: 'srv:2' });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal((await p.call('GET', '/api/v1/tenants/globex/deployments', globex.tokens.viewer)).body.deployments?.length ?? 0, 0);
    });
  });
}
