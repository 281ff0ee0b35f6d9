/**
 * Bandwidth quotas through the HTTP API (app.inject), on PGlite and PostgreSQL: a limited tenant's upload
 * and download of k × rate bytes take about k seconds (a ratio band, measured against the tenant's own
 * rate, with an unlimited tenant's same transfer beside it), a body over the transfer bound is refused up
 * front with nothing stored, a live quota change applies to a transfer under way, and one tenant's limit
 * does not slow another tenant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

const A = '/api/2.0/mlflow-artifacts/artifacts';
const KiB = 1024;

const listFiles = (dir: string): string[] => {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
};

for (const kind of databaseKinds) {
  describe(`bandwidth quotas on ${kind}`, () => {
    let p: TestPlatform;
    let slow: TestTenant;
    let fast: TestTenant;
    const MAX_TRANSFER_SECONDS = 5;

    const put = (token: string, path: string, body: Buffer) =>
      p.app.inject({ method: 'PUT', url: `${A}/${path}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: body });
    const get = (token: string, path: string) => p.app.inject({ method: 'GET', url: `${A}/${path}`, headers: { authorization: `Bearer ${token}` } });
    const setQuota = async (t: TestTenant, quota: Record<string, number>) => {
      const response = await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, quota);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    };
    const usage = async (t: TestTenant) => (await p.call('GET', `/api/v1/tenants/${t.slug}/usage`, t.tokens.viewer)).body.storageBytes as { used: number; reserved: number };
    const counter = (t: TestTenant) => p.platform.bandwidth.counters().find((c) => c.tenantId === t.id) ?? { ingressBytes: 0, egressBytes: 0 };
    const timed = async <T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> => {
      const started = performance.now();
      const value = await fn();
      return { seconds: (performance.now() - started) / 1000, value };
    };

    before(async () => {
      p = await createTestPlatform(kind, { bandwidthMaxTransferSeconds: MAX_TRANSFER_SECONDS });
      slow = await p.createTenant('slow');
      fast = await p.createTenant('fast');
    });
    after(async () => p.close());

    test('the quota has bandwidth fields with unlimited-ish defaults; a rate set alone gets a burst of one second of it', async () => {
      const shown = await p.call('GET', `/api/v1/tenants/${fast.slug}/quota`, fast.tokens.viewer);
      assert.equal(shown.body.ingressBytesPerSecond, 10 * 1024 ** 3);
      assert.equal(shown.body.egressBurstBytes, 10 * 1024 ** 3);
      const updated = await setQuota(slow, { ingressBytesPerSecond: 300 * KiB });
      assert.equal(updated.ingressBurstBytes, 300 * KiB);
      // A tenant cannot raise its own bandwidth.
      assert.equal((await p.call('PUT', `/api/v1/tenants/${slow.slug}/quota`, slow.tokens.owner, { ingressBytesPerSecond: 1e9 })).status, 403);
      // Nonsense is refused with a clear error.
      const bad = await p.call('PUT', `/api/v1/tenants/${slow.slug}/quota`, adminToken, { egressBytesPerSecond: 0 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'VALIDATION_FAILED');
    });

    test('an upload and a download of k × rate bytes take about k seconds; an unlimited tenant beside it is not slowed', async () => {
      const rate = 256 * KiB;
      const k = 2;
      await setQuota(slow, { ingressBytesPerSecond: rate, ingressBurstBytes: 0, egressBytesPerSecond: rate, egressBurstBytes: 0 });
      const body = randomBytes(k * rate);
      // Both start together: the limited tenant's throttling must not hold the other's bytes.
      const [limited, unlimited] = await Promise.all([
        timed(() => put(slow.tokens.member, 'timing/k.bin', body)),
        timed(() => put(fast.tokens.member, 'timing/k.bin', body)),
      ]);
      assert.equal(limited.value.statusCode, 200, limited.value.body);
      assert.equal(unlimited.value.statusCode, 200, unlimited.value.body);
      const ratio = limited.seconds / k;
      assert.ok(ratio > 0.75 && ratio < 2, `upload of ${k} × rate took ${limited.seconds.toFixed(2)} s (ratio ${ratio.toFixed(2)})`);
      assert.ok(unlimited.seconds < limited.seconds / 2, `the unlimited tenant's upload took ${unlimited.seconds.toFixed(2)} s beside the limited one's ${limited.seconds.toFixed(2)} s`);
      assert.match(String(limited.value.headers['x-bulkhead-bandwidth']), /your upload is limited to 262 kB\/s by your tenant's bandwidth quota/);
      assert.equal(unlimited.value.headers['x-bulkhead-bandwidth'], undefined);

      const download = await timed(() => get(slow.tokens.viewer, 'timing/k.bin'));
      assert.equal(download.value.statusCode, 200);
      assert.ok(download.value.rawPayload.equals(body), 'the throttled download is the same bytes');
      const downloadRatio = download.seconds / k;
      assert.ok(downloadRatio > 0.75 && downloadRatio < 2, `download of ${k} × rate took ${download.seconds.toFixed(2)} s (ratio ${downloadRatio.toFixed(2)})`);
      assert.match(String(download.value.headers['x-bulkhead-bandwidth']), /your download is limited to 262 kB\/s/);
      // The counters a metrics registry reads saw the bytes, per tenant.
      assert.ok(counter(slow).ingressBytes >= body.length && counter(slow).egressBytes >= body.length);
      assert.ok(counter(fast).ingressBytes >= body.length && counter(fast).egressBytes < body.length);
    });

    test('a body over the transfer bound is refused up front (429, Retry-After, the limit named) with nothing stored', async () => {
      const rate = 64 * KiB;
      await setQuota(slow, { ingressBytesPerSecond: rate, ingressBurstBytes: 0, egressBytesPerSecond: rate, egressBurstBytes: 0 });
      const before = await usage(slow);
      const blobsBefore = listFiles(join(p.home, 'blobs', slow.id)).length;
      // 10 s at the rate, over the 5 s bound.
      const body = randomBytes(10 * rate);
      const refused = await put(slow.tokens.member, 'bound/too-big.bin', body);
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.headers['retry-after'], '10');
      const error = refused.json() as { error_code: string; message: string };
      assert.equal(error.error_code, 'REQUEST_LIMIT_EXCEEDED');
      assert.match(error.message, /would take 10 s at 65.5 kB\/s, your tenant's ingress bandwidth quota; one transfer may take at most 5 s/);
      assert.deepEqual(await usage(slow), before);
      assert.equal(listFiles(join(p.home, 'blobs', slow.id)).length, blobsBefore, 'no blob, no temp file');
      assert.equal((await get(slow.tokens.viewer, 'bound/too-big.bin')).statusCode, 404);

      // A dataset push (native API: the platform's error shape) is refused the same way.
      const dir = mkdtempSync(join(tmpdir(), 'bw-tar-'));
      try {
        writeFileSync(join(dir, 'data.bin'), body);
        const chunks: Buffer[] = [];
        for await (const chunk of createTar({ cwd: dir, portable: true }, ['.']) as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
        const tar = Buffer.concat(chunks);
        const pushed = await p.app.inject({ method: 'POST', url: `/api/v1/tenants/${slow.slug}/datasets/big/versions`, headers: { authorization: `Bearer ${slow.tokens.member}`, 'content-type': 'application/x-tar' }, payload: tar });
        assert.equal(pushed.statusCode, 429);
        assert.equal(pushed.json().code, 'RATE_LIMITED');
        assert.equal(pushed.json().details.limit, 'ingressBytesPerSecond');
        assert.ok(Number(pushed.headers['retry-after']) >= 10);
        assert.equal((await p.call('GET', `/api/v1/tenants/${slow.slug}/datasets`, slow.tokens.viewer)).body.datasets.length, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }

      // A download over the bound is refused before a byte is sent (stored after raising the ingress rate only).
      await setQuota(slow, { ingressBytesPerSecond: 1024 ** 3 });
      assert.equal((await put(slow.tokens.member, 'bound/stored.bin', body)).statusCode, 200);
      const download = await get(slow.tokens.viewer, 'bound/stored.bin');
      assert.equal(download.statusCode, 429);
      assert.equal(download.headers['retry-after'], '10');
      assert.match((download.json() as { message: string }).message, /your download of .* egress bandwidth quota/);
      // Another tenant's same-sized transfers are not refused.
      assert.equal((await put(fast.tokens.member, 'bound/too-big.bin', body)).statusCode, 200);
      assert.equal((await get(fast.tokens.viewer, 'bound/too-big.bin')).statusCode, 200);
    });

    test("a multipart part is charged to the tenant its signed URL names, only once the signature holds; usage shows each tenant only its own bytes", async () => {
      const rate = 64 * KiB;
      await setQuota(slow, { ingressBytesPerSecond: rate, ingressBurstBytes: 0 });
      const created = await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/create/1/run1/artifacts', slow.tokens.member, { path: 'big.bin', num_parts: 2 });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const [first, second] = created.body.credentials as Array<{ url: string }>;
      const firstUrl = new URL(first!.url);
      const secondUrl = new URL(second!.url);
      const before = counter(slow).ingressBytes;
      // A forged signature naming the limited tenant: refused, and not one byte charged to it.
      const forged = firstUrl.search.replace(/signature=[^&]+/, 'signature=AAAA');
      const refused = await p.app.inject({ method: 'PUT', url: `${firstUrl.pathname}${forged}`, headers: { 'content-type': 'application/octet-stream' }, payload: randomBytes(32 * KiB) });
      assert.equal(refused.statusCode, 403);
      assert.equal(counter(slow).ingressBytes, before);
      // A part over the bound at the owner's rate: refused up front, nothing staged.
      const tooBig = await p.app.inject({ method: 'PUT', url: `${secondUrl.pathname}${secondUrl.search}`, headers: { 'content-type': 'application/octet-stream' }, payload: randomBytes(10 * rate) });
      assert.equal(tooBig.statusCode, 429);
      assert.equal(tooBig.json().error_code, 'REQUEST_LIMIT_EXCEEDED');
      assert.equal(listFiles(join(p.home, 'blobs', slow.id, 'mpu')).length, 0);
      // A valid part: charged to its owner (and throttled at its rate).
      const part = randomBytes(64 * KiB);
      const accepted = await p.app.inject({ method: 'PUT', url: `${firstUrl.pathname}${firstUrl.search}`, headers: { 'content-type': 'application/octet-stream' }, payload: part });
      assert.equal(accepted.statusCode, 200, accepted.body);
      assert.ok(counter(slow).ingressBytes >= before + part.length);
      assert.equal((await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/abort/1/run1/artifacts', slow.tokens.member, { path: 'big.bin', upload_id: created.body.upload_id })).status, 200);

      const own = await p.call('GET', `/api/v1/tenants/${slow.slug}/usage`, slow.tokens.viewer);
      assert.equal(own.body.bandwidth.ingressBytes, counter(slow).ingressBytes);
      assert.ok(own.body.bandwidth.throttledSeconds > 0);
      // Another tenant's usage (and so its byte counters) is not found, as any other tenant resource.
      assert.equal((await p.call('GET', `/api/v1/tenants/${slow.slug}/usage`, fast.tokens.viewer)).status, 404);
    });

    test('a live quota change applies to an upload under way within about a second', async () => {
      const oldRate = 16 * KiB;
      await setQuota(slow, { ingressBytesPerSecond: oldRate, ingressBurstBytes: 0 });
      // 4.5 s at the old rate: under the 5 s bound, so it is admitted.
      const body = randomBytes(Math.floor(4.5 * oldRate));
      const start = counter(slow).ingressBytes;
      const started = performance.now();
      const upload = put(slow.tokens.member, 'live/change.bin', body).then((response) => ({ response, at: performance.now() }));
      await waitFor('the upload to be under way', () => counter(slow).ingressBytes - start >= oldRate / 2);
      const changedAt = performance.now();
      await setQuota(slow, { ingressBytesPerSecond: 1024 ** 3 });
      const done = await upload;
      assert.equal(done.response.statusCode, 200, done.response.body);
      const afterChange = (done.at - changedAt) / 1000;
      // What was left at the old rate when the quota changed: the whole body's time less the time spent.
      const remainingAtOldRate = body.length / oldRate - (changedAt - started) / 1000;
      // A ratio, not a deadline: the rest went at the new rate, in a small part of the time it had left.
      assert.ok(afterChange < remainingAtOldRate / 3, `the upload ended ${afterChange.toFixed(2)} s after the quota change, with ${remainingAtOldRate.toFixed(2)} s left at the old rate`);
      console.log(`# live change: upload ended ${afterChange.toFixed(3)} s after the quota change (${remainingAtOldRate.toFixed(2)} s were left at the old rate)`);
      assert.ok((await get(slow.tokens.viewer, 'live/change.bin')).rawPayload.equals(body));
    });
  });
}
