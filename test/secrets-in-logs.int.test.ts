/**
 * Issue 23 item 6 on PGlite and PostgreSQL, against the real server process (`bulkhead up`, stdout and
 * stderr pipes, not a terminal, logging at info): the platform-admin token generated on first start is
 * not in the output, it is in `$BULKHEAD_HOME/initial-admin-token` with mode 0600 and it works; a
 * multipart upload's signed part URL and credentials in query strings (`?token=`, `access_token`) are
 * logged with their values redacted, while the request lines themselves are logged.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, databaseKinds, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { initialAdminTokenFile, initialAdminTokenNotice, writeInitialAdminToken } from '../src/main/platform.ts';

const call = async (base: string, token: string | undefined, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
};

/** Waits until the server's output satisfies `done` (log lines are written asynchronously). */
const waitForOutput = async (server: ServerProcess, done: (output: string) => boolean, timeoutMs = 20_000): Promise<string> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = server.output();
    if (done(output)) return output;
    if (Date.now() > deadline) throw new Error(`server output never matched:\n${output.slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

for (const kind of databaseKinds) {
  describe(`credentials in logs, on ${kind}`, () => {
    let database: TestDatabase | undefined;
    let server: ServerProcess | undefined;
    const home = mkdtempSync(join(tmpdir(), 'bulkhead-logs-'));
    after(async () => {
      await server?.kill('SIGTERM');
      await database?.drop();
      rmSync(home, { recursive: true, force: true });
    });

    test('first start with output not a terminal: the admin token is only in a 0600 file; signed URLs and ?token= are redacted in the log', async () => {
      const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_LOG_LEVEL: 'info', BULKHEAD_CGROUP_PREFIX: `bhlog-${randomBytes(4).toString('hex')}` };
      if (kind === 'postgres') {
        database = await createTestDatabase('postgres');
        Object.assign(env, serverDatabaseEnv(database));
      }
      server = await startServerProcess(env);
      const s = server;

      // The generated token: a 0600 file in the home, never printed (only the file's path is).
      const file = join(home, 'initial-admin-token');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const adminToken = readFileSync(file, 'utf8').trim();
      assert.match(adminToken, /^bh_[A-Za-z0-9_-]{32,}$/);
      await waitForOutput(s, (output) => output.includes(file));
      // And it works: it is a platform admin's.
      const created = await call(s.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'logs', name: 'Logs', tier: 'process' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const member = await call(s.url, adminToken, 'POST', '/api/v1/tenants/logs/tokens', { name: 'm', role: 'member' });
      assert.equal(member.status, 201, JSON.stringify(member.body));
      const memberToken = String(member.body.token);

      // A multipart upload: its part URL carries a 24-hour upload credential (expires + signature).
      const mpu = await call(s.url, memberToken, 'POST', '/api/2.0/mlflow-artifacts/mpu/create/models', { path: 'big.bin', num_parts: 1 });
      assert.equal(mpu.status, 200, JSON.stringify(mpu.body));
      const partUrl = new URL(mpu.body.credentials[0].url);
      const signature = partUrl.searchParams.get('signature');
      const expires = partUrl.searchParams.get('expires');
      assert.ok(signature !== null && signature.length >= 16 && expires !== null);
      const part = await fetch(`${s.url}${partUrl.pathname}${partUrl.search}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(1000) });
      assert.equal(part.status, 200, await part.text());
      // Tokens in query strings: on a real route (with a valid bearer header too) and on no route at all.
      assert.equal((await call(s.url, memberToken, 'GET', `/api/v1/me?token=${memberToken}`)).status, 200);
      assert.equal((await call(s.url, undefined, 'GET', `/api/v1/nowhere?access_token=${adminToken}&x=1`)).status, 404);
      assert.equal((await call(s.url, undefined, 'GET', `/api/v1/me?password=${memberToken}`)).status, 401);

      // The request lines are logged (this is what would have leaked), with the credentials' values redacted.
      const output = await waitForOutput(s, (o) => o.includes('/api/v1/me?password=[redacted]') && o.includes('/api/v1/nowhere?access_token=[redacted]&x=1'));
      assert.ok(output.length < 20_000, 'the captured output is complete (the support keeps the last 20,000 characters)');
      assert.match(output, new RegExp(`${partUrl.pathname.replaceAll('/', '\\/')}\\?expires=\\[redacted\\]&signature=\\[redacted\\]`));
      assert.ok(output.includes('/api/v1/me?token=[redacted]'));
      for (const [what, secret] of [['signature', signature], ['expires', `expires=${expires}`], ['member token', memberToken], ['admin token', adminToken]] as const) {
        assert.equal(output.includes(secret), false, `the ${what} is in the log`);
      }
    });
  });
}

test('the token file is always created afresh with mode 0600, and the token is printed only to a terminal', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-token-file-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // A file left world-readable (by hand, or by a copy) is not reused with its mode.
  writeFileSync(initialAdminTokenFile(home), 'old\n', { mode: 0o644 });
  const token = `bh_${randomBytes(24).toString('base64url')}`;
  const file = await writeInitialAdminToken(home, token);
  assert.equal(file, initialAdminTokenFile(home));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), `${token}\n`);
  const piped = initialAdminTokenNotice(token, file, false);
  assert.equal(piped.includes(token), false);
  assert.ok(piped.includes(file));
  assert.ok(initialAdminTokenNotice(token, file, true).includes(token));
});
