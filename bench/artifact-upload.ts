/**
 * Artifact upload throughput with encryption, through HTTP, against a plain file copy of the same bytes
 * on the same disk — side by side in one script, on PGlite and on PostgreSQL.
 *
 *   upload   PUT /api/2.0/mlflow-artifacts/artifacts/<path> to the real server running as a child
 *            process (`bulkhead up`), from a file on disk, over loopback HTTP: the server meters the
 *            quota while streaming, encrypts (AES-256-GCM frames) and hashes (SHA-256), writes a temp
 *            file, fsyncs it, and commits (row + rename + audit). Timed until the 200 arrives.
 *   copy     read the same file and write a new one on the same disk with streams, then fsync.
 * Each round writes a fresh file of `--mb` random MiB (no dedup shortcut) and fsyncs it, then uploads and
 * copies it, upload first in even rounds and copy first in odd ones. Prints MB/s (median of rounds), the
 * ratio of the medians and the median of the per-round ratios (each pair ran back to back, under the same
 * page-cache and disk state: the fairer figure when the copy swings between rounds), and the CPU time
 * each side spent per MiB (median): the server process's (all its threads, from /proc/<pid>/stat, also
 * per thread name: MainThread, WorkerThread = seal worker, libuv-worker = writes and fsyncs, V8Worker =
 * GC helpers) and the bench's own (the upload's client, or the copy) — on a machine loaded by others the
 * CPU cost varies far less than MB/s. The load average is printed before and after each database.
 *
 * Usage: node bench/artifact-upload.ts [--db postgres|pglite|both] [--mb 256] [--rounds 5]
 * Profiling the server: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (flags for the server's node,
 * space-separated; a worker thread writes its own profile beside the main thread's).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { procStatFields } from '../src/main/process-identity.ts';
import { createTestDatabase, serverDatabaseEnv } from '../test/support/databases.ts';
import { startServerProcess } from '../test/support/server-process.ts';

const { values } = parseArgs({
  options: { db: { type: 'string', default: 'both' }, mb: { type: 'string', default: '256' }, rounds: { type: 'string', default: '5' } },
});
const mib = Number(values.mb);
const rounds = Number(values.rounds);
const kinds = values.db === 'both' ? (['pglite', 'postgres'] as const) : ([values.db as 'pglite' | 'postgres'] as const);
const adminToken = `bh_bench-artifact-admin-${'b'.repeat(32)}`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const json = async (url: string, token: string, method: string, path: string, body?: unknown): Promise<any> => {
  const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
};

/**
 * Writes `bytes` random bytes to `path` and fsyncs them: neither contender then runs while the kernel
 * writes back this file's dirty pages (256 MiB of them otherwise go to disk 30 s later, in some later round).
 */
const writeRandomFile = (path: string, bytes: number): void => {
  const fd = openSync(path, 'w');
  const chunk = 16 * 1024 * 1024;
  for (let written = 0; written < bytes; written += chunk) writeSync(fd, randomBytes(Math.min(chunk, bytes - written)));
  fsyncSync(fd);
  closeSync(fd);
};

/** CPU seconds (user + system, every thread) a process has used so far, from /proc (Linux). */
const processCpuSeconds = (pid: number): { user: number; system: number; minorFaults: number } => {
  const fields = procStatFields(pid);
  if (fields === undefined) throw new Error(`process ${pid} is gone`);
  // Field n at index n - 3: minflt field 10, utime field 14, stime field 15 (1-based, man 5 proc); clock ticks.
  return { user: Number(fields[14 - 3]) / 100, system: Number(fields[15 - 3]) / 100, minorFaults: Number(fields[10 - 3]) };
};
/** CPU seconds per thread name (comm) of a process: where the server's time went (main, worker, libuv pool, GC). */
const threadCpuSeconds = (pid: number): Map<string, number> => {
  const out = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
};
/** The process's peak resident set (VmHWM), in MiB: what the heap settings cost in memory. */
const peakRssMiB = (pid: number): number => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
const ownCpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

const plainCopy = async (src: string, dst: string): Promise<number> => {
  const started = performance.now();
  const handle = await open(dst, 'w');
  await pipeline(createReadStream(src, { highWaterMark: 1024 * 1024 }), createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1024 * 1024 }));
  await handle.sync();
  await handle.close();
  return performance.now() - started;
};

