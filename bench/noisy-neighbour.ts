/**
 * Noisy-neighbour benchmark of model serving (issue 6). Two tenants, each with its own deployment of a
 * small ONNX model (real bubblewrap + cgroups workers, onnxruntime), behind a real listening gateway
 * (HTTP on loopback, keep-alive agents):
 *   victim  steady load: `--victim-rps` requests/s spread over `--victim-clients` paced clients, far
 *           below its quota;
 *   noisy   quota `requestsPerSecond = --noisy-quota`, floods its own deployment open-loop at
 *           `--flood-rps` (20 × its rate limit by default).
 * Phases (each `--seconds` long, after a short warm-up), repeated `--rounds` times and merged per
 * condition, the flooded conditions rotated from round to round, each after a victim-alone phase:
 * flood with the whole protection (the rate limiter and the admission layer that refuses before the body
 * is read, issue 16 item 4); flood with the rate limiter answered by the auth hook only (admission off:
 * the build before item 4); flood with no protection (`--skip-off` leaves it out). The flood's client runs
 * in a worker thread by default (`--flood-client inline`: on the platform's own thread, as before). Each flood
 * request carries `--flood-rows` rows, so what the noisy tenant gets admitted is real work for its worker. Prints the victim's p50/p99, the p99 ratio
 * flood/alone and its error rate (any non-200 or transport error), and what the noisy tenant got back.
 * Then the gateway overhead: p50 of sequential inferences through the gateway vs straight to the
 * worker's Unix socket (the replica socket path from `deployments.replicaSockets`).
 *
 * Bounded: fixed phase lengths, at most `--max-outstanding` flood requests in flight, fixed overhead
 * counts; deletes both deployments and closes the platform at the end. Run as root:
 *   node_modules/.bin/node bench/noisy-neighbour.ts [--db postgres|pglite] [--seconds 5] [--rounds 3] [--victim-rps 100]
 *     [--victim-clients 4] [--noisy-quota 20] [--flood-rps 400] [--flood-rows 256] [--overhead-calls 400]
 *     [--flood-client thread|inline|process] [--flood-cpu C] [--flood-sockets 64|0] [--refusal-hold-ms MS] [--victim-client inline|thread] [--skip-off]
 */
// First: runs this process's platform with the server's node flags, as `bulkhead up` runs it.
import './support/server-runtime.ts';
import http from 'node:http';
import os from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { adminToken, createTestPlatform } from '../test/support/platform.ts';
import type { TestPlatform, TestTenant } from '../test/support/platform.ts';
import type { DbKind } from '../src/db/index.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { floodAgentFor, postStatus, runPaced } from './support/paced-post.ts';
import type { PostTarget } from './support/paced-post.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    seconds: { type: 'string', default: '5' },
    'victim-rps': { type: 'string', default: '100' },
    'victim-clients': { type: 'string', default: '4' },
    'noisy-quota': { type: 'string', default: '20' },
    'flood-rps': { type: 'string', default: '400' },
    'max-outstanding': { type: 'string', default: '256' },
    // The flood client's connections: a keep-alive pool of this many (default 64), or 0 for a fresh
    // connection per request and no pool limit (an attacker who never reuses a connection).
    'flood-sockets': { type: 'string', default: '64' },
    // BULKHEAD_REFUSAL_HOLD_MS for the platform (default: the platform's default).
    'refusal-hold-ms': { type: 'string' },
    'overhead-calls': { type: 'string', default: '400' },
    'flood-rows': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '3' },
    // Where the flood's client runs: a worker thread (default; the attacker's client work off the loop that
    // serves the platform and times the victim, as on another machine) or this thread (the figures before
    // 2026-12-06).
    'flood-client': { type: 'string', default: 'thread' },
    // `--flood-client process`: the flood's client in its own process (its GC and threads not the platform
    // process's); `--flood-cpu C` caps that process at C CPUs (a cgroup of this bench's own, removed after),
    // standing in for an attacker whose client runs on its own machine.
    'flood-cpu': { type: 'string' },
    // Where the victim's paced clients run: this thread (default, as before) or a worker thread (its client
    // work off the platform's event loop, as on another machine: bench/noisy-neighbour-victim.ts).
    'victim-client': { type: 'string', default: 'inline' },
    // Leave out the phase with every protection off (saves a quarter of the run).
    'skip-off': { type: 'boolean', default: false },
  },
});
const floodClient = values['flood-client'];
if (floodClient !== 'thread' && floodClient !== 'inline' && floodClient !== 'process') throw new Error('--flood-client must be thread, inline or process');
const floodCpu = values['flood-cpu'] === undefined ? undefined : Number(values['flood-cpu']);
if (floodCpu !== undefined && (floodClient !== 'process' || !(floodCpu > 0))) throw new Error('--flood-cpu needs --flood-client process and a positive number of CPUs');
const skipOff = values['skip-off'] === true;
const victimClient = values['victim-client'];
if (victimClient !== 'thread' && victimClient !== 'inline') throw new Error('--victim-client must be thread or inline');
const kind = values.db as DbKind;
if (kind !== 'postgres' && kind !== 'pglite') throw new Error('--db must be postgres or pglite');
const seconds = Number(values.seconds);
const victimRps = Number(values['victim-rps']);
const victimClients = Number(values['victim-clients']);
const noisyQuota = Number(values['noisy-quota']);
const floodRps = Number(values['flood-rps']);
const maxOutstanding = Number(values['max-outstanding']);
const floodSockets = Number(values['flood-sockets']);
const overheadCalls = Number(values['overhead-calls']);
const floodRows = Number(values['flood-rows']);
const rounds = Number(values.rounds);

