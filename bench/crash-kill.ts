/**
 * Crash benchmark: the real server (`bulkhead up` as a child process) is SIGKILLed N times while clients
 * write, on PostgreSQL and on the embedded PGlite, and started again on the same database each time.
 * Writers: per client, MLflow `runs/log-batch` calls (20 points each, one request in flight) and small
 * artifact uploads (`PUT mlflow-artifacts`), each remembered once the server acknowledged it (HTTP 200).
 * With `--admin`, an offline admin command (`bulkhead admin verify-audit`) is started on the same home
 * while the server takes writes, before each kill — the careless-operator case of issue 23.
 *
 * At the end one more start reads everything back and prints, per database: kills, starts that worked
 * (and the slowest start), acknowledged vs present metric points, acknowledged vs intact artifacts
 * (byte-identical), and what the admin command answered. Goal: 0 missing, every start succeeds.
 *
 * Usage: node bench/crash-kill.ts [--db postgres|pglite|both] [--kills 5] [--clients 4] [--admin]
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { DbKind } from '../src/db/index.ts';
import { createTestDatabase, serverDatabaseEnv } from '../test/support/databases.ts';
import type { TestDatabase } from '../test/support/databases.ts';
import { startServerProcess, callServer, mustServer } from '../test/support/server-process.ts';
import type { ServerProcess } from '../test/support/server-process.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    kills: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
    admin: { type: 'boolean', default: false },
  },
});
const kinds: DbKind[] = values.db === 'both' ? ['postgres', 'pglite'] : [values.db as DbKind];
const kills = Number(values.kills);
const clients = Number(values.clients);
const adminToken = `bh_crash-bench-${'k'.repeat(40)}`;
const POINTS = 20;
const MLFLOW = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';
const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Runs `bulkhead admin verify-audit <tenant>` on the server's home; resolves with its exit code and first line. */
const runAdmin = (env: Record<string, string>, tenant: string): Promise<string> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, 'admin', 'verify-audit', tenant], {
      env: { PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.on('exit', (code) => resolve(`exit ${code}: ${output.trim().split('\n')[0]?.slice(0, 100) ?? ''}`));
  });

interface Tally {
  kills: number;
  starts: number;
  startFailures: string[];
  slowestStartMs: number;
  ackedPoints: number;
  presentPoints: number;
  ackedUploads: number;
  intactUploads: number;
  admin: Map<string, number>;
}

const startTimed = async (env: Record<string, string>, tally: Tally): Promise<ServerProcess | undefined> => {
  const started = performance.now();
  try {
    const server = await startServerProcess(env, 120_000);
    tally.starts += 1;
    tally.slowestStartMs = Math.max(tally.slowestStartMs, performance.now() - started);
    return server;
  } catch (error) {
    tally.startFailures.push((error as Error).message.split('\n').slice(0, 3).join(' | '));
    return undefined;
  }
};

