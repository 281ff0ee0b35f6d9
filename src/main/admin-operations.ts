import { join, resolve } from 'node:path';
import { createImageStore } from '../images/index.ts';
import { createLocalExecutor, deniedSyscallsX8664, describeCgroups, seccompFilterForHost } from '../executors/local/index.ts';
import type { AdminOperations } from '../cli/index.ts';
import type { Config } from '../config/index.ts';
import { AppError, isErrorCode } from '../core/errors.ts';
import { PLATFORM_TENANT_ID, createPostgresDb, detectRlsMode, isUuid, migrate } from '../db/index.ts';
import { createPlatform, embeddedDatabase, openDatabase } from './platform.ts';
import type { Platform } from './platform.ts';
import { findHomeLockHolder, homeLockErrors } from './home-lock.ts';
import type { HomeLockRecord } from './home-lock.ts';
import { describeGpus, jobCapacity } from './job-system.ts';
import { listReplicas } from '../replicas/index.ts';

/**
 * The platform of one admin command: built in `admin` mode (no job runner, scheduler, serving workers or
 * audit sealer: on PostgreSQL it runs beside live servers and returns promptly); on PGlite it takes the
 * home's lock (refused, naming the server, while one runs) and, without `create`, never creates a database.
 */
const withPlatform = async <T>(config: Config, command: string, options: { create: boolean; advice: string }, fn: (platform: Platform) => Promise<T>): Promise<T> => {
  const platform = await createPlatform(config, { mode: 'admin', open: { command, create: options.create, advice: options.advice } });
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
};

/** The live server holding this PGlite home, if any (never on PostgreSQL, where several processes are normal). */
const embeddedHolder = (config: Config): HomeLockRecord | undefined => (config.databaseUrl === undefined ? findHomeLockHolder(config.home) : undefined);

type Verification = { ok: boolean; eventsChecked: number; headSeq: number; problems: Array<{ kind: string; seq: number; message: string }> };

const describeVerification = (result: Verification): string => result.ok
  ? `ok: ${result.eventsChecked} events, chain intact up to event ${result.headSeq}`
  : `TAMPERED: ${result.problems.length} problem(s)\n${result.problems.map((p) => `  event ${p.seq}: ${p.kind}: ${p.message}`).join('\n')}`;