/**
 * Puts `pid` in a new cgroup of this bench's own with a CPU cap of `cpus` (cgroup v2 `cpu.max`, or v1
 * `cpu.cfs_quota_us` where the v1 cpu controller is mounted); `remove()` deletes it once the process ended.
 */
const capCpu = (pid: number, cpus: number): { remove(): void } => {
  const period = 100_000;
  const quota = Math.round(cpus * period);
  const name = `bulkhead-bench-flood-${process.pid}-${pid}`;
  const v1 = existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const dir = v1 ? `/sys/fs/cgroup/cpu/${name}` : `/sys/fs/cgroup/${name}`;
  mkdirSync(dir);
  if (v1) {
    writeFileSync(`${dir}/cpu.cfs_period_us`, String(period));
    writeFileSync(`${dir}/cpu.cfs_quota_us`, String(quota));
  } else {
    writeFileSync(`${dir}/cpu.max`, `${quota} ${period}`);
  }
  writeFileSync(`${dir}/cgroup.procs`, String(pid));
  return { remove: () => rmdirSync(dir) };
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

/** Busy and total CPU time of the whole machine (all CPUs, every process), from /proc/stat via os.cpus(). */
const machineCpu = (): { busy: number; total: number } => {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
};
/**
 * Where a phase's CPU went, measured on the platform's thread (which also runs the victim's clients):
 * its own CPU time, its event-loop utilisation, its event-loop delay (p99, max), and the whole machine's
 * busy share (2 vCPUs = 200 %). `stop` returns the figures for one line of the report.
 */
const measurePhase = () => {
  const elu = performance.eventLoopUtilization();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const thread = process.threadCpuUsage();
  const machine = machineCpu();
  const ticks = procTicks();
  const t0 = performance.now();
  return () => {
    delay.disable();
    const ms = performance.now() - t0;
    const cpu = process.threadCpuUsage(thread);
    const m = machineCpu();
    const top = topTicks(ticks, procTicks(), ms);
    return {
      top,
      ms,
      threadCpuMs: (cpu.user + cpu.system) / 1000,
      elu: performance.eventLoopUtilization(elu).utilization,
      delayP99: delay.percentile(99) / 1e6,
      delayMax: delay.max / 1e6,
      machineBusy: (m.busy - machine.busy) / Math.max(1, m.total - machine.total),
    };
  };
};
/**
 * CPU ticks (user + system) per thread of this process and per other process on the machine, from /proc:
 * who took the CPUs during a phase (the platform's threads, the flood thread, V8's GC helpers, the
 * model workers, PostgreSQL, other users of the machine).
 */
const procTicks = (): Map<string, number> => {
  const out = new Map<string, number>();
  const stats = new Map<number, { comm: string; ppid: number; ticks: number }>();
  const parse = (stat: string) => {
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  };
  const add = (key: string, ticks: number): void => {
    out.set(key, (out.get(key) ?? 0) + ticks);
  };
  for (const pid of readdirSafe('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    if (Number(pid) === process.pid) {
      for (const tid of readdirSafe(`/proc/${pid}/task`)) {
        const stat = readSafe(`/proc/${pid}/task/${tid}/stat`);
        if (stat === undefined) continue;
        const parsed = parse(stat);
        add(`this process: ${tid === pid ? 'main thread' : parsed.comm}`, parsed.ticks);
      }
      continue;
    }
    const stat = readSafe(`/proc/${pid}/stat`);
    if (stat !== undefined) stats.set(Number(pid), parse(stat));
  }
  // Descendants of this process (model workers under bubblewrap) apart from everything else on the machine.
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 32; hops += 1) {
      if (p === process.pid) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  for (const [pid, st] of stats) add(ours(pid) ? `child ${st.comm}` : st.comm, st.ticks);
  return out;
};
const readdirSafe = (path: string): string[] => { try { return readdirSync(path); } catch { return []; } };
const readSafe = (path: string): string | undefined => { try { return readFileSync(path, 'latin1'); } catch { return undefined; } };
const ticksPerSecond = 100;
const topTicks = (before: Map<string, number>, after: Map<string, number>, ms: number): string =>
  [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]).slice(0, 7)
    .map(([k, d]) => `${k} ${((100 * d) / ticksPerSecond / (ms / 1000)).toFixed(0)} %`).join(', ');