const runKind = async (kind: DbKind): Promise<Tally> => {
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-crash-bench-'));
  const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken };
  let database: TestDatabase | undefined;
  if (kind === 'postgres') {
    database = await createTestDatabase('postgres');
    Object.assign(env, serverDatabaseEnv(database));
  }
  const tally: Tally = { kills: 0, starts: 0, startFailures: [], slowestStartMs: 0, ackedPoints: 0, presentPoints: 0, ackedUploads: 0, intactUploads: 0, admin: new Map() };
  let server = await startTimed(env, tally);
  try {
    if (server === undefined) throw new Error(`first start failed: ${tally.startFailures.join('; ')}`);
    await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'crash', name: 'Crash', tier: 'sandbox' });
    const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/crash/tokens', { name: 't', role: 'member' });
    const runs: { id: string; experiment: string }[] = [];
    for (let c = 0; c < clients; c += 1) {
      const info = (await mustServer(server.url, token, 'POST', `${MLFLOW}/runs/create`, { experiment_id: '0', start_time: Date.now() })).run.info;
      runs.push({ id: info.run_id, experiment: info.experiment_id });
    }
    // Acknowledged writes: metric steps per run (each batch = POINTS steps of key m), uploads by path.
    const ackedSteps = runs.map(() => new Set<number>());
    const ackedFiles = new Map<string, string>();
    let nextBatch = 0;

    for (let k = 0; k < kills; k += 1) {
      const live: ServerProcess = server!;
      const ackedBefore = ackedSteps.reduce((n, s) => n + s.size, 0) + ackedFiles.size;
      const loops = runs.map(async (run, c) => {
        for (;;) {
          const n = nextBatch++;
          try {
            if (n % 4 === 3) {
              const path = `${run.experiment}/${run.id}/artifacts/crash/f${n}.bin`;
              const body = randomBytes(8 * 1024 + (n % 7) * 1024);
              const response = await fetch(`${live.url}${ARTIFACTS}/${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body });
              await response.arrayBuffer();
              if (response.status !== 200) throw new Error(`upload answered ${response.status}`);
              ackedFiles.set(path, sha(body));
            } else {
              const metrics = Array.from({ length: POINTS }, (_, i) => ({ key: 'm', value: n + i / 100, timestamp: 1_700_000_000_000 + n, step: n * POINTS + i }));
              const response = await callServer(live.url, token, 'POST', `${MLFLOW}/runs/log-batch`, { run_id: run.id, metrics });
              if (response.status !== 200) throw new Error(`log-batch answered ${response.status}`);
              for (const m of metrics) ackedSteps[c]?.add(m.step);
            }
          } catch {
            return; // the server is gone
          }
        }
      });
      // Wait for writes to be acknowledged in this round (an event, not a fixed delay), optionally run the
      // admin command beside the live server, then kill at a random point while requests are in flight.
      const enough = ackedBefore + clients * 4;
      const deadline = Date.now() + 120_000;
      while (ackedSteps.reduce((n, s) => n + s.size, 0) + ackedFiles.size < enough && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (values.admin) {
        const answer = await runAdmin(env, 'crash');
        tally.admin.set(answer, (tally.admin.get(answer) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      await live.kill('SIGKILL');
      tally.kills += 1;
      await Promise.all(loops);
      process.stdout.write(`  ${kind}: kill ${k + 1}/${kills}, ${ackedSteps.reduce((n, s) => n + s.size, 0)} points and ${ackedFiles.size} uploads acknowledged so far\n`);
      server = await startTimed(env, tally);
      if (server === undefined) {
        // Keep trying: a platform that cannot start again after a crash is the worst outcome; count it.
        for (let retry = 0; retry < 2 && server === undefined; retry += 1) server = await startTimed(env, tally);
        if (server === undefined) throw new Error(`the server did not start again after kill ${k + 1}: ${tally.startFailures.at(-1)}`);
      }
    }

    const reader = server!;
    for (const [c, run] of runs.entries()) {
      const present = new Set<number>();
      let pageToken = '';
      do {
        const history = await mustServer(reader.url, token, 'GET', `${MLFLOW}/metrics/get-history?run_id=${run.id}&metric_key=m&max_results=25000${pageToken === '' ? '' : `&page_token=${encodeURIComponent(pageToken)}`}`);
        for (const point of (history.metrics ?? []) as { step: number }[]) present.add(point.step);
        pageToken = history.next_page_token ?? '';
      } while (pageToken !== '');
      const acked = ackedSteps[c] ?? new Set<number>();
      tally.ackedPoints += acked.size;
      for (const step of acked) if (present.has(step)) tally.presentPoints += 1;
    }
    tally.ackedUploads = ackedFiles.size;
    for (const [path, digest] of ackedFiles) {
      const response = await fetch(`${reader.url}${ARTIFACTS}/${path}`, { headers: { authorization: `Bearer ${token}` } });
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (response.status === 200 && sha(bytes) === digest) tally.intactUploads += 1;
    }
    return tally;
  } finally {
    await server?.kill('SIGTERM');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  }
};

console.log(`crash benchmark: ${kills} SIGKILLs per database under write load (${clients} clients)${values.admin ? ', with `admin verify-audit` beside the live server before each kill' : ''}`);
const rows: string[] = [];
for (const kind of kinds) {
  const t = await runKind(kind);
  const missingPoints = t.ackedPoints - t.presentPoints;
  const missingUploads = t.ackedUploads - t.intactUploads;
  rows.push(
    `| ${kind} | ${t.kills} | ${t.starts}/${t.starts + t.startFailures.length} (slowest ${(t.slowestStartMs / 1000).toFixed(1)} s) | ${t.ackedPoints} | ${t.presentPoints} | ${missingPoints} | ${t.ackedUploads} | ${t.intactUploads} | ${missingUploads} |`,
  );
  if (t.admin.size > 0) for (const [answer, n] of t.admin) rows.push(`|   admin command on ${kind}, ${n}x: ${answer.replace(/\|/g, '/')} | | | | | | | | |`);
  for (const failure of t.startFailures) rows.push(`|   failed start on ${kind}: ${failure.replace(/\|/g, '/').slice(0, 200)} | | | | | | | | |`);
}
console.log('\n| database | kills | starts ok | points acked | present | missing | uploads acked | intact | missing |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
console.log('\ngoal: 0 missing, every start succeeds');
