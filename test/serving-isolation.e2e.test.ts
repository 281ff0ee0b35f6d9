/**
 * Serving isolation on PGlite and PostgreSQL (issue 6, "Done means"): a model worker cannot open sockets
 * or read other tenants' files, and a model file of tenant A cannot be loaded by tenant B's worker.
 *
 * How the worker's sandbox is probed: an ONNX model cannot do IO, so nothing *inside* a real worker can
 * try to open a socket. Instead the test asks the supervisor itself (`startReplica`) to build the spec
 * of a replica of tenant B's real deployment — with a capturing executor, so the spec is exactly the one
 * a worker gets (tier, uid, env, workspace, stdin = B's decrypted model, `/code` = the worker code dir,
 * cgroup limits), not a hand-made copy — and runs that spec through the real local executor with only
 * argv replaced by a python3 probe. The sandbox (bubblewrap namespaces, mounts, uid 65534, cgroups) is
 * fixed by the spec and the executor, not by the program run inside, so whatever the probe cannot do,
 * the worker's onnxruntime process cannot do either. Positive controls (the probe does read its own
 * model on stdin and `/code/oip-worker.ts`) show the probe really ran with the worker's spec. No model is
 * a file on the host any more (the worker gets it on stdin), so the probe tries another tenant's worker
 * workspace and tenant directory instead.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { createLocalExecutor } from '../src/executors/local/index.ts';
import type { JobSpec, RunningJob } from '../src/executors/local/index.ts';
import { startReplica } from '../src/serving/worker-supervisor.ts';

const PROBE = String.raw`
import json, os, socket, sys
port, ext_ip, other_ws, other_socket, master_key = sys.argv[1:6]
r = {}
def tcp(host):
    try:
        s = socket.create_connection((host, int(port)), timeout=2)
        s.close()
        return 'connected'
    except Exception as e:
        return type(e).__name__
r['tcpLoopback'] = tcp('127.0.0.1')
r['tcpExternal'] = tcp(ext_ip) if ext_ip != '-' else 'skipped'
def read(path):
    try:
        with open(path, 'rb') as f:
            f.read(16)
        return 'read'
    except Exception as e:
        return type(e).__name__
def listdir(path):
    try:
        os.listdir(path)
        return 'listed'
    except Exception as e:
        return type(e).__name__
r['otherWorkspaceList'] = listdir(other_ws)
r['otherTenantDirList'] = listdir(os.path.dirname(os.path.dirname(other_ws)))
r['dataModel'] = os.path.exists('/data/model.onnx')
r['masterKey'] = read(master_key)
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(2)
    u.connect(other_socket)
    r['otherWorkerSocket'] = 'connected'
except Exception as e:
    r['otherWorkerSocket'] = type(e).__name__
own = sys.stdin.buffer.read()
r['ownModel'] = 'read' if len(own) > 0 else 'empty'
r['code'] = read('/code/oip-worker.ts')
r['uid'] = os.getuid()
print('PROBE ' + json.dumps(r))
`;

for (const kind of databaseKinds) {
  describe(`serving isolation on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    let acmePath = '';
    const prefix = `bhsiso-${randomBytes(4).toString('hex')}`;

    const register = async (tenant: TestTenant, name: string, bytes: Uint8Array): Promise<{ version: string; path: string }> => {
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
      const path = `models/${name}/${randomBytes(4).toString('hex')}`;
      const up = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(up.statusCode, 200, up.body);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return { version: String(created.body.model_version.version), path };
    };
    const logreg = (weights: number[]) => buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: weights.map((_, i) => `f${i}`), weights, bias: 0 });
    const deploy = (tenant: TestTenant, body: Record<string, unknown>) => p.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, tenant.tokens.member, body);
    const waitFor = async (tenant: TestTenant, name: string, done: (d: any) => boolean, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await p.call('GET', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.viewer);
        if (d.status === 200 && done(d.body)) return d.body;
        if (Date.now() > deadline) throw new Error(`deployment ${name}: ${JSON.stringify(d.body)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: prefix });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      for (const t of [acme, globex]) await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      const a = await register(acme, 'churn', logreg([1, 2]));
      acmePath = a.path;
      const g = await register(globex, 'churn', logreg([-1, -2]));
      assert.equal((await deploy(acme, { name: 'churn', model: 'churn', version: a.version, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 2 })).status, 201);
      assert.equal((await deploy(globex, { name: 'churn', model: 'churn', version: g.version, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 2 })).status, 201);
      await waitFor(acme, 'churn', (d) => d.status === 'ready');
      await waitFor(globex, 'churn', (d) => d.status === 'ready');
    });
    after(async () => {
      for (const t of [acme, globex]) if (t !== undefined) await p.call('DELETE', `/api/v1/tenants/${t.slug}/deployments/churn`, t.tokens.member);
      await p.close();
    });

    test("tenant B cannot load tenant A's model file: a version whose source names A's artifact path is not found", async () => {
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', globex.tokens.member, { name: 'borrowed' });
      for (const source of [`mlflow-artifacts:/${acmePath}`, `mlflow-artifacts:/${acmePath}/model.onnx`, `mlflow-artifacts:/../${acme.id}/${acmePath}`]) {
        const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', globex.tokens.member, { name: 'borrowed', source });
        if (created.status !== 200) {
          // Refused at registration: equally good, the model can never be deployed by B.
          assert.ok(created.status >= 400 && created.status < 500, JSON.stringify(created.body));
          continue;
        }
        const version = String(created.body.model_version.version);
        const name = `borrowed-${version}`;
        assert.equal((await deploy(globex, { name, model: 'borrowed', version, replicas: 1, resources: { cpu: 0.25, memoryMiB: 256 }, maxConcurrency: 1 })).status, 201);
        const failed = await waitFor(globex, name, (d) => d.status === 'failed' || d.status === 'ready');
        assert.equal(failed.status, 'failed', `${source}: ${JSON.stringify(failed)}`);
        assert.match(failed.reason, /not found|no model\.onnx|not in this server/);
        assert.equal((await p.call('POST', `/v2/models/${name}/infer`, globex.tokens.member, { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 1] }] })).status === 200, false);
        assert.equal((await p.call('DELETE', `/api/v1/tenants/globex/deployments/${name}`, globex.tokens.member)).status, 204);
      }
      // A's own deployment is untouched.
      const own = await p.call('POST', '/v2/models/churn/infer', acme.tokens.member, { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 1] }] });
      assert.equal(own.status, 200);
    });

    test("a worker cannot open TCP sockets to the host nor read another tenant's model, worker socket or the master key", async (t) => {
      const deployments = p.platform.serving.deployments;
      const acmeSocket = deployments.replicaSockets(acme.id, 'churn')[0];
      const globexSocket = deployments.replicaSockets(globex.id, 'churn')[0];
      assert.ok(acmeSocket !== undefined && globexSocket !== undefined);
      // <root>/<tenant>/r-<id>/ws/oip.sock
      const tenantDirOf = (socket: string) => dirname(dirname(dirname(socket)));
      const acmeWorkspace = dirname(acmeSocket);
      const globexTenantDir = tenantDirOf(globexSocket);
      const masterKey = join(p.home, 'master.key');
      assert.ok(existsSync(acmeWorkspace) && existsSync(masterKey) && existsSync(acmeSocket), 'the targets exist on the host');
      assert.deepEqual(readdirSync(globexTenantDir).filter((n) => !n.startsWith('r-')), [], 'no model directory next to the replicas');

      // A host TCP listener the probe tries to reach (loopback and, if any, an external address).
      let connections = 0;
      const server: Server = createServer((c) => {
        connections += 1;
        c.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
      t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const port = (server.address() as AddressInfo).port;
      const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address ?? '-';

      // The exact spec the supervisor gives a replica of globex's deployment.
      let captured: JobSpec | undefined;
      let release: () => void = () => {};
      const capturing = {
        start(spec: JobSpec): RunningJob {
          captured = spec;
          const ended = new Promise<void>((resolve) => (release = resolve));
          return { jobId: spec.jobId, wait: async () => (await ended, { kind: 'cancelled', usage: { wallMs: 0 } }), cancel: () => release(), preempt: () => release() };
        },
      };
      const replica = startReplica({
        executor: capturing, tenantId: globex.id, tenantDir: globexTenantDir, tier: 'sandbox', deploymentName: 'probe', version: '1',
        model: logreg([-1, -2]), codeDir: join(p.home, 'serving-code'), resources: { cpu: 0.5, memoryMiB: 512 },
        tenantLimits: { cpu: 4, memoryMiB: 8192 }, maxConcurrency: 1, log: () => {}, readyTimeoutMs: 60_000,
      });
      try {
        const deadline = Date.now() + 10_000;
        while (captured === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(captured !== undefined, 'the supervisor started its worker');
        assert.equal(captured.tier, 'sandbox');
        assert.equal(captured.argv[1], '/code/oip-worker.ts', 'the captured spec is a worker spec');
        const lines: string[] = [];
        const executor = createLocalExecutor({ cgroupPrefix: `${prefix}-prb` });
        const job = executor.start({
          ...captured,
          jobId: `${captured.jobId}-probe`,
          argv: ['/usr/bin/python3', '-c', PROBE, String(port), external, acmeWorkspace, acmeSocket, masterKey],
          output: ({ line }) => lines.push(line),
        });
        const outcome = await job.wait();
        const line = lines.find((l) => l.startsWith('PROBE '));
        assert.ok(line !== undefined, `probe output: ${JSON.stringify(outcome)} ${lines.join('\n')}`);
        const r = JSON.parse(line.slice('PROBE '.length));
        // Positive controls: the probe ran with the worker's spec (its model on stdin), as the unprivileged job uid.
        assert.equal(r.ownModel, 'read');
        assert.equal(r.dataModel, false, 'the model is not a file in the sandbox either');
        assert.equal(r.code, 'read');
        assert.equal(r.uid, 65534);
        // No network: only an empty loopback in the worker's own namespace.
        assert.notEqual(r.tcpLoopback, 'connected');
        assert.notEqual(r.tcpExternal, 'connected');
        // Another tenant's files and the platform's secrets are not there at all.
        assert.equal(r.otherWorkspaceList, 'FileNotFoundError');
        assert.equal(r.otherTenantDirList, 'FileNotFoundError');
        assert.equal(r.masterKey, 'FileNotFoundError');
        assert.notEqual(r.otherWorkerSocket, 'connected');
        assert.equal(connections, 0, 'the host listener saw no connection');
      } finally {
        await replica.stop(0, 0);
      }
    });
  });
}
