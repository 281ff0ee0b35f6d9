/**
 * One writer per embedded (PGlite) home. Before the lock, `bulkhead admin verify-audit` or `bulkhead
 * doctor` beside a server taking writes, followed by a SIGKILL of the server, left a database that never
 * opened again or had lost every write acknowledged after the CLI ran; two `bulkhead up` on one home both
 * reported ready. Here, with real processes (`bulkhead up` and the CLI as children of the test):
 *  - admin commands on a live home refuse, naming the server's pid; read-only ones go through its API;
 *  - a second `up` on the same home refuses, naming the pid;
 *  - after a SIGKILL the stale lock is taken over at restart and no acknowledged write is lost;
 *  - a lock whose pid is dead, or recycled (another start time), is taken over; a live one is not;
 *  - `doctor` and `admin` commands run in an empty directory create no database there.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireHomeLock, homeLockFile } from '../src/main/home-lock.ts';
import { processStartTime } from '../src/main/process-identity.ts';
import { startServerProcess, mustServer } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const adminToken = `bh_home-lock-admin-${'h'.repeat(40)}`;

/** Runs the real `bulkhead` CLI as a child process; never with the developer's saved login. */
const cli = (args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; out: string; err: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd, env: { PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', BULKHEAD_CLI_CONFIG: join(cwd, 'no-login.json'), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, out, err }));
  });

