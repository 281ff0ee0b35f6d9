/**
 * The cluster backend (BULKHEAD_EXECUTOR=kubernetes): a deployment's replicas are a Deployment + ClusterIP
 * Service in the tenant's namespace, reached by the gateway over HTTP at the Service's URL. Each generation
 * (first start, or a rollout to a new version or resources) gets its own endpoint token and token Secret;
 * applying it changes the Deployment's pod template, so Kubernetes rolls the pods (maxUnavailable 0: the
 * old pods serve until new ones are ready). The pods' init container fetches the generation's model
 * through the API with that token, which may read that one artifact and nothing else (auth-hook.ts).
 *
 * The cluster itself is behind the `ClusterEndpoints` port (src/main/cluster-serving.ts adapts the
 * kubernetes module to it; tests script it). A generation is ready when its Deployment reports every
 * replica updated and ready (`observe`, polled). Stopping a generation revokes its token and deletes its
 * Secret; stopping the last one deletes the Deployment and Service; stopping the generation whose template
 * is applied while an older one still lives (a failed rollout) applies the older one again.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { IdentityService } from '../identity/index.ts';
import type { ModelResolver } from './model-resolver.ts';
import type { GenerationRequest, GenerationSpec, ServingBackend, ServingGeneration, ServingTarget } from './serving-backend.ts';
import type { EndpointTokenScope } from './endpoint-token-scope.ts';
import { createHttpWorkerClient } from './worker-client.ts';
import type { ReplicaStatus } from '../contract/deployment-schemas.ts';

/** One generation of a deployment on the cluster, as the port sees it. */
export interface ClusterEndpointGeneration {
  tenantId: string;
  deploymentId: string;
  deploymentName: string;
  /** Lowercase letters and digits, unique per generation: names its token Secret and marks its pod template. */
  generation: string;
  spec: GenerationSpec;
  /** The artifact path of the generation's model.onnx: what its token may read. */
  modelArtifactPath: string;
}

/** How a generation stands on the cluster (the kubernetes module's `EndpointObservation`). */
export interface ClusterEndpointState {
  phase: 'missing' | 'progressing' | 'ready' | 'superseded' | 'failed';
  desired: number;
  /** Pods passing readiness behind the Service, of any generation: what can serve now. */
  ready: number;
  updated: number;
  reason?: string;
}

/** The cluster, as the serving backend needs it. Every method may throw (AppError UNAVAILABLE and the like). */
export interface ClusterEndpoints {
  /** Applies the tenant's namespace bundle if needed, the generation's token Secret, then its Deployment and Service. */
  apply(generation: ClusterEndpointGeneration, token: string): Promise<void>;
  observe(generation: ClusterEndpointGeneration): Promise<ClusterEndpointState>;
  /** The HTTP base URL of the deployment's Service, as the gateway reaches it. */
  serviceUrl(generation: ClusterEndpointGeneration): string;
  /** Deletes the generation's token Secret. */
  retire(generation: ClusterEndpointGeneration): Promise<void>;
  /** Deletes the deployment's Deployment, Service and token Secrets. */
  remove(deployment: { tenantId: string; deploymentName: string }): Promise<void>;
}

export interface ClusterServingBackendDeps {
  endpoints: ClusterEndpoints;
  resolver: ModelResolver;
  identity: Pick<IdentityService, 'createToken' | 'revokeToken'>;
  /** How often each live generation's Deployment is read (default 2 s). */
  pollIntervalMs?: number;
  /** A rollout not ready after this long fails, and the previous generation is applied again (default 15 min). */
  readyTimeoutMs?: number;
  log?: { error(obj: object, msg: string): void };
}

export interface ClusterServingBackend extends ServingBackend {
  /** The artifact a live endpoint token may read, or undefined when this process serves no such generation. */
  endpointScope(tenantId: string, deploymentId: string, tokenId: string): EndpointTokenScope | undefined;
}

interface LiveGeneration {
  ref: ClusterEndpointGeneration;
  token: string;
  tokenId: string;
  stopped: boolean;
}

const serving = { actor: 'system:serving', requestId: 'serving' };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const messageOf = (error: unknown): string => (error instanceof AppError ? error.message : 'unexpected error (see the server log)');

