/**
 * Start-up recovery after a real SIGKILL of the server (`bulkhead up` as a child process), on PGlite and on
 * PostgreSQL. What the dead process left behind must be put right before the restarted server takes traffic:
 *  - reservations of uploads in flight at the kill: released (a tenant near its quota can upload again);
 *  - a blob file with no row (renamed into place by a transaction that never committed) and a temp file of
 *    the home's tmp/: deleted, while committed blobs stay readable;
 *  - a job running at the kill: failed, its MLflow run ended FAILED with an end time, its job token revoked;
 *  - each step that changed something: one `recovery.<step>` event in the platform's audit chain, with counts.
 * Before this recovery existed the restart reported `reserved 36000000` and refused the 20 MB upload, kept
 * the orphan file, and left the run RUNNING with its token valid.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { withSystem } from '../src/db/index.ts';
import { hashToken } from '../src/identity/index.ts';
import { openDatabase } from '../src/main/platform.ts';
import { createTestDatabase, databaseKinds, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { startServerProcess, callServer, mustServer } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';

const adminToken = `bh_recovery-admin-${'r'.repeat(40)}`;
const A = '/api/2.0/mlflow-artifacts/artifacts';
const MB = 1_000_000;

/** An upload that announces `size` bytes, sends 1 MB and then waits: in flight until the server dies. */
const hangingUpload = (url: string, token: string, path: string, size: number): Promise<void> =>
  new Promise((resolve) => {
    const req = request(`${url}${A}/${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(size) } });
    req.on('error', () => resolve());
    req.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve());
    });
    req.write(randomBytes(MB));
  });

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

for (const kind of databaseKinds) describe(`start-up recovery after SIGKILL (${kind})`, () => {
  let database: TestDatabase | undefined;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-startup-recovery-'));
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.kill('SIGKILL');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  });

  test('reservations released, orphan blob and temp files swept, the interrupted job\'s run ended and token revoked — each audited', async () => {
    const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken };
    if (kind === 'postgres') {
      database = await createTestDatabase('postgres');
      Object.assign(env, serverDatabaseEnv(database));
    }
    server = await startServerProcess(env);
    const tenant = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'rec', name: 'Recovery', tier: 'sandbox' });
    await mustServer(server.url, adminToken, 'PUT', '/api/v1/tenants/rec/quota', { storageBytes: 50 * MB });
    const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/rec/tokens', { name: 't', role: 'member' });
    const usage = async () => (await mustServer(server!.url, token, 'GET', '/api/v1/tenants/rec/usage')).storageBytes as { used: number; reserved: number; quota: number };

    // A committed blob: it must survive the sweep.
    const kept = randomBytes(64 * 1024);
    assert.equal((await fetch(`${server.url}${A}/kept/model.bin`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: kept })).status, 200);
    const keptUsed = (await usage()).used;
    // The MLflow run of the job that will be running at the kill.
    const run = (await mustServer(server.url, token, 'POST', '/api/2.0/mlflow/runs/create', { experiment_id: '0', start_time: Date.now() })).run.info;

    // Three 12 MB uploads in flight: 36 MB of the 50 MB quota reserved.
    const uploads = [1, 2, 3].map((n) => hangingUpload(server!.url, token, `inflight/${n}.bin`, 12 * MB));
    await waitFor('the three reservations', async () => ((await usage()).reserved >= 36 * MB ? true : undefined));
    // A 20 MB upload is refused on its Content-Length, before its body (MLflow's vocabulary: 400
    // RESOURCE_LIMIT_EXCEEDED).
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${server!.url}${A}/big.bin`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-length': String(20 * MB) } });
      req.on('error', reject);
      req.on('response', (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () => {
          req.destroy();
          resolve({ status: response.statusCode ?? 0, body });
        });
      });
      req.flushHeaders();
    });
    assert.equal(refused.status, 400, 'the quota is really taken by the reservations before the kill');
    assert.match(refused.body, /RESOURCE_LIMIT_EXCEEDED/);

    await server.kill('SIGKILL');
    await Promise.all(uploads);

    // What a kill at other moments leaves: a blob renamed into place whose transaction never committed,
    // a temp file of an upload, and a job that was running (its run RUNNING, its token valid).
    const orphanDigest = createHash('sha256').update(randomBytes(32)).digest('hex');
    const orphanDir = join(home, 'blobs', tenant.id, 'sha256', orphanDigest.slice(0, 2));
    mkdirSync(orphanDir, { recursive: true });
    const orphan = join(orphanDir, orphanDigest);
    writeFileSync(orphan, randomBytes(4096));
    const temp = join(home, 'blobs', tenant.id, 'tmp', randomUUID());
    writeFileSync(temp, randomBytes(1024));
    // A server sharing the home on PostgreSQL may be writing a fresh temp file: only old ones go there.
    if (kind === 'postgres') utimesSync(temp, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    // With the killed uploads' own temp files, if they got that far (named for the dead process: swept on
    // both databases).
    const tempsBefore = readdirSync(join(home, 'blobs', tenant.id, 'tmp')).length;
    // An image import (or registry pull) staged when the process died (issue 17): its staging directory.
    const imageStaging = join(home, 'images', 'tmp', 'pull-0123456789abcdef');
    mkdirSync(join(imageStaging, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(imageStaging, 'blobs', 'sha256', 'partial'), randomBytes(2048));
    if (kind === 'postgres') {
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const path of [join(imageStaging, 'blobs', 'sha256', 'partial'), join(imageStaging, 'blobs', 'sha256'), join(imageStaging, 'blobs'), imageStaging]) utimesSync(path, old, old);
    }
    const jobId = randomUUID();
    const jobToken = `bh_${randomBytes(32).toString('base64url')}`;
    const tokenId = randomUUID();
    const config = loadConfig({}, { home, ...(kind === 'postgres' ? { databaseUrl: database!.appUrl!, databaseMigrationUrl: serverDatabaseEnv(database!)['BULKHEAD_DATABASE_MIGRATION_URL'] } : {}) });
    const { db } = await openDatabase(config);
    try {
      await withSystem(db, async (tx) => {
        await tx.query(
          `INSERT INTO jobs (tenant_id, id, status, tier, command, cpu, memory_mib, timeout_seconds, run_id, experiment_id, created_by, admitted_at, started_at, attempts)
           VALUES ($1, $2, 'running', 'sandbox', '["sleep","300"]', 1, 64, 600, $3, '0', 'test', now(), now(), 1)`,
          [tenant.id, jobId, run.run_id],
        );
        await tx.query(
          `INSERT INTO api_tokens (id, tenant_id, name, role, kind, token_hash, display_prefix, job_id, expires_at)
           VALUES ($1, $2, $3, 'member', 'job', $4, 'bh_job', $5, now() + interval '1 hour')`,
          [tokenId, tenant.id, `job-${jobId}`, hashToken(jobToken), jobId],
        );
      });
    } finally {
      await db.close();
    }

    server = await startServerProcess(env);
    // Reservations: none left; an upload that fits the quota is accepted again.
    const after = await usage();
    assert.equal(after.reserved, 0, 'the dead process\'s reservations were released');
    assert.equal(after.used, keptUsed);
    const upload = await fetch(`${server.url}${A}/big.bin`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: randomBytes(20 * MB) });
    assert.equal(upload.status, 200, await upload.text());
    // Files: the orphan and the temp file are gone; the committed blob still reads back.
    assert.equal(existsSync(orphan), false, 'the blob file without a row was swept');
    assert.equal(existsSync(temp), false, 'the temp file was swept');
    const download = await fetch(`${server.url}${A}/kept/model.bin`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), kept);
    // The job: failed, its run ended FAILED with an end time, its token revoked.
    const job = await mustServer(server.url, token, 'GET', `/api/v1/tenants/rec/jobs/${jobId}`);
    assert.equal(job.status, 'failed');
    assert.match(job.reason, /platform restarted/);
    const ended = (await mustServer(server.url, token, 'GET', `/api/2.0/mlflow/runs/get?run_id=${run.run_id}`)).run.info;
    assert.equal(ended.status, 'FAILED');
    assert.ok(Number(ended.end_time) >= Number(run.start_time), `the run has an end time (${ended.end_time})`);
    const { tokens } = await mustServer(server.url, adminToken, 'GET', '/api/v1/tenants/rec/tokens');
    const revoked = (tokens as Array<{ id: string; revokedAt: string | null }>).find((t) => t.id === tokenId);
    assert.ok(revoked?.revokedAt !== null && revoked?.revokedAt !== undefined, 'the job token is revoked');
    // Off its relay a live job token is refused as 'work only from inside their job'; this one is refused
    // at the lookup, before that rule (the relay does the same lookup).
    const refusedToken = await callServer(server.url, jobToken, 'GET', '/api/v1/me');
    assert.equal(refusedToken.status, 401);
    assert.match(refusedToken.body.message, /invalid, expired or revoked token/);

    // Audit: one event per step that changed something, with its counts.
    const { events } = await mustServer(server.url, adminToken, 'GET', '/api/v1/platform/audit?limit=100');
    const byAction = new Map((events as Array<{ action: string; details: Record<string, number> }>).filter((e) => e.action.startsWith('recovery.')).map((e) => [e.action, e.details]));
    assert.deepEqual(byAction.get('recovery.release-reservations')?.['reservations'], 3);
    assert.ok((byAction.get('recovery.release-reservations')?.['bytes'] ?? 0) >= 36 * MB);
    assert.equal(byAction.get('recovery.sweep-orphan-blobs')?.['files'], 1);
    assert.equal(byAction.get('recovery.sweep-tmp')?.['files'], tempsBefore);
    assert.deepEqual(readdirSync(join(home, 'blobs', tenant.id, 'tmp')), []);
    assert.deepEqual(byAction.get('recovery.sweep-image-staging'), { entries: 1, bytes: 2048 });
    assert.deepEqual(readdirSync(join(home, 'images', 'tmp')), []);
    assert.equal(byAction.get('recovery.fail-interrupted-jobs')?.['jobs'], 1);
    assert.equal(byAction.get('recovery.end-runs-of-ended-jobs')?.['runs'], 1);
    assert.equal(byAction.get('recovery.revoke-tokens-of-ended-jobs')?.['tokens'], 1);

    // Idempotent: a clean stop and start finds nothing to do and audits nothing new.
    await server.kill('SIGTERM');
    server = await startServerProcess(env);
    const again = (await mustServer(server.url, adminToken, 'GET', '/api/v1/platform/audit?limit=100')).events as Array<{ action: string }>;
    assert.equal(again.filter((e) => e.action.startsWith('recovery.')).length, byAction.size, 'a second start changed nothing');
    assert.equal((await usage()).reserved, 0);
    await server.kill('SIGTERM');
    server = undefined;
  });
});
