/**
 * Model serving in cluster mode (BULKHEAD_EXECUTOR=kubernetes), on PGlite and PostgreSQL, through the real
 * API, gateway and database. No cluster can run here, so the cluster is a scripted `ClusterEndpoints` (the
 * serving backend's own port, not a Kubernetes API): it records the generations the platform applies and
 * reports a generation ready when the test says so. The endpoint's "Service" is a REAL model server — the
 * `bulkhead serve-model` command (the OIP worker in TCP mode) on 127.0.0.1 — serving the model that the real
 * `bulkhead model fetch` downloaded over HTTP with the generation's endpoint token, exactly as the pod's init
 * container would. The Kubernetes side (manifests, rollout status) is covered by src/executors/kubernetes/.
 *
 * Covers: inference through the gateway reaches the cluster endpoint; the endpoint token reads its own model
 * and nothing else (403, audited), and no other route; a rollout switches only once the new generation is
 * ready, then the old token is dead; a failed rollout applies the previous generation again; the tenant's
 * request rate still gives 429; another tenant gets 404; delete removes the cluster objects and the token (401).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import type { ClusterEndpointGeneration, ClusterEndpoints, ClusterEndpointState } from '../src/serving/index.ts';
import type { ClusterExecution } from '../src/jobs/index.ts';
import { withSystem } from '../src/db/index.ts';
import { runCliWith } from './support/cli.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

const repoRoot = join(import.meta.dirname, '..');
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Plays the cluster: records applied generations; readiness is whatever the test sets. */
const scriptedEndpoints = () => {
  const applied: Array<{ gen: ClusterEndpointGeneration; token: string }> = [];
  const states = new Map<string, ClusterEndpointState>();
  /** The URL the next generation of a deployment gets for its "Service". */
  const serviceUrls = new Map<string, string>();
  const retired: string[] = [];
  const removed: string[] = [];
  /** How many times the platform has read each generation's state: "after the next poll" is an event. */
  const observed = new Map<string, number>();
  const endpoints: ClusterEndpoints = {
    async apply(gen, token) {
      applied.push({ gen: { ...gen, spec: { ...gen.spec } }, token });
      if (!states.has(gen.generation)) states.set(gen.generation, { phase: 'progressing', desired: gen.spec.replicas, ready: 0, updated: 0 });
    },
    async observe(gen) {
      observed.set(gen.generation, (observed.get(gen.generation) ?? 0) + 1);
      return states.get(gen.generation) ?? { phase: 'missing', desired: 0, ready: 0, updated: 0 };
    },
    serviceUrl(gen) {
      const url = serviceUrls.get(gen.deploymentName);
      if (url === undefined) throw new Error(`test set no service URL for ${gen.deploymentName}`);
      return url;
    },
    async retire(gen) {
      retired.push(gen.generation);
    },
    async remove(deployment) {
      removed.push(deployment.deploymentName);
    },
  };
  return { endpoints, applied, states, serviceUrls, retired, removed, observed };
};

const noJobs: ClusterExecution = {
  kueue: false,
  async ensureTenant() {},
  start() {
    throw new Error('no jobs in this test');
  },
};

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const server = createServer();
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

/** SIGTERM (serve-model passes it to its worker, which drains), then SIGKILL to the whole process group. */
const stopServer = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
};