type PhaseCpu = ReturnType<ReturnType<typeof measurePhase>>;
const cpuLine = (c: PhaseCpu, flood?: { cpuMs: number; elapsedMs: number }): string =>
  `platform thread CPU ${((100 * c.threadCpuMs) / c.ms).toFixed(0)} % (${c.threadCpuMs.toFixed(0)} ms), ELU ${(100 * c.elu).toFixed(0)} %, loop delay p99 ${fmt(c.delayP99)} max ${fmt(c.delayMax)}; machine busy ${(100 * c.machineBusy * os.cpus().length).toFixed(0)} % of ${100 * os.cpus().length} %${flood === undefined ? '' : `; flood client thread CPU ${((100 * flood.cpuMs) / flood.elapsedMs).toFixed(0)} %`}\n        top CPU: ${c.top}`;

// A few hundred features so an inference is real work for the worker, still well under a millisecond.
const FEATURES = 64;
const model = (sign: number) => buildLogisticRegressionOnnx({
  kind: 'logistic_regression',
  features: Array.from({ length: FEATURES }, (_, i) => `f${i}`),
  weights: Array.from({ length: FEATURES }, (_, i) => sign * ((i % 7) - 3) / 10),
  bias: 0.1,
});
const bodyOf = (rows: number) => Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, FEATURES], datatype: 'FP32', data: Array.from({ length: rows * FEATURES }, (_, i) => (i % 5) / 5) }] }));
/** The victim's request: one row. */
const inferBody = bodyOf(1);
/** The flood's: a batch, so that every admitted request is real work for the noisy tenant's worker. */
const floodBody = bodyOf(floodRows);

let p: TestPlatform | undefined;
let stopVictimThread: (() => Promise<void>) | undefined;
const deployed: Array<{ tenant: TestTenant; name: string }> = [];
const victimAgent = new http.Agent({ keepAlive: true, maxSockets: victimClients });
const floodAgent = floodAgentFor(floodSockets);
const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });


