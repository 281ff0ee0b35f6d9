/**
 * Pure builders for the command lines the local executor runs: the bubblewrap arguments of the sandbox
 * tiers and of the process tier (namespaces without a user namespace, then the uid and rlimit wrappers),
 * and the in-namespace relay launcher. No IO: the executor probes the host and passes facts in.
 */
import { imageNodeOptions, imageRootOptions, type ImageRoot } from './image-rootfs.ts';

/** Where things appear inside the sandbox. */
export const sandboxPaths = {
  workspace: '/workspace',
  data: '/data',
  outputs: '/outputs',
  code: '/code',
  node: '/opt/bulkhead/bin/node',
  apiSocket: '/run/bulkhead/api.sock',
  relayReady: '/tmp/.bulkhead-relay-ready',
} as const;

/** The unprivileged identity every job runs as (on the host too: bwrap is started as this uid). */
export const JOB_UID = 65534;
export const JOB_GID = 65534;

export interface SystemLayout {
  /** `/lib`, `/bin`, ... are symlinks into `/usr` (Debian ≥ 12): recreate the symlinks, bind only /usr. */
  mergedUsr: boolean;
  /** The host has `/lib64` (x86-64 dynamic loader lives there). */
  lib64: boolean;
}

export interface SandboxPlan {
  argv: readonly string[];
  /** The complete environment of the job (already merged with defaults). */
  env: Readonly<Record<string, string>>;
  workspaceDir: string;
  outputsDir: string;
  dataDir?: string;
  codeDir?: string;
  /** Host directory holding the synthesized passwd, group and hosts files for `/etc`. */
  etcDir: string;
  /** Host /etc files to expose read-only (only those that exist; e.g. ld.so.cache, localtime). */
  hostEtcFiles: readonly string[];
  layout: SystemLayout;
  /** Host node binary, bound read-only at `/opt/bulkhead/bin/node` (jobs and the relay use it). */
  nodeBinary?: string;
  /** Relay the platform socket to 127.0.0.1:port inside. Needs `nodeBinary`. */
  relay?: { socketPath: string; port: number };
  hostname: string;
  /** A file descriptor bwrap reads the seccomp filter from (seccomp.ts); installed right before the command runs. */
  seccompFd?: number;
  /** Run on an OCI image: its rootfs at `/` instead of the host's /usr (image-rootfs.ts); host /etc files are not bound. */
  image?: ImageRoot;
}

/** Files synthesized for the sandbox's `/etc`: just enough for libc, python3 and node to name the uid. */
export function sandboxEtcFiles(): Record<'passwd' | 'group' | 'hosts', string> {
  return {
    passwd: `nobody:x:${JOB_UID}:${JOB_GID}:nobody:${sandboxPaths.workspace}:/usr/sbin/nologin\n`,
    group: `nogroup:x:${JOB_GID}:\n`,
    hosts: '127.0.0.1 localhost\n::1 localhost\n',
  };
}

/**
 * The relay: a TCP listener on 127.0.0.1:<port> inside the job's network namespace that pipes every
 * connection to the platform's Unix socket. Half-close is kept (HTTP clients may shut down their write
 * side before reading the answer). It writes a ready file (its third argument) once listening so the
 * launcher starts the job only when the URL works.
 */
export const relayScript = [
  "const net=require('node:net'),fs=require('node:fs');",
  'const port=Number(process.argv[1]),sock=process.argv[2],ready=process.argv[3];',
  'const server=net.createServer({allowHalfOpen:true},(c)=>{',
  'const u=net.connect({path:sock,allowHalfOpen:true});',
  'const drop=()=>{c.destroy();u.destroy();};',
  "c.on('error',drop);u.on('error',drop);c.pipe(u);u.pipe(c);});",
  "server.on('error',(e)=>{process.stderr.write('bulkhead relay: '+e.message+'\\n');process.exit(1);});",
  "server.listen(port,'127.0.0.1',()=>fs.writeFileSync(ready,''));",
].join('');

/**
 * In-sandbox launcher: starts the relay with an empty environment (so the job's NODE_OPTIONS and the like
 * cannot reach into it), waits until it listens (or dies, or 10 s pass → exit 125), then execs the job so
 * the job is the sandbox's main process and its exit status is the sandbox's.
 * Arguments: node binary, port, platform socket, ready file (a path only this job can write), command….
 */