/** `bulkhead serve-model` (the real command, as the server container runs it), listening on 127.0.0.1:port. */
const serveModel = async (model: string, port: number, name: string, version: string): Promise<ChildProcess> => {
  const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'src/main/cli.ts'), 'serve-model', '--model', model, '--host', '127.0.0.1', '--port', String(port), '--name', name, '--version', version], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve-model did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening on 127\.0\.0\.1:\d+/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve-model exited with ${code}: ${output}`));
    });
  });
  return child;
};

for (const kind of databaseKinds) {
  describe(`serving on a cluster on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    let apiUrl: string;
    const cluster = scriptedEndpoints();
    const workers: ChildProcess[] = [];
    const dirs: string[] = [];
    const versions: Record<string, { version: string; bytes: Uint8Array; weights: number[]; path: string }> = {};
    let globexArtifact: string;
    let otherAcmeArtifact: string;

    const upload = async (tenant: TestTenant, path: string, bytes: Uint8Array) => {
      const response = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(response.statusCode, 200, response.body);
    };
    const register = async (tenant: TestTenant, name: string, weights: number[]): Promise<{ version: string; bytes: Uint8Array; weights: number[]; path: string }> => {
      const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: weights.map((_, i) => `f${i}`), weights, bias: 0 });
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
      const path = `models/${name}/${randomBytes(4).toString('hex')}`;
      await upload(tenant, `${path}/model.onnx`, bytes);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return { version: String(created.body.model_version.version), bytes, weights, path: `${path}/model.onnx` };
    };
    const deployment = async (tenant: TestTenant, name: string) => (await p.call('GET', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.viewer)).body;
    const waitFor = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; deployment: ${JSON.stringify(await deployment(acme, 'churn'))}`);
        await sleep(20);
      }
    };
    const infer = (tenant: TestTenant, name: string, rows: number[][]) =>
      p.call('POST', `/v2/models/${name}/infer`, tenant.tokens.member, { inputs: [{ name: 'input', shape: [rows.length, rows[0]!.length], datatype: 'FP32', data: rows }] });
    const fetchModel = async (token: string, modelPath: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-model-'));
      dirs.push(dir);
      const run = await runCliWith(['model', 'fetch', '--dest', join(dir, 'model')], { BULKHEAD_URL: apiUrl, BULKHEAD_TOKEN: token, BULKHEAD_MODEL_PATH: modelPath, BULKHEAD_CLI_CONFIG: join(dir, 'none.json') });
      return { ...run, file: join(dir, 'model', 'model.onnx') };
    };
    const asToken = (token: string, method: string, url: string) => p.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}` } });
    const artifactUrl = (path: string) => `/api/2.0/mlflow-artifacts/artifacts/${path}`;
    const ready = (gen: ClusterEndpointGeneration) => cluster.states.set(gen.generation, { phase: 'ready', desired: gen.spec.replicas, ready: gen.spec.replicas, updated: gen.spec.replicas });

    before(async () => {
      p = await createTestPlatform(kind, { executor: 'kubernetes' }, { cluster: { execution: noJobs, endpoints: cluster.endpoints, endpointPollIntervalMs: 20 } });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      for (const t of [acme, globex]) await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 8, memoryMiB: 16384, requestsPerSecond: 10_000 });
      const v1 = await register(acme, 'churn', [1, 2]);
      const v2 = await register(acme, 'churn', [-1, 3]);
      versions['1'] = v1;
      versions['2'] = v2;
      otherAcmeArtifact = v2.path;
      globexArtifact = (await register(globex, 'churn', [5, 5])).path;
      apiUrl = await p.listen();
    });
    after(async () => {
      await Promise.all(workers.map(stopServer));
      await p.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    test('a deployment runs on the cluster: its generation fetches its model with its token, and inference through the gateway reaches the real server', async () => {
      const port = await freePort();
      cluster.serviceUrls.set('churn', `http://127.0.0.1:${port}`);
      const created = await p.call('POST', '/api/v1/tenants/acme/deployments', acme.tokens.member, { name: 'churn', model: 'churn', version: versions['1']!.version, replicas: 2, resources: { cpu: 1, memoryMiB: 512 }, maxConcurrency: 4 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const first = await waitFor('the first generation', () => cluster.applied[0]);
      assert.equal(first.gen.deploymentName, 'churn');
      assert.equal(first.gen.deploymentId, created.body.id);
      assert.equal(first.gen.spec.version, versions['1']!.version);
      assert.equal(first.gen.spec.replicas, 2);
      assert.equal(first.gen.modelArtifactPath, versions['1']!.path, "the token's one artifact is the version's model.onnx");
      assert.match(first.token, /^bh_/);
      assert.equal((await deployment(acme, 'churn')).status, 'starting');
      assert.equal((await infer(acme, 'churn', [[1, 1]])).status, 503, 'nothing ready yet');

      // The pod's init container: the real CLI with the endpoint token.
      const fetched = await fetchModel(first.token, first.gen.modelArtifactPath);
      assert.equal(fetched.code, 0, fetched.err);
      assert.deepEqual(readFileSync(fetched.file), Buffer.from(versions['1']!.bytes));
      // The pod's server container: the real serve-model on the fetched file.
      workers.push(await serveModel(fetched.file, port, 'churn', versions['1']!.version));
      cluster.states.set(first.gen.generation, { phase: 'progressing', desired: 2, ready: 1, updated: 1 });
      await waitFor('one replica ready', async () => (await deployment(acme, 'churn')).replicaStatus.filter((r: { state: string }) => r.state === 'ready').length === 1);
      ready(first.gen);
      const shown = await waitFor('ready', async () => { const d = await deployment(acme, 'churn'); return d.status === 'ready' ? d : undefined; });
      assert.equal(shown.replicaStatus.length, 2);

      const answer = await infer(acme, 'churn', [[1, 1], [0, 0]]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.model_name, 'churn');
      assert.equal(answer.body.model_version, versions['1']!.version);
      assert.ok(Math.abs(answer.body.outputs[0].data[0] - sigmoid(3)) < 1e-5, JSON.stringify(answer.body));
      assert.ok(Math.abs(answer.body.outputs[0].data[1] - 0.5) < 1e-5);
    });

    test('the endpoint token reads exactly its own model: any other artifact or route is 403 and audited', async () => {
      const { token, gen } = cluster.applied[0]!;
      assert.equal((await asToken(token, 'GET', artifactUrl(gen.modelArtifactPath))).statusCode, 200);
      assert.equal((await asToken(token, 'GET', artifactUrl(otherAcmeArtifact))).statusCode, 403, "another of its tenant's artifacts");
      assert.equal((await asToken(token, 'GET', artifactUrl(globexArtifact))).statusCode, 403, "another tenant's artifact");
      assert.equal((await asToken(token, 'PUT', artifactUrl(gen.modelArtifactPath))).statusCode, 403, 'no writing');
      assert.equal((await asToken(token, 'DELETE', artifactUrl(gen.modelArtifactPath))).statusCode, 403, 'no deleting');
      for (const url of ['/api/v1/me', '/api/v1/tenants/acme/deployments', '/api/v1/tenants/acme/tokens', `/api/2.0/mlflow-artifacts/artifacts?path=models`, '/api/2.0/mlflow/registered-models/search']) {
        assert.equal((await asToken(token, 'GET', url)).statusCode, 403, url);
      }
      assert.equal((await p.call('POST', '/v2/models/churn/infer', token, { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] })).status, 403, 'not even inference');
      assert.equal((await p.call('GET', '/api/v1/tenants/globex/deployments', token)).status, 403);
      const other = await fetchModel(token, otherAcmeArtifact);
      assert.notEqual(other.code, 0, 'the CLI cannot fetch another model with it');
      const events = (await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin)).body.events as Array<{ action: string; outcome: string; actor: string }>;
      assert.ok(events.some((e) => e.action === 'auth.endpoint_scope' && e.outcome === 'denied' && e.actor === `endpoint:${gen.deploymentId}`), 'refusals are audited');
      const platformAudit = JSON.stringify((await p.call('GET', '/api/v1/platform/audit?limit=1000', adminToken)).body);
      assert.ok(!JSON.stringify(events).includes(token) && !platformAudit.includes(token), 'the token is never in the audit log');
    });

    test('a rollout switches only when the new generation is ready; then the old token is dead', async () => {
      const port = await freePort();
      cluster.serviceUrls.set('churn', `http://127.0.0.1:${port}`);
      const patched = await p.call('PATCH', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member, { version: versions['2']!.version });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const second = await waitFor('the second generation', () => cluster.applied.find((a, i) => i > 0 && a.gen.spec.version === versions['2']!.version));
      const first = cluster.applied[0]!;
      assert.notEqual(second.token, first.token, 'a new token per generation');
      assert.notEqual(second.gen.generation, first.gen.generation);
      assert.equal(second.gen.modelArtifactPath, versions['2']!.path);
      const fetched = await fetchModel(second.token, second.gen.modelArtifactPath);
      assert.equal(fetched.code, 0, fetched.err);
      workers.push(await serveModel(fetched.file, port, 'churn', versions['2']!.version));

      // Half rolled out: still updating, and requests still go to version 1.
      cluster.states.set(second.gen.generation, { phase: 'progressing', desired: 2, ready: 3, updated: 1 });
      cluster.states.set(first.gen.generation, { phase: 'superseded', desired: 2, ready: 3, updated: 1 });
      // Two polls after the change (the first may have read before it): the platform has seen it.
      const seen = cluster.observed.get(second.gen.generation) ?? 0;
      await waitFor('two polls of the new generation', () => (cluster.observed.get(second.gen.generation) ?? 0) >= seen + 2 || undefined);
      assert.equal((await deployment(acme, 'churn')).status, 'updating');
      const during = await infer(acme, 'churn', [[1, 1]]);
      assert.equal(during.status, 200, JSON.stringify(during.body));
      assert.equal(during.body.model_version, versions['1']!.version, 'no switch before the new generation is ready');
      assert.equal((await asToken(first.token, 'GET', artifactUrl(first.gen.modelArtifactPath))).statusCode, 200, 'the old token lives while its generation serves');

      ready(second.gen);
      await waitFor('version 2 ready', async () => { const d = await deployment(acme, 'churn'); return d.status === 'ready' && d.version === versions['2']!.version; });
      await waitFor('the switch', async () => (await infer(acme, 'churn', [[1, 1]])).body.model_version === versions['2']!.version);
      const after = await infer(acme, 'churn', [[1, 1]]);
      assert.ok(Math.abs(after.body.outputs[0].data[0] - sigmoid(2)) < 1e-5, JSON.stringify(after.body));
      await waitFor('the old generation retired', () => cluster.retired.includes(first.gen.generation));
      assert.equal((await asToken(first.token, 'GET', artifactUrl(first.gen.modelArtifactPath))).statusCode, 401, 'the old token is revoked');
      assert.equal((await asToken(second.token, 'GET', artifactUrl(second.gen.modelArtifactPath))).statusCode, 200);
    });

    test('a rollout that fails on the cluster: the previous generation is applied again and keeps serving', async () => {
      const before = cluster.applied.length;
      const serving = cluster.applied[before - 1]!;
      const patched = await p.call('PATCH', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member, { version: versions['1']!.version });
      assert.equal(patched.status, 200);
      const third = await waitFor('the third generation', () => cluster.applied[before]);
      cluster.states.set(third.gen.generation, { phase: 'failed', desired: 2, ready: 2, updated: 0, reason: 'ReplicaSet has timed out progressing' });
      const shown = await waitFor('the rollout to fail', async () => { const d = await deployment(acme, 'churn'); return d.status === 'ready' && d.reason !== undefined ? d : undefined; });
      assert.match(shown.reason, /rollout to version/);
      await waitFor('the previous generation re-applied', () => cluster.applied.length > before + 1);
      assert.equal(cluster.applied.at(-1)!.gen.generation, serving.gen.generation, 'the serving generation goes back on the Deployment');
      assert.equal((await infer(acme, 'churn', [[1, 1]])).body.model_version, versions['2']!.version);
      assert.equal((await asToken(third.token, 'GET', artifactUrl(third.gen.modelArtifactPath))).statusCode, 401, "the failed generation's token is revoked");
    });

    test('scaling re-applies the serving generation with the new replica count (no new generation, no new token)', async () => {
      const serving = cluster.applied.at(-1)!;
      const count = cluster.applied.length;
      const patched = await p.call('PATCH', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member, { replicas: 3 });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const scaled = await waitFor('the scale', () => cluster.applied.slice(count).find((a) => a.gen.spec.replicas === 3));
      assert.equal(scaled.gen.generation, serving.gen.generation);
      assert.equal(scaled.token, serving.token);
      ready(scaled.gen);
      await waitFor('3 ready replicas', async () => (await deployment(acme, 'churn')).replicaStatus.length === 3);
      assert.equal((await infer(acme, 'churn', [[1, 1]])).status, 200);
    });

    test('deployment logs are kept in the database, newest 2,000, in order; another tenant sees none', async () => {
      const logs = async () => (await p.app.inject({ method: 'GET', url: '/api/v1/tenants/acme/deployments/churn/logs', headers: { authorization: `Bearer ${acme.tokens.viewer}` } })).body;
      const shown = await logs();
      assert.match(shown, /rolling out churn version 1/);
      const id = (await deployment(acme, 'churn')).id as string;
      const stored = async () => withSystem(p.database.owner, async (tx) => (await tx.query<{ n: number; first: string | null; last: string | null }>(
        `SELECT count(*)::int AS n, (SELECT line FROM deployment_logs WHERE deployment_id = $1 ORDER BY seq LIMIT 1) AS first,
                (SELECT line FROM deployment_logs WHERE deployment_id = $1 ORDER BY seq DESC LIMIT 1) AS last
           FROM deployment_logs WHERE deployment_id = $1`, [id])).rows[0]!);
      const before = await stored();
      assert.equal(before.n, shown.trim().split('\n').length, 'what the API shows is what the table holds');
      // An old backlog, older than everything: the next write trims the deployment to its newest 2,000 lines.
      // As the schema owner (the platform's roles may not forge log lines).
      await p.database.owner.transaction('', (tx) => tx.query(
        `INSERT INTO deployment_logs (tenant_id, deployment_id, seq, line)
         SELECT $1::uuid, $2::uuid, -s, 'backlog ' || s FROM generate_series(1, 2100) AS s`, [acme.id, id]));
      assert.equal((await stored()).n, before.n + 2100);
      const patched = await p.call('PATCH', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member, { replicas: 2 });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const lines = (await logs()).trim().split('\n');
      const after = await stored();
      assert.equal(after.n, 2000);
      assert.equal(lines.length, 2000);
      assert.match(lines.at(-1)!, new RegExp(after.last!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.ok(!lines.some((l) => l.includes('backlog 1 ')), 'the oldest lines went first');
      assert.equal((await p.app.inject({ method: 'GET', url: '/api/v1/tenants/acme/deployments/churn/logs', headers: { authorization: `Bearer ${globex.tokens.owner}` } })).statusCode, 404);
      ready(cluster.applied.at(-1)!.gen);
    });

    test("the tenant's request rate still applies to cluster endpoints (429 with Retry-After); another tenant's quota is its own", async () => {
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { requestsPerSecond: 5 });
      // No wait: a quota change applies to the next request in the process that made it.
      const answers = await Promise.all(Array.from({ length: 30 }, () => infer(acme, 'churn', [[1, 1]])));
      const limited = answers.filter((a) => a.status === 429);
      assert.ok(limited.length >= 20, answers.map((a) => a.status).join(','));
      assert.ok(answers.every((a) => a.status === 200 || a.status === 429));
      assert.ok(Number(limited[0]!.headers['retry-after']) >= 1);
      assert.notEqual((await infer(globex, 'churn', [[1, 1]])).status, 429, "globex is not limited by acme's rate");
      // The operator's quota change is not charged to acme's empty bucket, and applies to acme's next request.
      assert.equal((await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { requestsPerSecond: 10_000 })).status, 200);
      assert.equal((await infer(acme, 'churn', [[1, 1]])).status, 200);
    });

    test("another tenant cannot reach the endpoint: 404 like a missing one", async () => {
      assert.equal((await infer(globex, 'churn', [[1, 1]])).status, 404);
      assert.equal((await p.call('GET', '/v2/models/churn', globex.tokens.member)).status, 404);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/deployments/churn', globex.tokens.owner)).status, 404);
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/deployments/churn', globex.tokens.owner)).status, 404);
    });

    test('delete: the cluster objects go, and the endpoint token is dead (401)', async () => {
      const serving = cluster.applied.findLast((a) => !cluster.retired.includes(a.gen.generation))!;
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member)).status, 204);
      await waitFor('removal from the cluster', () => cluster.removed.includes('churn'));
      assert.equal((await asToken(serving.token, 'GET', artifactUrl(serving.gen.modelArtifactPath))).statusCode, 401);
      const fetched = await fetchModel(serving.token, serving.gen.modelArtifactPath);
      assert.notEqual(fetched.code, 0);
      assert.equal((await infer(acme, 'churn', [[1, 1]])).status, 404);
    });
  });
}
