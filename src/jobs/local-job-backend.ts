/**
 * Jobs on this host: the job backend over a host executor (executors/local, built by the composition
 * root). A launch decrypts the job's inputs into directories only it will see, creates its MLflow run and
 * job token, opens its relay (its only way out) and starts it in its tenant's isolation tier.
 */
import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { detachLeftoverDisks, mountJobDisk, type JobDisk } from './job-disk.ts';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { HostExecutor, HostProbe, JobSpec } from '../executors/host-executor-contract.ts';
import type { IdentityService } from '../identity/index.ts';
import type { JobBackend, JobStoragePort, JobTrackingPort } from './job-backend.ts';
import { createJobRun } from './job-backend.ts';
import { startGang } from './gang-execution.ts';
import type { JobRelays } from './job-relay.ts';

const backendContext: RequestContext = { actor: 'system:scheduler', requestId: 'scheduler' };

export interface LocalJobBackendOptions {
  executor: HostExecutor;
  identity: Pick<IdentityService, 'createToken' | 'revokeToken'>;
  relays: JobRelays;
  /** `$BULKHEAD_HOME/jobs`: one directory per tenant id, holding its running jobs' scratch directories. */
  jobsDir: string;
  /** Port of the in-sandbox relay forwarder (the executor's `relayPort`). */
  relayPort: number;
  preemptGraceMs: number;
  /** Per-job disk limit of /workspace + /outputs in MiB (a loop-mounted file system, job-disk.ts); 0: none. */
  diskMiB?: number | undefined;
  storage?: JobStoragePort | undefined;
  tracking?: JobTrackingPort | undefined;
  /** The image store (issue 17): the unpacked rootfs of a job's resolved image digest. */
  images?: { rootfsPath(digest: string): Promise<string> } | undefined;
}

/** Directories 0755, regular files 0444, links left alone (inputs are never links: we wrote them). */
const makeReadable = async (root: string): Promise<void> => {
  await chmod(root, 0o755);
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const full = join(root, entry.name);
    if (entry.isDirectory()) await makeReadable(full);
    else if (entry.isFile()) await chmod(full, 0o444);
  }
};

/** Regular files under `root` with their sizes (the outputs when no artifact store is wired). */
const listFiles = async (root: string): Promise<Array<{ path: string; size: number }>> => {
  const out: Array<{ path: string; size: number }> = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push({ path: relative(root, full), size: (await stat(full)).size });
    }
  };
  await walk(root).catch(() => {});
  return out;
};

