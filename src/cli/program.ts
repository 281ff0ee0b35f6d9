import { Command, Option } from 'commander';
import { AppError, isAppError } from '../core/errors.ts';
import { loadCliSettings, loadConfig, saveCliSettings } from '../config/index.ts';
import type { Config } from '../config/index.ts';
import { isolationTiers, tenantRoles } from '../contract/roles.ts';
import { createApiClient } from './api-client.ts';
import type { ApiClient } from './api-client.ts';
import { loopbackSignIn, withSsoRefresh } from './sso-login.ts';
import type { SsoSession } from './sso-login.ts';
import { keyValues, table } from './output.ts';
import { describeDeletionPlan, describeDeletionSummary } from './tenant-deletion-output.ts';
import type { DeletionPlan, DeletionSummary } from './tenant-deletion-output.ts';
import { registerKubernetesCommands } from './kubernetes-commands.ts';
import { registerJobCommands } from './job-commands.ts';
import { registerImageCommands } from './image-commands.ts';
import { registerDeployCommands } from './deploy-commands.ts';
import { registerTrackingCommands } from './tracking-commands.ts';
import { registerDataCommands } from './data-commands.ts';
import { registerLineageCommands } from './lineage-commands.ts';
import { registerUsageCommands } from './usage-commands.ts';
import { registerAlertCommands } from './alert-commands.ts';
import { registerVerifyCommands } from './verify-commands.ts';
import { registerOrgCommands, registerTenantTreeCommand } from './org-commands.ts';
import type { CliIo } from './output.ts';

/** What a command module gets: the API client, printing, and path helpers. */
export interface CommandContext {
  io: CliIo;
  client(): ApiClient;
  print(value: unknown, human: () => string): void;
  tenantPath(tenant: string): string;
  /**
   * The tenant a command acts for: `--tenant` when given, else the tenant of the token (asked of
   * `/api/v1/me`). A platform-admin token belongs to no tenant: VALIDATION_FAILED asking for --tenant.
   */
  resolveTenant(flag: string | undefined): Promise<string>;
  json(): boolean;
  settings(): { url: string | undefined; token: string | undefined; tokenSource?: string | undefined };
  /** The process environment the CLI was started with. */
  env: Readonly<Record<string, string | undefined>>;
  /** `bulkhead k8s apply`'s reconciler, when the executable wired one. */
  applyKubernetesBundle?: ApplyKubernetesBundle | undefined;
}

/** Command modules of the domain services (tracking, datasets, jobs, ...), each adding its commands. */
const commandModules: Array<(program: Command, ctx: CommandContext) => void> = [registerKubernetesCommands, registerJobCommands, registerImageCommands, registerTrackingCommands, registerDataCommands, registerDeployCommands, registerLineageCommands, registerUsageCommands, registerAlertCommands, registerVerifyCommands, registerOrgCommands];

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface CliDeps {
  io: CliIo;
  env: Readonly<Record<string, string | undefined>>;
  /** Starts the server (`bulkhead up`). Injected so the CLI module does not import the server. */
  runServer(config: Config): Promise<void>;
  /** The offline admin group works on the database directly. */
  admin: AdminOperations;
  /**
   * Runs the OIP model worker listening on TCP until it ends (`bulkhead serve-model`, the server container
   * of a cluster endpoint's pod); resolves to its exit code. Injected, like `runServer`.
   */
  serveModel?(options: ServeModelOptions): Promise<number>;
  /**
   * Reconciles rendered bundle objects into the cluster of the local kubeconfig (`bulkhead k8s apply`).
   * Injected, like `runServer`, so the CLI does not import the Kubernetes executor.
   */
  applyKubernetesBundle?: ApplyKubernetesBundle;
}

export type ApplyKubernetesBundle = (objects: unknown[], target: { tenantId: string; namespace: string; dryRun: boolean }) => Promise<unknown>;

export interface ServeModelOptions {
  model: string;
  host: string;
  port: number;
  name: string;
  version: string;
}

/** The API the CLI would talk to (`--url/--token`, BULKHEAD_URL/BULKHEAD_TOKEN, or the saved login). */
export interface AdminServer {
  url: string | undefined;
  token: string | undefined;
}

/**
 * Offline operations on the database itself. On an embedded (PGlite) home they take the home's lock, so
 * with a server running they are refused (naming it) — except the read-only ones, which ask that server
 * instead. Without `create` they refuse a home that has no database rather than create an empty one.
 */