/** GET on the running server's API; API errors come back as AppErrors with the server's code and message. */
const serverGet = async <T>(url: string, path: string, token: string | undefined): Promise<T> => {
  let response: Response;
  try {
    response = await fetch(new URL(path, url), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  } catch (error) {
    throw new AppError('UNAVAILABLE', `the server at ${url} did not answer (${(error as Error).message})`);
  }
  const body = (await response.json().catch(() => undefined)) as { code?: unknown; message?: unknown } | undefined;
  if (response.status >= 300) {
    throw new AppError(isErrorCode(body?.code) ? body.code : 'INTERNAL', `the server at ${url} answered ${response.status}: ${typeof body?.message === 'string' ? body.message : 'no message'}`);
  }
  return body as T;
};

const heldAdvice = {
  write: (what: string) => `Run this while the server is stopped (SIGTERM), or ${what}.`,
  verify: 'Verify through it: `bulkhead audit verify --tenant <slug>` (or --platform) with BULKHEAD_URL and a platform-admin BULKHEAD_TOKEN (or `bulkhead login`); `bulkhead admin verify-audit` does the same when it has a token.',
};

/** The `bulkhead admin` group and `bulkhead doctor`: for bootstrap and recovery. */
/** Asks a running server's /readyz: `ready at URL (database …, row-level security …)` or why not. */
const describeServer = async (url: string): Promise<string> => (await askServer(url)).summary;

/** /readyz of a running server: the one-line summary, and (issue 16) the replica that answered, when it says. */
const askServer = async (url: string): Promise<{ summary: string; replica: string | undefined }> => {
  const ready = await serverGet<{ status: string; database: string; rlsMode: string; replica?: { replicaId: string; role: string; lastHeartbeatAt?: string; liveReplicas: number } }>(url, '/readyz', undefined).catch((error: unknown) => error as Error);
  if (ready instanceof Error) return { summary: `not ready at ${url}: ${ready.message}`, replica: undefined };
  return {
    summary: `${ready.status} at ${url} (database ${ready.database}, row-level security ${ready.rlsMode})`,
    replica: ready.replica === undefined ? undefined : `${ready.replica.replicaId}: ${ready.replica.role} (${ready.replica.liveReplicas} live), last heartbeat ${ready.replica.lastHeartbeatAt ?? 'none yet'}`,
  };
};

export const adminOperations: AdminOperations = {
  async migrate(config) {
    // The one admin command that may create the database: it is how an installation is prepared.
    const { db } = await openDatabase(config, { command: 'bulkhead admin migrate', create: true, advice: 'The server applied every migration when it started; to migrate offline, stop it first.' });
    try {
      return await migrate(db);
    } finally {
      await db.close();
    }
  },
  createPlatformToken: (config, name, options) =>
    withPlatform(config, 'bulkhead admin create-platform-token', { create: options.create, advice: heldAdvice.write('use the API: `bulkhead token create --platform --name <name>` with a platform-admin token') }, async (platform) => {
      const { token } = await platform.identity.createToken({ actor: 'system:admin-cli', requestId: 'admin-cli' }, null, { name, role: 'platform_admin' });
      return token;
    }),
  async verifyAudit(config, ref, options) {
    const holder = embeddedHolder(config);
    if (holder !== undefined) {
      // A server owns this home: opening its database here would corrupt it. Ask the server instead.
      const url = holder.url ?? options.server.url;
      if (url === undefined || options.server.token === undefined) throw homeLockErrors.held(config.home, holder, heldAdvice.verify);
      // By id (also a deleted tenant's, as the deletion's hint prints it) through the platform route.
      const path = ref === 'platform' ? '/api/v1/platform/audit/verify'
        : isUuid(ref) ? `/api/v1/platform/audit/tenants/${ref}/verify` : `/api/v1/tenants/${encodeURIComponent(ref)}/audit/verify`;
      const result = await serverGet<Verification>(url, path, options.server.token);
      return { ok: result.ok, text: `${describeVerification(result)} (verified by the server at ${url}, pid ${holder.pid})` };
    }
    return withPlatform(config, 'bulkhead admin verify-audit', { create: options.create, advice: heldAdvice.verify }, async (platform) => {
      let tenantId = PLATFORM_TENANT_ID;
      let deleted = false;
      if (ref !== 'platform') {
        const tenant = await platform.tenants.find(ref);
        // A deleted tenant's chain is kept: it is verified by the tenant's id.
        if (tenant === undefined && !isUuid(ref)) return { ok: false, text: `tenant '${ref}' not found` };
        tenantId = tenant?.id ?? ref;
        deleted = tenant === undefined;
      }
      const result = await platform.audit.verify(tenantId);
      if (deleted && result.eventsChecked === 0) return { ok: false, text: `tenant '${ref}' not found, and no audit events of a deleted tenant with that id` };
      return { ok: result.ok, text: describeVerification(result) };
    });
  },
  setPassword: (config, username, password, options) =>
    withPlatform(config, 'bulkhead admin set-password', { create: options.create, advice: 'Stop the server first (SIGTERM), then run it again.' }, (platform) =>
      platform.identity.setPassword({ actor: 'system:admin-cli', requestId: 'admin-cli' }, username, password)),
  /**
   * Read-only, and never opens an embedded database: PGlite's mode is known without it, and a running
   * server is asked through its API (/readyz). On PostgreSQL it connects only to read the login's mode.
   */
  async doctor(config, options) {
    const lines: string[] = [];
    // The running installation the user points at (BULKHEAD_URL or a saved login) first: from any shell,
    // doctor then reports the server's mode rather than only what this shell's BULKHEAD_HOME holds.
    if (options.server.url !== undefined) {
      const answer = await askServer(options.server.url);
      lines.push(`server: ${answer.summary}`);
      if (answer.replica !== undefined) lines.push(`server replica: ${answer.replica}`);
    }
    if (config.databaseUrl === undefined) {
      const { dir, exists } = embeddedDatabase(config.home);
      const holder = findHomeLockHolder(config.home);
      if (!exists) {
        lines.push(`database: none — no embedded database in ${resolve(dir)} (BULKHEAD_HOME=${resolve(config.home)}); \`bulkhead up\` or \`bulkhead admin migrate\` creates one, nothing was created now`);
      } else if (holder === undefined) {
        lines.push(`database: pglite (${resolve(dir)}; no server holds it)`);
      } else {
        const url = holder.url ?? options.server.url;
        let answer = 'not asked: it has not recorded its URL yet; set BULKHEAD_URL';
        if (url !== undefined) answer = await describeServer(url);
        lines.push(`database: pglite (${resolve(dir)}; in use by process ${holder.pid}, ${holder.command}: ${answer})`);
      }
      lines.push('row-level security: guarded (stops application bugs; the session user could leave the app role — use PostgreSQL with a non-owner, non-superuser login for the enforced mode)');
    } else {
      const db = createPostgresDb({ connectionString: config.databaseUrl, maxConnections: 1 });
      try {
        const rlsMode = await detectRlsMode(db);
        lines.push('database: postgres');
        lines.push(`row-level security: ${rlsMode}${rlsMode === 'guarded' ? ' (the login role owns tables or may bypass RLS — use a non-owner, non-superuser login for the enforced mode)' : ' (the login role can neither own tables nor bypass RLS)'}`);
        // The replicas sharing this database (issue 16): who leads, and each one's last heartbeat.
        const replicas = await listReplicas(db).catch(() => undefined);
        if (replicas === undefined) lines.push('replicas: unknown (no replica table: the schema predates migration 0020)');
        else if (replicas.length === 0) lines.push('replicas: none running');
        for (const replica of replicas ?? []) {
          lines.push(`replica ${replica.replicaId}: ${replica.leader ? 'leader' : 'follower'}${replica.url === undefined ? '' : ` at ${replica.url}`}, last heartbeat ${replica.heartbeatAt}`);
        }
      } finally {
        await db.close();
      }
    }
    const probe = await createLocalExecutor({ relayPort: config.relayPort, cgroupPrefix: config.cgroupPrefix }).probe();
    lines.push(`cgroups: ${describeCgroups(probe.cgroup)}`);
    for (const [tier, state] of Object.entries(probe.tiers)) {
      lines.push(`tier ${tier}: ${state.available ? 'available' : `unavailable (missing ${state.missing.join(', ')}) — ${state.install}`}`);
    }
    lines.push(seccompFilterForHost() === undefined
      ? `seccomp: no filter for this architecture (${process.arch}); sandboxed jobs run without one`
      : `seccomp: sandboxed jobs run under a filter refusing ${Object.keys(deniedSyscallsX8664).length} syscalls and namespace-creating clones`);
    // The OCI image store (issue 17): what it holds on this host's disk, and where pulls may come from.
    const images = await createImageStore(join(config.home, 'images')).stats();
    lines.push(`images: ${images.rootfsCount} unpacked (${images.rootfsBytes} bytes), ${images.blobCount} blobs (${images.blobBytes} bytes) in ${resolve(config.home, 'images')}`
      + (images.stagingEntries === 0 ? '' : `; ${images.stagingEntries} staging entries (an interrupted import or pull: the next start sweeps them)`));
    const registries = Object.keys(config.imageRegistries);
    lines.push(`image registries: ${registries.length === 0 ? 'none configured (BULKHEAD_IMAGE_REGISTRIES): images come only from imports' : registries.join(', ')}`);
    const capacity = jobCapacity(config);
    lines.push(`job capacity: ${capacity.cpu} CPU, ${capacity.memoryMiB} MiB memory, ${capacity.gpu} GPU`);
    lines.push(...describeGpus(config));
    return lines.join('\n');
  },
};