export const relayLauncher = [
  'node=$1; port=$2; sock=$3; ready=$4; shift 4',
  '/usr/bin/env -i "$node" -e "$RELAY" -- "$port" "$sock" "$ready" </dev/null >/dev/null &',
  'relay=$!',
  'i=0',
  'while [ ! -e "$ready" ]; do',
  '  if ! kill -0 "$relay" 2>/dev/null || [ "$i" -gt 2000 ]; then echo "bulkhead: network relay did not start" >&2; exit 125; fi',
  '  i=$((i+1)); sleep 0.005',
  'done',
  'unset RELAY',
  'exec "$@"',
].join('\n');

/** The command prefix that starts the relay and then execs the rest of the command line. */
function relayCommand(nodeBinary: string, port: number, socketPath: string, readyFile: string): string[] {
  // RELAY travels as an environment variable of the launcher only (the job's env is set by bwrap's
  // --setenv; this one is added by `env` and unset before exec).
  return [
    '/usr/bin/env', `RELAY=${relayScript}`,
    '/bin/sh', '-c', relayLauncher, 'bulkhead-relay',
    nodeBinary, String(port), socketPath, readyFile,
  ];
}

/**
 * bwrap arguments (without the `bwrap` itself) for the sandbox and dedicated tiers.
 * Security-relevant choices:
 * - `--unshare-all`: user, mount, PID, IPC, UTS, cgroup and network namespaces; the net namespace has
 *   only `lo`, so no host TCP port is reachable.
 * - `--cap-drop ALL` even though bwrap runs unprivileged here: if someone starts it as root, root keeps
 *   its capabilities inside unless told otherwise.
 * - `--clearenv` then only the plan's env: the platform's environment (database URL, keys) never leaks.
 * - Only /usr (and the merged-/usr symlinks), three synthesized /etc files and the listed host /etc
 *   files are visible from the host filesystem; never /root, /home, /work or the platform data dir.
 * - `--die-with-parent`: the sandbox dies with the executor; `--new-session`: no TIOCSTI on our tty.
 */
export function buildBwrapArgs(plan: SandboxPlan): string[] {
  const { options, command } = buildBwrapOptions(plan);
  return [...options, '--', ...command];
}

/**
 * The same as {@link buildBwrapArgs}, split into bwrap's options and the command after `--`: the executor
 * sends the options through `--args FD` (NUL-separated) and passes only `--args FD -- command…` on the
 * command line. The security options come first, so any prefix of them still sandboxes.
 */