export interface AdminOperations {
  migrate(config: Config): Promise<number[]>;
  createPlatformToken(config: Config, name: string, options: { create: boolean }): Promise<string>;
  verifyAudit(config: Config, tenant: string, options: { create: boolean; server: AdminServer }): Promise<{ ok: boolean; text: string }>;
  setPassword(config: Config, username: string, password: string, options: { create: boolean }): Promise<void>;
  doctor(config: Config, options: { server: AdminServer }): Promise<string>;
}

const parseDuration = (value: string): number => {
  const match = /^(\d+)([smhd])$/.exec(value);
  if (match === null) throw new AppError('VALIDATION_FAILED', `invalid duration '${value}': use e.g. 90m, 12h, 30d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
};

/**
 * A lending limit flag: an amount, or 'all' (no limit: the tenant lends all its unused guarantee; sent as
 * null — commander keeps the raw string when a parser returns null, so 'all' stays a string until then).
 */
const lendingArg = (value: string): number | 'all' => {
  if (value === 'all') return 'all';
  const amount = Number(value);
  if (value.trim() === '' || !Number.isFinite(amount) || amount < 0) throw new AppError('VALIDATION_FAILED', `invalid lending limit '${value}': a number >= 0 or 'all'`);
  return amount;
};

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
};

/**
 * Builds the `bulkhead` command. Every command but `up` and `admin ...` talks to the API over HTTP, with
 * the URL and token from `--url/--token`, `BULKHEAD_URL/BULKHEAD_TOKEN`, or the file `bulkhead login`
 * wrote. Errors print `error [CODE]: message` and set a non-zero exit code.
 */
export const buildProgram = (deps: CliDeps): Command => {
  const { io } = deps;
  const program = new Command('bulkhead')
    .description('Bulkhead: a multi-tenant MLOps platform. Tracking, jobs and serving for many teams on one installation.')
    .option('--url <url>', 'API URL (env BULKHEAD_URL, or saved by `bulkhead login`)')
    .option('--token <token>', 'API token (env BULKHEAD_TOKEN, or saved by `bulkhead login`)')
    .option('--json', 'print machine-readable JSON')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError()
    .exitOverride();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  // `ctx` (below) is what command modules of the domain services get: see CommandContext.
  const ssoRefresh = { refreshed: false };
  const client = (): ApiClient => {
    const settings = loadCliSettings({ url: globals().url, token: globals().token }, deps.env);
    if (settings.url === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL: pass --url, set BULKHEAD_URL, or run `bulkhead login`');
    if (settings.token === undefined) throw new AppError('UNAUTHENTICATED', 'no token: pass --token, set BULKHEAD_TOKEN, or run `bulkhead login`');
    // A saved single sign-on login: an expired session is renewed once with its refresh token (issue 14).
    const refreshToken = settings.tokenSource === 'saved login' && settings.saved.url === settings.url ? settings.saved.ssoRefreshToken : undefined;
    if (refreshToken !== undefined) {
      return withSsoRefresh({ url: settings.url, token: settings.token, refreshToken, tenant: settings.saved.tenant, file: settings.file, state: ssoRefresh, note: (text) => io.err(`${text}\n`) });
    }
    return createApiClient({ url: settings.url, token: settings.token });
  };
  const print = (value: unknown, human: () => string): void => io.out(globals().json === true ? JSON.stringify(value, null, 2) : human());
  const tenantPath = (tenant: string) => `/api/v1/tenants/${encodeURIComponent(tenant)}`;
  const resolveTenant = async (flag: string | undefined): Promise<string> => {
    if (flag !== undefined) return flag;
    const me = await client().request<{ tenant?: { slug?: string } }>('GET', '/api/v1/me');
    if (me.tenant?.slug === undefined) throw new AppError('VALIDATION_FAILED', 'pass --tenant <slug> (this token belongs to no tenant)');
    return me.tenant.slug;
  };
  const ctx: CommandContext = { io, client, print, tenantPath, resolveTenant, json: () => globals().json === true, settings: () => loadCliSettings({ url: globals().url, token: globals().token }, deps.env), env: deps.env, applyKubernetesBundle: deps.applyKubernetesBundle };
  for (const register of commandModules) register(program, ctx);

  program
    .command('up')
    .description('start the Bulkhead server (embedded PGlite under $BULKHEAD_HOME unless BULKHEAD_DATABASE_URL is set)')
    .option('--host <host>', 'listen address (BULKHEAD_HOST, default 127.0.0.1)')
    .option('--port <port>', 'listen port (BULKHEAD_PORT, default 8080)')
    .option('--home <dir>', 'data directory (BULKHEAD_HOME, default ./.bulkhead)')
    .action(async (options: { host?: string; port?: string; home?: string }) => {
      await deps.runServer(loadConfig(deps.env, { host: options.host, port: options.port, home: options.home }));
    });

  program
    .command('serve-model')
    .description("run a model's Open Inference Protocol v2 server on TCP (what a cluster endpoint's server container runs)")
    .requiredOption('--model <file>', 'the ONNX model file')
    .requiredOption('--port <port>', 'listen port (0: any free port, printed in the ready line)')
    .option('--host <host>', 'listen address (loopback by default; a pod passes 0.0.0.0 so its Service reaches it)', '127.0.0.1')
    .requiredOption('--name <name>', 'the deployment name the server reports')
    .requiredOption('--version <version>', 'the model version the server reports')
    .action(async (options: { model: string; port: string; host: string; name: string; version: string }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AppError('VALIDATION_FAILED', `invalid port '${options.port}'`);
      if (deps.serveModel === undefined) throw new AppError('UNAVAILABLE', 'serve-model is not available in this build of the CLI');
      const code = await deps.serveModel({ model: options.model, host: options.host, port, name: options.name, version: options.version });
      if (code !== 0) throw new AppError('INTERNAL', `the model server exited with code ${code}`);
    });

  program
    .command('login')
    .description('save the API URL (--url) and a token (--token, or a username + password exchanged for a session token) for later commands')
    .option('--username <name>', 'log in with a password (read from stdin) instead of a token')
    .option('--tenant <slug>', 'tenant to log in to (omit for a platform-admin session)')
    .option('--sso', "single sign-on with the platform's identity provider: the device authorization grant (prints a URL and a code), or, where the IdP has none, a browser redirect to this machine's loopback (prints a URL to open)")
    .option('--refresh', 'renew the saved single sign-on session with its refresh token (your groups are read again)')
    .action(async (options: { username?: string; tenant?: string; sso?: boolean; refresh?: boolean }) => {
      const settings = loadCliSettings({ url: globals().url, token: globals().token }, deps.env);
      if (settings.url === undefined) throw new AppError('VALIDATION_FAILED', 'pass --url, e.g. --url http://127.0.0.1:8080');
      const url = settings.url;
      if (options.refresh === true) {
        const saved = settings.saved;
        if (saved.ssoRefreshToken === undefined) throw new AppError('VALIDATION_FAILED', 'no single sign-on session is saved: run `bulkhead login --sso`');
        const tenant = options.tenant ?? saved.tenant;
        const renewed = await createApiClient({ url, token: undefined }).request<{ token: string; refreshToken?: string; actor: string; role: string; tenant: string | null }>('POST', '/api/v1/auth/oidc/refresh', { refreshToken: saved.ssoRefreshToken, ...(tenant === undefined ? {} : { tenant }) });
        saveCliSettings(settings.file, { url, token: renewed.token, ssoRefreshToken: renewed.refreshToken ?? saved.ssoRefreshToken, ...(renewed.tenant === null ? {} : { tenant: renewed.tenant }) });
        io.out(`signed in as ${renewed.actor} (${renewed.role}${renewed.tenant === null ? '' : ` in ${renewed.tenant}`}); saved to ${settings.file}`);
        return;
      }
      if (options.sso === true) {
        // RFC 8628: the person approves in a browser; this polls at the IdP's interval. What is saved is a
        // short-lived session token and the IdP's refresh token (`bulkhead login --refresh` renews it,
        // re-reading the person's groups), never a long-lived Bulkhead secret.
        const api = createApiClient({ url, token: undefined });
        let started: { deviceCode: string; userCode: string; verificationUri: string; verificationUriComplete?: string; interval: number; expiresIn: number };
        try {
          started = await api.request('POST', '/api/v1/auth/oidc/device');
        } catch (error) {
          // No device endpoint at the IdP: the code flow with PKCE and a loopback redirect (RFC 8252).
          if (!isAppError(error) || error.code !== 'NOT_IMPLEMENTED') throw error;
          const session: SsoSession = await loopbackSignIn({ url, tenant: options.tenant, out: (text) => io.out(text) });
          saveCliSettings(settings.file, { url, token: session.token, ...(session.refreshToken === undefined ? {} : { ssoRefreshToken: session.refreshToken }), ...(session.tenant === null ? {} : { tenant: session.tenant }) });
          io.out(`signed in as ${session.actor} (${session.role}${session.tenant === null ? '' : ` in ${session.tenant}`}); saved to ${settings.file}\n`);
          return;
        }
        io.out(`open ${started.verificationUriComplete ?? started.verificationUri} and enter the code ${started.userCode}\n`);
        let interval = Math.max(1, started.interval);
        const deadline = Date.now() + started.expiresIn * 1000;
        for (;;) {
          if (Date.now() > deadline) throw new AppError('UNAUTHENTICATED', 'the sign-in code expired before it was approved: run `bulkhead login --sso` again');
          await new Promise((resolve) => setTimeout(resolve, interval * 1000));
          const polled = await api.request<{ status: string; token?: string; refreshToken?: string; actor?: string; role?: string; tenant?: string | null }>('POST', '/api/v1/auth/oidc/device/token', { deviceCode: started.deviceCode, ...(options.tenant === undefined ? {} : { tenant: options.tenant }) });
          if (polled.status === 'slow_down') interval += 5;
          if (polled.status !== 'signed_in' || polled.token === undefined) continue;
          saveCliSettings(settings.file, { url, token: polled.token, ...(polled.refreshToken === undefined ? {} : { ssoRefreshToken: polled.refreshToken }), ...(polled.tenant == null ? {} : { tenant: polled.tenant }) });
          io.out(`signed in as ${polled.actor ?? '?'} (${polled.role ?? '?'}${polled.tenant == null ? '' : ` in ${polled.tenant}`}); saved to ${settings.file}\n`);
          return;
        }
      }
      let token = settings.token;
      if (options.username !== undefined) {
        const password = await readStdin();
        const created = await createApiClient({ url, token: undefined }).request<{ token: string }>('POST', '/api/v1/auth/login', {
          username: options.username, password, ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
        });
        token = created.token;
      }
      if (token === undefined) throw new AppError('VALIDATION_FAILED', 'pass --token (or BULKHEAD_TOKEN), or --username with the password on stdin');
      const me = await createApiClient({ url, token }).request<{ actor: string; role: string }>('GET', '/api/v1/me');
      saveCliSettings(settings.file, { url, token });
      io.out(`logged in as ${me.actor} (${me.role}); saved to ${settings.file}`);
      // The environment outranks the saved login: say so, or the next command acts as someone else.
      const shadowing = deps.env['BULKHEAD_TOKEN'];
      if (shadowing !== undefined && shadowing !== token) {
        io.err('note: BULKHEAD_TOKEN is set in this shell and wins over the saved login; run `unset BULKHEAD_TOKEN` to use it');
      }
    });

  program.command('whoami').description('show who the current token belongs to, and where it came from (--token, BULKHEAD_TOKEN, or the saved login; in that order)').action(async () => {
    const me = await client().request<Record<string, unknown>>('GET', '/api/v1/me');
    const source = ctx.settings().tokenSource;
    print(me, () => keyValues({ actor: me['actor'], kind: me['kind'], role: me['role'], tenant: (me['tenant'] as { slug?: string } | undefined)?.slug, 'token from': source }));
  });

  const tenant = program.command('tenant').description('manage tenants (create/suspend/delete need a platform-admin token)');
  tenant
    .command('create <slug>')
    .description('create a tenant')
    .requiredOption('--name <name>', 'display name')
    .addOption(new Option('--tier <tier>', 'isolation tier').choices([...isolationTiers]).default('sandbox'))
    .option('--parent <slug>', 'the organization node this tenant belongs to (at most 4 levels); its nominal cpu/memory/gpu start at 0')
    .action(async (slug: string, options: { name: string; tier: string; parent?: string }) => {
      const created = await client().request<Record<string, unknown>>('POST', '/api/v1/tenants', { slug, name: options.name, tier: options.tier, ...(options.parent === undefined ? {} : { parent: options.parent }) });
      print(created, () => keyValues(created));
    });
  tenant.command('list').description('list tenants').action(async () => {
    const { tenants } = await client().request<{ tenants: Array<Record<string, unknown>> }>('GET', '/api/v1/tenants');
    print(tenants, () => table(tenants, ['slug', 'name', 'tier', 'status', 'id']));
  });
  registerTenantTreeCommand(tenant, ctx);
  tenant.command('show <slug>').description('show one tenant').action(async (slug: string) => {
    const shown = await client().request<Record<string, unknown>>('GET', tenantPath(slug));
    print(shown, () => keyValues(shown));
  });
  for (const [name, status] of [['suspend', 'suspended'], ['resume', 'active']] as const) {
    tenant.command(`${name} <slug>`).description(name === 'suspend'
      ? "stop a tenant at once: every token of it is refused (API, MLflow, inference, job and endpoint tokens), its running jobs are cancelled, its deployments stopped (queued jobs wait); platform admins can still read it"
      : 'let a suspended tenant in again: its tokens work again, its deployments start again, its queued jobs run').action(async (slug: string) => {
      const updated = await client().request<Record<string, unknown>>('PATCH', tenantPath(slug), { status });
      print(updated, () => `${slug}: ${String(updated['status'])}`);
    });
  }
  tenant
    .command('delete <slug>')
    .description('delete a suspended tenant and everything it owns: jobs (cancelled), deployments (stopped), tracking data, datasets, artifacts and their encryption key, members\' access, tokens, its Kubernetes namespace; the audit log is kept. Without --yes, shows what would be deleted. Run again to finish an interrupted deletion')
    .option('--yes', 'really delete; there is no undo')
    .action(async (slug: string, options: { yes?: boolean }) => {
      if (options.yes !== true) {
        const plan = await client().request<DeletionPlan>('GET', `${tenantPath(slug)}/deletion-plan`);
        // Showing the plan is what was asked: exit 0. The last line says how to go on.
        print(plan, () => `${describeDeletionPlan(plan)}\n\nnothing deleted: run again with --yes to delete tenant '${slug}' and everything listed above`);
        return;
      }
      const summary = await client().request<DeletionSummary>('DELETE', `${tenantPath(slug)}?confirm=${encodeURIComponent(slug)}`);
      print(summary, () => describeDeletionSummary(summary));
    });
  const quota = tenant.command('quota').description("show or change a tenant's quota");
  quota.command('show <slug>').description('show the quota').action(async (slug: string) => {
    const shown = await client().request<Record<string, unknown>>('GET', `${tenantPath(slug)}/quota`);
    print(shown, () => keyValues(shown));
  });
  quota
    .command('set <slug>')
    .description('change quota fields (platform admin); only the given fields change')
    .option('--cpu <cores>', 'guaranteed CPU cores', Number)
    .option('--memory <mib>', 'guaranteed memory (MiB)', Number)
    .option('--gpu <count>', 'guaranteed GPUs', Number)
    .option('--borrow-cpu <cores>', 'CPU cores borrowable above the guarantee', Number)
    .option('--borrow-memory <mib>', 'memory borrowable above the guarantee (MiB)', Number)
    .option('--borrow-gpu <count>', 'GPUs borrowable above the guarantee', Number)
    .option('--lend-cpu <cores|all>', "CPU cores of the unused guarantee lent to siblings' subtrees ('all': no limit)", lendingArg)
    .option('--lend-memory <mib|all>', "memory of the unused guarantee lent to siblings' subtrees (MiB; 'all': no limit)", lendingArg)
    .option('--lend-gpu <count|all>', "GPUs of the unused guarantee lent to siblings' subtrees ('all': no limit)", lendingArg)
    .option('--max-concurrent-jobs <n>', 'jobs running at once', Number)
    .option('--max-queued-jobs <n>', 'jobs waiting at once', Number)
    .option('--storage-bytes <n>', 'artifact and dataset storage', Number)
    .option('--requests-per-second <n>', 'API and inference request rate', Number)
    .option('--weight <w>', 'fair-share weight', Number)
    .option('--db-statement-timeout-ms <ms>', 'longest one database statement may run (1 to 3600000)', Number)
    .option('--db-max-concurrent-operations <n>', 'database operations admitted at once per process (1 to 10000)', Number)
    .option('--db-time-ms-per-second <ms>', 'database time the tenant may use per second on average (ms; 0 = unlimited)', Number)
    .option('--ingress-bytes-per-second <n>', 'upload / request-body bandwidth (bytes/s; burst defaults to 1 s of it)', Number)
    .option('--ingress-burst-bytes <n>', 'ingress bytes that may pass at once', Number)
    .option('--egress-bytes-per-second <n>', 'download / response-body bandwidth (bytes/s; burst defaults to 1 s of it)', Number)
    .option('--egress-burst-bytes <n>', 'egress bytes that may pass at once', Number)
    .action(async (slug: string, o: Record<string, number | 'all' | undefined>) => {
      const borrowingLimit = Object.fromEntries(Object.entries({ cpu: o['borrowCpu'], memoryMiB: o['borrowMemory'], gpu: o['borrowGpu'] }).filter(([, v]) => v !== undefined));
      const lendingLimit = Object.fromEntries(Object.entries({ cpu: o['lendCpu'], memoryMiB: o['lendMemory'], gpu: o['lendGpu'] })
        .filter(([, v]) => v !== undefined).map(([k, v]) => [k, v === 'all' ? null : v]));
      const body = Object.fromEntries(Object.entries({
        cpu: o['cpu'], memoryMiB: o['memory'], gpu: o['gpu'], maxConcurrentJobs: o['maxConcurrentJobs'], maxQueuedJobs: o['maxQueuedJobs'],
        storageBytes: o['storageBytes'], requestsPerSecond: o['requestsPerSecond'], weight: o['weight'],
        dbStatementTimeoutMs: o['dbStatementTimeoutMs'], dbMaxConcurrentOperations: o['dbMaxConcurrentOperations'], dbTimeMsPerSecond: o['dbTimeMsPerSecond'],
        ingressBytesPerSecond: o['ingressBytesPerSecond'], ingressBurstBytes: o['ingressBurstBytes'],
        egressBytesPerSecond: o['egressBytesPerSecond'], egressBurstBytes: o['egressBurstBytes'],
        borrowingLimit: Object.keys(borrowingLimit).length === 0 ? undefined : borrowingLimit,
        lendingLimit: Object.keys(lendingLimit).length === 0 ? undefined : lendingLimit,
      }).filter(([, v]) => v !== undefined));
      const updated = await client().request<Record<string, unknown>>('PUT', `${tenantPath(slug)}/quota`, body);
      print(updated, () => keyValues(updated));
    });

  const user = program.command('user').description('manage users and tenant memberships');
  user
    .command('create <username>')
    .description('create a user (platform admin); the password, if any, is read from stdin')
    .option('--password-stdin', 'read a password from stdin')
    .option('--display-name <name>', 'display name')
    .option('--platform-admin', 'make the user a platform admin')
    .action(async (username: string, options: { passwordStdin?: boolean; displayName?: string; platformAdmin?: boolean }) => {
      const body: Record<string, unknown> = { username };
      if (options.passwordStdin === true) body['password'] = await readStdin();
      if (options.displayName !== undefined) body['displayName'] = options.displayName;
      if (options.platformAdmin === true) body['isPlatformAdmin'] = true;
      const created = await client().request<Record<string, unknown>>('POST', '/api/v1/users', body);
      print(created, () => keyValues(created));
    });
  user.command('list').description('list users (platform admin)').action(async () => {
    const { users } = await client().request<{ users: Array<Record<string, unknown>> }>('GET', '/api/v1/users');
    print(users, () => table(users, ['username', 'displayName', 'isPlatformAdmin', 'status']));
  });
  user
    .command('members <tenant>')
    .description("list a tenant's members")
    .action(async (slug: string) => {
      const { members } = await client().request<{ members: Array<{ user: { username: string }; role: string; createdAt: string }> }>('GET', `${tenantPath(slug)}/members`);
      print(members, () => table(members.map((m) => ({ username: m.user.username, role: m.role, since: m.createdAt })), ['username', 'role', 'since']));
    });
  user
    .command('add <tenant> <username>')
    .description('add a user to a tenant, or change their role')
    .addOption(new Option('--role <role>', 'role in the tenant').choices([...tenantRoles]).default('member'))
    .action(async (slug: string, username: string, options: { role: string }) => {
      const member = await client().request<Record<string, unknown>>('PUT', `${tenantPath(slug)}/members/${encodeURIComponent(username)}`, { role: options.role });
      print(member, () => `${username} is ${String(member['role'])} of ${slug}`);
    });
  user
    .command('remove <tenant> <username>')
    .description('remove a user from a tenant (their session tokens for it are revoked)')
    .action(async (slug: string, username: string) => {
      await client().request('DELETE', `${tenantPath(slug)}/members/${encodeURIComponent(username)}`);
      print({ removed: username }, () => `${username} removed from ${slug}`);
    });

  const token = program.command('token').description('manage API tokens (values are shown once, at creation)');
  token
    .command('create')
    .description('create a token for a tenant (or a platform-admin token with --platform)')
    .option('--tenant <slug>', "tenant the token acts for (default: the token's)")
    .option('--platform', 'create a platform-admin token')
    .requiredOption('--name <name>', 'what the token is for')
    .addOption(new Option('--role <role>', `role the token holds: ${tenantRoles.join(', ')} or a custom role of the tenant`).default('member'))
    .option('--expires-in <duration>', "lifetime, e.g. 12h or 30d (default and maximum: the operator's token lifetime, 30d and 365d unless configured)")
    .option('--expires <duration>', 'same as --expires-in')
    .option('--scope <permission...>', 'narrow the token to these permissions of its role (e.g. tracking:write; see GET /api/v1/permissions)')
    .option('--experiment <name...>', 'narrow the token to these experiments (the rest of the tenant is not found to it)')
    .option('--model <name...>', 'narrow the token to these registered models (with --experiment/--deployment: their union)')
    .option('--deployment <name...>', 'narrow the token to these deployments (their API and their OIP inference routes)')
    .option('--service-account <name>', "a token of this service account of the tenant (it always expires: the operator's default and maximum apply)")
    .action(async (options: { tenant?: string; platform?: boolean; name: string; role: string; expiresIn?: string; expires?: string; scope?: string[]; serviceAccount?: string; experiment?: string[]; model?: string[]; deployment?: string[] }) => {
      const lifetime = options.expiresIn ?? options.expires;
      const expires = {
        ...(lifetime === undefined ? {} : { expiresInSeconds: parseDuration(lifetime) }),
        ...(options.scope === undefined ? {} : { scope: options.scope.flatMap((s) => s.split(',')).filter((s) => s !== '') }),
        ...(options.experiment === undefined ? {} : { experiments: options.experiment }),
        ...(options.model === undefined ? {} : { models: options.model }),
        ...(options.deployment === undefined ? {} : { deployments: options.deployment }),
      };
      let created: Record<string, unknown>;
      if (options.platform === true) {
        created = await client().request('POST', '/api/v1/platform/tokens', { name: options.name, ...expires });
      } else if (options.serviceAccount !== undefined) {
        created = await client().request('POST', `${tenantPath(await resolveTenant(options.tenant))}/service-accounts/${encodeURIComponent(options.serviceAccount)}/tokens`, { name: options.name, role: options.role, ...expires });
      } else {
        created = await client().request('POST', `${tenantPath(await resolveTenant(options.tenant))}/tokens`, { name: options.name, role: options.role, ...expires });
      }
      print(created, () => `${String(created['token'])}\n\n(token ${String(created['id'])}, role ${String(created['role'])}; this is the only time it is shown)`);
    });
  token
    .command('list')
    .description('list tokens (prefixes only)')
    .option('--tenant <slug>', "tenant whose tokens to list (default: the token's)")
    .option('--platform', 'list platform-admin tokens')
    .action(async (options: { tenant?: string; platform?: boolean }) => {
      const path = options.platform === true ? '/api/v1/platform/tokens' : `${tenantPath(await resolveTenant(options.tenant))}/tokens`;
      const { tokens } = await client().request<{ tokens: Array<Record<string, unknown>> }>('GET', path);
      print(tokens, () => table(tokens, ['id', 'name', 'role', 'kind', 'prefix', 'expiresAt', 'revokedAt', 'lastUsedAt']));
    });
  token
    .command('revoke <id>')
    .description('revoke a token')
    .option('--tenant <slug>', "tenant the token belongs to (default: the token's)")
    .option('--platform', 'the token is a platform-admin token')
    .action(async (id: string, options: { tenant?: string; platform?: boolean }) => {
      const path = options.platform === true ? `/api/v1/platform/tokens/${encodeURIComponent(id)}` : `${tenantPath(await resolveTenant(options.tenant))}/tokens/${encodeURIComponent(id)}`;
      const revoked = await client().request<Record<string, unknown>>('DELETE', path);
      print(revoked, () => `revoked ${id} at ${String(revoked['revokedAt'])}`);
    });

  const audit = program.command('audit').description("read and verify a tenant's tamper-evident audit log");
  audit
    .command('list')
    .description('audit events, newest first')
    .option('--tenant <slug>', "tenant (default: the token's; omit with --platform)")
    .option('--platform', "the platform's own chain (platform admin)")
    .option('--limit <n>', 'how many', '50')
    .action(async (options: { tenant?: string; platform?: boolean; limit: string }) => {
      const base = options.platform === true ? '/api/v1/platform/audit' : `${tenantPath(await resolveTenant(options.tenant))}/audit`;
      const { events } = await client().request<{ events: Array<Record<string, unknown>> }>('GET', `${base}?limit=${encodeURIComponent(options.limit)}`);
      print(events, () => table(events, ['seq', 'occurredAt', 'actor', 'action', 'target', 'outcome', 'requestId']));
    });
  audit
    .command('verify')
    .description('recompute the hash chain and compare it with the signed checkpoints; exit 1 on tampering')
    .option('--tenant <slug>', "tenant (default: the token's; omit with --platform)")
    .option('--platform', "the platform's own chain (platform admin)")
    .action(async (options: { tenant?: string; platform?: boolean }) => {
      const path = options.platform === true ? '/api/v1/platform/audit/verify' : `${tenantPath(await resolveTenant(options.tenant))}/audit/verify`;
      const result = await client().request<{ ok: boolean; eventsChecked: number; headSeq: number; problems: Array<{ kind: string; seq: number; message: string }> }>('GET', path);
      print(result, () => result.ok
        ? `ok: ${result.eventsChecked} events, chain intact up to event ${result.headSeq}`
        : `TAMPERED: ${result.problems.length} problem(s)\n${result.problems.map((p) => `  event ${p.seq}: ${p.kind}: ${p.message}`).join('\n')}`);
      if (!result.ok) process.exitCode = 1;
    });

  const admin = program.command('admin').description('offline operations on the database itself (bootstrap and recovery); uses the server config, not a token. On an embedded database they refuse while a server runs on the same home (read-only ones ask that server), and never create a database unless told to');
  const createOption = () => new Option('--create', 'create an empty database if BULKHEAD_HOME has none (otherwise refused, naming the home)');
  admin.command('migrate').description('apply pending migrations (creates the database if there is none)').action(async () => {
    const applied = await deps.admin.migrate(loadConfig(deps.env));
    io.out(applied.length === 0 ? 'database is up to date' : `applied migrations ${applied.join(', ')}`);
  });
  admin.command('create-platform-token').description('create a platform-admin token directly in the database (recovery)').requiredOption('--name <name>', 'what it is for').addOption(createOption()).action(async (options: { name: string; create?: boolean }) => {
    io.out(await deps.admin.createPlatformToken(loadConfig(deps.env), options.name, { create: options.create === true }));
  });
  admin.command('verify-audit <tenant>').description("verify a tenant's audit chain offline (slug, id — also of a deleted tenant — or 'platform'); with a server running on an embedded home, through its API").addOption(createOption()).action(async (slug: string, options: { create?: boolean }) => {
    const result = await deps.admin.verifyAudit(loadConfig(deps.env), slug, { create: options.create === true, server: ctx.settings() });
    io.out(result.text);
    if (!result.ok) process.exitCode = 1;
  });
  admin.command('set-password <username>').description("set a user's password (read from stdin)").addOption(createOption()).action(async (username: string, options: { create?: boolean }) => {
    await deps.admin.setPassword(loadConfig(deps.env), username, await readStdin(), { create: options.create === true });
    io.out(`password set for ${username}`);
  });
  program.command('doctor').description('report what this host can provide: database mode, isolation tiers (read-only: never opens or creates an embedded database; asks a running server instead)').action(async () => {
    io.out(await deps.admin.doctor(loadConfig(deps.env), { server: ctx.settings() }));
  });

  return program;
};

/** Runs the CLI; returns the exit code. Errors print as `error [CODE]: message`, never with a stack. */
export const runCli = async (argv: readonly string[], deps: CliDeps): Promise<number> => {
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const commanderError = error as { code?: string; exitCode?: number };
    if (typeof commanderError.code === 'string' && commanderError.code.startsWith('commander.')) {
      return commanderError.exitCode ?? 1;
    }
    if (isAppError(error)) {
      deps.io.err(`error [${error.code}]: ${error.message}`);
      return 1;
    }
    deps.io.err(`error [INTERNAL]: ${(error as Error).message}`);
    return 1;
  }
};
