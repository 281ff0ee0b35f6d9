import { deniedSyscallsX8664, seccompFilterForHost } from '../executors/local/seccomp.ts';
import type { AdminOperations } from '../cli/index.ts';
import type { Config } from '../config/index.ts';
import { PLATFORM_TENANT_ID, isUuid, migrate } from '../db/index.ts';
import { createPlatform, openDatabase } from './platform.ts';
import type { Platform } from './platform.ts';

const withPlatform = async <T>(config: Config, fn: (platform: Platform) => Promise<T>): Promise<T> => {
  const platform = await createPlatform(config);
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
};

/** The offline `bulkhead admin` group: straight to the database, for bootstrap and recovery. */
export const adminOperations: AdminOperations = {
  async migrate(config) {
    const db = await openDatabase(config);
    try {
      return await migrate(db);
    } finally {
      await db.close();
    }
  },
  createPlatformToken: (config, name) =>
    withPlatform(config, async (platform) => {
      const { token } = await platform.identity.createToken({ actor: 'system:admin-cli', requestId: 'admin-cli' }, null, { name, role: 'platform_admin' });
      return token;
    }),
  verifyAudit: (config, ref) =>
    withPlatform(config, async (platform) => {
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
      const text = result.ok
        ? `ok: ${result.eventsChecked} events, chain intact up to event ${result.headSeq}`
        : `TAMPERED: ${result.problems.length} problem(s)\n${result.problems.map((p) => `  event ${p.seq}: ${p.kind}: ${p.message}`).join('\n')}`;
      return { ok: result.ok, text };
    }),
  setPassword: (config, username, password) =>
    withPlatform(config, (platform) => platform.identity.setPassword({ actor: 'system:admin-cli', requestId: 'admin-cli' }, username, password)),
  doctor: (config) =>
    withPlatform(config, async (platform) => {
      const lines = [
        `database: ${platform.db.kind}${platform.db.kind === 'pglite' ? ` (${config.home}/db)` : ''}`,
        `row-level security: ${platform.rlsMode}${platform.rlsMode === 'guarded' ? ' (stops application bugs; the session user could leave the app role — use PostgreSQL with a non-owner, non-superuser login for the enforced mode)' : ' (the login role can neither own tables nor bypass RLS)'}`,
      ];
      const probe = await platform.jobs.runner.hostProbe();
      lines.push(`cgroups: ${probe.cgroup === undefined ? 'none writable' : `${probe.cgroup.version} at ${probe.cgroup.root} (${probe.cgroup.controllers.join(', ')})`}`);
      for (const [tier, state] of Object.entries(probe.tiers)) {
        lines.push(`tier ${tier}: ${state.available ? 'available' : `unavailable (missing ${state.missing.join(', ')}) — ${state.install}`}`);
      }
      lines.push(seccompFilterForHost() === undefined
        ? `seccomp: no filter for this architecture (${process.arch}); sandboxed jobs run without one`
        : `seccomp: sandboxed jobs run under a filter refusing ${Object.keys(deniedSyscallsX8664).length} syscalls and namespace-creating clones`);
      const capacity = platform.jobs.runner.capacity();
      lines.push(`job capacity: ${capacity.cpu} CPU, ${capacity.memoryMiB} MiB memory, ${capacity.gpu} GPU`);
      return lines.join('\n');
    }),
};
