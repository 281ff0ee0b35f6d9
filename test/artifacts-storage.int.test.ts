/**
 * Encrypted per-tenant artifact storage, the storage quota, path validation, cross-tenant isolation,
 * multipart upload and datasets — through the HTTP API (app.inject) on PGlite and PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create as createTar } from 'tar';
import { withTenant } from '../src/db/index.ts';
import { BlobIntegrityError, createDecryptStream } from '../src/artifacts/index.ts';
import { systemContext } from '../src/core/request-context.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

const A = '/api/2.0/mlflow-artifacts/artifacts';

const listFiles = (dir: string): string[] => {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
};

const tarOf = async (dir: string): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of createTar({ cwd: dir, portable: true }, ['.']) as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
};

for (const kind of databaseKinds) {
  describe(`artifacts and datasets on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;

    const put = (token: string, path: string, body: Buffer | string, headers: Record<string, string> = {}) =>
      p.app.inject({ method: 'PUT', url: `${A}/${path}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...headers }, payload: body });
    const get = (token: string, path: string) => p.app.inject({ method: 'GET', url: `${A}/${path}`, headers: { authorization: `Bearer ${token}` } });
    const usage = async (t: TestTenant) => (await p.call('GET', `/api/v1/tenants/${t.slug}/usage`, t.tokens.viewer)).body.storageBytes as { used: number; reserved: number; quota: number };
    const setQuota = async (t: TestTenant, storageBytes: number) => assert.equal((await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { storageBytes })).status, 200);
    const tenantRoot = (t: TestTenant) => join(p.home, 'blobs', t.id);
    const rowCount = async (t: TestTenant, table: string) =>
      withTenant(p.platform.db, t.id, async (tx) => Number((await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n));

    before(async () => {
      p = await createTestPlatform(kind);
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
    });
    after(async () => p.close());

    test('a blob renamed into place by a transaction that then rolls back does not stay on disk without a row', async () => {
      const storage = p.platform.storage;
      const own = await p.createTenant('orphans');
      const content = randomBytes(50_000);
      const before = await usage(own);
      const session = await storage.beginUpload(own.id, { expectedBytes: content.length });
      let digest = '';
      try {
        const staged = await session.stage(Readable.from([content]));
        digest = staged.digest;
        await assert.rejects(withTenant(p.platform.db, own.id, async (tx) => {
          await session.commit(tx, [staged]);
          // The file is in place now, inside the transaction; a later statement of the caller fails.
          assert.equal(existsSync(storage.files.blobPath(own.id, staged.digest)), true);
          throw new Error('a later statement failed');
        }), /a later statement failed/);
      } finally {
        await session.finish();
      }
      assert.equal(existsSync(storage.files.blobPath(own.id, digest)), false, 'the placed file went with the rolled-back row');
      assert.deepEqual(await usage(own), before);
      // And an orphan planted by hand (a process killed between rename and COMMIT) is swept; a referenced blob is not.
      assert.equal((await put(own.tokens.member, 'orphan-test/kept.bin', randomBytes(1000))).statusCode, 200);
      const orphan = createHash('sha256').update(randomBytes(16)).digest('hex');
      mkdirSync(join(tenantRoot(own), 'sha256', orphan.slice(0, 2)), { recursive: true });
      writeFileSync(storage.files.blobPath(own.id, orphan), randomBytes(100));
      const swept = await storage.sweepOrphanFiles(own.id);
      assert.deepEqual(swept, { files: 1, bytes: 100 });
      assert.equal(existsSync(storage.files.blobPath(own.id, orphan)), false);
      assert.equal((await get(own.tokens.viewer, 'orphan-test/kept.bin')).statusCode, 200);
      assert.deepEqual(await storage.sweepOrphanFiles(own.id), { files: 0, bytes: 0 }, 'idempotent');
    });

    test('the orphan sweep never removes a blob whose upload renamed it into place and has not committed yet', { skip: kind === 'pglite' ? 'PGlite runs one transaction at a time: no upload is ever mid-commit beside a sweep' : false }, async () => {
      const storage = p.platform.storage;
      const own = await p.createTenant('racing');
      const content = randomBytes(20_000);
      const session = await storage.beginUpload(own.id, { expectedBytes: content.length });
      let sweep: Promise<{ files: number; bytes: number }> | undefined;
      let digest = '';
      try {
        const staged = await session.stage(Readable.from([content]));
        digest = staged.digest;
        await withTenant(p.platform.db, own.id, async (tx) => {
          await session.commit(tx, [staged]);
          // The file is in place, its row not committed: a sweep now sees a file without a row...
          sweep = storage.sweepOrphanFiles(own.id);
          // ...and must wait on the row lock (seen as a backend waiting for a lock) rather than delete it.
          const deadline = Date.now() + 30_000;
          for (;;) {
            const { rows } = await p.database.owner.queryAsOwner<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO blobs%'",
            );
            if (Number(rows[0]?.n) > 0) break;
            assert.ok(Date.now() < deadline, 'the sweep never blocked on the uncommitted row');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          assert.equal(existsSync(storage.files.blobPath(own.id, staged.digest)), true);
        });
      } finally {
        await session.finish();
      }
      assert.deepEqual(await sweep, { files: 0, bytes: 0 }, 'the committed blob was not swept');
      assert.equal(existsSync(storage.files.blobPath(own.id, digest)), true);
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.openBlob(own.id, digest, content.length)) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), content);
    });

    test('upload, download, list and delete round-trip; the list shape is MLflow\'s', async () => {
      const body = randomBytes(200_000);
      assert.equal((await put(acme.tokens.member, '1/run1/artifacts/model/weights.bin', body)).statusCode, 200);
      assert.equal((await put(acme.tokens.member, '1/run1/artifacts/notes.txt', 'hi')).statusCode, 200);
      const got = await get(acme.tokens.viewer, '1/run1/artifacts/model/weights.bin');
      assert.equal(got.statusCode, 200);
      assert.deepEqual(got.rawPayload, body);
      const listed = await p.call('GET', `${A}?path=1/run1/artifacts`, acme.tokens.viewer);
      assert.deepEqual(listed.body, { files: [{ path: 'model', is_dir: true }, { path: 'notes.txt', is_dir: false, file_size: 2 }] });
      assert.deepEqual((await p.call('GET', `${A}?path=1/run1/artifacts/notes.txt`, acme.tokens.viewer)).body, {});
      assert.deepEqual((await p.call('GET', `${A}?path=1/nothing`, acme.tokens.viewer)).body, {});
      // The /ajax-api alias serves the same namespace.
      assert.deepEqual((await p.app.inject({ method: 'GET', url: '/ajax-api/2.0/mlflow-artifacts/artifacts/1/run1/artifacts/notes.txt', headers: { authorization: `Bearer ${acme.tokens.viewer}` } })).body, 'hi');
      assert.equal((await p.call('DELETE', `${A}/1/run1/artifacts/model`, acme.tokens.member)).status, 200);
      assert.equal((await get(acme.tokens.viewer, '1/run1/artifacts/model/weights.bin')).statusCode, 404);
      assert.equal((await get(acme.tokens.viewer, '1/run1/artifacts/notes.txt')).statusCode, 200);
      // Every mutation is audited in the same transaction.
      const actions = await withTenant(p.platform.db, acme.id, async (tx) => (await tx.query<{ action: string }>("SELECT action FROM audit_events WHERE action LIKE 'artifact.%'")).rows.map((r) => r.action));
      assert.ok(actions.filter((a) => a === 'artifact.put').length >= 2 && actions.includes('artifact.delete'));
    });

    test('bytes on disk are not the plaintext, and another tenant\'s key cannot decrypt them', async () => {
      const secret = Buffer.from('acme secret weights '.repeat(4000));
      assert.equal((await put(acme.tokens.member, 'enc/secret.bin', secret)).statusCode, 200);
      const digest = createHash('sha256').update(secret).digest('hex');
      const onDisk = readFileSync(join(tenantRoot(acme), 'sha256', digest.slice(0, 2), digest));
      assert.ok(onDisk.length > secret.length);
      assert.equal(onDisk.includes(Buffer.from('acme secret weights')), false);
      assert.equal(onDisk.includes(secret.subarray(0, 64)), false);
      // The stored data key is wrapped: the raw key bytes are not in the table.
      const acmeKey = await p.platform.storage.dataKey(acme.id);
      const wrapped = await withTenant(p.platform.db, acme.id, async (tx) => (await tx.query<{ wrapped_key: string }>('SELECT wrapped_key FROM tenant_data_keys')).rows[0]!.wrapped_key);
      assert.ok(!wrapped.includes(acmeKey.toString('base64')) && !wrapped.includes(acmeKey.toString('hex')));
      const decrypt = async (key: Buffer) => {
        const out: Buffer[] = [];
        await pipeline(Readable.from([onDisk]), createDecryptStream(key), async function* (source) {
          for await (const chunk of source) out.push(chunk as Buffer);
        });
        return Buffer.concat(out);
      };
      assert.deepEqual(await decrypt(acmeKey), secret);
      const globexKey = await p.platform.storage.dataKey(globex.id);
      assert.notDeepEqual(globexKey, acmeKey);
      await assert.rejects(decrypt(globexKey), BlobIntegrityError);
    });

    test('the same path in two tenants is two files; another tenant\'s path is not found and stays intact', async () => {
      assert.equal((await put(acme.tokens.member, '7/shared/artifacts/model.onnx', 'acme model')).statusCode, 200);
      assert.equal((await put(globex.tokens.member, '7/shared/artifacts/model.onnx', 'globex model')).statusCode, 200);
      assert.equal((await get(acme.tokens.viewer, '7/shared/artifacts/model.onnx')).body, 'acme model');
      assert.equal((await get(globex.tokens.viewer, '7/shared/artifacts/model.onnx')).body, 'globex model');
      assert.equal((await put(acme.tokens.member, '8/only-acme/artifacts/a.bin', 'acme only')).statusCode, 200);
      const download = await get(globex.tokens.owner, '8/only-acme/artifacts/a.bin');
      assert.equal(download.statusCode, 404);
      assert.equal(JSON.parse(download.body).error_code, 'RESOURCE_DOES_NOT_EXIST');
      assert.deepEqual((await p.call('GET', `${A}?path=8/only-acme/artifacts`, globex.tokens.owner)).body, {});
      const removed = await p.call('DELETE', `${A}/8/only-acme/artifacts/a.bin`, globex.tokens.owner);
      assert.equal(removed.status, 404);
      assert.equal(removed.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
      assert.equal((await p.call('DELETE', `${A}/8`, globex.tokens.owner)).status, 404);
      assert.equal((await get(acme.tokens.viewer, '8/only-acme/artifacts/a.bin')).body, 'acme only');
      // Platform-admin tokens act for no tenant here.
      assert.equal((await get(adminToken, '8/only-acme/artifacts/a.bin')).statusCode, 403);
    });

    test('traversal attempts are refused and nothing lands outside the tenant root', async () => {
      const before = listFiles(p.home).length;
      for (const path of ['../escape.txt', '%2e%2e/escape.txt', '..%2fescape.txt', 'a/%2e%2e/%2e%2e/escape.txt', '%2Fetc%2Fpasswd', 'a%5C..%5Cescape.txt', 'a%00b']) {
        const response = await put(acme.tokens.member, path, 'x');
        assert.ok([400, 404].includes(response.statusCode), `${path}: ${response.statusCode} ${response.body}`);
      }
      for (const path of ['/etc/passwd', '../x', '..\\x', 'a/../../x']) {
        const response = await p.call('GET', `${A}?path=${encodeURIComponent(path)}`, acme.tokens.member);
        assert.equal(response.status, 400, path);
        assert.equal(response.body.error_code, 'INVALID_PARAMETER_VALUE');
      }
      assert.equal(listFiles(p.home).length, before);
      assert.equal(existsSync(join(p.home, 'escape.txt')) || existsSync(join(p.home, 'blobs', 'escape.txt')), false);
    });

    test('a symlink planted in the blob directory is never followed', async () => {
      const content = 'planted target content';
      assert.equal((await put(acme.tokens.member, 'links/victim.bin', 'original bytes')).statusCode, 200);
      const digest = createHash('sha256').update('original bytes').digest('hex');
      const blobPath = join(tenantRoot(acme), 'sha256', digest.slice(0, 2), digest);
      const outside = join(p.home, 'outside.txt');
      writeFileSync(outside, content);
      unlinkSync(blobPath);
      symlinkSync(outside, blobPath);
      const response = await get(acme.tokens.viewer, 'links/victim.bin');
      assert.notEqual(response.statusCode, 200);
      assert.ok(!response.body.includes(content));
      // A symlinked directory level is refused too.
      assert.equal((await put(acme.tokens.member, 'links/other.bin', 'other bytes')).statusCode, 200);
      const other = createHash('sha256').update('other bytes').digest('hex');
      const shard = join(tenantRoot(acme), 'sha256', other.slice(0, 2));
      const elsewhere = mkdtempSync(join(tmpdir(), 'bulkhead-planted-'));
      rmSync(shard, { recursive: true });
      symlinkSync(elsewhere, shard);
      const viaDir = await get(acme.tokens.viewer, 'links/other.bin');
      assert.notEqual(viaDir.statusCode, 200);
      rmSync(elsewhere, { recursive: true, force: true });
      unlinkSync(shard);
      unlinkSync(blobPath);
    });

    test('an upload over the quota is refused while streaming and leaves no file, no row and no usage change', async () => {
      const t = await p.createTenant(`quota-${kind === 'pglite' ? 'l' : 'p'}`);
      await setQuota(t, 1_000_000);
      assert.equal((await put(t.tokens.member, 'fits.bin', randomBytes(600_000))).statusCode, 200);
      const used = await usage(t);
      assert.equal(used.used, 600_000);
      const files = listFiles(tenantRoot(t)).length;
      const rows = await rowCount(t, 'artifact_files');
      // With a Content-Length: refused up front. Chunked (no length): refused mid-stream.
      const refused = await put(t.tokens.member, 'too-big.bin', randomBytes(500_000));
      assert.equal(refused.statusCode, 400);
      assert.deepEqual(Object.keys(JSON.parse(refused.body)).sort(), ['error_code', 'message']);
      assert.equal(JSON.parse(refused.body).error_code, 'RESOURCE_LIMIT_EXCEEDED');
      const chunked = await p.app.inject({
        method: 'PUT', url: `${A}/too-big-chunked.bin`, headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/octet-stream' },
        payload: Readable.from((function* () { for (let i = 0; i < 8; i += 1) yield randomBytes(64 * 1024); })()),
      });
      assert.equal(chunked.statusCode, 400, chunked.body);
      assert.equal(JSON.parse(chunked.body).error_code, 'RESOURCE_LIMIT_EXCEEDED');
      assert.deepEqual(await usage(t), used);
      assert.equal(await rowCount(t, 'artifact_files'), rows);
      assert.equal(listFiles(tenantRoot(t)).length, files);
      assert.deepEqual(listFiles(join(tenantRoot(t), 'tmp')), []);
      assert.equal((await get(t.tokens.member, 'too-big-chunked.bin')).statusCode, 404);
      // Deleting frees the bytes; identical content is stored (and counted) once.
      assert.equal((await put(t.tokens.member, 'copy.bin', readFileSync(listFiles(tenantRoot(t))[0]!).subarray(0, 10))).statusCode, 200);
      await p.call('DELETE', `${A}/copy.bin`, t.tokens.member);
      await p.call('DELETE', `${A}/fits.bin`, t.tokens.member);
      assert.equal((await usage(t)).used, 0);
      const same = randomBytes(300_000);
      assert.equal((await put(t.tokens.member, 'a.bin', same)).statusCode, 200);
      assert.equal((await put(t.tokens.member, 'b.bin', same)).statusCode, 200);
      assert.equal((await usage(t)).used, 300_000);
    });

    test('uploads of 1 MiB and more (sealed on a worker thread) and chunked ones round-trip like small ones', async () => {
      const t = await p.createTenant(`big-${kind === 'pglite' ? 'l' : 'p'}`);
      const big = randomBytes(3 * 1024 * 1024 + 17);
      assert.equal((await put(t.tokens.member, 'big/declared.bin', big)).statusCode, 200);
      const chunked = await p.app.inject({
        method: 'PUT', url: `${A}/big/chunked.bin`, headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/octet-stream' },
        payload: Readable.from((function* () { for (let i = 0; i < big.length; i += 100_000) yield big.subarray(i, i + 100_000); })()),
      });
      assert.equal(chunked.statusCode, 200, chunked.body);
      for (const path of ['big/declared.bin', 'big/chunked.bin']) {
        const got = await get(t.tokens.viewer, path);
        assert.equal(got.statusCode, 200);
        assert.ok(got.rawPayload.equals(big), path);
      }
      // Same content, same digest: stored once, whichever path sealed it.
      assert.equal(listFiles(join(tenantRoot(t), 'sha256')).length, 1);
      assert.equal((await usage(t)).used, big.length);
      assert.deepEqual(listFiles(join(tenantRoot(t), 'tmp')), []);
    });

    test('concurrent uploads never exceed the quota together', async () => {
      const t = await p.createTenant(`conc-${kind === 'pglite' ? 'l' : 'p'}`);
      await setQuota(t, 2_000_000);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => p.app.inject({
        method: 'PUT', url: `${A}/c/${i}.bin`, headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/octet-stream' },
        // Chunked, so nothing is reserved up front: the reservations race while bytes stream.
        payload: Readable.from((function* () { for (let k = 0; k < 6; k += 1) yield randomBytes(50_000); })()),
      })));
      const ok = results.filter((r) => r.statusCode === 200).length;
      const refused = results.filter((r) => r.statusCode === 400 && JSON.parse(r.body).error_code === 'RESOURCE_LIMIT_EXCEEDED').length;
      assert.equal(ok + refused, 10, results.map((r) => `${r.statusCode} ${r.body}`).join('\n'));
      assert.ok(ok >= 1 && refused >= 1, `ok ${ok}, refused ${refused}`);
      const u = await usage(t);
      assert.equal(u.used, ok * 300_000);
      assert.ok(u.used <= u.quota);
      assert.equal(u.reserved, 0);
      assert.equal(await rowCount(t, 'artifact_files'), ok);
    });

    test('multipart upload: create, signed part URLs, complete; abort cleans up; bad signatures are refused', async () => {
      const parts = [randomBytes(100_000), randomBytes(100_000), randomBytes(5_000)];
      const created = await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/create/3/run9/artifacts', acme.tokens.member, { path: '/home/me/big-model.bin', num_parts: 3 });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assert.equal(created.body.credentials.length, 3);
      const etags: Array<{ part_number: number; etag: string }> = [];
      for (const credential of created.body.credentials as Array<{ url: string; part_number: number; headers: Record<string, string> }>) {
        const url = new URL(credential.url);
        // No Authorization header: the Python client PUTs parts with plain requests.put(url, headers=credential.headers).
        const response = await p.app.inject({ method: 'PUT', url: `${url.pathname}${url.search}`, headers: { ...credential.headers, 'content-type': 'application/octet-stream' }, payload: parts[credential.part_number - 1]! });
        assert.equal(response.statusCode, 200, response.body);
        etags.push({ part_number: credential.part_number, etag: String(response.headers['etag']) });
      }
      const firstUrl = new URL(created.body.credentials[0].url);
      const forged = firstUrl.search.replace(/signature=[^&]+/, 'signature=AAAA');
      assert.equal((await p.app.inject({ method: 'PUT', url: `${firstUrl.pathname}${forged}`, payload: 'x' })).statusCode, 403);
      const otherTenant = firstUrl.pathname.replace(acme.id, globex.id);
      assert.equal((await p.app.inject({ method: 'PUT', url: `${otherTenant}${firstUrl.search}`, payload: 'x' })).statusCode, 403);
      assert.equal((await get(acme.tokens.viewer, '3/run9/artifacts/big-model.bin')).statusCode, 404);
      // Completing needs the caller's tenant: another tenant cannot complete acme's upload.
      assert.equal((await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/complete/3/run9/artifacts', globex.tokens.member, { path: 'big-model.bin', upload_id: created.body.upload_id, parts: etags })).status, 404);
      const completed = await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/complete/3/run9/artifacts', acme.tokens.member, { path: '/home/me/big-model.bin', upload_id: created.body.upload_id, parts: etags });
      assert.equal(completed.status, 200, JSON.stringify(completed.body));
      assert.deepEqual((await get(acme.tokens.viewer, '3/run9/artifacts/big-model.bin')).rawPayload, Buffer.concat(parts));
      assert.deepEqual(listFiles(join(tenantRoot(acme), 'mpu')), []);
      const aborted = await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/create/3/run9/artifacts', acme.tokens.member, { path: 'x.bin', num_parts: 1 });
      const url = new URL(aborted.body.credentials[0].url);
      assert.equal((await p.app.inject({ method: 'PUT', url: `${url.pathname}${url.search}`, payload: randomBytes(1000) })).statusCode, 200);
      const reservedBefore = (await usage(acme)).reserved;
      assert.ok(reservedBefore >= 1000);
      assert.equal((await p.call('POST', '/api/2.0/mlflow-artifacts/mpu/abort/3/run9/artifacts', acme.tokens.member, { path: 'x.bin', upload_id: aborted.body.upload_id })).status, 200);
      assert.equal((await usage(acme)).reserved, reservedBefore - 1000);
      assert.deepEqual(listFiles(join(tenantRoot(acme), 'mpu')), []);
    });

    test('datasets: push a tar, versions are immutable with a content digest, pull and materialize', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-ds-'));
      mkdirSync(join(dir, 'train'));
      writeFileSync(join(dir, 'train', 'a.csv'), 'x,y\n1,2\n');
      writeFileSync(join(dir, 'labels.txt'), 'cat\ndog\n');
      const push = (t: TestTenant, name: string, body: Buffer) => p.app.inject({
        method: 'POST', url: `/api/v1/tenants/${t.slug}/datasets/${name}/versions`, headers: { authorization: `Bearer ${t.tokens.member}`, 'content-type': 'application/x-tar' }, payload: body,
      });
      const first = await push(acme, 'iris', await tarOf(dir));
      assert.equal(first.statusCode, 201, first.body);
      const v1 = JSON.parse(first.body);
      assert.equal(v1.version, 1);
      assert.equal(v1.fileCount, 2);
      writeFileSync(join(dir, 'labels.txt'), 'cat\ndog\nbird\n');
      const v2 = JSON.parse((await push(acme, 'iris', await tarOf(dir))).body);
      assert.equal(v2.version, 2);
      assert.notEqual(v2.digest, v1.digest);
      // Version 1 is unchanged by version 2.
      const shown = await p.call('GET', '/api/v1/tenants/acme/datasets/iris/versions/1', acme.tokens.viewer);
      assert.equal(shown.body.digest, v1.digest);
      assert.deepEqual(shown.body.files.map((f: { path: string }) => f.path), ['labels.txt', 'train/a.csv']);
      const file = await p.app.inject({ method: 'GET', url: '/api/v1/tenants/acme/datasets/iris/versions/1/files/labels.txt', headers: { authorization: `Bearer ${acme.tokens.viewer}` } });
      assert.equal(file.body, 'cat\ndog\n');
      // Immutable even to SQL from the application role.
      await assert.rejects(withTenant(p.platform.db, acme.id, (tx) => tx.query('UPDATE dataset_versions SET digest = $1 WHERE version = 1', ['0'.repeat(64)])));
      await assert.rejects(withTenant(p.platform.db, acme.id, (tx) => tx.query("UPDATE dataset_files SET digest = digest WHERE path = 'labels.txt'")));
      // Another tenant sees nothing.
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/datasets/iris', globex.tokens.owner)).status, 404);
      assert.equal((await p.call('GET', '/api/v1/tenants/globex/datasets/iris', globex.tokens.owner)).status, 404);
      assert.deepEqual((await p.call('GET', '/api/v1/tenants/globex/datasets', globex.tokens.owner)).body, { datasets: [] });
      // Materialize for a job: decrypted files, read-only, verified.
      const target = join(mkdtempSync(join(tmpdir(), 'bulkhead-mat-')), 'data');
      const materialized = await p.platform.datasets.materializeDatasetVersion(acme.id, 'iris', 1, target);
      assert.equal(materialized.digest, v1.digest);
      assert.equal(readFileSync(join(target, 'labels.txt'), 'utf8'), 'cat\ndog\n');
      assert.equal(readFileSync(join(target, 'train', 'a.csv'), 'utf8'), 'x,y\n1,2\n');
      assert.equal(statSync(join(target, 'labels.txt')).mode & 0o777, 0o444);
      await assert.rejects(p.platform.datasets.materializeDatasetVersion(globex.id, 'iris', 1, join(target, 'x')), { code: 'NOT_FOUND' });
      // Links in the archive are refused: nothing is created.
      const evil = mkdtempSync(join(tmpdir(), 'bulkhead-evil-'));
      symlinkSync('/etc/passwd', join(evil, 'passwd'));
      const refused = await push(acme, 'evil', await tarOf(evil));
      assert.equal(refused.statusCode, 400);
      assert.equal((await p.call('GET', '/api/v1/tenants/acme/datasets/evil', acme.tokens.viewer)).status, 404);
      // Pushing through the service with a traversal path is refused.
      await assert.rejects(p.platform.datasets.pushVersion(systemContext(), acme.id, 'trav', (async function* () { yield { path: '../x', stream: Readable.from([Buffer.from('x')]) }; })()), { code: 'VALIDATION_FAILED' });
      for (const d of [dir, evil, target]) rmSync(d, { recursive: true, force: true });
    });
  });
}
