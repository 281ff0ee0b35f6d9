/**
 * Deleting a tenant, on PGlite and PostgreSQL, through the API (and the CLI): two tenants with tracking
 * data, artifacts, a dataset, a multipart upload, jobs, a deployment, members and tokens; one is deleted.
 * Every row it owned is gone (counted as the schema owner, table by table from information_schema), its
 * blob directory and data key are gone, its tokens no longer authenticate, the other tenant is
 * byte-for-byte what it was and still works, the audit chains still verify. Refusals change nothing; an
 * interrupted deletion (crash after the data went, cluster unreachable) is finished by running it again.
 */
import { buildOciArchive } from './support/oci-images.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { PLATFORM_TENANT_ID, retainedTenantTables, tenantDataTables, tenantRecordTables } from '../src/db/index.ts';
import { systemContext } from '../src/core/request-context.ts';
import { createBlobFiles, createTenantStorage } from '../src/artifacts/index.ts';
import { loadMasterKey } from '../src/crypto/index.ts';
import { createTenantDeletion } from '../src/tenants/index.ts';
import type { Tenant } from '../src/tenants/index.ts';
import { createTenantDeletionPorts } from '../src/main/tenant-deletion-ports.ts';
import { adminOperations } from '../src/main/admin-operations.ts';
import type { KubeObject, KubernetesClient, ObjectRef } from '../src/executors/kubernetes/index.ts';
import { createClusterConfig } from '../src/executors/kubernetes/index.ts';
import { runCliWith } from './support/cli.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';

const A = '/api/2.0/mlflow-artifacts/artifacts';

