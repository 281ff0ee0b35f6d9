/**
 * Bandwidth benchmark (issue 25, the bandwidth half): a real listening server on loopback, keep-alive
 * HTTP clients in this process, two tenants. Artifacts:
 *   V   one client uploading (`PUT` MLflow artifact, `--object-mb` MB) then downloading the same object, in a loop;
 *   N   `--streams` (8) parallel clients flooding uploads of `--flood-mb` MB.
 * Phases (each `--seconds` long, interleaved over `--rounds`, the flood conditions in alternating order, so
 * drifting load spreads over all of them):
 *   alone        V alone;
 *   limited      V + N's flood, N's ingress quota `--noisy-rate` bytes/s (burst `--noisy-burst`);
 *   unlimited    V + N's flood, default quotas (no limit binds), limiter on;
 *   off          the same with the limiter turned off (`platform.bandwidth.setEnabled(false)`): the
 *                unthrottled platform.
 * Prints V's throughput (upload + download bytes / s) and the ratio limited/alone [goal ≥ 0.8], N's
 * measured ingress rate (the limiter's own byte counters over the phase, after a 1 s warm-up) against its
 * quota [goal within ±5 %], and the total throughput (V + N, bytes of completed requests) unlimited/off
 * [goal ≥ 0.9].
 * Inference (unless --skip-inference; needs root: real bubblewrap + cgroups workers, as bench/noisy-neighbour.ts):
 * each tenant deploys a small ONNX model; V sends `--victim-rps` requests/s with ~1 MB bodies, N floods
 * ~1 MB bodies from `--streams` closed-loop clients with its ingress limited to `--noisy-rate`; V's p99
 * alone vs with the flood [goal ≤ 2×], and with the flood and the limiter off (for comparison).
 *
 * Shares (`--capacity BYTES_PER_S`, instead of the above): the platform's ingress pipe is configured to that
 * capacity; V (weight 2) and N (weight 1) each upload from `--streams` streams, alone and then together;
 * prints each one's measured ingress rate (the limiter's counters) against its weighted share.
 *
 *   node_modules/.bin/node bench/bandwidth.ts [--db postgres|pglite] [--seconds 5] [--rounds 2] [--noisy-rate 8000000]
 *     [--object-mb 4] [--flood-mb 2] [--streams 8] [--victim-rps 8] [--skip-inference] [--skip-artifacts] [--capacity 24000000]
 */
// First: runs this process's platform with the server's node flags, as `bulkhead up` runs it.
import './support/server-runtime.ts';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from '../test/support/platform.ts';
import type { TestPlatform, TestTenant } from '../test/support/platform.ts';
import type { DbKind } from '../src/db/index.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    'noisy-rate': { type: 'string', default: '8000000' },
    'noisy-burst': { type: 'string', default: '1000000' },
    'object-mb': { type: 'string', default: '4' },
    'flood-mb': { type: 'string', default: '2' },
    streams: { type: 'string', default: '8' },
    'victim-rps': { type: 'string', default: '8' },
    'skip-inference': { type: 'boolean', default: false },
    'skip-artifacts': { type: 'boolean', default: false },
    capacity: { type: 'string' },
  },
});
const kind = values.db as DbKind;
if (kind !== 'postgres' && kind !== 'pglite') throw new Error('--db must be postgres or pglite');
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const noisyRate = Number(values['noisy-rate']);
const noisyBurst = Number(values['noisy-burst']);
const objectBytes = Math.round(Number(values['object-mb']) * 1e6);
const floodBytes = Math.round(Number(values['flood-mb']) * 1e6);
const streams = Number(values.streams);
const victimRps = Number(values['victim-rps']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
const mbps = (bytes: number, s: number): string => `${(bytes / s / 1e6).toFixed(1)} MB/s`;

let p: TestPlatform | undefined;
const deployed: Array<{ tenant: TestTenant; name: string }> = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request with a body; resolves to status and the number of response bytes read. */
const request = (port: number, method: string, path: string, token: string, body: Buffer | undefined, contentType = 'application/octet-stream'): Promise<{ status: number; bytes: number }> =>
  new Promise((resolve) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body !== undefined) Object.assign(headers, { 'content-type': contentType, 'content-length': body.length });
    const req = http.request({ host: '127.0.0.1', port, agent, method, path, headers, timeout: 120_000 }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', () => resolve({ status: 0, bytes }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, bytes: 0 }));
    req.end(body);
  });