/** Client: node:http streaming the file (undici's fetch with a web stream body costs more CPU than the server). */
const upload = (url: string, token: string, src: string, path: string, bytes: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.request(`${url}/api/2.0/mlflow-artifacts/artifacts/${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
    }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      response.on('end', () => (response.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`upload failed: ${response.statusCode} ${text}`))));
    });
    request.on('error', reject);
    createReadStream(src, { highWaterMark: 1024 * 1024 }).pipe(request);
  });

const loadAverage = (): string => os.loadavg().map((load) => load.toFixed(2)).join(' ');
console.log(`artifact upload vs plain copy: ${mib} MiB per round, ${rounds} rounds, node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), load average ${loadAverage()}`);
for (const kind of kinds) {
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-bench-artifacts-'));
  const env: Record<string, string> = { BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_LOG_LEVEL: 'warn', ...(process.env['BENCH_NODE_OPTIONS'] === undefined ? {} : { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] }) };
  const database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
  if (database !== undefined) {
    Object.assign(env, serverDatabaseEnv(database));
  }
  const server = await startServerProcess(env, 60_000, (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== ''));
  try {
    await json(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', tier: 'sandbox' });
    await json(server.url, adminToken, 'PUT', '/api/v1/tenants/bench/quota', { storageBytes: 1024 ** 4 });
    const { token } = await json(server.url, adminToken, 'POST', '/api/v1/tenants/bench/tokens', { name: 'bench', role: 'member' });
    const bytes = mib * 1024 * 1024;
    const work = join(home, 'bench-files');
    rmSync(work, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(work);
    const uploadRates: number[] = [];
    const copyRates: number[] = [];
    const serverCpu: number[] = [];
    const serverSys: number[] = [];
    const serverFaults: number[] = [];
    const serverThreads = new Map<string, number[]>();
    const clientCpu: number[] = [];
    const copyCpu: number[] = [];
    /** upload rate / copy rate of the same round: the two ran back to back under the same machine state. */
    const pairedRatios: number[] = [];
    const pid = server.child.pid!;
    for (let round = 0; round < rounds; round += 1) {
      const src = join(work, `src-${round}.bin`);
      writeRandomFile(src, bytes);
      const timeUpload = async (): Promise<number> => {
        const serverBefore = processCpuSeconds(pid);
        const threadsBefore = threadCpuSeconds(pid);
        const clientBefore = ownCpuSeconds();
        const uploadMs = await upload(server.url, token, src, `bench/${round}.bin`, bytes);
        const serverAfter = processCpuSeconds(pid);
        serverCpu.push((serverAfter.user + serverAfter.system - serverBefore.user - serverBefore.system) * 1000 / mib);
        serverSys.push((serverAfter.system - serverBefore.system) * 1000 / mib);
        serverFaults.push((serverAfter.minorFaults - serverBefore.minorFaults) / mib);
        for (const [name, seconds] of threadCpuSeconds(pid)) {
          const list = serverThreads.get(name) ?? [];
          list.push((seconds - (threadsBefore.get(name) ?? 0)) * 1000 / mib);
          serverThreads.set(name, list);
        }
        clientCpu.push((ownCpuSeconds() - clientBefore) * 1000 / mib);
        return uploadMs;
      };
      const timeCopy = async (): Promise<number> => {
        const copyBefore = ownCpuSeconds();
        const copyMs = await plainCopy(src, join(work, `copy-${round}.bin`));
        copyCpu.push((ownCpuSeconds() - copyBefore) * 1000 / mib);
        return copyMs;
      };
      // Alternate which contender goes first, so neither always inherits the other's page-cache and
      // writeback state (each fsyncs its own file, but the disk and the flusher may still be busy).
      let uploadMs: number;
      let copyMs: number;
      if (round % 2 === 0) {
        uploadMs = await timeUpload();
        copyMs = await timeCopy();
      } else {
        copyMs = await timeCopy();
        uploadMs = await timeUpload();
      }
      uploadRates.push(bytes / 1e6 / (uploadMs / 1000));
      copyRates.push(bytes / 1e6 / (copyMs / 1000));
      pairedRatios.push(copyMs / uploadMs);
      rmSync(src);
      rmSync(join(work, `copy-${round}.bin`));
    }
    const up = median(uploadRates);
    const cp = median(copyRates);
    console.log(`${kind.padEnd(8)}  upload (HTTP, encrypted) ${up.toFixed(0).padStart(5)} MB/s   plain copy ${cp.toFixed(0).padStart(5)} MB/s   ratio ${(up / cp).toFixed(2)}   median of per-round ratios ${median(pairedRatios).toFixed(2)}\n` +
      `          [rounds upload ${uploadRates.map((r) => r.toFixed(0)).join('/')}; copy ${copyRates.map((r) => r.toFixed(0)).join('/')}; ratio ${pairedRatios.map((r) => r.toFixed(2)).join('/')}]\n` +
      `          CPU ms/MiB: upload server ${median(serverCpu).toFixed(2)} (system ${median(serverSys).toFixed(2)}; ${median(serverFaults).toFixed(0)} minor page faults per MiB) + client ${median(clientCpu).toFixed(2)}   copy ${median(copyCpu).toFixed(2)}\n` +
      `          server threads (ms/MiB, median): ${[...serverThreads].map(([name, list]) => `${name} ${median(list).toFixed(2)}`).join(', ')}`);
    console.log(`          server peak RSS ${peakRssMiB(pid)} MiB; load average after: ${loadAverage()}`);
  } finally {
    await server.kill('SIGTERM');
    await database?.drop();
    rmSync(home, { recursive: true, force: true });
  }
}