const ok = <T extends { status: number; body: any }>(response: T, what: string, status = 200): T['body'] => {
  assert.equal(response.status, status, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

/** Regular files under `dir` → SHA-256 of their bytes (ciphertext, for blob directories). */
const fileDigests = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out[relative(dir, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return out;
};

/** Every table with a tenant_id column, from the database itself (not from the list under test). */
const tablesWithTenantId = async (p: TestPlatform): Promise<string[]> =>
  (await p.database.owner.queryAsOwner<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
  )).rows.map((row) => row.table_name);

/** Rows of `tenantId` in every tenant table except the audit log, counted as the schema owner (no RLS). */
const rowCounts = async (p: TestPlatform, tenantId: string): Promise<Record<string, number>> => {
  const counts: Record<string, number> = {};
  const tables = (await tablesWithTenantId(p)).filter((table) => !(table in retainedTenantTables));
  for (const table of [...tables, 'tenants']) {
    const column = table === 'tenants' ? 'id' : 'tenant_id';
    const { rows } = await p.database.owner.queryAsOwner<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [tenantId]);
    counts[table] = Number(rows[0]?.n);
  }
  return counts;
};

/** Everything a tenant has, as stored: every row of every tenant table (audit aside) and every blob file. */
const snapshotOf = async (p: TestPlatform, tenantId: string) => {
  const tables: Record<string, string[]> = {};
  for (const table of [...tenantDataTables, ...tenantRecordTables]) {
    const column = table === 'tenants' ? 'id' : 'tenant_id';
    const { rows } = await p.database.owner.queryAsOwner<Record<string, unknown>>(`SELECT * FROM ${table} WHERE ${column} = $1`, [tenantId]);
    tables[table] = rows.map((row) => {
      const copy = { ...row };
      // A token's last_used_at is advisory, written off the request path (at most once a minute).
      if (table === 'api_tokens') delete copy['last_used_at'];
      return JSON.stringify(copy);
    }).sort();
  }
  return { tables, files: fileDigests(join(p.home, 'blobs', tenantId)) };
};

interface Seeded {
  experimentId: string;
  runId: string;
  artifact: Buffer;
  jobId: string;
}

/** Gives a tenant some of everything, through the API where there is one. */
const seed = async (p: TestPlatform, t: TestTenant, sharedUser: string): Promise<Seeded> => {
  const m = mlflowHttp(p, t.tokens.member);
  const experimentId = ok(await m.post('experiments/create', { name: 'churn', tags: [{ key: 'team', value: t.slug }] }), 'experiment').experiment_id;
  const runId = ok(await m.post('runs/create', { experiment_id: experimentId, start_time: 1, run_name: 'r1' }), 'run').run.info.run_id;
  // An MLflow 3 logged model (0009) with tags, params and the run's output link; the last loss point below
  // is also linked to it (MLflow 3 log-batch `model_id`).
  const loggedModel = ok(await m.post('logged-models', {
    experiment_id: experimentId, name: 'churn', source_run_id: runId, params: [{ key: 'lr', value: '0.1' }], tags: [{ key: 'k', value: 'v' }],
  }), 'logged model').model.info.model_id;
  ok(await m.post('runs/outputs', { run_id: runId, models: [{ model_id: loggedModel, step: 19 }] }), 'run outputs');
  ok(await m.post('runs/log-batch', {
    run_id: runId,
    metrics: Array.from({ length: 20 }, (_, i) => ({ key: 'loss', value: 1 / (i + 1), timestamp: 1000 + i, step: i, ...(i === 19 ? { model_id: loggedModel } : {}) })),
    params: [{ key: 'lr', value: '0.1' }],
    tags: [{ key: 'owner', value: t.slug }],
  }), 'log-batch');
  ok(await m.post('runs/log-inputs', { run_id: runId, datasets: [{ dataset: { name: 'iris', digest: 'abc', source_type: 'local', source: 's' } }] }), 'log-inputs');
  ok(await m.post('registered-models/create', { name: 'churn', tags: [{ key: 'k', value: 'v' }] }), 'model');
  ok(await m.post('model-versions/create', { name: 'churn', source: `runs:/${runId}/model`, run_id: runId, tags: [{ key: 'k', value: 'v' }] }), 'version');
  ok(await m.post('registered-models/alias', { name: 'churn', alias: 'prod', version: '1' }), 'alias');

  const artifact = randomBytes(50_000);
  const put = await p.app.inject({
    method: 'PUT', url: `${A}/${experimentId}/${runId}/artifacts/model.bin`,
    headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: artifact,
  });
  assert.equal(put.statusCode, 200, put.body);
  // A multipart upload left open: a staged part on disk, a reservation in the storage accounting.
  const mpu = ok(await p.call('POST', `/api/2.0/mlflow-artifacts/mpu/create/${experimentId}/${runId}/artifacts`, t.tokens.member, { path: 'big.bin', num_parts: 2 }), 'mpu create');
  const partUrl = new URL(mpu.credentials[0].url);
  const part = await p.app.inject({ method: 'PUT', url: `${partUrl.pathname}${partUrl.search}`, headers: { 'content-type': 'application/octet-stream' }, payload: randomBytes(2000) });
  assert.equal(part.statusCode, 200, part.body);

  await p.platform.datasets.pushVersion(systemContext(), t.id, 'iris', (async function* () {
    yield { path: 'train.csv', stream: Readable.from([Buffer.from(`x,y\n1,${t.slug}\n`)]) };
    yield { path: 'labels.txt', stream: Readable.from([Buffer.from('cat\ndog\n')]) };
  })());

  // A queued job with a log line. Submitting pokes the scheduler: with no concurrent jobs allowed, the job
  // stays queued (deterministic here; running jobs being cancelled is the job runner's e2e territory).
  ok(await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { maxConcurrentJobs: 0 }), 'quota');
  const job = ok(await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, { command: ['python3', 'train.py'], resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 600 } }), 'job', 201);
  await p.platform.jobs.store.appendLogs(t.id, job.id, [{ stream: 'system', line: `queued for ${t.slug}` }]);
  // Its fair-share usage history (0022), as the job runner records it when the tenant held capacity.
  await p.platform.jobs.fairShare.save([{ tenantId: t.id, usage: { dominant: 3600, cpu: 7200, memoryMiB: 0, gpu: 0 }, rate: { dominant: 0, cpu: 0, memoryMiB: 0, gpu: 0 }, atMs: Date.now() }]);
  // A private OCI image (0024).
  const image = buildOciArchive([{ entries: [{ path: 'hello.txt', data: t.slug }] }]);
  ok(await p.call('POST', `/api/v1/tenants/${t.slug}/images?name=base&tag=1`, t.tokens.member, image.archive), 'image', 201);
  ok(await p.call('PUT', `/api/v1/tenants/${t.slug}/image-default`, t.tokens.member, { image: 'base:1' }), 'default image');
  // Registry credentials (0027): sealed under the tenant's key; nothing contacts the registry when they are set.
  ok(await p.call('PUT', `/api/v1/tenants/${t.slug}/registry-credentials/registry.example.com`, t.tokens.member, { username: 'u', password: 'p' }), 'registry credentials');
  // A deployment of a model that cannot be resolved: its record exists, no worker ever starts.
  ok(await p.call('POST', `/api/v1/tenants/${t.slug}/deployments`, t.tokens.member, { name: 'churn', model: 'no-such-model', version: '1', replicas: 1 }), 'deployment', 201);
  // Once its rollout has failed (it has nothing more to log), reading the logs writes the pending lines to
  // deployment_logs, so later snapshots of the tenant's rows are stable.
  for (let i = 0; i < 100; i += 1) {
    if ((await p.call('GET', `/api/v1/tenants/${t.slug}/deployments/churn`, t.tokens.viewer)).body.status === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  ok(await p.call('GET', `/api/v1/tenants/${t.slug}/deployments/churn/logs`, t.tokens.viewer), 'deployment logs');
  ok(await p.call('PUT', `/api/v1/tenants/${t.slug}/members/${sharedUser}`, adminToken, { role: 'member' }), 'member');
  // A custom role (tenant_roles, migration 0025).
  ok(await p.call('POST', `/api/v1/tenants/${t.slug}/roles`, adminToken, { name: 'metrics-logger', permissions: ['tracking:read', 'tracking:write'] }), 'custom role', 201);
  // A service account with a token (service_accounts, migration 0026).
  ok(await p.call('POST', `/api/v1/tenants/${t.slug}/service-accounts`, adminToken, { name: 'ci-bot' }), 'service account', 201);
  ok(await p.call('POST', `/api/v1/tenants/${t.slug}/service-accounts/ci-bot/tokens`, adminToken, { name: 'ci', role: 'member' }), 'service token', 201);
  // Usage ledger rows (0015): the tenant's requests above, counted in memory, written by a flush.
  await p.platform.monitoring.usage.flush();
  // A security alert (0016), through the real detector: a revoked token used again.
  await p.platform.security.monitor.tick();
  const stale = ok(await p.call('POST', `/api/v1/tenants/${t.slug}/tokens`, adminToken, { name: 'stale', role: 'viewer' }), 'token', 201);
  ok(await p.call('DELETE', `/api/v1/tenants/${t.slug}/tokens/${stale.id}`, adminToken), 'revoke');
  assert.equal((await p.call('GET', `/api/v1/tenants/${t.slug}`, stale.token)).status, 401);
  assert.equal((await p.platform.security.monitor.tick()).length, 1);
  return { experimentId, runId, artifact, jobId: job.id };
};

/** A Kubernetes cluster in memory: one namespace per tenant; `failNext` makes the next call fail as an unreachable cluster. */
const fakeCluster = () => {
  const namespaces = new Set<string>();
  const calls: string[] = [];
  let failNext = false;
  const client: KubernetesClient = {
    apply: async (obj) => obj,
    get: async (ref: ObjectRef) => (ref.kind === 'Namespace' && namespaces.has(ref.name) ? ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ref.name } } as KubeObject) : undefined),
    list: async () => [],
    delete: async (ref) => {
      calls.push(`${ref.kind}/${ref.name}`);
      if (failNext) {
        failNext = false;
        throw new Error('connect ECONNREFUSED 10.0.0.1:6443');
      }
      return ref.kind === 'Namespace' && namespaces.delete(ref.name);
    },
  };
  return { client, namespaces, calls, failOnce: () => { failNext = true; } };
};

