/**
 * Deployments: the desired state in the `deployments` table (RLS-scoped, every change audited in the
 * same transaction) and the running replicas that serve it. The gateway entry point `invoke` routes by
 * (tenant, name) only — the tenant always comes from the caller's token, so another tenant's deployment
 * of the same name is unreachable — through the tenant's token bucket and the deployment's concurrency
 * gate.
 *
 * Rolling update (new version or resources): start a new generation of replicas, wait until every one
 * answers its health check, switch routing atomically, then drain the old generation (wait for in-flight
 * requests, SIGTERM). A generation that never becomes ready is torn down and the old one keeps serving.
 *
 * Where a generation's replicas run is the serving backend's business (serving-backend.ts): local sandboxed
 * workers, or a Deployment + Service on a Kubernetes cluster. The gateway's limits stay here, in front of both.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { withSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { IsolationTier } from '../contract/roles.ts';
import type { CreateDeploymentInput, DeploymentStatus, DeploymentView, ReplicaStatus, UpdateDeploymentInput } from '../contract/deployment-schemas.ts';
import type { GenerationSpec, ServingBackend, ServingGeneration, ServingTarget } from './serving-backend.ts';
import { createConcurrencyGate } from './gateway-limiter.ts';
import type { ConcurrencyGate } from './gateway-limiter.ts';

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  model: string;
  version: string;
  replicas: number;
  cpu: string | number;
  memory_mib: number;
  max_concurrency: number;
  image: string | null;
  image_digest: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

type Spec = GenerationSpec;
type Generation = ServingGeneration;

interface Runtime {
  tenantId: string;
  id: string;
  name: string;
  tier: IsolationTier;
  active: Generation | undefined;
  rolling: boolean;
  error: string | undefined;
  gate: ConcurrencyGate;
  /** Log lines not yet written to `deployment_logs` (flushed every 500 ms, on read and on close). */
  pendingLogs: Array<{ line: string; at: Date }>;
  /** Serialises this deployment's log writes, so they land in order. */
  logWrites: Promise<void>;
  deleted: boolean;
  /** Serialises changes (rollouts, scaling, deletion) of one deployment. */
  chain: Promise<void>;
}

export const deploymentErrors = {
  notFound: (name: string) => new AppError('NOT_FOUND', `deployment ${name} not found`),
  exists: (name: string) => new AppError('CONFLICT', `deployment ${name} already exists`),
};

const MAX_LOG_LINES = 2000;
/** Requests allowed to wait for a slot, per deployment: twice its concurrency. */
export const queueBoundOf = (maxConcurrency: number): number => maxConcurrency * 2;

const toIso = (v: Date | string): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());
const specOf = (row: Row): Spec => ({
  model: row.model, version: row.version, replicas: row.replicas, cpu: Number(row.cpu), memoryMiB: row.memory_mib, maxConcurrency: row.max_concurrency,
  ...(row.image_digest === null ? {} : { imageDigest: row.image_digest }),
});

export interface DeploymentServiceDeps {
  db: Db;
  /** Where replicas run: local sandboxed workers, or a Kubernetes cluster (serving-backend.ts). */
  backend: ServingBackend;
  /** An image reference → the digest the tenant may use (images service; NOT_FOUND otherwise). Absent: no images. */
  resolveImage?: (tenantId: string, ref: string) => Promise<{ digest: string }>;
  /** Tenant facts: tier, serving limits (the quota a deployment's replicas must fit in). */
  tenantInfo(tenantId: string): Promise<{ tier: IsolationTier; limits: { cpu: number; memoryMiB: number } }>;
}

export interface InvokeResult {
  status: number;
  body: Buffer | string;
  retryAfterSeconds?: number;
}

