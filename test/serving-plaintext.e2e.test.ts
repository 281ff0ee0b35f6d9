/**
 * Issue 23 item 4 on PGlite and PostgreSQL: a tenant's decrypted model never exists as a file. A model
 * with random weights (so its bytes are this test's alone) is registered, deployed as a real sandboxed
 * worker and served; then no file holding its plaintext (matched by size and SHA-256) exists in /tmp (the
 * serving roots, the executor's runtime dirs), /dev/shm or the platform home, nor after a worker restart,
 * nor after the tenant is deleted. Tenant deletion removes a plaintext copy planted in the home and
 * reports it; start-up's `wipeModelPlaintext` removes the model directory an earlier version left in a
 * dead serving root, and leaves a live one alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { findPlaintextFiles, wipeModelPlaintext } from '../src/serving/index.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Pids of the model workers (not their bwrap launchers) of deployment `name`, from /proc. */
const workerPidsOf = (name: string): number[] =>
  readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return [];
    }
    const script = argv.findIndex((arg) => arg.endsWith('oip-worker.ts'));
    return script === 1 && !argv[0]!.endsWith('bwrap') && argv[script + 3] === name ? [Number(pid)] : [];
  });

for (const kind of databaseKinds) {
  describe(`plaintext models on disk, on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    const weights = [Math.random() + 0.5, -(Math.random() + 0.5), Math.random()];
    const bias = Math.random();
    const model = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: weights.map((_, i) => `f${i}`), weights, bias });
    // A deployment name of this run alone, so the worker processes found below are this test's.
    const name = `sec-${randomBytes(4).toString('hex')}`;
    const plaintext = { digest: createHash('sha256').update(model).digest('hex'), size: model.byteLength };
    const everywhere = () => [tmpdir(), '/tmp', '/dev/shm', p.home];
    const copiesOnDisk = () => findPlaintextFiles(everywhere(), [plaintext]);
    const workerPids = () => workerPidsOf(name);

    const waitFor = async (done: (d: any) => boolean, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await p.call('GET', `/api/v1/tenants/acme/deployments/${name}`, acme.tokens.viewer);
        if (d.status === 200 && done(d.body)) return d.body;
        if (Date.now() > deadline) throw new Error(`deployment ${name}: ${JSON.stringify(d.body)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const infer = () => p.call('POST', `/v2/models/${name}/infer`, acme.tokens.member, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [[1, 1, 1]] }] });

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhpt-${randomBytes(4).toString('hex')}` });
      acme = await p.createTenant('acme');
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', acme.tokens.member, { name: 'secret' });
      const up = await p.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/models/secret/model.onnx', headers: { authorization: `Bearer ${acme.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(model) });
      assert.equal(up.statusCode, 200, up.body);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', acme.tokens.member, { name: 'secret', source: 'mlflow-artifacts:/models/secret' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
    });
    after(async () => p.close());

    test('deployed and serving, and after a worker restart: no file anywhere holds the model in plaintext', async () => {
      const deployed = await p.call('POST', '/api/v1/tenants/acme/deployments', acme.tokens.member, { name, model: 'secret', version: '1', replicas: 2, resources: { cpu: 0.25, memoryMiB: 256 }, maxConcurrency: 2 });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      await waitFor((d) => d.status === 'ready');
      const served = await infer();
      assert.equal(served.status, 200, JSON.stringify(served.body));
      // The worker loaded exactly this model (from its stdin): the prediction is this model's.
      assert.ok(Math.abs(served.body.outputs[0].data[0] - sigmoid(weights.reduce((a, w) => a + w, 0) + bias)) < 1e-4);
      assert.ok(p.platform.serving.deployments.replicaSockets(acme.id, name).every((s) => s.startsWith('/tmp/bhs-')), 'sockets still live in a serving root');

      // The scan itself works: a copy written here is found (positive control), then removed.
      const control = join(p.home, 'control.onnx');
      writeFileSync(control, model);
      assert.deepEqual(await copiesOnDisk(), [control]);
      rmSync(control);
      assert.deepEqual(await copiesOnDisk(), []);

      // SIGKILL one worker: its restart is fed the model again over stdin, still without a file.
      const workers = workerPids();
      assert.equal(workers.length, 2, 'two worker processes of this deployment');
      process.kill(workers[0]!, 'SIGKILL');
      await waitFor((d) => d.replicaStatus.some((r: { restarts: number }) => r.restarts >= 1) && d.replicaStatus.every((r: { state: string }) => r.state === 'ready'));
      assert.equal((await infer()).status, 200);
      assert.deepEqual(await copiesOnDisk(), []);
    });

    // 2 GiB: the process tier caps RLIMIT_DATA at the replica's memory, and Node 24 does not start under 1 GiB.
    test('the process tier gets its model on stdin too, without a file', async () => {
      const proc = await p.createTenant('proc', 'process');
      await p.call('PUT', '/api/v1/tenants/proc/quota', adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', proc.tokens.member, { name: 'secret' });
      const up = await p.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/models/secret/model.onnx', headers: { authorization: `Bearer ${proc.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(model) });
      assert.equal(up.statusCode, 200, up.body);
      assert.equal((await p.call('POST', '/api/2.0/mlflow/model-versions/create', proc.tokens.member, { name: 'secret', source: 'mlflow-artifacts:/models/secret' })).status, 200);
      assert.equal((await p.call('POST', '/api/v1/tenants/proc/deployments', proc.tokens.member, { name, model: 'secret', version: '1', replicas: 1, resources: { cpu: 0.25, memoryMiB: 2048 }, maxConcurrency: 1 })).status, 201);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const d = await p.call('GET', `/api/v1/tenants/proc/deployments/${name}`, proc.tokens.viewer);
        if (d.body.status === 'ready') break;
        if (Date.now() > deadline || d.body.status === 'failed') throw new Error(JSON.stringify(d.body));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const served = await p.call('POST', `/v2/models/${name}/infer`, proc.tokens.member, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [[1, 1, 1]] }] });
      assert.equal(served.status, 200, JSON.stringify(served.body));
      assert.ok(Math.abs(served.body.outputs[0].data[0] - sigmoid(weights.reduce((a, w) => a + w, 0) + bias)) < 1e-4);
      assert.deepEqual(await copiesOnDisk(), []);
      assert.equal((await p.call('DELETE', `/api/v1/tenants/proc/deployments/${name}`, proc.tokens.member)).status, 204);
    });

    test('tenant deletion removes a plaintext copy left in the home, reports it, and none remains anywhere', async () => {
      // What an earlier version (or a crash of one) left: a decrypted copy under the platform's home.
      const stray = join(p.home, 'serving-leftover', 'model.onnx');
      mkdirSync(join(p.home, 'serving-leftover'), { recursive: true });
      writeFileSync(stray, model, { mode: 0o444 });
      assert.equal((await p.call('PATCH', '/api/v1/tenants/acme', adminToken, { status: 'suspended' })).status, 200);
      const deleted = await p.call('DELETE', '/api/v1/tenants/acme?confirm=acme', adminToken);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(deleted.body.deploymentsStopped, 1);
      assert.deepEqual(deleted.body.modelPlaintext, { models: 1, filesRemoved: 1, filesRemaining: 0 });
      assert.equal(existsSync(stray), false);
      assert.deepEqual(await copiesOnDisk(), []);
    });

    test("start-up wipes a dead serving root's leftover model directory and leaves a live root's alone", async (t) => {
      const tmp = mkdtempSync(join(tmpdir(), 'bulkhead-wipe-'));
      t.after(() => rmSync(tmp, { recursive: true, force: true }));
      const tenant = '0b6f2a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b';
      const leftover = (root: string) => {
        const dir = join(tmp, root, tenant, 'm-0b6f2a4e-v1-abc123');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'model.onnx'), model, { mode: 0o444 });
        const old = new Date(Date.now() - 3600_000);
        utimesSync(dir, old, old);
        return dir;
      };
      const dead = leftover('bhs-dead01');
      const live = leftover('bhs-live01');
      const fresh = join(tmp, 'bhs-dead01', tenant, 'm-fresh');
      mkdirSync(fresh);
      // A live platform's worker answers on its socket.
      const ws = join(tmp, 'bhs-live01', tenant, 'r-00000001', 'ws');
      mkdirSync(ws, { recursive: true });
      const server: Server = createServer((c) => c.destroy());
      await new Promise<void>((resolve) => server.listen(join(ws, 'oip.sock'), resolve));
      t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
      assert.equal((await findPlaintextFiles([tmp], [plaintext])).length, 2);

      const removed = await wipeModelPlaintext({ tmpDir: tmp });
      assert.deepEqual(removed, [dead]);
      assert.equal(existsSync(dead), false);
      assert.equal(existsSync(live), true, "a live platform's model directory is left alone");
      assert.equal(existsSync(fresh), true, 'a model directory younger than a minute is left alone');
      assert.deepEqual(await findPlaintextFiles([tmp], [plaintext]), [join(live, 'model.onnx')]);

      await new Promise<void>((resolve) => server.close(() => resolve()));
      assert.deepEqual(await wipeModelPlaintext({ tmpDir: tmp }), [live]);
      assert.deepEqual(await findPlaintextFiles([tmp], [plaintext]), []);
    });
  });
}
