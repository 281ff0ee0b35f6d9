/**
 * Crash safety of log-batch on PostgreSQL and on embedded PGlite (stored under BULKHEAD_HOME): the real
 * server runs as a child process (`bulkhead up`),
 * four clients send batches concurrently, the server is SIGKILLed mid-stream and started again on the
 * same database. Every batch acknowledged with HTTP 200 must be there in full, and no batch may be
 * visible in part (each batch's 500 points and its marker param commit together or not at all).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, databaseKinds, serverDatabaseEnv } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { startServerProcess, callServer, mustServer } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';

const adminToken = `bh_crash-admin-${'c'.repeat(40)}`;
const KEYS = 10;
const STEPS = 50;
const CLIENTS = 4;

/** Batch n of a run: KEYS keys x STEPS steps (steps n*STEPS ...), and a marker param. */
const batch = (runId: string, n: number) => ({
  run_id: runId,
  metrics: Array.from({ length: KEYS * STEPS }, (_, i) => ({ key: `m${i % KEYS}`, value: n + i / 1000, timestamp: 1_700_000_000_000 + n, step: n * STEPS + Math.floor(i / KEYS) })),
  params: [{ key: `batch_${n}`, value: String(n) }],
});

for (const kind of databaseKinds) describe(`log-batch survives SIGKILL of the server (${kind})`, () => {
  let database: TestDatabase | undefined;
  let home: string;
  let env: Record<string, string>;
  let server: ServerProcess | undefined;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'bulkhead-crash-'));
    env = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken };
    if (kind === 'postgres') {
      database = await createTestDatabase('postgres');
      Object.assign(env, serverDatabaseEnv(database));
    }
    // PGlite: the embedded default, a data directory under BULKHEAD_HOME that the restart opens again.
  });
  after(async () => {
    await server?.kill('SIGKILL');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  });

  test('acknowledged batches are complete after restart; none is partial', async () => {
    server = await startServerProcess(env);
    await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'crash', name: 'Crash', tier: 'sandbox' });
    const { token } = await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/crash/tokens', { name: 't', role: 'member' });
    const api = '/api/2.0/mlflow';
    const runs: string[] = [];
    for (let c = 0; c < CLIENTS; c += 1) {
      runs.push((await mustServer(server.url, token, 'POST', `${api}/runs/create`, { experiment_id: '0', start_time: Date.now() })).run.info.run_id);
    }

    const acked: Set<number>[] = runs.map(() => new Set<number>());
    const sent: number[] = runs.map(() => 0);
    const running = server;
    const loops = runs.map(async (runId, c) => {
      for (let n = 0; ; n += 1) {
        sent[c] = n + 1;
        try {
          const response = await callServer(running.url, token, 'POST', `${api}/runs/log-batch`, batch(runId, n));
          if (response.status !== 200) throw new Error(`log-batch answered ${response.status}`);
          acked[c]?.add(n);
        } catch {
          return; // the server is gone
        }
      }
    });
    // Let batches flow (until some are acknowledged: a fixed delay is flaky on a loaded machine), then kill
    // while requests are in flight.
    const deadline = Date.now() + 60_000;
    // Then a few more acknowledged: the kill lands while batches of every client are in flight.
    while (acked.reduce((sum, set) => sum + set.size, 0) < 2 * CLIENTS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await running.kill('SIGKILL');
    await Promise.all(loops);
    const ackedTotal = acked.reduce((sum, set) => sum + set.size, 0);
    assert.ok(ackedTotal > 0, 'some batches were acknowledged before the kill');

    server = await startServerProcess(env);
    for (const [c, runId] of runs.entries()) {
      const got = await mustServer(server.url, token, 'GET', `${api}/runs/get?run_id=${runId}`);
      const params = new Set<number>((got.run.data.params as { key: string; value: string }[]).map((p) => Number(p.value)));
      const perBatch = new Map<number, number>();
      for (let k = 0; k < KEYS; k += 1) {
        const history = await mustServer(server.url, token, 'GET', `${api}/metrics/get-history?run_id=${runId}&metric_key=m${k}`);
        for (const point of history.metrics as { step: number }[]) {
          const n = Math.floor(point.step / STEPS);
          perBatch.set(n, (perBatch.get(n) ?? 0) + 1);
        }
      }
      for (const n of acked[c] ?? []) {
        assert.equal(perBatch.get(n), KEYS * STEPS, `run ${c}: acknowledged batch ${n} is complete`);
        assert.ok(params.has(n), `run ${c}: acknowledged batch ${n} has its param`);
      }
      for (let n = 0; n < (sent[c] ?? 0); n += 1) {
        const points = perBatch.get(n) ?? 0;
        assert.ok(points === 0 || points === KEYS * STEPS, `run ${c}: batch ${n} is all or nothing (${points} points)`);
        assert.equal(params.has(n), points > 0, `run ${c}: batch ${n}'s param and points commit together`);
      }
      assert.ok([...perBatch.keys()].every((n) => n < (sent[c] ?? 0)), `run ${c}: nothing that was never sent`);
    }
    await server.kill('SIGTERM');
    server = undefined;
  });
});