const main = async (): Promise<void> => {
  const capacity = values.capacity === undefined ? undefined : Number(values.capacity);
  p = await createTestPlatform(kind, { cgroupPrefix: `bhbw-${randomBytes(4).toString('hex')}`, authCacheTtlMs: 5000, ...(capacity === undefined ? {} : { bandwidthIngressCapacity: capacity }) });
  const platform = p;
  const victim = await platform.createTenant('victim');
  const noisy = await platform.createTenant('noisy');
  for (const tenant of [victim, noisy]) {
    const set = await platform.call('PUT', `/api/v1/tenants/${tenant.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 100_000, storageBytes: 1024 ** 4 });
    if (set.status !== 200) throw new Error(`quota: ${JSON.stringify(set.body)}`);
  }
  const setNoisy = async (limited: boolean) => {
    const body = limited ? { ingressBytesPerSecond: noisyRate, ingressBurstBytes: noisyBurst } : { ingressBytesPerSecond: 10 * 1024 ** 3, ingressBurstBytes: 10 * 1024 ** 3 };
    const set = await platform.call('PUT', `/api/v1/tenants/${noisy.slug}/quota`, adminToken, body);
    if (set.status !== 200) throw new Error(`quota: ${JSON.stringify(set.body)}`);
  };
  await platform.app.listen({ port: 0, host: '127.0.0.1' });
  const address = platform.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const port = address.port;
  const A = '/api/2.0/mlflow-artifacts/artifacts';

  console.log(`bandwidth on ${kind}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`V: 1 client, ${objectBytes / 1e6} MB upload + download; N: ${streams} streams of ${floodBytes / 1e6} MB uploads; N's limit ${noisyRate / 1e6} MB/s (burst ${noisyBurst / 1e6} MB); ${rounds} rounds × 4 phases × ${seconds} s`);

  if (capacity !== undefined) {
    await platform.call('PUT', `/api/v1/tenants/${victim.slug}/quota`, adminToken, { weight: 2 });
    await platform.call('PUT', `/api/v1/tenants/${noisy.slug}/quota`, adminToken, { weight: 1 });
    const body = randomBytes(floodBytes);
    const counted = (tenant: TestTenant) => platform.platform.bandwidth.counters().find((c) => c.tenantId === tenant.id)?.ingressBytes ?? 0;
    const flood = (tenant: TestTenant) => {
      let stopped = false;
      const loops = Array.from({ length: streams }, async (_, s) => {
        for (let i = 0; !stopped; i += 1) await request(port, 'PUT', `${A}/shares/${s}-${i % 4}.bin`, tenant.tokens.member, body);
      });
      return async () => {
        stopped = true;
        await Promise.all(loops);
      };
    };
    const measure = async (tenants: TestTenant[]): Promise<number[]> => {
      const stops = tenants.map(flood);
      await sleep(1500);
      const start = tenants.map(counted);
      const t0 = performance.now();
      await sleep(seconds * 1000);
      const elapsed = (performance.now() - t0) / 1000;
      const rates = tenants.map((tenant, i) => (counted(tenant) - start[i]!) / elapsed);
      await Promise.all(stops.map((stop) => stop()));
      return rates;
    };
    console.log(`shares of a ${capacity / 1e6} MB/s ingress pipe, ${streams} upload streams of ${floodBytes / 1e6} MB per tenant; V weight 2, N weight 1:`);
    for (let round = 1; round <= rounds; round += 1) {
      const [vAlone] = await measure([victim]);
      const [nAlone] = await measure([noisy]);
      const [vBoth, nBoth] = await measure([victim, noisy]);
      console.log(`  round ${round}: V alone ${mbps(vAlone!, 1)} (${((vAlone! / capacity) * 100).toFixed(1)} % of the pipe); N alone ${mbps(nAlone!, 1)} (${((nAlone! / capacity) * 100).toFixed(1)} %); together V ${mbps(vBoth!, 1)} (${((vBoth! / capacity) * 100).toFixed(1)} %, share 66.7 %), N ${mbps(nBoth!, 1)} (${((nBoth! / capacity) * 100).toFixed(1)} %, share 33.3 %)`);
    }
    return;
  }

  const objectBody = randomBytes(objectBytes);
  const floodBody = randomBytes(floodBytes);
  let sequence = 0;

  /** V's loop: upload an object, download it; bytes of completed requests. */
  const runVictim = async (ms: number): Promise<{ bytes: number; seconds: number; errors: number }> => {
    const started = performance.now();
    let bytes = 0;
    let errors = 0;
    while (performance.now() - started < ms) {
      const path = `${A}/v/${(sequence += 1)}.bin`;
      const up = await request(port, 'PUT', path, victim.tokens.member, objectBody);
      if (up.status !== 200) {
        errors += 1;
        continue;
      }
      bytes += objectBytes;
      const down = await request(port, 'GET', path, victim.tokens.member, undefined);
      if (down.status === 200) bytes += down.bytes;
      else errors += 1;
      await request(port, 'DELETE', path, victim.tokens.member, undefined);
    }
    return { bytes, seconds: (performance.now() - started) / 1000, errors };
  };

  /** N's flood: `streams` closed-loop uploaders until stopped; bytes of completed uploads. */
  const startFlood = () => {
    let stopped = false;
    let bytes = 0;
    let errors = 0;
    const started = performance.now();
    const loops = Array.from({ length: streams }, async (_, s) => {
      let i = 0;
      while (!stopped) {
        const path = `${A}/n/${s}-${(i += 1) % 4}.bin`;
        const up = await request(port, 'PUT', path, noisy.tokens.member, floodBody);
        if (up.status === 200) bytes += floodBytes;
        else errors += 1;
      }
    });
    return {
      bytesNow: () => bytes,
      async stop() {
        stopped = true;
        await Promise.all(loops);
        return { bytes, errors, seconds: (performance.now() - started) / 1000 };
      },
    };
  };
  const noisyCounted = () => platform.platform.bandwidth.counters().find((c) => c.tenantId === noisy.id)?.ingressBytes ?? 0;

  type Phase = { victim: number; victimSeconds: number; flood: number; floodSeconds: number; noisyRate?: number; cpuSeconds?: number };
  const phases: Record<'alone' | 'limited' | 'unlimited' | 'off', Phase[]> = { alone: [], limited: [], unlimited: [], off: [] };
  const withFlood = async (measureNoisy: boolean): Promise<Phase> => {
    const flood = startFlood();
    await sleep(1000); // N's burst spent, streams under way
    const countedStart = noisyCounted();
    const floodStart = flood.bytesNow();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const v = await runVictim(seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const countedEnd = noisyCounted();
    const floodEnd = flood.bytesNow();
    await flood.stop();
    return {
      victim: v.bytes, victimSeconds: v.seconds, flood: floodEnd - floodStart, floodSeconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6,
      ...(measureNoisy ? { noisyRate: (countedEnd - countedStart) / elapsed } : {}),
    };
  };

  if (!values['skip-artifacts']) await runVictim(1500); // warm-up: connections, JIT, seal workers
  for (let round = 1; round <= (values['skip-artifacts'] ? 0 : rounds); round += 1) {
    const alone = await runVictim(seconds * 1000);
    phases.alone.push({ victim: alone.bytes, victimSeconds: alone.seconds, flood: 0, floodSeconds: 1 });
    await setNoisy(true);
    phases.limited.push(await withFlood(true));
    await setNoisy(false);
    // The two unthrottled conditions swap order every round, so neither always runs second.
    for (const mode of round % 2 === 1 ? (['unlimited', 'off'] as const) : (['off', 'unlimited'] as const)) {
      platform.platform.bandwidth.setEnabled(mode === 'unlimited');
      try {
        phases[mode].push(await withFlood(false));
      } finally {
        platform.platform.bandwidth.setEnabled(true);
      }
    }
    console.log(`  round ${round}/${rounds} done (load ${os.loadavg()[0]!.toFixed(2)})`);
  }
  const sum = (runs: Phase[], key: 'victim' | 'victimSeconds' | 'flood' | 'floodSeconds') => runs.reduce((n, r) => n + r[key], 0);
  const vRate = (runs: Phase[]) => sum(runs, 'victim') / sum(runs, 'victimSeconds');
  const total = (runs: Phase[]) => vRate(runs) + sum(runs, 'flood') / sum(runs, 'floodSeconds');
  const nRates = phases.limited.map((r) => r.noisyRate ?? 0);
  if (!values['skip-artifacts']) console.log('artifacts:');
  if (!values['skip-artifacts']) {
  console.log(`  V alone                          ${mbps(vRate(phases.alone), 1)}`);
  console.log(`  V + N flood, N limited           ${mbps(vRate(phases.limited), 1)}   ratio ${(vRate(phases.limited) / vRate(phases.alone)).toFixed(2)}  [goal ≥ 0.8]`);
  console.log(`  V + N flood, no limit binds      ${mbps(vRate(phases.unlimited), 1)}   ratio ${(vRate(phases.unlimited) / vRate(phases.alone)).toFixed(2)}  (for comparison)`);
  console.log(`  N measured ingress when limited  ${nRates.map((r) => mbps(r, 1)).join(', ')}  vs quota ${mbps(noisyRate, 1)}: ${nRates.map((r) => `${(((r - noisyRate) / noisyRate) * 100).toFixed(1)} %`).join(', ')}  [goal within ±5 %]`);
  console.log(`  total V + N, no limit binds      ${mbps(total(phases.unlimited), 1)}; limiter off ${mbps(total(phases.off), 1)}; ratio ${(total(phases.unlimited) / total(phases.off)).toFixed(2)}  [goal ≥ 0.9]`);
  // This process's CPU (server, clients, seal worker threads; not PostgreSQL) per GB moved: steadier than
  // throughput on a machine other work shares.
  const cpuPerGb = (runs: Phase[]) => runs.reduce((n, r) => n + (r.cpuSeconds ?? 0), 0) / ((sum(runs, 'victim') + sum(runs, 'flood')) / 1e9);
  console.log(`  CPU per GB moved, no limit binds ${cpuPerGb(phases.unlimited).toFixed(2)} s; limiter off ${cpuPerGb(phases.off).toFixed(2)} s; ratio ${(cpuPerGb(phases.unlimited) / cpuPerGb(phases.off)).toFixed(2)}`);
  }

  if (values['skip-inference']) return;

  // Inference with ~1 MB bodies.
  const FEATURES = 64;
  const model = (sign: number) => buildLogisticRegressionOnnx({
    kind: 'logistic_regression', features: Array.from({ length: FEATURES }, (_, i) => `f${i}`),
    weights: Array.from({ length: FEATURES }, (_, i) => (sign * ((i % 7) - 3)) / 10), bias: 0.1,
  });
  const bodyOf = (rows: number) => Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, FEATURES], datatype: 'FP32', data: Array.from({ length: rows * FEATURES }, (_, i) => (i % 5) / 5) }] }));
  const rowsPerMb = Math.round(1e6 / (bodyOf(100).length / 100));
  const megabyteBody = bodyOf(rowsPerMb);
  const register = async (tenant: TestTenant, name: string, bytes: Uint8Array): Promise<string> => {
    await platform.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
    const path = `models/${name}/${randomBytes(4).toString('hex')}`;
    const up = await platform.app.inject({ method: 'PUT', url: `${A}/${path}/model.onnx`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
    if (up.statusCode !== 200) throw new Error(`upload: ${up.body}`);
    const created = await platform.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
    if (created.status !== 200) throw new Error(`model version: ${JSON.stringify(created.body)}`);
    return String(created.body.model_version.version);
  };
  for (const [tenant, sign] of [[victim, 1], [noisy, -1]] as const) {
    const version = await register(tenant, 'scorer', model(sign));
    const created = await platform.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, tenant.tokens.member, { name: 'scorer', model: 'scorer', version, replicas: 1, resources: { cpu: 1, memoryMiB: 1024 }, maxConcurrency: 4 });
    if (created.status !== 201) throw new Error(`deploy: ${JSON.stringify(created.body)}`);
    deployed.push({ tenant, name: 'scorer' });
  }
  for (const { tenant, name } of deployed) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const d = await platform.call('GET', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.viewer);
      if (d.body?.status === 'ready') break;
      if (Date.now() > deadline) throw new Error(`deployment of ${tenant.slug} not ready: ${JSON.stringify(d.body)}`);
      await sleep(100);
    }
  }
  const inferPath = '/v2/models/scorer/infer';
  const runVictimInference = async (ms: number): Promise<{ latencies: number[]; errors: number }> => {
    const latencies: number[] = [];
    let errors = 0;
    const interval = 1000 / victimRps;
    const end = performance.now() + ms;
    let next = performance.now();
    while (next < end) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      const r = await request(port, 'POST', inferPath, victim.tokens.member, megabyteBody, 'application/json');
      if (r.status === 200) latencies.push(performance.now() - t0);
      else errors += 1;
      next += interval;
      if (next < performance.now()) next = performance.now();
    }
    return { latencies, errors };
  };
  const startInferenceFlood = () => {
    let stopped = false;
    const statuses = new Map<number, number>();
    const loops = Array.from({ length: streams }, async () => {
      while (!stopped) {
        const r = await request(port, 'POST', inferPath, noisy.tokens.member, megabyteBody, 'application/json');
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status !== 200) await sleep(50);
      }
    });
    return async () => {
      stopped = true;
      await Promise.all(loops);
      return [...statuses].map(([s, n]) => `${s}×${n}`).join(' ');
    };
  };
  const merged = { alone: [] as number[], limited: [] as number[], off: [] as number[] };
  // The event loop the server and the clients share: how late it ran, per condition (p99, ms).
  const loopDelay = { alone: [] as number[], limited: [] as number[], off: [] as number[] };
  const watched = async <T>(mode: 'alone' | 'limited' | 'off', run: () => Promise<T>): Promise<T> => {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    try {
      return await run();
    } finally {
      histogram.disable();
      loopDelay[mode].push(histogram.percentile(99) / 1e6);
    }
  };
  const errors = { alone: 0, limited: 0, off: 0 };
  const floods: string[] = [];
  await runVictimInference(1500);
  await setNoisy(true);
  for (let round = 1; round <= rounds; round += 1) {
    const alone = await watched('alone', () => runVictimInference(seconds * 1000));
    merged.alone.push(...alone.latencies);
    errors.alone += alone.errors;
    for (const mode of round % 2 === 1 ? (['limited', 'off'] as const) : (['off', 'limited'] as const)) {
      if (mode === 'off') platform.platform.bandwidth.setEnabled(false);
      try {
        const stop = startInferenceFlood();
        await sleep(1000);
        const run = await watched(mode, () => runVictimInference(seconds * 1000));
        floods.push(`${mode}: ${await stop()}`);
        merged[mode].push(...run.latencies);
        errors[mode] += run.errors;
      } finally {
        platform.platform.bandwidth.setEnabled(true);
      }
    }
  }
  for (const list of Object.values(merged)) list.sort((a, b) => a - b);
  const p99 = (list: number[]) => percentile(list, 0.99);
  console.log(`inference, ~${(megabyteBody.length / 1e6).toFixed(2)} MB bodies, V at ${victimRps} req/s, N ${streams} closed-loop streams:`);
  console.log(`  V alone                 n=${merged.alone.length} p50 ${percentile(merged.alone, 0.5).toFixed(1)} ms  p99 ${p99(merged.alone).toFixed(1)} ms  errors ${errors.alone}`);
  console.log(`  V + flood, N limited    n=${merged.limited.length} p50 ${percentile(merged.limited, 0.5).toFixed(1)} ms  p99 ${p99(merged.limited).toFixed(1)} ms  errors ${errors.limited}  p99 ratio ${(p99(merged.limited) / p99(merged.alone)).toFixed(2)}  [goal ≤ 2]`);
  console.log(`  V + flood, limiter off  n=${merged.off.length} p50 ${percentile(merged.off, 0.5).toFixed(1)} ms  p99 ${p99(merged.off).toFixed(1)} ms  errors ${errors.off}  p99 ratio ${(p99(merged.off) / p99(merged.alone)).toFixed(2)}  (for comparison)`);
  for (const flood of floods) console.log(`    N got ${flood}`);
  console.log(`  event-loop delay p99 per round (ms): alone ${loopDelay.alone.map((d) => d.toFixed(0)).join('/')}, limited ${loopDelay.limited.map((d) => d.toFixed(0)).join('/')}, off ${loopDelay.off.map((d) => d.toFixed(0)).join('/')}`);
};

const cleanup = async (): Promise<void> => {
  agent.destroy();
  if (p === undefined) return;
  for (const { tenant, name } of deployed) await p.call('DELETE', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.member).catch(() => undefined);
  await p.close();
};

const watchdog = setTimeout(() => {
  console.error('bandwidth: took too long; aborting');
  process.exit(2);
}, (seconds * 8 * rounds + 300) * 1000);
watchdog.unref();

try {
  await main();
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