for (const kind of databaseKinds) {
  describe(`tenant deletion on ${kind}`, () => {
    let p: TestPlatform;
    let doomed: TestTenant;
    let kept: TestTenant;
    let keptData: Seeded;

    before(async () => {
      p = await createTestPlatform(kind, { imageRegistries: { 'registry.example.com': 'https://registry.example.com' } });
      doomed = await p.createTenant('doomed');
      kept = await p.createTenant('kept', 'process');
      ok(await p.call('POST', '/api/v1/users', adminToken, { username: 'sam' }), 'user', 201);
      await seed(p, doomed, 'sam');
      keptData = await seed(p, kept, 'sam');
      // A share (0021) of the doomed tenant's model with the kept tenant: it goes with its owner.
      ok(await p.call('POST', '/api/v1/tenants/doomed/shares', adminToken, { resource: 'model:churn/1', grantee: 'kept' }), 'share', 201);
    });
    after(async () => p.close());

    test('every table with a tenant_id column is either deleted with its tenant or explicitly kept', async () => {
      const known = new Set<string>([...tenantDataTables, ...tenantRecordTables, ...Object.keys(retainedTenantTables)]);
      const unknown = (await tablesWithTenantId(p)).filter((table) => !known.has(table));
      assert.deepEqual(unknown, [], 'a migration added a tenant table: list it in src/db/tenant-tables.ts');
      const { rows } = await p.database.owner.queryAsOwner<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'tenants'`);
      assert.equal(rows[0]?.n, 1);
      // And the other way round: every listed table exists (a renamed table would make deletion fail).
      const actual = await tablesWithTenantId(p);
      for (const table of known) assert.ok(table === 'tenants' || actual.includes(table), table);
    });

    test('the seeded tenant has rows in nearly every tenant table, so the deletion test covers them', async () => {
      const counts = await rowCounts(p, doomed.id);
      const empty = Object.entries(counts).filter(([, n]) => n === 0).map(([table]) => table);
      // Lineage rows need a job's run; GPU grants (0023) exist only while a job is admitted or running, and
      // deletion cancels those jobs first (which gives the devices back), GPU shares (0029) likewise;
      // cross-tenant lineage edges (0034) need another tenant's deployment or job using a shared object;
      // everything else is seeded.
      assert.deepEqual(empty.sort(), ['gpu_grants', 'gpu_shares', 'model_lineage', 'shared_uses']);
      assert.ok(existsSync(join(p.home, 'blobs', doomed.id, 'sha256')));
      assert.ok(existsSync(join(p.home, 'blobs', doomed.id, 'mpu')));
    });

    test('refusals change nothing: tenant roles, unknown tenants, missing confirmation, an active tenant', async () => {
      const before = await snapshotOf(p, doomed.id);
      const url = `/api/v1/tenants/doomed?confirm=doomed`;
      for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
        const own = await p.call('DELETE', url, doomed.tokens[role]);
        assert.equal(own.status, 403, `${role}: ${JSON.stringify(own.body)}`);
        assert.equal(own.body.code, 'FORBIDDEN');
        const other = await p.call('DELETE', url, kept.tokens[role]);
        assert.equal(other.status, 404, `${role} of another tenant`);
        assert.equal(other.body.message, "tenant 'doomed' not found");
      }
      assert.equal((await p.call('DELETE', url, undefined)).status, 401);
      assert.equal((await p.call('GET', '/api/v1/tenants/doomed/deletion-plan', doomed.tokens.owner)).status, 403);
      const unknown = await p.call('DELETE', '/api/v1/tenants/nobody?confirm=nobody', adminToken);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'NOT_FOUND');

      // Active: refused until suspended, confirmed or not.
      const active = await p.call('DELETE', url, adminToken);
      assert.equal(active.status, 409);
      assert.equal(active.body.code, 'CONFLICT');
      assert.match(active.body.message, /suspend the tenant first/);

      ok(await p.call('PATCH', '/api/v1/tenants/doomed', adminToken, { status: 'suspended' }), 'suspend');
      for (const query of ['', '?confirm=', '?confirm=kept', '?confirm=DOOMED', `?confirm=${doomed.id}`]) {
        const unconfirmed = await p.call('DELETE', `/api/v1/tenants/doomed${query}`, adminToken);
        assert.equal(unconfirmed.status, 400, query);
        assert.equal(unconfirmed.body.code, 'VALIDATION_FAILED', query);
        assert.match(unconfirmed.body.message, /confirm with its slug: confirm=doomed/);
      }
      const after = await snapshotOf(p, doomed.id);
      // Suspension changed the tenant row's status and updated_at and logged that the deployment stopped
      // (its job was queued: it stays queued); nothing else moved.
      const stoppedLine = (row: string) => JSON.parse(row).line === 'stopped: the tenant is suspended';
      assert.equal(after.tables['deployment_logs']!.filter(stoppedLine).length, 1);
      const withoutStop = (tables: Record<string, string[]>) => ({ ...tables, tenants: [], deployment_logs: (tables['deployment_logs'] ?? []).filter((row) => !stoppedLine(row)) });
      assert.deepEqual(withoutStop(after.tables), withoutStop(before.tables));
      assert.deepEqual(after.files, before.files);
      assert.equal(JSON.parse(after.tables['tenants']![0]!).status, 'suspended');
      assert.equal(JSON.parse(after.tables['tenants']![0]!).deletion_started_at, null);
    });

    test('deleting a suspended tenant removes everything it owns and nothing of the other tenant', async () => {
      const keptBefore = await snapshotOf(p, kept.id);
      const doomedBefore = await rowCounts(p, doomed.id);
      const blobDir = join(p.home, 'blobs', doomed.id);
      const blobsBefore = fileDigests(blobDir);
      assert.ok(Object.keys(blobsBefore).length >= 4, 'artifact, staged part, two dataset files');
      assert.equal((await p.call('GET', '/api/v1/me', doomed.tokens.viewer)).body.code, 'TENANT_SUSPENDED', "a suspended tenant's tokens are refused");

      const plan = ok(await p.call('GET', '/api/v1/tenants/doomed/deletion-plan', adminToken), 'plan');
      assert.equal(plan.activeJobs, 1);
      assert.equal(plan.deployments, 1);
      assert.equal(plan.kubernetes, 'not configured');
      assert.equal(plan.deletionStartedAt, null);
      assert.equal(plan.rows.run_metrics, 20);
      assert.equal(plan.artifacts.files, Object.keys(blobsBefore).length);

      // The platform's in-memory copy of the unwrapped data key (it decrypted the uploads above).
      const cachedKey = await p.platform.storage.dataKey(doomed.id);
      assert.ok(cachedKey.some((b) => b !== 0));
      const deleted = ok(await p.call('DELETE', '/api/v1/tenants/doomed?confirm=doomed', adminToken), 'delete');
      assert.ok(cachedKey.every((b) => b === 0), 'the cached data key is zeroed: crypto-shredding reaches memory too');
      assert.deepEqual(deleted.tenant, { id: doomed.id, slug: 'doomed' });
      assert.equal(deleted.resumed, false);
      assert.equal(deleted.jobsCancelled, 1);
      assert.equal(deleted.deploymentsStopped, 1);
      assert.equal(deleted.kubernetes, 'not configured');
      assert.equal(deleted.artifacts.files, Object.keys(blobsBefore).length);
      assert.ok(deleted.artifacts.bytes > 50_000);
      assert.ok(deleted.auditEventsKept > 10);
      // The summary counts what the database held, table by table, the data key and the deployment
      // included: exactly the plan's rows.
      assert.deepEqual(deleted.rowsDeleted, doomedBefore);
      assert.deepEqual(deleted.rowsDeleted, plan.rows);
      assert.equal(deleted.rowsDeleted.tenant_data_keys, 1);
      assert.equal(deleted.rowsDeleted.tenants, 1);

      // Every row is gone, counted as the schema owner for every table information_schema knows.
      const counts = await rowCounts(p, doomed.id);
      assert.deepEqual(Object.entries(counts).filter(([, n]) => n !== 0), []);
      assert.ok(!existsSync(blobDir), 'blob directory removed');
      assert.ok(!existsSync(join(p.home, 'jobs', doomed.id)));
      // The deleted tenant's private image files are collected; the other tenant's stay.
      const imageOf = (slug: string) => buildOciArchive([{ entries: [{ path: 'hello.txt', data: slug }] }]).manifestDigest.slice(7);
      assert.ok(!existsSync(join(p.home, 'images', 'rootfs', imageOf(doomed.slug))), 'doomed tenant\'s image rootfs collected');
      assert.ok(!existsSync(join(p.home, 'images', 'blobs', 'sha256', imageOf(doomed.slug))), 'doomed tenant\'s image manifest collected');
      assert.ok(existsSync(join(p.home, 'images', 'rootfs', imageOf(kept.slug))), 'the other tenant\'s image stays');
      // The shared user stays (users belong to the platform), a member of the other tenant only.
      const members = ok(await p.call('GET', '/api/v1/tenants/kept/members', kept.tokens.admin), 'members').members;
      assert.ok(members.some((m: { user: { username: string } }) => m.user.username === 'sam'));

      // Its tokens no longer authenticate, on the platform API and on the MLflow API.
      for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
        assert.equal((await p.call('GET', '/api/v1/me', doomed.tokens[role])).status, 401, role);
      }
      assert.equal((await mlflowHttp(p, doomed.tokens.member).post('experiments/search', { max_results: 10 })).status, 401);
      assert.equal((await p.call('GET', '/api/v1/tenants/doomed', adminToken)).status, 404);
      assert.ok(!ok(await p.call('GET', '/api/v1/tenants', adminToken), 'list').tenants.some((t: { slug: string }) => t.slug === 'doomed'));

      // The other tenant: byte for byte as it was, rows and ciphertext.
      assert.deepEqual(await snapshotOf(p, kept.id), keptBefore);
      // ... and still works.
      const k = mlflowHttp(p, kept.tokens.member);
      const download = await p.app.inject({ method: 'GET', url: `${A}/${keptData.experimentId}/${keptData.runId}/artifacts/model.bin`, headers: { authorization: `Bearer ${kept.tokens.viewer}` } });
      assert.equal(download.statusCode, 200);
      assert.deepEqual(download.rawPayload, keptData.artifact);
      ok(await k.post('runs/log-batch', { run_id: keptData.runId, metrics: [{ key: 'loss', value: 0.01, timestamp: 5000, step: 99 }] }), 'kept logs');
      assert.equal(ok(await k.get('metrics/get-history', { run_id: keptData.runId, metric_key: 'loss' }), 'history').metrics.length, 21);
      const file = await p.app.inject({ method: 'GET', url: '/api/v1/tenants/kept/datasets/iris/versions/1/files/train.csv', headers: { authorization: `Bearer ${kept.tokens.viewer}` } });
      assert.equal(file.body, 'x,y\n1,kept\n');
      assert.equal(ok(await p.call('GET', `/api/v1/tenants/kept/jobs/${keptData.jobId}`, kept.tokens.viewer), 'kept job').status, 'queued');

      // Audit: kept, and every chain still verifies — the platform's, the other tenant's, the deleted one's.
      assert.equal(ok(await p.call('GET', '/api/v1/platform/audit/verify', adminToken), 'platform verify').ok, true);
      assert.equal(ok(await p.call('GET', '/api/v1/tenants/kept/audit/verify', kept.tokens.admin), 'kept verify').ok, true);
      const doomedChain = await p.platform.audit.verify(doomed.id);
      assert.equal(doomedChain.ok, true, JSON.stringify(doomedChain.problems));
      assert.equal(doomedChain.eventsChecked, deleted.auditEventsKept);
      // The same through the API (what `bulkhead admin verify-audit <id>` asks a server that owns the
      // database): platform admins only; an id with neither a tenant nor kept events is NOT_FOUND.
      const byId = ok(await p.call('GET', `/api/v1/platform/audit/tenants/${doomed.id}/verify`, adminToken), 'verify deleted by id');
      assert.equal(byId.ok, true, JSON.stringify(byId.problems));
      assert.equal(byId.eventsChecked, deleted.auditEventsKept);
      assert.equal((await p.call('GET', `/api/v1/platform/audit/tenants/${randomUUID()}/verify`, adminToken)).status, 404);
      assert.equal((await p.call('GET', `/api/v1/platform/audit/tenants/${doomed.id}/verify`, kept.tokens.admin)).status, 403);
      const { rows: lastEvent } = await p.database.owner.queryAsOwner<{ action: string }>(
        'SELECT action FROM audit_events WHERE tenant_id = $1 ORDER BY chain_seq DESC LIMIT 1', [doomed.id],
      );
      assert.equal(lastEvent[0]?.action, 'tenant.delete');
      const platformEvents = ok(await p.call('GET', '/api/v1/platform/audit?limit=50', adminToken), 'platform audit').events as Array<{ action: string; target: string; details: Record<string, any> }>;
      const event = platformEvents.find((e) => e.action === 'tenant.delete');
      assert.ok(event !== undefined);
      assert.equal(event.target, `tenant:${doomed.id}`);
      assert.equal(event.details['rowsDeleted'].run_metrics, 20);
      assert.deepEqual(platformEvents.filter((e) => e.target === `tenant:${doomed.id}`).map((e) => e.action).slice(0, 3), ['tenant.delete', 'tenant.delete.data', 'tenant.delete.start']);
      // No secret in what the audit log kept.
      const auditText = JSON.stringify(platformEvents);
      for (const token of Object.values(doomed.tokens)) assert.ok(!auditText.includes(token));

      if (kind === 'postgres') {
        // `bulkhead admin verify-audit <id>` on the deleted tenant: its chain is found by id and verifies.
        const config = { ...p.config, databaseUrl: p.database.appUrl!, databaseMigrationUrl: p.database.ownerUrl! };
        const verified = await adminOperations.verifyAudit(config, doomed.id, { create: false, server: { url: undefined, token: undefined } });
        assert.equal(verified.ok, true, verified.text);
        assert.match(verified.text, new RegExp(`^ok: ${deleted.auditEventsKept} events`));
        assert.equal((await adminOperations.verifyAudit(config, 'doomed', { create: false, server: { url: undefined, token: undefined } })).ok, false);
      }

      // Deleting it again: it is gone.
      assert.equal((await p.call('DELETE', '/api/v1/tenants/doomed?confirm=doomed', adminToken)).status, 404);
    });

    test('an interrupted deletion (crash after the data went, before the files) is finished by running it again', async () => {
      const t = await p.createTenant('halfway');
      const m = mlflowHttp(p, t.tokens.member);
      const experimentId = ok(await m.post('experiments/create', { name: 'e' }), 'experiment').experiment_id;
      const put = await p.app.inject({ method: 'PUT', url: `${A}/${experimentId}/r/artifacts/a.bin`, headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: 'secret weights' });
      assert.equal(put.statusCode, 200);
      const blob = (await p.database.owner.queryAsOwner<{ digest: string; size: string }>('SELECT digest, size FROM blobs WHERE tenant_id = $1', [t.id])).rows[0]!;
      ok(await p.call('PATCH', '/api/v1/tenants/halfway', adminToken, { status: 'suspended' }), 'suspend');
      const tenant = (await p.platform.tenants.find('halfway')) as Tenant;

      const ports = createTenantDeletionPorts({ jobs: p.platform.jobs, deployments: p.platform.serving.deployments, identity: p.platform.identity, blobRoot: p.platform.storage.files.root, plaintext: { db: p.platform.db, home: p.home } });
      const crashing = createTenantDeletion({
        db: p.platform.db, tenants: p.platform.tenants,
        ports: { ...ports, files: { ...ports.files, remove: async () => { throw new Error('simulated crash before the files were removed'); } } },
      });
      await assert.rejects(crashing.delete({ actor: 'test', requestId: 'crash' }, tenant, 'halfway'), /simulated crash/);

      // Half deleted: the data and the data key are gone, the ciphertext and the tenant record are not.
      const counts = await rowCounts(p, t.id);
      assert.deepEqual(Object.entries(counts).filter(([, n]) => n !== 0), [['tenant_quotas', 1], ['tenants', 1]]);
      assert.ok(existsSync(p.platform.storage.files.blobPath(t.id, blob.digest)));
      assert.equal((await p.call('GET', '/api/v1/me', t.tokens.owner)).status, 401);
      // Crypto-shredding: a server that starts now cannot decrypt the leftover file (the wrapped key is
      // gone; any key it makes is a new one).
      const masterKey = loadMasterKey({ file: join(p.home, 'master.key') });
      const fresh = createTenantStorage({ db: p.platform.db, files: createBlobFiles(p.platform.storage.files.root), keyEncryptionKey: masterKey.derive('tenant-data-key-wrap') });
      await assert.rejects(async () => buffer(await fresh.openBlob(t.id, blob.digest, Number(blob.size))));
      // It cannot be resumed into an active tenant with half its data missing.
      const resume = await p.call('PATCH', '/api/v1/tenants/halfway', adminToken, { status: 'active' });
      assert.equal(resume.status, 409);
      assert.match(resume.body.message, /is being deleted; run the deletion again/);
      const plan = ok(await p.call('GET', '/api/v1/tenants/halfway/deletion-plan', adminToken), 'plan');
      assert.notEqual(plan.deletionStartedAt, null);

      const finished = ok(await p.call('DELETE', '/api/v1/tenants/halfway?confirm=halfway', adminToken), 'finish');
      assert.equal(finished.resumed, true);
      assert.equal(finished.rowsDeleted.tenants, 1);
      assert.equal(finished.rowsDeleted.experiments, 0, 'deleted by the first run');
      assert.equal(finished.artifacts.files, 1);
      assert.ok(!existsSync(join(p.home, 'blobs', t.id)));
      assert.deepEqual(Object.entries(await rowCounts(p, t.id)).filter(([, n]) => n !== 0), []);
      const chain = await p.platform.audit.verify(t.id);
      assert.equal(chain.ok, true);
      const actions = (await p.database.owner.queryAsOwner<{ action: string }>(
        `SELECT action FROM audit_events WHERE tenant_id = $1 AND action LIKE 'tenant.delete%' ORDER BY id`, [t.id],
      )).rows.map((row) => row.action);
      assert.deepEqual(actions, ['tenant.delete.start', 'tenant.delete.resume', 'tenant.delete']);
      assert.equal((await p.platform.audit.verify(PLATFORM_TENANT_ID)).ok, true);
    });

    test('with a cluster configured: the namespace is deleted; an unreachable cluster stops the deletion before any data goes', async () => {
      const t = await p.createTenant('clustered');
      ok(await mlflowHttp(p, t.tokens.member).post('experiments/create', { name: 'e' }), 'experiment');
      ok(await p.call('PATCH', '/api/v1/tenants/clustered', adminToken, { status: 'suspended' }), 'suspend');
      const tenant = (await p.platform.tenants.find('clustered')) as Tenant;
      const cluster = fakeCluster();
      cluster.namespaces.add('bh-clustered');
      cluster.namespaces.add('bh-kept');
      const deletion = createTenantDeletion({
        db: p.platform.db, tenants: p.platform.tenants,
        ports: createTenantDeletionPorts({
          jobs: p.platform.jobs, deployments: p.platform.serving.deployments, identity: p.platform.identity, blobRoot: p.platform.storage.files.root, plaintext: { db: p.platform.db, home: p.home },
          cluster: { client: cluster.client, config: createClusterConfig({}) },
        }),
      });
      assert.deepEqual((await deletion.plan(tenant)).kubernetes, { namespace: 'bh-clustered' });

      cluster.failOnce();
      await assert.rejects(deletion.delete({ actor: 'test', requestId: 'k8s-down' }, tenant, 'clustered'), { code: 'UNAVAILABLE' });
      const untouched = await rowCounts(p, t.id);
      assert.ok(untouched['experiments']! >= 1, 'nothing deleted while the cluster was unreachable');
      assert.ok(untouched['api_tokens']! > 0);
      assert.equal(untouched['tenant_quotas'], 1);

      const summary = await deletion.delete({ actor: 'test', requestId: 'k8s-up' }, tenant, 'clustered');
      assert.equal(summary.resumed, true);
      assert.deepEqual(summary.kubernetes, { namespace: 'bh-clustered', deleted: ['v1/Namespace//bh-clustered'] });
      assert.deepEqual([...cluster.namespaces], ['bh-kept']);
      assert.deepEqual(cluster.calls, ['Namespace/bh-clustered', 'Namespace/bh-clustered']);
      assert.equal(summary.rowsDeleted['experiments'], untouched['experiments']);
      assert.deepEqual(Object.entries(await rowCounts(p, t.id)).filter(([, n]) => n !== 0), []);
    });
  });
}

describe('bulkhead tenant delete (CLI)', () => {
  let p: TestPlatform;
  let url: string;
  let dir: string;
  const run = (args: string[]) => runCliWith(args, { BULKHEAD_CLI_CONFIG: join(dir, 'cli.json'), BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });

  before(async () => {
    p = await createTestPlatform('pglite');
    url = await p.listen();
    dir = mkdtempSync(join(tmpdir(), 'bulkhead-cli-'));
  });
  after(async () => {
    await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without --yes it shows what would be deleted and exits 0; with --yes it deletes', async () => {
    const t = await p.createTenant('leaving');
    ok(await mlflowHttp(p, t.tokens.member).post('experiments/create', { name: 'e' }), 'experiment');

    const active = await run(['tenant', 'delete', 'leaving']);
    assert.equal(active.code, 0, 'showing the plan is what was asked');
    assert.equal(active.err, '');
    assert.match(active.out, /it is active: suspend it first \(bulkhead tenant suspend leaving\)/);
    assert.match(active.out, /\nnothing deleted: run again with --yes to delete tenant 'leaving'/);
    const refused = await run(['tenant', 'delete', 'leaving', '--yes']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^error \[CONFLICT\]: .*suspend the tenant first/);

    assert.equal((await run(['tenant', 'suspend', 'leaving'])).code, 0);
    const preview = await run(['tenant', 'delete', 'leaving']);
    assert.equal(preview.code, 0);
    assert.match(preview.out, /^tenant leaving \([0-9a-f-]{36}\), suspended\ndeleting it would:/);
    assert.match(preview.out, /delete rows +\d+ \(.*experiments \d/);
    assert.match(preview.out, /delete the namespace +no: the server has no cluster configured/);
    assert.equal((await p.call('GET', '/api/v1/tenants/leaving', adminToken)).status, 200, 'the preview deleted nothing');

    const deleted = await run(['tenant', 'delete', 'leaving', '--yes']);
    assert.equal(deleted.code, 0, deleted.err);
    assert.match(deleted.out, /^deleted tenant leaving /);
    assert.match(deleted.out, /kubernetes +not configured/);
    assert.equal((await p.call('GET', '/api/v1/tenants/leaving', adminToken)).status, 404);
    const again = await run(['tenant', 'delete', 'leaving', '--yes']);
    assert.match(again.err, /^error \[NOT_FOUND\]: tenant 'leaving' not found/);

    const help = await run(['tenant', 'delete', '--help']);
    assert.match(help.out, /--yes/);
    assert.match(help.out, /audit\s+log\s+is\s+kept/);
  });
});
