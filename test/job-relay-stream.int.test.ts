/**
 * The job API relay streams bodies through the tenant's bandwidth limiter (issue 25), on PGlite and
 * PostgreSQL, through a real relay Unix socket (the one a job's forwarder reaches) and the platform's
 * in-process forwarder: a job's artifact upload of k × rate bytes takes ≈ k seconds and the job's own
 * write is held back while it does (the relay no longer takes the whole body into memory at full speed
 * first); the bytes arrive intact; an upload over the transfer bound and a write outside the job's run are
 * refused from the headers alone, before the job sends a byte of the body, with nothing stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

const KiB = 1024;
const RATE = 512 * KiB;
const BURST = 64 * KiB;

/** A request on the relay socket; times when the job's client had handed over its whole body and when the answer came. */
const relayRequest = (socketPath: string, method: string, path: string, token: string, body: Buffer | undefined) =>
  new Promise<{ status: number; body: Buffer; writtenSeconds: number; answeredSeconds: number }>((resolve, reject) => {
    const started = performance.now();
    let writtenSeconds = Number.NaN;
    const req = http.request({ socketPath, method, path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...(body === undefined ? {} : { 'content-length': body.length }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), writtenSeconds, answeredSeconds: (performance.now() - started) / 1000 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // 'finish': every byte of the body was taken by the socket (a relay that stops reading holds it back).
    req.on('finish', () => {
      writtenSeconds = (performance.now() - started) / 1000;
    });
    req.end(body);
  });

/** Sends only the request head (a large body declared, none of it sent) and reads the status line of the answer. */
const headOnly = (socketPath: string, method: string, path: string, token: string, declared: number) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\r\n\r\n') && /\}\s*$/.test(text)) {
        socket.destroy();
        resolve({ status: Number(text.split(' ')[1]), text });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(text.split(' ')[1]), text }));
    socket.write(`${method} ${path} HTTP/1.1\r\nhost: relay\r\nauthorization: Bearer ${token}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${declared}\r\n\r\n`);
  });

for (const kind of databaseKinds) {
  describe(`job relay streams bodies through the bandwidth limiter on ${kind}`, () => {
    let p: TestPlatform;
    let tenant: TestTenant;
    let socketPath: string;
    let artifacts: string;
    const jobId = randomUUID();
    const dir = mkdtempSync(join(tmpdir(), 'bh-relay-stream-'));

    before(async () => {
      p = await createTestPlatform(kind, { bandwidthMaxTransferSeconds: 5 });
      tenant = await p.createTenant('relay-stream');
      const quota = await p.call('PUT', `/api/v1/tenants/${tenant.slug}/quota`, adminToken, { ingressBytesPerSecond: RATE, ingressBurstBytes: BURST });
      assert.equal(quota.status, 200, JSON.stringify(quota.body));
      const experiment = await p.call('POST', '/api/2.0/mlflow/experiments/create', tenant.tokens.member, { name: 'relay-stream' });
      const experimentId = String(experiment.body.experiment_id);
      const run = await p.call('POST', '/api/2.0/mlflow/runs/create', tenant.tokens.member, { experiment_id: experimentId });
      const runId = String(run.body.run.info.run_id);
      artifacts = `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts`;
      // The relay a job would get; its token here is the tenant member's (the relay checks it is the one it was given).
      socketPath = await p.platform.jobs.relays.open({ jobId, tenantId: tenant.id, tenantSlug: tenant.slug, token: tenant.tokens.member, runId, experimentId, dir });
    });
    after(async () => {
      await p.platform.jobs.relays.close(jobId);
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a job's upload of k × rate bytes takes ≈ k s, its write held back while it runs, and arrives intact", async () => {
      const body = randomBytes(2 * 1024 * KiB);
      const expected = (body.length - BURST) / RATE; // ≈ 3.9 s
      const up = await relayRequest(socketPath, 'PUT', `${artifacts}/big.bin`, tenant.tokens.member, body);
      assert.equal(up.status, 200, up.body.toString());
      assert.ok(up.answeredSeconds >= 0.75 * expected && up.answeredSeconds <= 3 * expected, `took ${up.answeredSeconds.toFixed(2)} s for ≈ ${expected.toFixed(2)} s of quota`);
      // Streamed: the relay read the job's body at the limiter's pace, so the job could not hand it over
      // much before the end (socket and stream buffers hold a few hundred KiB). Buffered, this was ≈ 0.
      assert.ok(up.writtenSeconds >= 0.4 * up.answeredSeconds, `the job's write finished at ${up.writtenSeconds.toFixed(2)} s of ${up.answeredSeconds.toFixed(2)} s`);
      const down = await relayRequest(socketPath, 'GET', `${artifacts}/big.bin`, tenant.tokens.member, undefined);
      assert.equal(down.status, 200);
      assert.equal(createHash('sha256').update(down.body).digest('hex'), createHash('sha256').update(body).digest('hex'));
    });

    test('over the transfer bound, or outside its run: refused from the headers, before the body is sent; nothing stored', async () => {
      // 8 MiB at 512 KiB/s is 16 s, over the 5 s bound: the API refuses it up front, through the relay.
      const big = await headOnly(socketPath, 'PUT', `${artifacts}/too-big.bin`, tenant.tokens.member, 8 * 1024 * KiB);
      assert.equal(big.status, 429, big.text);
      assert.match(big.text, /retry-after: \d+/i);
      assert.match(big.text, /bandwidth quota/);
      const stored = await relayRequest(socketPath, 'GET', `${artifacts}/too-big.bin`, tenant.tokens.member, undefined);
      assert.equal(stored.status, 404);
      // Another run's artifacts: the relay's own refusal, also before the body.
      const other = await headOnly(socketPath, 'PUT', '/api/2.0/mlflow-artifacts/artifacts/0/someone-else/artifacts/x.bin', tenant.tokens.member, 8 * 1024 * KiB);
      assert.equal(other.status, 403, other.text);
      assert.match(other.text, /its own run's artifacts/);
      // A wrong token: 401, before the body.
      const stranger = await headOnly(socketPath, 'PUT', `${artifacts}/x.bin`, tenant.tokens.viewer, 1024);
      assert.equal(stranger.status, 401, stranger.text);
    });
  });
}
