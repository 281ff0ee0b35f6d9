/**
 * One replica of a deployment: a model worker started through the local executor in the tenant's
 * isolation tier, restarted with exponential backoff when it ends unexpectedly, and stopped by draining
 * (no new requests routed, in-flight ones finish, then SIGTERM with a grace period).
 *
 * Directories (host side), all under the serving root's per-tenant directory (0711, root-owned):
 *   r-<id>/ws   the replica's private workspace, `/workspace` inside; the worker's socket is ws/oip.sock
 *   r-<id>/out  required by the executor, unused
 * The code directory (`/code`, read-only) is shared by all workers. The model is no file: its decrypted
 * bytes are written to the worker's stdin at every (re)start (argv `-`), so no plaintext copy of a
 * tenant's model exists on disk, and none outlives the worker that loaded it.
 */
import { mkdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { IsolationTier, Outcome, RunningJob } from '../executors/executor-contract.ts';
import type { JobSpec } from '../executors/host-executor-contract.ts';
import type { ReplicaState, ReplicaStatus } from '../contract/deployment-schemas.ts';
import { createWorkerClient } from './worker-client.ts';
import type { WorkerClient } from './worker-client.ts';

export interface WorkerExecutor {
  start(spec: JobSpec): RunningJob;
}


export interface ReplicaOptions {
  executor: WorkerExecutor;
  tenantId: string;
  tenantDir: string;
  tier: IsolationTier;
  reservedCpus?: string | undefined;
  deploymentName: string;
  version: string;
  /** The decrypted model, owned by the generation (which zeroes it once every replica has stopped). */
  model: Uint8Array;
  codeDir: string;
  /** The unpacked OCI image the worker runs on (its `/`), instead of the host's /usr. */
  rootfs?: string | undefined;
  resources: { cpu: number; memoryMiB: number };
  tenantLimits: { cpu: number; memoryMiB: number };
  maxConcurrency: number;
  log(line: string): void;
  readyTimeoutMs?: number;
}

export interface Replica {
  readonly id: string;
  readonly version: string;
  readonly state: ReplicaState;
  /** Requests routed to this replica and not finished: drain waits for 0. */
  inFlight: number;
  readonly client: WorkerClient;
  readonly socketPath: string;
  status(): ReplicaStatus;
  /** Resolves once the worker answered its first health check (or rejects when stopped first). */
  whenReady(): Promise<void>;
  /** Drain then stop: waits for in-flight requests (up to drainMs), SIGTERM, SIGKILL after graceMs. */
  stop(drainMs?: number, graceMs?: number): Promise<void>;
}

const describeOutcome = (outcome: Outcome): string => {
  switch (outcome.kind) {
    case 'failed':
      return `exited with ${outcome.exitCode === null ? 'no code' : `code ${outcome.exitCode}`}${outcome.signal === undefined ? '' : ` (${outcome.signal})`}`;
    case 'oom_killed':
      return 'killed: out of memory (the memory limit is too small for this model)';
    case 'refused':
      return `refused: ${outcome.reason}`;
    case 'succeeded':
      return 'exited with code 0';
    case 'timed_out':
    case 'cancelled':
    case 'preempted':
      return outcome.kind;
    default: {
      const unreachable: never = outcome;
      return String(unreachable);
    }
  }
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Backoff before restart n (1-based) of a replica that keeps failing: 250 ms doubling, at most 10 s. */
export const restartDelayMs = (consecutiveFailures: number): number => Math.min(10_000, 250 * 2 ** Math.max(0, consecutiveFailures - 1));

export const startReplica = (options: ReplicaOptions): Replica => {
  const id = randomBytes(4).toString('hex');
  const replicaDir = join(options.tenantDir, `r-${id}`);
  const workspaceDir = join(replicaDir, 'ws');
  const outputsDir = join(replicaDir, 'out');
  const socketPath = join(workspaceDir, 'oip.sock');
  const client = createWorkerClient(socketPath, Math.max(1, options.maxConcurrency));
  const sandboxed = options.tier !== 'process';
  let state: ReplicaState = 'starting';
  let restarts = 0;
  let consecutiveFailures = 0;
  let lastExit: ReplicaStatus['lastExit'];
  let stopping = false;
  let current: RunningJob | undefined;
  let attempt = 0;
  let readyResolve: () => void = () => {};
  let readyReject: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  ready.catch(() => {});

  const spec = (): JobSpec => ({
    jobId: `srv-${id}-${attempt}`,
    tenantId: options.tenantId,
    tier: options.tier,
    argv: [
      sandboxed ? '/opt/bulkhead/bin/node' : process.execPath,
      sandboxed ? '/code/oip-worker.ts' : join(options.codeDir, 'oip-worker.ts'),
      '-', // the model on stdin
      sandboxed ? '/workspace/oip.sock' : socketPath,
      options.deploymentName,
      options.version,
    ],
    env: { ORT_DISABLE_TELEMETRY: '1', NODE_OPTIONS: '--disable-warning=ExperimentalWarning' },
    workspaceDir,
    outputsDir,
    codeDir: options.codeDir,
    ...(options.rootfs === undefined ? {} : { rootfs: options.rootfs }),
    stdin: options.model,
    // The worker never ends by itself; 20 days stands for "no wall-clock limit" (timers cap at 2^31 ms).
    resources: { cpu: options.resources.cpu, memoryMiB: options.resources.memoryMiB, pids: 64, timeoutSeconds: 20 * 24 * 3600 },
    tenantLimits: options.tenantLimits,
    ...(options.reservedCpus === undefined ? {} : { reservedCpus: options.reservedCpus }),
    output: ({ stream, line }) => options.log(`[${id}${stream === 'stderr' ? ' err' : ''}] ${line}`),
  });

  const waitHealthy = async (job: RunningJob, ended: () => boolean): Promise<boolean> => {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    while (!ended() && !stopping && Date.now() < deadline) {
      try {
        const response = await client.call('GET', '/v2/health/ready', undefined, 1000);
        if (response.status === 200) return true;
      } catch {
        // not listening yet
      }
      await sleep(25);
    }
    if (!ended() && !stopping) {
      options.log(`[${id}] not ready after ${options.readyTimeoutMs ?? 60_000} ms; killing it`);
      job.cancel();
    }
    return false;
  };

  const loop = async (): Promise<void> => {
    while (!stopping) {
      attempt += 1;
      await rm(replicaDir, { recursive: true, force: true });
      // 0711: bwrap runs as the unprivileged job uid and must traverse to the workspace it binds.
      await mkdir(replicaDir, { mode: 0o711 });
      await mkdir(workspaceDir, { mode: 0o700 });
      await mkdir(outputsDir, { mode: 0o700 });
      const job = options.executor.start(spec());
      current = job;
      let ended = false;
      const outcomePromise = job.wait().then((outcome) => {
        ended = true;
        return outcome;
      });
      const startedAt = Date.now();
      if (await waitHealthy(job, () => ended)) {
        if (!stopping) state = 'ready';
        readyResolve();
      }
      const outcome = await outcomePromise;
      current = undefined;
      if (stopping) break;
      const reason = describeOutcome(outcome);
      lastExit = { reason, at: new Date().toISOString() };
      // A replica that served for a while and then crashed starts its backoff afresh.
      consecutiveFailures = Date.now() - startedAt > 30_000 ? 1 : consecutiveFailures + 1;
      restarts += 1;
      state = 'restarting';
      const delay = restartDelayMs(consecutiveFailures);
      options.log(`[${id}] worker ${reason}; restart ${restarts} in ${delay} ms`);
      await sleep(delay);
    }
    state = 'stopped';
    client.close();
    await rm(replicaDir, { recursive: true, force: true }).catch(() => {});
  };
  const done = loop().catch((error: unknown) => {
    options.log(`[${id}] supervisor error: ${String((error as Error)?.message ?? error)}`);
    state = 'stopped';
  });

  const replica: Replica = {
    id,
    version: options.version,
    inFlight: 0,
    client,
    socketPath,
    get state() {
      return state;
    },
    status: () => ({ id, version: options.version, state, restarts, ...(lastExit === undefined ? {} : { lastExit }) }),
    whenReady: () => ready,
    async stop(drainMs = 30_000, graceMs = 5_000) {
      if (stopping) return done;
      state = 'draining';
      const deadline = Date.now() + drainMs;
      while (replica.inFlight > 0 && Date.now() < deadline) await sleep(10);
      stopping = true;
      readyReject(new Error('replica stopped'));
      current?.preempt(graceMs);
      await done;
    },
  };
  return replica;
};