const main = async (): Promise<void> => {
  // The production auth cache (5 s), not the tests' 0: the flood must not turn into a database benchmark.
  p = await createTestPlatform(kind, {
    cgroupPrefix: `bhnn-${randomBytes(4).toString('hex')}`,
    authCacheTtlMs: 5000,
    ...(values['refusal-hold-ms'] === undefined ? {} : { refusalHoldMs: Number(values['refusal-hold-ms']) }),
  });
  const platform = p;
  const victim = await platform.createTenant('victim');
  const noisy = await platform.createTenant('noisy');
  await platform.call('PUT', `/api/v1/tenants/${victim.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
  await platform.call('PUT', `/api/v1/tenants/${noisy.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: noisyQuota });

  const register = async (tenant: TestTenant, name: string, bytes: Uint8Array): Promise<string> => {
    await platform.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
    const path = `models/${name}/${randomBytes(4).toString('hex')}`;
    const up = await platform.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
    if (up.statusCode !== 200) throw new Error(`upload: ${up.body}`);
    const created = await platform.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
    if (created.status !== 200) throw new Error(`model version: ${JSON.stringify(created.body)}`);
    return String(created.body.model_version.version);
  };
  for (const [tenant, sign] of [[victim, 1], [noisy, -1]] as const) {
    const version = await register(tenant, 'scorer', model(sign));
    const created = await platform.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, tenant.tokens.member, { name: 'scorer', model: 'scorer', version, replicas: 1, resources: { cpu: 1, memoryMiB: 512 }, maxConcurrency: 4 });
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

  await platform.app.listen({ port: 0, host: '127.0.0.1' });
  const address = platform.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const gateway = { port: address.port };
  const inferPath = '/v2/models/scorer/infer';

  const victimThread = victimClient === 'thread'
    ? new Worker(new URL('./noisy-neighbour-victim.ts', import.meta.url), {
      workerData: { port: gateway.port, path: inferPath, token: victim.tokens.member, body: new Uint8Array(inferBody), victimRps, victimClients },
    })
    : undefined;
  stopVictimThread = victimThread === undefined ? undefined : async () => {
    victimThread.postMessage('stop');
    await victimThread.terminate();
  };
  /** Paced victim clients: each sends at victimRps / clients, one request at a time. */
  const runVictim = async (ms: number): Promise<{ latencies: number[]; errors: number; total: number }> => {
    if (victimThread !== undefined) {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        victimThread.once('message', (result: { latencies: number[]; errors: number; total: number }) => {
          victimThread.off('error', onError);
          resolve(result);
        });
        victimThread.once('error', onError);
        victimThread.postMessage({ ms });
      });
    }
    return runPaced(victimClients, victimRps, ms, () => postStatus(gateway, victimAgent, inferPath, victim.tokens.member, inferBody));
  };

  /** What the flood module (bench/noisy-neighbour-flood.ts) is given, and what it answers on 'stop'. */
  const floodData = { port: gateway.port, path: inferPath, token: noisy.tokens.member, body: new Uint8Array(floodBody), floodRps, maxOutstanding, sockets: floodSockets };
  type FloodResult = { statuses: Array<[number, number]>; skipped: number; offeredRps: number; cpuMs: number; elapsedMs: number };
  const floodReport = (r: FloodResult) =>
    ({ statuses: new Map(r.statuses), skipped: r.skipped, offeredRps: r.offeredRps, client: { cpuMs: r.cpuMs, elapsedMs: r.elapsedMs } });
  /** The answer to 'stop' from a flood thread or process (its first message). */
  const floodResult = (from: { once(event: 'message', listener: (message: unknown) => void): unknown; once(event: 'error', listener: (error: Error) => void): unknown }) =>
    new Promise<FloodResult>((resolve, reject) => {
      from.once('message', (message) => resolve(message as FloodResult));
      from.once('error', reject);
    });
  /** The same flood from a worker thread (bench/noisy-neighbour-flood.ts). */
  const startFloodThread = () => {
    const worker = new Worker(new URL('./noisy-neighbour-flood.ts', import.meta.url), { workerData: floodData });
    return async () => {
      const result = floodResult(worker);
      worker.postMessage('stop');
      const r = await result;
      await worker.terminate();
      return floodReport(r);
    };
  };
  /** The same flood from a child process, optionally in a CPU-capped cgroup of its own. */
  const startFloodProcess = () => {
    const child = fork(new URL('./noisy-neighbour-flood.ts', import.meta.url), [], { serialization: 'advanced', stdio: 'inherit' });
    const cgroup = floodCpu === undefined ? undefined : capCpu(child.pid!, floodCpu);
    child.send(floodData);
    return async () => {
      const result = floodResult(child);
      child.send('stop');
      const r = await result;
      if (child.exitCode === null) await once(child, 'exit');
      cgroup?.remove();
      return floodReport(r);
    };
  };
  /** Open-loop flood of the noisy tenant's own deployment, at most maxOutstanding in flight. */
  const startFloodInline = () => {
    const statuses = new Map<number, number>();
    let outstanding = 0;
    let skipped = 0;
    let stopped = false;
    const inflight = new Set<Promise<void>>();
    const started = performance.now();
    let sent = 0;
    const tick = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * floodRps) - sent;
      for (let i = 0; i < due && !stopped; i += 1) {
        sent += 1;
        if (outstanding >= maxOutstanding) {
          skipped += 1;
          continue;
        }
        outstanding += 1;
        const done = postStatus(gateway, floodAgent, inferPath, noisy.tokens.member, floodBody).then((status) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          outstanding -= 1;
          inflight.delete(done);
        });
        inflight.add(done);
      }
    }, 5);
    return async () => {
      stopped = true;
      clearInterval(tick);
      await Promise.all([...inflight]);
      const elapsed = (performance.now() - started) / 1000;
      return { statuses, skipped, offeredRps: sent / elapsed, client: undefined };
    };
  };

  const report = (label: string, r: { latencies: number[]; errors: number; total: number }) => {
    const p50 = percentile(r.latencies, 0.5);
    const p99 = percentile(r.latencies, 0.99);
    console.log(`  ${label.padEnd(34)} n=${String(r.total).padStart(5)}  p50 ${fmt(p50).padStart(10)}  p99 ${fmt(p99).padStart(10)}  errors ${r.errors} (${((100 * r.errors) / Math.max(1, r.total)).toFixed(2)} %)`);
    return { p50, p99 };
  };
  const flooded = async (): Promise<{ victim: Awaited<ReturnType<typeof runVictim>>; flood: string }> => {
    const stop = floodClient === 'thread' ? startFloodThread() : floodClient === 'process' ? startFloodProcess() : startFloodInline();
    await sleep(500); // let the flood reach steady state before measuring
    const measured = measurePhase();
    const v = await runVictim(seconds * 1000);
    const cpu = measured();
    const f = await stop();
    const got = [...f.statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === 0 ? 'error' : s}×${n}`).join(' ');
    return { victim: v, flood: `noisy offered ${f.offeredRps.toFixed(0)} req/s (quota ${noisyQuota}); got ${got}${f.skipped > 0 ? `; ${f.skipped} not sent (>${maxOutstanding} outstanding)` : ''}\n      ${cpuLine(cpu, f.client)}` };
  };

  const admission = platform.app.tenantAdmission;
  if (admission === undefined) throw new Error('the platform app has no tenant admission layer');
  console.log(`noisy-neighbour on ${kind}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`victim ${victimRps} req/s (1 row) over ${victimClients} clients; noisy quota ${noisyQuota} req/s, flood ${floodRps} req/s (${floodRows} rows each, ${(floodBody.length / 1e6).toFixed(2)} MB bodies, ${floodSockets > 0 ? `a pool of ${floodSockets} connections` : 'a fresh connection each'}) from ${floodClient === 'thread' ? 'a worker thread' : floodClient === 'process' ? `a child process${floodCpu === undefined ? '' : ` capped at ${floodCpu} CPU`}` : 'this thread'}, victim clients on ${victimClient === 'thread' ? 'a worker thread' : 'this thread'}; ${rounds} rounds × ${2 * (skipOff ? 3 : 4)} phases × ${seconds} s; workers 1 replica, 1 CPU, maxConcurrency 4; admission limits in flight ${admission.limits.maxInFlight}, connections ${admission.limits.maxConnections}, refusal hold ${admission.limits.refusalHoldMs ?? 0} ms (at most ${admission.limits.maxHeldRefusals ?? 0})`);
  await runVictim(2000); // warm-up: connections, JIT, worker
  // Phases interleaved over rounds, so that drifting load from other processes on a shared machine
  // spreads over every condition instead of landing on one. Conditions with the flood:
  //   early — the whole protection: rate limiter + admission before the body is read (issue 16 item 4),
  //           refusals of large bodies held (BULKHEAD_REFUSAL_HOLD_MS) before their answer;
  //   nohold — the same with refusals answered at once (the build before the hold);
  //   hook  — the rate limiter answered by the auth hook only, admission off (the build before item 4);
  //   off   — no protection at all (rate limiter and admission off).
  type Run = Awaited<ReturnType<typeof runVictim>>;
  type Condition = 'early' | 'nohold' | 'hook' | 'off';
  const conditions: Condition[] = skipOff ? ['early', 'nohold', 'hook'] : ['early', 'nohold', 'hook', 'off'];
  const merged = { alone: [] as Run[], early: [] as Run[], nohold: [] as Run[], hook: [] as Run[], off: [] as Run[] };
  const floods = { early: [] as string[], nohold: [] as string[], hook: [] as string[], off: [] as string[] };
  const alonePhases: string[] = [];
  const holdMs = admission.limits.refusalHoldMs ?? 0;
  const setCondition = (c: Condition | 'all-on'): void => {
    admission.setEnabled(c === 'early' || c === 'nohold' || c === 'all-on');
    admission.limits.refusalHoldMs = c === 'nohold' ? 0 : holdMs;
    platform.platform.serving.rateGuard.limiter.setEnabled(c !== 'off');
  };
  for (let round = 1; round <= rounds; round += 1) {
    // Rotate the order of the flooded conditions from round to round.
    const order = conditions.map((_, i) => conditions[(i + round - 1) % conditions.length]!);
    for (const c of order) {
      const measured = measurePhase();
      merged.alone.push(await runVictim(seconds * 1000));
      alonePhases.push(cpuLine(measured()));
      const before = admission.stats();
      setCondition(c);
      try {
        const r = await flooded();
        merged[c].push(r.victim);
        const after = admission.stats();
        floods[c].push(`${r.flood}; refused before the body: rate ${after.rate - before.rate}, in flight ${after.in_flight - before.in_flight}, connections ${after.connections - before.connections}; held first ${after.held - before.held}`);
      } finally {
        setCondition('all-on');
      }
      await sleep(500);
    }
    console.log(`  round ${round}/${rounds} done (load ${os.loadavg()[0]!.toFixed(2)})`);
  }
  const merge = (runs: Run[]): Run => ({ latencies: runs.flatMap((r) => r.latencies).sort((a, b) => a - b), errors: runs.reduce((n, r) => n + r.errors, 0), total: runs.reduce((n, r) => n + r.total, 0) });
  const alone = report('victim alone', merge(merged.alone));
  for (const line of alonePhases) console.log(`      ${line}`);
  const labels: Record<Condition, string> = { early: 'flood, admission (hold) + rate limit', nohold: 'flood, admission, no hold', hook: 'flood, rate limit in the hook only', off: 'flood, protection OFF' };
  const results: Array<[Condition, { p50: number; p99: number }, Run]> = [];
  for (const c of conditions) {
    const run = merge(merged[c]);
    results.push([c, report(labels[c], run), run]);
    for (const f of floods[c]) console.log(`    ${f}`);
  }
  for (const [c, r, run] of results) {
    console.log(`  p99 ratio ${labels[c].padEnd(36)}: ${(r.p99 / alone.p99).toFixed(2)} (p50 ${(r.p50 / alone.p50).toFixed(2)}); victim errors ${run.errors}/${run.total}${c === 'early' ? '  [goal ≤ 2, 0 errors]' : ''}`);
  }

  // Gateway overhead: sequential calls, one at a time, same body.
  const sockets = platform.platform.serving.deployments.replicaSockets(victim.id, 'scorer');
  const socketPath = sockets[0];
  if (socketPath === undefined) throw new Error('no ready replica socket');
  // The worker's own route (the gateway forwards every deployment's inference to this path).
  const workerInferPath = '/v2/models/model/infer';
  const timeSeq = async (target: PostTarget, agent: http.Agent, token: string | undefined): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < overheadCalls; i += 1) {
      const t0 = performance.now();
      const status = await postStatus(target, agent, 'port' in target ? inferPath : workerInferPath, token, inferBody);
      if (status !== 200) throw new Error(`overhead call answered ${status}`);
      out.push(performance.now() - t0);
    }
    return out.sort((a, b) => a - b);
  };
  const seqAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await timeSeq(gateway, seqAgent, victim.tokens.member);
  await timeSeq({ socketPath }, directAgent, undefined);
  const viaGateway = await timeSeq(gateway, seqAgent, victim.tokens.member);
  const direct = await timeSeq({ socketPath }, directAgent, undefined);
  const g50 = percentile(viaGateway, 0.5);
  const d50 = percentile(direct, 0.5);
  console.log(`  gateway overhead (${overheadCalls} sequential calls each): gateway p50 ${fmt(g50)} (p99 ${fmt(percentile(viaGateway, 0.99))}), worker socket p50 ${fmt(d50)} (p99 ${fmt(percentile(direct, 0.99))}); overhead p50 ${fmt(g50 - d50)}`);
  seqAgent.destroy();
};

const cleanup = async (): Promise<void> => {
  await stopVictimThread?.();
  victimAgent.destroy();
  floodAgent.destroy();
  directAgent.destroy();
  if (p === undefined) return;
  for (const { tenant, name } of deployed) {
    await p.call('DELETE', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.member).catch(() => undefined);
  }
  await p.close();
};

// A hard bound on the whole run, whatever happens.
const watchdog = setTimeout(() => {
  console.error('noisy-neighbour: took too long; aborting');
  process.exit(2);
}, (seconds * 7 * rounds + 240) * 1000);
watchdog.unref();

try {
  await main();
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