export const createClusterServingBackend = (deps: ClusterServingBackendDeps): ClusterServingBackend => {
  const pollIntervalMs = deps.pollIntervalMs ?? 2000;
  const readyTimeoutMs = deps.readyTimeoutMs ?? 15 * 60_000;
  /** Live generations per deployment, oldest first, and the one whose template is applied. */
  const live = new Map<string, LiveGeneration[]>();
  const applied = new Map<string, LiveGeneration>();
  const scopes = new Map<string, { tenantId: string; deploymentId: string; scope: EndpointTokenScope }>();
  /** Set by `shutdown`: stopping a generation then lets go of it without touching the cluster. */
  let closing = false;
  const pendingReady = new Set<(error: Error) => void>();
  const keyOf = (ref: { tenantId: string; deploymentName: string }): string => `${ref.tenantId}/${ref.deploymentName}`;

  /** Lets go of a generation: its token, its Secret, and — when it was the last — the cluster objects. */
  const release = async (gen: LiveGeneration, log: (line: string) => void, teardown: boolean): Promise<void> => {
    if (gen.stopped) return;
    gen.stopped = true;
    scopes.delete(gen.tokenId);
    await deps.identity.revokeToken(serving, gen.ref.tenantId, gen.tokenId).catch(() => {}); // gone with its deployment
    const key = keyOf(gen.ref);
    const rest = (live.get(key) ?? []).filter((g) => g !== gen);
    if (rest.length === 0) live.delete(key);
    else live.set(key, rest);
    if (!teardown || closing) return;
    try {
      if (rest.length === 0) {
        applied.delete(key);
        await deps.endpoints.remove(gen.ref);
        log(`removed ${gen.ref.deploymentName} from the cluster`);
        return;
      }
      if (applied.get(key) === gen) {
        // A rollout that did not finish: the older generation's template goes back on the Deployment.
        const previous = rest[rest.length - 1]!;
        applied.set(key, previous);
        await deps.endpoints.apply(previous.ref, previous.token);
        log(`generation ${gen.ref.generation} withdrawn; generation ${previous.ref.generation} applied again`);
      }
      await deps.endpoints.retire(gen.ref);
    } catch (error) {
      log(`error: cleaning up generation ${gen.ref.generation} on the cluster failed: ${messageOf(error)}`);
      // The message only: a raw client error may quote the Secret it was handling.
      deps.log?.error({ reason: messageOf(error), deployment: gen.ref.deploymentName, generation: gen.ref.generation }, 'cluster endpoint clean-up failed');
    }
  };

  return {
    async start(request: GenerationRequest) {
      // The cluster's serving pods run the platform's worker image; a tenant image would need the worker
      // and onnxruntime in it (docs/images.md): refused rather than silently run on another image.
      if (request.spec.imageDigest !== undefined) throw new AppError('NOT_IMPLEMENTED', 'deployments on images run on the local executor only; the cluster serves on the platform worker image');
      if (deps.resolver.modelArtifactPath === undefined) throw new AppError('UNAVAILABLE', 'this server cannot serve models on the cluster: its model resolver does not name artifacts');
      const modelArtifactPath = await deps.resolver.modelArtifactPath(request.tenantId, request.spec.model, request.spec.version);
      const ref: ClusterEndpointGeneration = {
        tenantId: request.tenantId, deploymentId: request.deploymentId, deploymentName: request.deploymentName,
        generation: `g${randomBytes(5).toString('hex')}`, spec: request.spec, modelArtifactPath,
      };
      // No expiry: a pod that restarts (node drain, crash) fetches its model again with it. It dies when the
      // generation stops (revoked), with its deployment (ON DELETE CASCADE), and works only while this
      // process serves the generation.
      const created = await deps.identity.createToken(serving, request.tenantId, {
        name: `endpoint-${request.deploymentName}-${ref.generation}`.slice(0, 100), role: 'viewer', kind: 'endpoint', deploymentId: request.deploymentId,
      });
      const gen: LiveGeneration = { ref, token: created.token, tokenId: created.record.id, stopped: false };
      const key = keyOf(ref);
      scopes.set(gen.tokenId, { tenantId: ref.tenantId, deploymentId: ref.deploymentId, scope: { artifactPath: modelArtifactPath } });
      live.set(key, [...(live.get(key) ?? []), gen]);
      const previous = applied.get(key);
      applied.set(key, gen);
      try {
        await deps.endpoints.apply(ref, gen.token);
      } catch (error) {
        if (previous === undefined) applied.delete(key);
        await release(gen, request.log, true);
        throw error instanceof AppError ? error : new AppError('UNAVAILABLE', 'the cluster did not accept the endpoint', { cause: error });
      }
      request.log(`generation ${ref.generation} (version ${request.spec.version}, ${request.spec.replicas} replica(s)) applied to the cluster`);

      const client = createHttpWorkerClient(deps.endpoints.serviceUrl(ref), 1024);
      const target: ServingTarget = { client, inFlight: 0 };
      let state: ClusterEndpointState = { phase: 'progressing', desired: request.spec.replicas, ready: 0, updated: 0 };
      let settled = false;
      let resolveReady: () => void = () => {};
      let rejectReady: (error: Error) => void = () => {};
      const ready = new Promise<void>((resolve, reject) => {
        resolveReady = resolve;
        rejectReady = reject;
      });
      ready.catch(() => {});
      const settle = (error?: Error): void => {
        if (settled) return;
        settled = true;
        pendingReady.delete(settle);
        if (error === undefined) resolveReady();
        else rejectReady(error);
      };
      pendingReady.add(settle);
      const startedAt = Date.now();
      let readFailing = false;
      const poll = async (): Promise<void> => {
        while (!gen.stopped) {
          try {
            state = await deps.endpoints.observe(ref);
            readFailing = false;
          } catch (error) {
            if (!readFailing) request.log(`cannot read generation ${ref.generation} from the cluster: ${messageOf(error)}`);
            readFailing = true;
          }
          if (!settled) {
            if (state.phase === 'ready') {
              request.log(`generation ${ref.generation} ready (${state.ready}/${state.desired})`);
              settle();
            } else if (state.phase === 'failed') settle(new Error(state.reason ?? 'the rollout failed'));
            else if (state.phase === 'superseded') settle(new Error('another generation took over'));
            else if (Date.now() - startedAt > readyTimeoutMs) settle(new Error(`not ready after ${readyTimeoutMs} ms`));
          }
          await sleep(pollIntervalMs);
        }
        settle(new Error('generation stopped'));
      };
      void poll();

      const generation: ServingGeneration = {
        spec: request.spec,
        whenReady: () => ready,
        pick: () => (gen.stopped || state.ready === 0 ? undefined : target),
        replicaStatus: (): ReplicaStatus[] => {
          const serving = Math.min(state.ready, state.desired);
          return Array.from({ length: state.desired }, (_, i) => ({
            id: `${ref.generation}-${i}`, version: generation.spec.version, state: i < serving ? 'ready' as const : 'starting' as const, restarts: 0,
          }));
        },
        async scale(replicas, maxConcurrency) {
          generation.spec = { ...generation.spec, replicas, maxConcurrency };
          ref.spec = generation.spec;
          // Same generation, same template: Kubernetes only changes the replica count.
          await deps.endpoints.apply(ref, gen.token);
        },
        async stop() {
          const deadline = Date.now() + 30_000;
          while (target.inFlight > 0 && Date.now() < deadline) await sleep(10);
          await release(gen, request.log, true);
          client.close();
        },
        socketPaths: () => [],
      };
      return generation;
    },

    endpointScope(tenantId, deploymentId, tokenId) {
      const entry = scopes.get(tokenId);
      return entry === undefined || entry.tenantId !== tenantId || entry.deploymentId !== deploymentId ? undefined : entry.scope;
    },

    shutdown() {
      closing = true;
      for (const settle of [...pendingReady]) settle(new Error('the platform is stopping'));
    },

    async close() {
      closing = true;
      // The platform is stopping, not the endpoints: what runs on the cluster keeps serving, and the next
      // start rolls out a fresh generation (`recover`). Tokens die here: no process serves them any more.
      for (const gens of [...live.values()]) for (const gen of gens) await release(gen, () => {}, false);
      live.clear();
      applied.clear();
    },
  };
};
