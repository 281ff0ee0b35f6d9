/**
 * Crash safety of artifact uploads: the real server runs as a child process (`bulkhead up`), clients
 * upload concurrently through the MLflow artifact API, the server is SIGKILLed mid-stream and started
 * again on the same home and database. Every acknowledged upload must read back byte-identical; every
 * visible artifact must be a complete upload (its digest equals what was sent for that path); leftover
 * temp files are never served; usage equals the sum of what is visible.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { startServerProcess, mustServer } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { waitFor } from './support/wait.ts';

const adminToken = `bh_artifact-crash-admin-${'a'.repeat(32)}`;
const CLIENTS = 6;
const A = '/api/2.0/mlflow-artifacts/artifacts';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Every file under `dir`, recursively, through the MLflow list API. */
const listAll = async (url: string, token: string, dir: string): Promise<Array<{ path: string; size: number }>> => {
  const listed = await mustServer(url, token, 'GET', `${A}?path=${encodeURIComponent(dir)}`);
  const out: Array<{ path: string; size: number }> = [];
  for (const entry of (listed.files ?? []) as Array<{ path: string; is_dir: boolean; file_size?: number }>) {
    const path = `${dir}/${entry.path}`;
    if (entry.is_dir) out.push(...(await listAll(url, token, path)));
    else out.push({ path, size: entry.file_size ?? -1 });
  }
  return out;
};

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`artifact uploads survive SIGKILL of the server (${kind})`, () => {
    let database: TestDatabase | undefined;
    let home: string;
    let server: ServerProcess | undefined;
    after(async () => {
      await server?.kill('SIGKILL');
      await database?.drop();
      rmSync(home, { recursive: true, force: true });
    });

    test('acknowledged uploads are intact after restart; nothing partial is visible', async () => {
      home = mkdtempSync(join(tmpdir(), 'bulkhead-artifact-crash-'));
      const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken };
      if (kind === 'postgres') {
        database = await createTestDatabase('postgres');
        Object.assign(env, serverDatabaseEnv(database));
      }
      server = await startServerProcess(env);
      await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'crash', name: 'Crash', tier: 'sandbox' });
      const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/crash/tokens', { name: 't', role: 'member' });

      const sent = new Map<string, string>();
      const acked = new Map<string, string>();
      let stop = false;
      const client = async (c: number): Promise<void> => {
        for (let n = 0; !stop; n += 1) {
          const path = `crash/c${c}/${n}.bin`;
          const body = randomBytes(256 * 1024 + Math.floor(Math.random() * 1024 * 1024));
          sent.set(path, sha(body));
          try {
            const response = await fetch(`${server!.url}${A}/${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body });
            await response.text();
            if (response.status === 200) acked.set(path, sha(body));
          } catch {
            return; // the server died under us
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
      // Kill once every client has had uploads acknowledged (a fixed delay is flaky on a loaded machine),
      // while the next ones are in flight.
      // Then a few more acknowledged: the kill lands while uploads of every client are in flight.
      await waitFor('uploads acknowledged', () => acked.size >= 2 * CLIENTS, 60_000, 50).catch(() => undefined);
      await server.kill('SIGKILL');
      stop = true;
      await Promise.all(clients);
      assert.ok(acked.size >= CLIENTS, `only ${acked.size} uploads acknowledged before the kill`);
      assert.ok(sent.size > acked.size, 'some uploads must have been in flight at the kill');

      server = await startServerProcess(env);
      for (const [path, digest] of acked) {
        const response = await fetch(`${server.url}${A}/${path}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(response.status, 200, path);
        assert.equal(sha(Buffer.from(await response.arrayBuffer())), digest, path);
      }
      const visible = await listAll(server.url, token, 'crash');
      let total = 0;
      for (const file of visible) {
        assert.ok(sent.has(file.path), `${file.path} is visible but was never sent`);
        const response = await fetch(`${server.url}${A}/${file.path}`, { headers: { authorization: `Bearer ${token}` } });
        const data = Buffer.from(await response.arrayBuffer());
        assert.equal(sha(data), sent.get(file.path), `${file.path} is visible but not complete`);
        assert.equal(data.length, file.size);
        total += data.length;
      }
      assert.ok(visible.length >= acked.size);
      const usage = await mustServer(server.url, token, 'GET', '/api/v1/tenants/crash/usage');
      assert.equal(usage.storageBytes.used, total);
      // A temp file left by the kill is not addressable: only listed paths exist.
      const tmpGuess = await fetch(`${server.url}${A}/tmp`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(tmpGuess.status, 404);
    });
  });
}
