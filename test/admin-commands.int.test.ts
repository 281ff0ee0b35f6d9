/**
 * Admin commands on PostgreSQL, where several processes on one database are normal: beside a running
 * server (`bulkhead up` as a child process) they run as their own processes, do their one thing and return —
 * the platform is built in `admin` mode (no job runner, scheduler, serving workers or audit sealer). Before,
 * `verify-audit` and `doctor` started serving workers of their own and never returned.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, postgresAdminUrl, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const adminToken = `bh_admin-commands-${'p'.repeat(40)}`;

/** The real CLI as a child; killed (and reported) if it has not returned within `timeoutMs`. */
const cli = (args: string[], env: Record<string, string>, cwd: string, timeoutMs = 60_000): Promise<{ code: number | null; out: string; err: string; timedOut: boolean }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', BULKHEAD_CLI_CONFIG: join(cwd, 'no-login.json'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, timedOut });
    });
  });

describe('admin commands beside a server on PostgreSQL', () => {
  let database: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-admin-pg-'));
  after(async () => {
    await server?.kill('SIGKILL');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  });

  test('verify-audit, create-platform-token and doctor run beside the server and return', async () => {
    database = await createTestDatabase('postgres');
    const env = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, ...serverDatabaseEnv(database) };
    server = await startServerProcess(env);
    const verify = await cli(['admin', 'verify-audit', 'platform'], env, home);
    assert.equal(verify.timedOut, false, 'verify-audit returned');
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /^ok: \d+ events/);
    const created = await cli(['admin', 'create-platform-token', '--name', 'recovery'], env, home);
    assert.equal(created.timedOut, false, 'create-platform-token returned');
    assert.equal(created.code, 0, created.err);
    const token = created.out.trim();
    const me = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, 'the token made beside the server works on it');
    const doctor = await cli(['doctor'], env, home);
    assert.equal(doctor.timedOut, false, 'doctor returned');
    assert.equal(doctor.code, 0, doctor.err);
    assert.match(doctor.out, /^database: postgres\nrow-level security: enforced/);
    // The detected cgroup version and where the platform would write (v1 on this host, v2 on current distributions).
    assert.match(doctor.out, /\ncgroups: (v1, hierarchies under \/sys\/fs\/cgroup|v2, unified hierarchy, (root cgroup|delegated subtree) \/sys\/fs\/cgroup\S*).* — controllers .*memory/);
    // The image store (issue 17): counts and bytes, and where pulls may come from.
    assert.match(doctor.out, /\nimages: \d+ unpacked \(\d+ bytes\), \d+ blobs \(\d+ bytes\) in \S+\/images/);
    assert.match(doctor.out, /\nimage registries: none configured/);
    // The server was not disturbed.
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });

  test('pointed at an empty PostgreSQL database, an admin command installs no schema there unless told to', async () => {
    const name = `bh_test_empty_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: postgresAdminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(postgresAdminUrl);
    url.pathname = `/${name}`;
    const empty = mkdtempSync(join(tmpdir(), 'bulkhead-admin-empty-'));
    try {
      const run = await cli(['admin', 'create-platform-token', '--name', 'x'], { BULKHEAD_DATABASE_URL: url.toString() }, empty);
      assert.equal(run.code, 1, run.out);
      assert.match(run.err, new RegExp(`error \\[NOT_FOUND\\]: no Bulkhead schema in .*${name}`));
      const check = new pg.Client({ connectionString: url.toString() });
      await check.connect();
      try {
        assert.equal((await check.query("SELECT to_regclass('schema_migrations') AS found")).rows[0].found, null, 'no schema was installed');
      } finally {
        await check.end();
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