export interface DeploymentService {
  create(ctx: RequestContext, tenantId: string, input: CreateDeploymentInput): Promise<DeploymentView>;
  list(tenantId: string): Promise<DeploymentView[]>;
  get(tenantId: string, name: string): Promise<DeploymentView>;
  update(ctx: RequestContext, tenantId: string, name: string, input: UpdateDeploymentInput): Promise<DeploymentView>;
  remove(ctx: RequestContext, tenantId: string, name: string): Promise<void>;
  logs(tenantId: string, name: string): Promise<string[]>;
  /** Gateway: forwards an OIP call to a ready replica. `version` must match the serving version when given. */
  invoke(tenantId: string, name: string, version: string | undefined, call: 'metadata' | 'ready' | 'infer', body?: Buffer): Promise<InvokeResult>;
  /** Whether any deployment of the tenant serves (OIP server readiness). */
  tenantReady(tenantId: string): boolean;
  /** The socket paths of a deployment's ready replicas (benchmarks compare the gateway with a direct call). */
  replicaSockets(tenantId: string, name: string): string[];
  /**
   * Suspension (and tenant deletion): stops the replicas of every deployment of the tenant that runs in
   * this process. The deployments stay stored (shown `stopped`) and `resumeTenant` starts them again.
   * `note` goes to each deployment's log; without it nothing is written. Returns how many stopped.
   */
  pauseTenant(tenantId: string, note?: string): Promise<number>;
  /** Resumption: starts the replicas of the tenant's stored deployments that do not run. Returns how many. */
  resumeTenant(tenantId: string): Promise<number>;
  /** Starts the replicas of every stored deployment of an active tenant (after a restart of the platform). */
  recover(): Promise<void>;
  close(): Promise<void>;
}

