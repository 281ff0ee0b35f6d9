/**
 * The local backend: each replica is a sandboxed model worker process (worker-supervisor.ts) in the
 * tenant's isolation tier, speaking OIP over a Unix socket in a tenant-private directory. A generation's
 * model is decrypted once into this process's memory and handed to each replica's worker over its stdin
 * (at every start and restart); it is never written to disk, and the generation zeroes it when it stops.
 * The serving root (default mkdtemp('/tmp/bhs-'), short for Unix socket paths) holds only the replicas'
 * workspaces and sockets.
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.ts';
import type { IsolationTier } from '../contract/roles.ts';
import type { ModelResolver } from './model-resolver.ts';
import { startReplica } from './worker-supervisor.ts';
import type { Replica, WorkerExecutor } from './worker-supervisor.ts';
import type { GenerationRequest, GenerationSpec, ServingBackend, ServingGeneration } from './serving-backend.ts';

export interface LocalServingBackendDeps {
  executor: WorkerExecutor;
  resolver: ModelResolver;
  /** Tenant facts the workers need: tier, serving limits (CPU, memory of the tenant's parent cgroup). */
  tenantInfo(tenantId: string): Promise<{ tier: IsolationTier; limits: { cpu: number; memoryMiB: number } }>;
  /** CPUs reserved for a `dedicated` tenant; without them such a tenant's deployment fails (never downgraded). */
  reservedCpus?: (tenantId: string) => string | undefined | Promise<string | undefined>;
  /** Short host directory (Unix socket paths must stay < 108 bytes); created 0711. */
  root?: string;
  /** The worker code dir (prepareWorkerCode). */
  codeDir: string;
  readyTimeoutMs?: number;
  /** The unpacked rootfs of an image digest (the image store): deployments on images (issue 17). */
  imageRootfs?: (digest: string) => Promise<string>;
}

export const createLocalServingBackend = (deps: LocalServingBackendDeps): ServingBackend => {
  let rootPromise: Promise<string> | undefined;
  const root = (): Promise<string> => (rootPromise ??= (async () => {
    const dir = deps.root ?? (await mkdtemp('/tmp/bhs-'));
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
    return dir;
  })());
  const tenantDir = async (tenantId: string): Promise<string> => {
    const dir = join(await root(), tenantId);
    await mkdir(dir, { recursive: true, mode: 0o711 });
    return dir;
  };

  const startReplicas = async (request: GenerationRequest, spec: GenerationSpec, count: number, model: Uint8Array): Promise<Replica[]> => {
    const info = await deps.tenantInfo(request.tenantId);
    // Dedicated: the tenant's reserved CPUs (required). Others: the shared pool, so no worker runs on a
    // dedicated tenant's CPUs.
    const reserved = await deps.reservedCpus?.(request.tenantId);
    if (info.tier === 'dedicated' && reserved === undefined) {
      throw new AppError('UNAVAILABLE', 'this tenant is in the dedicated tier and no CPUs are reserved for its serving workers');
    }
    const dir = await tenantDir(request.tenantId);
    // On an image: its rootfs (unpacked again from the stored blobs if it was collected meanwhile).
    let rootfs: string | undefined;
    if (spec.imageDigest !== undefined) {
      if (deps.imageRootfs === undefined) throw new AppError('NOT_IMPLEMENTED', 'serving on images is not available here');
      rootfs = await deps.imageRootfs(spec.imageDigest);
    }
    return Array.from({ length: count }, () => startReplica({
      executor: deps.executor, tenantId: request.tenantId, tenantDir: dir, tier: info.tier, reservedCpus: reserved,
      deploymentName: request.deploymentName, version: spec.version, model, codeDir: deps.codeDir, rootfs,
      resources: { cpu: spec.cpu, memoryMiB: spec.memoryMiB }, tenantLimits: info.limits, maxConcurrency: spec.maxConcurrency,
      log: request.log, ...(deps.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: deps.readyTimeoutMs }),
    }));
  };

  return {
    async start(request) {
      const model = await deps.resolver.readModel(request.tenantId, request.spec.model, request.spec.version);
      const replicas = await startReplicas(request, request.spec, request.spec.replicas, model).catch((error: unknown) => {
        model.fill(0);
        throw error;
      });
      let next = 0;
      const generation: ServingGeneration = {
        spec: request.spec,
        whenReady: () => Promise.all(replicas.map((r) => r.whenReady())).then(() => {}),
        pick() {
          for (let i = 0; i < replicas.length; i++) {
            const replica = replicas[(next + i) % replicas.length]!;
            if (replica.state === 'ready') {
              next = (next + i + 1) % replicas.length;
              return replica;
            }
          }
          return undefined;
        },
        replicaStatus: () => replicas.map((r) => r.status()),
        async scale(count, maxConcurrency) {
          generation.spec = { ...generation.spec, replicas: count, maxConcurrency };
          if (count > replicas.length) {
            replicas.push(...(await startReplicas(request, generation.spec, count - replicas.length, model)));
          } else if (count < replicas.length) {
            const removed = replicas.splice(count);
            await Promise.all(removed.map((r) => r.stop()));
          }
        },
        async stop() {
          await Promise.all(replicas.map((r) => r.stop()));
          // Every worker has stopped: no restart will need the plaintext again.
          model.fill(0);
        },
        socketPaths: () => replicas.filter((r) => r.state === 'ready').map((r) => r.socketPath),
      };
      return generation;
    },
    async close() {
      if (rootPromise !== undefined && deps.root === undefined) await rm(await rootPromise, { recursive: true, force: true }).catch(() => {});
    },
  };
};