describe('one writer per embedded home (PGlite)', () => {
  const root = mkdtempSync(join(tmpdir(), 'bulkhead-home-lock-'));
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  test('doctor and admin commands in an empty directory create no database', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const doctor = await cli(['doctor'], {}, empty);
    assert.equal(doctor.code, 0, doctor.err);
    assert.match(doctor.out, /database: none — no embedded database in .*empty\/\.bulkhead\/db/);
    for (const args of [['admin', 'verify-audit', 'platform'], ['admin', 'create-platform-token', '--name', 'x']]) {
      const run = await cli(args, {}, empty);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.out}`);
      assert.match(run.err, /no embedded database in .*empty\/\.bulkhead/, args.join(' '));
      assert.match(run.err, /--create/);
    }
    assert.deepEqual(readdirSync(empty), [], 'nothing was created in the directory');
  });

  test('a live server: admin commands and a second `up` refuse naming its pid; after SIGKILL the restart takes the stale lock over and no acknowledged write is lost', async () => {
    const home = join(root, 'home');
    const env = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken };
    server = await startServerProcess(env);
    const pid = server.child.pid!;
    await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'lock', name: 'Lock', tier: 'sandbox' });
    const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/lock/tokens', { name: 't', role: 'member' });
    const api = '/api/2.0/mlflow';
    const runId: string = (await mustServer(server.url, token, 'POST', `${api}/runs/create`, { experiment_id: '0', start_time: Date.now() })).run.info.run_id;

    // Writes flow the whole time: one metric point per acknowledged request, step = its number.
    const acked = new Set<number>();
    const running = server;
    const writer = (async () => {
      for (let n = 0; ; n += 1) {
        try {
          const response = await fetch(`${running.url}${api}/runs/log-batch`, {
            method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ run_id: runId, metrics: [{ key: 'm', value: n, timestamp: 1_700_000_000_000 + n, step: n }] }),
          });
          await response.text();
          if (response.status === 200) acked.add(n);
        } catch {
          return; // the server is gone
        }
      }
    })();
    const waitForAcks = async (count: number) => {
      const deadline = Date.now() + 60_000;
      while (acked.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(acked.size >= count, `only ${acked.size} writes acknowledged`);
    };
    await waitForAcks(20);

    // Writing admin commands refuse, naming the server's pid and what to do.
    const cwd = root;
    const token1 = await cli(['admin', 'create-platform-token', '--name', 'x'], { BULKHEAD_HOME: home }, cwd);
    assert.equal(token1.code, 1, token1.out);
    assert.match(token1.err, new RegExp(`error \\[CONFLICT\\]: the embedded database in .* is in use by process ${pid} \\(bulkhead up`));
    assert.match(token1.err, /bulkhead token create --platform/);
    // Read-only ones: without a token, refused the same way; with one, answered by the server.
    const verifyNoToken = await cli(['admin', 'verify-audit', 'platform'], { BULKHEAD_HOME: home }, cwd);
    assert.equal(verifyNoToken.code, 1);
    assert.match(verifyNoToken.err, new RegExp(`in use by process ${pid}`));
    const verify = await cli(['admin', 'verify-audit', 'platform'], { BULKHEAD_HOME: home, BULKHEAD_TOKEN: adminToken }, cwd);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, new RegExp(`^ok: \\d+ events, chain intact .*verified by the server at ${server.url}, pid ${pid}`));
    const doctor = await cli(['doctor'], { BULKHEAD_HOME: home }, cwd);
    assert.equal(doctor.code, 0, doctor.err);
    assert.match(doctor.out, new RegExp(`in use by process ${pid}, bulkhead up: ready at ${server.url}`));
    // From any other directory, pointed at the server by BULKHEAD_URL: the server's mode, nothing created.
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(elsewhere);
    const remote = await cli(['doctor'], { BULKHEAD_URL: server.url }, elsewhere);
    assert.equal(remote.code, 0, remote.err);
    assert.match(remote.out, new RegExp(`^server: ready at ${server.url} \\(database pglite, row-level security guarded\\)\n`));
    assert.match(remote.out, /database: none — no embedded database in .*elsewhere\/\.bulkhead\/db/);
    assert.deepEqual(readdirSync(elsewhere), [], 'doctor created nothing in the directory it ran in');
    // A second server on the same home is refused (before: both reported ready).
    await assert.rejects(startServerProcess(env), (error: Error) => {
      assert.match(error.message, /server exited during start-up \(code 1\)/);
      assert.match(error.message, new RegExp(`in use by process ${pid}`));
      return true;
    });

    // Writes acknowledged after the CLI ran are the ones that used to be lost.
    const afterCli = acked.size;
    await waitForAcks(afterCli + 20);
    await server.kill('SIGKILL');
    await writer;
    const stale = JSON.parse(readFileSync(homeLockFile(home), 'utf8')) as { pid: number };
    assert.equal(stale.pid, pid, 'the killed server left its lock behind');
    assert.equal(processStartTime(pid), undefined, 'and its pid is dead');

    server = await startServerProcess(env);
    assert.equal((JSON.parse(readFileSync(homeLockFile(home), 'utf8')) as { pid: number }).pid, server.child.pid, 'the restart took the stale lock over');
    const history = await mustServer(server.url, token, 'GET', `${api}/metrics/get-history?run_id=${runId}&metric_key=m&max_results=25000`);
    const present = new Set((history.metrics as Array<{ step: number }>).map((point) => point.step));
    assert.ok(acked.size <= 25000, 'one history page holds every acknowledged point');
    const missing = [...acked].filter((n) => !present.has(n));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged writes are missing`);
    await server.kill('SIGTERM');
    server = undefined;
    assert.equal(existsSync(homeLockFile(home)), false, 'a clean stop releases the lock');
  });

  test('a stale lock (dead pid, or a recycled pid with another start time) is taken over; a live holder is not', () => {
    const home = join(root, 'locks');
    mkdirSync(home);
    const plant = (record: object) => writeFileSync(homeLockFile(home), JSON.stringify({ command: 'bulkhead up', acquiredAt: new Date().toISOString(), nonce: 'planted', hostname: hostname(), ...record }));
    // A pid that cannot exist (above pid_max).
    plant({ pid: 2 ** 22 + 1, startTime: '1' });
    acquireHomeLock(home, 'test', 'advice').release();
    // Our own parent's pid with a start time it does not have: a recycled pid.
    plant({ pid: process.ppid, startTime: '1' });
    const taken = acquireHomeLock(home, 'test', 'advice');
    assert.equal((JSON.parse(readFileSync(homeLockFile(home), 'utf8')) as { pid: number }).pid, process.pid);
    taken.release();
    // The same pid with its real start time: alive, refused, named.
    plant({ pid: process.ppid, startTime: processStartTime(process.ppid) });
    assert.throws(() => acquireHomeLock(home, 'test', 'Do something else.'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CONFLICT');
      assert.match(error.message, new RegExp(`in use by process ${process.ppid} \\(bulkhead up.*Do something else\\.`));
      return true;
    });
    // A lock of another host is never judged from here.
    plant({ pid: 2 ** 22 + 1, startTime: '1', hostname: `not-${hostname()}` });
    assert.throws(() => acquireHomeLock(home, 'test', 'advice'), /on host not-/);
  });
});