export const createDeploymentService = (deps: DeploymentServiceDeps): DeploymentService => {
  const runtimes = new Map<string, Runtime>();
  const key = (tenantId: string, name: string): string => `${tenantId}/${name}`;
  const log = (rt: Runtime, line: string): void => {
    rt.pendingLogs.push({ line, at: new Date() });
    // A deployment spewing faster than the flush keeps only what it could keep anyway.
    if (rt.pendingLogs.length > MAX_LOG_LINES) rt.pendingLogs.splice(0, rt.pendingLogs.length - MAX_LOG_LINES);
  };

  /**
   * Writes a deployment's pending log lines and trims it to its newest MAX_LOG_LINES, in one transaction.
   * A deployment deleted meanwhile (its rows cascade away) just loses the lines. Never rejects.
   */
  const flushLogs = (rt: Runtime): Promise<void> => {
    rt.logWrites = rt.logWrites.then(async () => {
      if (rt.pendingLogs.length === 0) return;
      const batch = rt.pendingLogs.splice(0, rt.pendingLogs.length);
      await withTenant(deps.db, rt.tenantId, async (tx) => {
        await tx.query(
          `INSERT INTO deployment_logs (tenant_id, deployment_id, line, logged_at)
           SELECT $1::uuid, $2::uuid, u.line, u.at FROM unnest($3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(line, at, ord) ORDER BY u.ord`,
          [rt.tenantId, rt.id, batch.map((b) => b.line), batch.map((b) => b.at.toISOString())],
        );
        await tx.query(
          `DELETE FROM deployment_logs WHERE deployment_id = $1
             AND seq < (SELECT seq FROM deployment_logs WHERE deployment_id = $1 ORDER BY seq DESC OFFSET ${MAX_LOG_LINES - 1} LIMIT 1)`,
          [rt.id],
        );
      }).catch(() => undefined);
    });
    return rt.logWrites;
  };
  const logFlushTimer = setInterval(() => {
    for (const rt of runtimes.values()) if (rt.pendingLogs.length > 0) void flushLogs(rt);
  }, 500);
  logFlushTimer.unref();

  const stopGeneration = async (generation: Generation | undefined): Promise<void> => {
    if (generation === undefined) return;
    await generation.stop();
  };

  const enqueue = (rt: Runtime, step: () => Promise<void>): Promise<void> => {
    const run = rt.chain.then(step, step);
    rt.chain = run.catch((error: unknown) => {
      rt.error = error instanceof AppError ? error.message : 'internal error while changing the deployment';
      log(rt, `error: ${String((error as Error)?.message ?? error)}`);
    });
    return rt.chain;
  };

  /** First start, or a rollout to `spec` (new model version or resources). */
  const rollOut = (rt: Runtime, spec: Spec): Promise<void> => enqueue(rt, async () => {
    if (rt.deleted) return;
    rt.rolling = rt.active !== undefined;
    log(rt, `rolling out ${spec.model} version ${spec.version} with ${spec.replicas} replica(s)`);
    const generation = await deps.backend.start({
      tenantId: rt.tenantId, deploymentId: rt.id, deploymentName: rt.name, tier: rt.tier, spec, log: (line) => log(rt, line),
    }).catch((error: unknown) => {
      rt.rolling = false;
      throw error;
    });
    if (rt.active === undefined) {
      // First start: serve from the new generation as soon as any replica is ready.
      rt.active = generation;
      rt.rolling = false;
      rt.error = undefined;
      return;
    }
    const ok = await generation.whenReady().then(() => true, () => false);
    if (!ok || rt.deleted) {
      await stopGeneration(generation);
      rt.rolling = false;
      if (!rt.deleted) throw new AppError('UNAVAILABLE', `rollout to version ${spec.version} failed: its replicas did not become ready; version ${rt.active.spec.version} keeps serving`);
      return;
    }
    const old = rt.active;
    rt.active = generation; // routing switches here; requests already on old replicas finish below
    rt.rolling = false;
    rt.error = undefined;
    log(rt, `version ${spec.version} serves; draining version ${old.spec.version}`);
    await stopGeneration(old);
  });

  const scale = (rt: Runtime, replicas: number, maxConcurrency: number): Promise<void> => enqueue(rt, async () => {
    const generation = rt.active;
    if (generation === undefined || rt.deleted) return;
    rt.gate.resize(maxConcurrency, queueBoundOf(maxConcurrency));
    await generation.scale(replicas, maxConcurrency);
    log(rt, `scaled to ${replicas} replica(s)`);
  });

  const statusOf = (rt: Runtime | undefined): { status: DeploymentStatus; reason?: string; replicaStatus: ReplicaStatus[] } => {
    if (rt === undefined) return { status: 'stopped', replicaStatus: [] };
    const replicaStatus = rt.active?.replicaStatus() ?? [];
    const ready = replicaStatus.filter((r) => r.state === 'ready').length;
    const reason = rt.error;
    const withReason = <T extends object>(o: T) => (reason === undefined ? o : { ...o, reason });
    if (rt.active === undefined) return withReason({ status: rt.error === undefined ? 'starting' : 'failed', replicaStatus });
    if (rt.rolling) return withReason({ status: 'updating', replicaStatus });
    if (rt.active.spec.replicas === 0) return withReason({ status: 'stopped', replicaStatus });
    if (ready === replicaStatus.length) return withReason({ status: 'ready', replicaStatus });
    if (ready > 0) return withReason({ status: 'degraded', replicaStatus });
    const crashed = replicaStatus.some((r) => r.restarts > 0);
    const last = replicaStatus.find((r) => r.lastExit !== undefined)?.lastExit;
    return { status: crashed ? 'unavailable' : 'starting', replicaStatus, ...(reason !== undefined ? { reason } : last !== undefined ? { reason: `last worker ${last.reason}` } : {}) };
  };

  const view = (row: Row): DeploymentView => {
    const rt = runtimes.get(key(row.tenant_id, row.name));
    return {
      id: row.id, name: row.name, model: row.model, version: row.version, replicas: row.replicas,
      resources: { cpu: Number(row.cpu), memoryMiB: row.memory_mib }, maxConcurrency: row.max_concurrency,
      image: row.image ?? null, imageDigest: row.image_digest ?? null,
      ...statusOf(rt),
      endpoint: `/v2/models/${row.name}`,
      createdAt: toIso(row.created_at), updatedAt: toIso(row.updated_at),
    };
  };

  const findRow = async (tx: Queryable, name: string, lock = false): Promise<Row | undefined> =>
    (await tx.query<Row>(`SELECT * FROM deployments WHERE name = $1${lock ? ' FOR UPDATE' : ''}`, [name])).rows[0];

  const audit = (tx: Queryable, ctx: RequestContext, tenantId: string, action: string, name: string, details: Record<string, unknown>) =>
    appendAuditEvent(tx, { tenantId, actor: ctx.actor, action, target: `deployment:${name}`, outcome: 'success', requestId: ctx.requestId, details });

  const checkQuota = async (tenantId: string, spec: Spec): Promise<void> => {
    const { limits } = await deps.tenantInfo(tenantId);
    if (spec.cpu * spec.replicas > limits.cpu || spec.memoryMiB * spec.replicas > limits.memoryMiB) {
      throw new AppError('QUOTA_EXCEEDED', `${spec.replicas} replica(s) of ${spec.cpu} CPU / ${spec.memoryMiB} MiB exceed the tenant's quota of ${limits.cpu} CPU / ${limits.memoryMiB} MiB`);
    }
  };

  const newRuntime = (tenantId: string, id: string, name: string, tier: IsolationTier, maxConcurrency: number): Runtime => ({
    tenantId, id, name, tier, active: undefined, rolling: false, error: undefined,
    gate: createConcurrencyGate({ maxConcurrency, maxQueue: queueBoundOf(maxConcurrency) }),
    pendingLogs: [], logWrites: Promise.resolve(), deleted: false, chain: Promise.resolve(),
  });

  const pick = (rt: Runtime): ServingTarget | undefined => rt.active?.pick();

  /** Starts a runtime for each stored deployment that has none in this process. Returns how many started. */
  const startStored = async (rows: readonly Row[]): Promise<number> => {
    let started = 0;
    for (const row of rows) {
      if (runtimes.has(key(row.tenant_id, row.name))) continue;
      const info = await deps.tenantInfo(row.tenant_id).catch(() => undefined);
      if (info === undefined) continue;
      const rt = newRuntime(row.tenant_id, row.id, row.name, info.tier, row.max_concurrency);
      runtimes.set(key(row.tenant_id, row.name), rt);
      void rollOut(rt, specOf(row));
      started += 1;
    }
    return started;
  };

  const oipError = (status: number, message: string, retryAfterSeconds?: number): InvokeResult =>
    ({ status, body: JSON.stringify({ error: message }), ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });

  return {
    async create(ctx, tenantId, input) {
      const info = await deps.tenantInfo(tenantId);
      // The image is resolved once, here (another tenant's private image is NOT_FOUND): the workers run
      // that digest for the deployment's life, however the tag moves.
      let imageDigest: string | undefined;
      if (input.image !== undefined) {
        if (info.tier === 'process') throw new AppError('VALIDATION_FAILED', "the process tier runs on the host's filesystem and cannot serve on an image");
        if (deps.resolveImage === undefined) throw new AppError('NOT_IMPLEMENTED', 'deployments on images are not available here');
        imageDigest = (await deps.resolveImage(tenantId, input.image)).digest;
      }
      const spec: Spec = {
        model: input.model, version: input.version, replicas: input.replicas, cpu: input.resources.cpu, memoryMiB: input.resources.memoryMiB, maxConcurrency: input.maxConcurrency,
        ...(imageDigest === undefined ? {} : { imageDigest }),
      };
      await checkQuota(tenantId, spec);
      const id = randomUUID();
      const row = await withTenant(deps.db, tenantId, async (tx) => {
        if (await findRow(tx, input.name)) throw deploymentErrors.exists(input.name);
        const inserted = await tx.query<Row>(
          `INSERT INTO deployments (tenant_id, id, name, model, version, replicas, cpu, memory_mib, max_concurrency, created_by, image, image_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING *`,
          [tenantId, id, input.name, spec.model, spec.version, spec.replicas, spec.cpu, spec.memoryMiB, spec.maxConcurrency, ctx.actor, input.image ?? null, imageDigest ?? null],
        );
        const created = inserted.rows[0];
        if (created === undefined) throw deploymentErrors.exists(input.name);
        await audit(tx, ctx, tenantId, 'deployment.create', input.name, {
          model: spec.model, version: spec.version, replicas: spec.replicas, ...(imageDigest === undefined ? {} : { image: input.image, imageDigest }),
        });
        return created;
      });
      const rt = newRuntime(tenantId, id, input.name, info.tier, spec.maxConcurrency);
      runtimes.set(key(tenantId, input.name), rt);
      void rollOut(rt, spec);
      return view(row);
    },

    async list(tenantId) {
      const rows = await withTenant(deps.db, tenantId, async (tx) => (await tx.query<Row>('SELECT * FROM deployments ORDER BY name')).rows, { readOnly: true });
      return rows.map(view);
    },

    async get(tenantId, name) {
      const row = await withTenant(deps.db, tenantId, (tx) => findRow(tx, name), { readOnly: true });
      if (row === undefined) throw deploymentErrors.notFound(name);
      return view(row);
    },

    async update(ctx, tenantId, name, input) {
      // Quota first, outside the transaction: PGlite has one connection, so a nested read would wait forever.
      const { limits } = await deps.tenantInfo(tenantId);
      const { row, before } = await withTenant(deps.db, tenantId, async (tx) => {
        const current = await findRow(tx, name, true);
        if (current === undefined) throw deploymentErrors.notFound(name);
        const next: Spec = {
          ...specOf(current),
          ...(input.version === undefined ? {} : { version: input.version }),
          ...(input.replicas === undefined ? {} : { replicas: input.replicas }),
          ...(input.resources?.cpu === undefined ? {} : { cpu: input.resources.cpu }),
          ...(input.resources?.memoryMiB === undefined ? {} : { memoryMiB: input.resources.memoryMiB }),
          ...(input.maxConcurrency === undefined ? {} : { maxConcurrency: input.maxConcurrency }),
        };
        if (next.cpu * next.replicas > limits.cpu || next.memoryMiB * next.replicas > limits.memoryMiB) {
          throw new AppError('QUOTA_EXCEEDED', `${next.replicas} replica(s) of ${next.cpu} CPU / ${next.memoryMiB} MiB exceed the tenant's quota of ${limits.cpu} CPU / ${limits.memoryMiB} MiB`);
        }
        const updated = await tx.query<Row>(
          `UPDATE deployments SET version = $2, replicas = $3, cpu = $4, memory_mib = $5, max_concurrency = $6, updated_at = now()
           WHERE id = $1 RETURNING *`,
          [current.id, next.version, next.replicas, next.cpu, next.memoryMiB, next.maxConcurrency],
        );
        await audit(tx, ctx, tenantId, 'deployment.update', name, { ...input, previousVersion: current.version });
        return { row: updated.rows[0]!, before: specOf(current) };
      });
      const next = specOf(row);
      let rt = runtimes.get(key(tenantId, name));
      if (rt === undefined) {
        rt = newRuntime(tenantId, row.id, name, (await deps.tenantInfo(tenantId)).tier, next.maxConcurrency);
        runtimes.set(key(tenantId, name), rt);
      }
      if (next.version !== before.version || next.cpu !== before.cpu || next.memoryMiB !== before.memoryMiB || rt.active === undefined) {
        rt.gate.resize(next.maxConcurrency, queueBoundOf(next.maxConcurrency));
        void rollOut(rt, next);
        rt.rolling = rt.active !== undefined;
      } else if (next.replicas !== before.replicas || next.maxConcurrency !== before.maxConcurrency) {
        void scale(rt, next.replicas, next.maxConcurrency);
      }
      return view(row);
    },

    async remove(ctx, tenantId, name) {
      await withTenant(deps.db, tenantId, async (tx) => {
        const deleted = await tx.query('DELETE FROM deployments WHERE name = $1 RETURNING id', [name]);
        if (deleted.rows.length === 0) throw deploymentErrors.notFound(name);
        await audit(tx, ctx, tenantId, 'deployment.delete', name, {});
      });
      const rt = runtimes.get(key(tenantId, name));
      if (rt === undefined) return;
      rt.deleted = true;
      runtimes.delete(key(tenantId, name));
      const active = rt.active;
      rt.active = undefined;
      await enqueue(rt, () => stopGeneration(active));
    },

    async logs(tenantId, name) {
      const view = await this.get(tenantId, name); // NOT_FOUND for other tenants' and missing deployments alike
      const rt = runtimes.get(key(tenantId, name));
      if (rt !== undefined) await flushLogs(rt);
      const { rows } = await withTenant(deps.db, tenantId, (tx) => tx.query<{ line: string; logged_at: Date | string }>(
        `SELECT line, logged_at FROM (SELECT seq, line, logged_at FROM deployment_logs WHERE deployment_id = $1 ORDER BY seq DESC LIMIT ${MAX_LOG_LINES}) newest ORDER BY seq`,
        [view.id],
      ), { readOnly: true });
      return rows.map((row) => `${toIso(row.logged_at)} ${row.line}`);
    },

    async invoke(tenantId, name, version, call, body) {
      const rt = runtimes.get(key(tenantId, name));
      if (rt === undefined || rt.deleted) return oipError(404, `model ${name} not found`);
      const active = rt.active;
      if (version !== undefined && active?.spec.version !== version) {
        return oipError(404, `model ${name} version ${version} is not deployed`);
      }
      if (call === 'ready') return { status: pick(rt) === undefined ? 400 : 200, body: '' };
      const gate = await rt.gate.acquire();
      if (!gate.admitted) return oipError(429, `model ${name} is at its concurrency limit; retry later`, Math.ceil(gate.retryAfterMs / 1000));
      try {
        const replica = pick(rt);
        if (replica === undefined) return oipError(503, `model ${name} has no ready replica`, 1);
        replica.inFlight += 1;
        try {
          const response = call === 'metadata'
            ? await replica.client.call('GET', '/v2/models/model')
            : await replica.client.call('POST', '/v2/models/model/infer', body ?? Buffer.alloc(0));
          return { status: response.status, body: response.body };
        } catch {
          return oipError(503, `model ${name}: the replica did not answer`, 1);
        } finally {
          replica.inFlight -= 1;
        }
      } finally {
        gate.release();
      }
    },

    tenantReady(tenantId) {
      for (const rt of runtimes.values()) if (rt.tenantId === tenantId && pick(rt) !== undefined) return true;
      return false;
    },

    replicaSockets(tenantId, name) {
      return runtimes.get(key(tenantId, name))?.active?.socketPaths() ?? [];
    },

    async pauseTenant(tenantId, note) {
      const paused = [...runtimes.values()].filter((rt) => rt.tenantId === tenantId);
      await Promise.all(paused.map(async (rt) => {
        // Marked deleted so that a rollout or scaling still queued on its chain does nothing.
        rt.deleted = true;
        runtimes.delete(key(tenantId, rt.name));
        const active = rt.active;
        rt.active = undefined;
        if (note !== undefined) log(rt, note);
        await enqueue(rt, () => stopGeneration(active));
        await flushLogs(rt);
      }));
      return paused.length;
    },

    async resumeTenant(tenantId) {
      const rows = await withTenant(deps.db, tenantId, async (tx) => (await tx.query<Row>('SELECT * FROM deployments ORDER BY name')).rows, { readOnly: true });
      return startStored(rows);
    },

    async recover() {
      // Cross-tenant on purpose: the supervisor restarts every active tenant's stored deployments; a
      // suspended tenant's stay stopped until it is resumed.
      const rows = await withSystem(deps.db, async (tx) => (await tx.query<Row>(
        `SELECT d.* FROM deployments d JOIN tenants t ON t.id = d.tenant_id WHERE t.status = 'active'`,
      )).rows, { readOnly: true });
      await startStored(rows);
    },

    async close() {
      deps.backend.shutdown?.();
      clearInterval(logFlushTimer);
      const all = [...runtimes.values()];
      runtimes.clear();
      await Promise.all(all.map(async (rt) => {
        rt.deleted = true;
        await rt.chain;
        await stopGeneration(rt.active);
        await flushLogs(rt);
      }));
      await deps.backend.close();
    },
  };
};