export function buildBwrapOptions(plan: SandboxPlan): { options: string[]; command: string[] } {
  const args: string[] = [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--uid', String(JOB_UID),
    '--gid', String(JOB_GID),
    '--cap-drop', 'ALL',
    '--hostname', plan.hostname,
    '--clearenv',
  ];
  if (plan.seccompFd !== undefined) args.push('--seccomp', String(plan.seccompFd));
  for (const [name, value] of Object.entries(plan.env)) args.push('--setenv', name, value);

  if (plan.image !== undefined) {
    args.push(...imageRootOptions(plan.image));
  } else {
    args.push('--ro-bind', '/usr', '/usr');
    if (plan.layout.mergedUsr) {
      args.push('--symlink', 'usr/lib', '/lib', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin');
      if (plan.layout.lib64) args.push('--symlink', 'usr/lib64', '/lib64');
    } else {
      args.push('--ro-bind', '/lib', '/lib', '--ro-bind', '/bin', '/bin', '--ro-bind', '/sbin', '/sbin');
      if (plan.layout.lib64) args.push('--ro-bind', '/lib64', '/lib64');
    }
  }
  for (const name of ['passwd', 'group', 'hosts']) {
    args.push('--ro-bind', `${plan.etcDir}/${name}`, `/etc/${name}`);
  }
  if (plan.image === undefined) for (const file of plan.hostEtcFiles) args.push('--ro-bind', file, file);

  args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  args.push('--bind', plan.workspaceDir, sandboxPaths.workspace);
  args.push('--bind', plan.outputsDir, sandboxPaths.outputs);
  if (plan.dataDir !== undefined) args.push('--ro-bind', plan.dataDir, sandboxPaths.data);
  if (plan.codeDir !== undefined) args.push('--ro-bind', plan.codeDir, sandboxPaths.code);
  if (plan.nodeBinary !== undefined) {
    if (plan.image === undefined) args.push('--ro-bind', plan.nodeBinary, sandboxPaths.node);
    else if (plan.image.nodeRuntime !== undefined) args.push(...imageNodeOptions(plan.image.nodeRuntime));
    else throw new TypeError('an image sandbox binds node only through its nodeRuntime');
  }
  if (plan.relay !== undefined) args.push('--bind', plan.relay.socketPath, sandboxPaths.apiSocket);
  args.push('--chdir', sandboxPaths.workspace);

  const command: string[] = [];
  if (plan.relay !== undefined) {
    if (plan.nodeBinary === undefined) throw new TypeError('the relay needs nodeBinary');
    command.push(...relayCommand(sandboxPaths.node, plan.relay.port, sandboxPaths.apiSocket, sandboxPaths.relayReady));
  }
  command.push(...plan.argv);
  return { options: args, command };
}

export interface ProcessTierPlan {
  argv: readonly string[];
  /** The complete environment of the job. */
  env: Readonly<Record<string, string>>;
  /** The job's working directory (its host workspace). */
  cwd: string;
  /** The job's own host uid (and gid). */
  uid: number;
  /** Absolute paths of the host's setpriv and prlimit. */
  setpriv: string;
  prlimit: string;
  limits: ProcessLimits;
  /** Relay the platform socket to 127.0.0.1:port inside; `readyFile` is a path only this job can write. */
  relay?: { nodeBinary: string; socketPath: string; port: number; readyFile: string };
}

/**
 * bwrap options and command for the `process` tier. bwrap is started as root here (the executor's own
 * uid), so it creates the namespaces without a user namespace — this tier needs no unprivileged user
 * namespaces — and does not drop anything itself: `setpriv` inside drops to the job's uid with no groups,
 * no capabilities and no_new_privs, then `prlimit` sets the rlimits.
 * - `--unshare-net`: a network namespace with only `lo` (bwrap brings it up), so no host port — loopback
 *   PostgreSQL, Redis, the platform — is reachable; the relay is the one way out.
 * - `--unshare-pid`: bwrap's init is PID 1 and the job PID 2; no host process is visible (a fresh /proc)
 *   or signallable, and when the init dies the kernel kills everything left in the namespace.
 * - `--unshare-ipc`: no SysV IPC shared with the host or other jobs (free: same start time).
 * - `--dev-bind / /`: the host filesystem as it is (this tier's documented weakness: file modes are the
 *   only protection); bwrap still adds nosuid to every mount.
 * - `--die-with-parent`: a parent-death SIGKILL, so the job dies with the platform even on SIGKILL.
 * - `--new-session`: no TIOCSTI into a terminal of ours.
 */
export function buildProcessTierOptions(plan: ProcessTierPlan): { options: string[]; command: string[] } {
  const options: string[] = [
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
  ];
  for (const [name, value] of Object.entries(plan.env)) options.push('--setenv', name, value);
  options.push('--dev-bind', '/', '/', '--proc', '/proc', '--chdir', plan.cwd);
  const command = [plan.setpriv, ...buildSetprivArgs(plan.uid, plan.uid)];
  // The relay runs as the job's uid (like in the sandbox) but outside its rlimits: RLIMIT_DATA sized for
  // the job could keep Node from starting. It is inside the job's cgroups all the same.
  if (plan.relay !== undefined) {
    command.push(...relayCommand(plan.relay.nodeBinary, plan.relay.port, plan.relay.socketPath, plan.relay.readyFile));
  }
  command.push(plan.prlimit, ...buildPrlimitArgs(plan.limits), ...plan.argv);
  return { options, command };
}

/** setpriv arguments that drop to `uid` (default the sandbox uid) with no groups and no capabilities at all. */
export function buildSetprivArgs(uid: number = JOB_UID, gid: number = JOB_GID): string[] {
  return [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

export interface ProcessLimits {
  memoryMiB: number;
  /** Only set when no pids cgroup exists: RLIMIT_NPROC counts every process of the uid host-wide. */
  nproc?: number;
  nofile: number;
}

/**
 * prlimit arguments for the process tier. RLIMIT_DATA (heap + private writable mappings, Linux ≥ 4.7)
 * stands in for a memory cgroup; RLIMIT_AS would break runtimes that reserve large virtual ranges
 * (V8, the JVM). No core dumps: they could write the job's memory outside the job's directories.
 */
export function buildPrlimitArgs(limits: ProcessLimits): string[] {
  const args = [`--data=${limits.memoryMiB * 1024 * 1024}`, `--nofile=${limits.nofile}`, '--core=0'];
  if (limits.nproc !== undefined) args.push(`--nproc=${limits.nproc}`);
  args.push('--');
  return args;
}