export const createLocalJobBackend = (options: LocalJobBackendOptions): JobBackend => {
  const { executor, identity, relays, storage } = options;
  let probe: HostProbe | undefined;
  return {
    admission: 'bulkhead',
    placement: 'host',
    launchFailure: 'the platform could not start the job',
    async refusal(tenant) {
      probe ??= await executor.probe();
      let tierState = probe.tiers[tenant.tier];
      if (!tierState.available) {
        // A failed probe may be transient (a loaded host, a tool installed since): look again before
        // refusing, and keep the fresh answer.
        probe = await executor.probe();
        tierState = probe.tiers[tenant.tier];
      }
      // Never silently downgrade: a job below its tenant's tier does not run.
      return tierState.available ? undefined : `this host cannot provide the '${tenant.tier}' isolation tier (missing: ${tierState.missing.join(', ')}); ${tierState.install}`;
    },
    async launch(job, tenant, quota, grant, ctx) {
      /**
       * A gang: one sandbox per worker, all in one private network namespace. Each rank gets its own
       * workspace and outputs (`/outputs` is `outputs/rank-<r>` of the job), its slice of the granted
       * GPUs, and its lines tagged with its rank; rank 0 alone runs the API relay, which every rank
       * reaches on the shared loopback.
       */
      const startGangOf = async (spec: JobSpec) => {
        const gangExecutor = executor.createGangNetwork === undefined ? undefined : { start: (s: JobSpec) => executor.start(s), createGangNetwork: executor.createGangNetwork.bind(executor) };
        if (gangExecutor === undefined) throw new AppError('UNAVAILABLE', 'this executor cannot run gang jobs');
        const perRank = job.resources.gpu;
        const ranks = await Promise.all(Array.from({ length: job.workers }, async (_, rank) => {
          const workspaceDir = join(spec.workspaceDir, `rank-${rank}`);
          const outputsDir = join(spec.outputsDir, `rank-${rank}`);
          await mkdir(workspaceDir, { mode: 0o700 });
          await mkdir(outputsDir, { mode: 0o700 });
          return { workspaceDir, outputsDir };
        }));
        // Each worker runs as its own uid: the job's directories are only traversed, never listed.
        await chmod(spec.workspaceDir, 0o711);
        await chmod(spec.outputsDir, 0o711);
        return startGang(gangExecutor, spec.jobId, job.workers, (rank) => {
          const { apiSocketPath: _relay, gpus: _gpus, output: _output, ...rest } = spec;
          const slice = grant.gpus === undefined ? undefined : { devices: grant.gpus.devices.slice(rank * perRank, (rank + 1) * perRank), controlNodes: grant.gpus.controlNodes };
          return {
            ...rest,
            jobId: `${spec.jobId}-r${rank}`,
            ...(ranks[rank] as { workspaceDir: string; outputsDir: string }),
            ...(rank === 0 && spec.apiSocketPath !== undefined ? { apiSocketPath: spec.apiSocketPath } : {}),
            ...(slice === undefined || slice.devices.length === 0 ? {} : { gpus: slice }),
            output: (line) => ctx.log(line.stream, `[rank ${rank}] ${line.line}`),
          };
        }, (line) => ctx.log('system', line));
      };
      const dir = join(options.jobsDir, job.tenantId, job.id);
      const diskMiB = options.diskMiB ?? 0;
      // With a disk limit, the writable directories live on the job's own file system at <dir>/disk.
      const writable = diskMiB > 0 ? join(dir, 'disk') : dir;
      const dirs = { workspace: join(writable, 'workspace'), outputs: join(writable, 'outputs'), data: join(dir, 'data'), code: join(dir, 'code') };
      let tokenId: string | undefined;
      let disk: JobDisk | undefined;
      const endAccess = async () => {
        await relays.close(job.id);
        if (tokenId !== undefined) await identity.revokeToken(backendContext, job.tenantId, tokenId).catch(() => {});
      };
      const release = async () => {
        await endAccess();
        await disk?.release();
        await rm(dir, { recursive: true, force: true }).catch(() => {});
      };
      try {
        // The job's inputs: its code and datasets, decrypted into directories only it will see.
        // The sandbox launcher runs as the unprivileged job uid and must traverse to the job's directories:
        // parents are 0711 (enter, never list; job ids are random), the job's own dirs are handed to it.
        for (const path of [options.jobsDir, join(options.jobsDir, job.tenantId), dir]) {
          await mkdir(path, { recursive: true, mode: 0o711 });
          await chmod(path, 0o711);
        }
        if (diskMiB > 0) disk = await mountJobDisk(dir, diskMiB);
        for (const path of Object.values(dirs)) await mkdir(path, { recursive: true, mode: 0o700 });
        await chmod(dirs.data, 0o755);
        await chmod(dirs.code, 0o755);
        let codeDigest: string | null = null;
        if (job.codeBundle !== null) {
          if (storage === undefined) throw new AppError('UNAVAILABLE', 'code bundles need the artifact store');
          codeDigest = (await storage.materializeCodeBundle(job.tenantId, job.codeBundle, dirs.code)).digest;
        }
        for (const dataset of job.datasets) {
          if (storage === undefined) throw new AppError('UNAVAILABLE', 'datasets need the artifact store');
          await storage.materializeDataset(job.tenantId, dataset.name, dataset.version, join(dirs.data, dataset.name));
        }
        // Inputs are mounted read-only; the unprivileged job uid must still be able to read them.
        await makeReadable(dirs.data);
        await makeReadable(dirs.code);
        let rootfs: string | undefined;
        if (job.imageDigest !== null) {
          if (options.images === undefined) throw new AppError('UNAVAILABLE', 'jobs on images need the image store');
          rootfs = await options.images.rootfsPath(job.imageDigest);
        }
        const { runId, experimentId } = await createJobRun(options.tracking, job);
        const timeout = job.resources.timeoutSeconds;
        const created = await identity.createToken(backendContext, job.tenantId, { name: `job-${job.id}`, role: 'member', kind: 'job', jobId: job.id, expiresInSeconds: timeout + Math.ceil(options.preemptGraceMs / 1000) + 300 });
        tokenId = created.record.id;
        const socketPath = await relays.open({ jobId: job.id, tenantId: job.tenantId, tenantSlug: tenant.slug, token: created.token, runId, experimentId, dir });
        if (ctx.cancelling()) throw new AppError('CONFLICT', 'cancelled while starting');
        const run = { runId, experimentId, codeDigest };
        await ctx.progress('running', run);
        // The job's one way out: the relay, on loopback inside its own network namespace (every tier).
        const env: Record<string, string> = { ...job.env, MLFLOW_TRACKING_URI: `http://127.0.0.1:${options.relayPort}`, MLFLOW_TRACKING_TOKEN: created.token };
        if (runId !== null) env['MLFLOW_RUN_ID'] = runId;
        if (experimentId !== null) env['MLFLOW_EXPERIMENT_ID'] = experimentId;
        const spec: JobSpec = {
          jobId: job.id,
          tenantId: job.tenantId,
          tier: tenant.tier,
          argv: job.command,
          env,
          workspaceDir: dirs.workspace,
          outputsDir: dirs.outputs,
          resources: { cpu: job.resources.cpu, memoryMiB: job.resources.memoryMiB, pids: 512, timeoutSeconds: timeout },
          tenantLimits: { cpu: quota.cpu + quota.borrowingLimit.cpu, memoryMiB: quota.memoryMiB + quota.borrowingLimit.memoryMiB },
          reservedCpus: grant.cpuset,
          apiSocketPath: socketPath,
          ...(grant.gpus === undefined ? {} : { gpus: grant.gpus }),
          output: (line) => ctx.log(line.stream, line.line),
          ...(job.datasets.length > 0 ? { dataDir: dirs.data } : {}),
          ...(job.codeBundle !== null ? { codeDir: dirs.code } : {}),
          ...(rootfs === undefined ? {} : { rootfs }),
        };
        const ran = { ...job, runId, experimentId };
        const started = job.workers > 1 ? await startGangOf(spec) : executor.start(spec);
        const full = disk;
        // The job sees ENOSPC past its limit; its log says why, once it has ended.
        const handle = full === undefined ? started : {
          jobId: started.jobId, cancel: () => started.cancel(), preempt: (graceMs: number) => started.preempt(graceMs),
          wait: async () => {
            const outcome = await started.wait();
            if (await full.full()) ctx.log('system', `[bulkhead] the job's disk (/workspace and /outputs together) is full: its limit is ${String(diskMiB)} MiB; writes past it failed with "No space left on device"`);
            return outcome;
          },
        };
        return {
          handle,
          run,
          collectOutputs: async () => (storage === undefined ? listFiles(dirs.outputs) : storage.storeOutputs(job.tenantId, ran, dirs.outputs)),
          endAccess,
          release,
        };
      } catch (error) {
        await release();
        throw error;
      }
    },
    hostProbe: async () => (probe ??= await executor.probe()),
    reapOrphans: async () => {
      await executor.reapOrphans([]);
      // Job disks a crashed process left mounted (no job is live when this runs).
      await detachLeftoverDisks(options.jobsDir);
    },
  };
};
