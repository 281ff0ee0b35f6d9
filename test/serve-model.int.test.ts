/**
 * `bulkhead serve-model` (the real command, as a cluster endpoint's server container runs it) listens on
 * loopback unless `--host` says otherwise; the endpoint manifest passes `--host 0.0.0.0`, since a pod's
 * Service reaches it on the pod IP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { buildEndpointManifests } from '../src/executors/kubernetes/index.ts';
import { fixtureConfig, fixtureEndpoint, fixtureTenant } from '../src/executors/kubernetes/kubernetes-fixtures.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts serve-model with `extra` arguments and returns the address of its ready line; stops it after. */
const listenAddress = async (model: string, extra: string[]): Promise<string> => {
  const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/main/cli.ts'), 'serve-model', '--model', model, '--port', '0', '--name', 'm', '--version', '1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const found = /listening on (\S+):\d+/.exec(output);
        if (found !== null) resolve(found[1]!);
      });
      child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      child.on('exit', (code) => reject(new Error(`serve-model exited with ${code}: ${output}`)));
    });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
};

test('serve-model listens on 127.0.0.1 by default and on the address --host names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-serve-'));
  try {
    const model = join(dir, 'model.onnx');
    writeFileSync(model, buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['a', 'b'], weights: [1, 2], bias: 0 }));
    assert.equal(await listenAddress(model, []), '127.0.0.1');
    assert.equal(await listenAddress(model, ['--host', '0.0.0.0']), '0.0.0.0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the endpoint manifest's server container passes --host 0.0.0.0", () => {
  const tenant = fixtureTenant('sandbox');
  const objects = buildEndpointManifests(fixtureEndpoint(tenant), fixtureConfig());
  const deployment = objects.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: { containers: Array<{ name: string; command: string[] }> } } } } | undefined;
  const server = deployment?.spec.template.spec.containers.find((c) => c.name === 'server');
  assert.ok(server !== undefined);
  const at = server.command.indexOf('--host');
  assert.ok(at > 0 && server.command[0] === 'bulkhead' && server.command[1] === 'serve-model');
  assert.equal(server.command[at + 1], '0.0.0.0');
});
