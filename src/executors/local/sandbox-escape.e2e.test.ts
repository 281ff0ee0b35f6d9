/**
 * Escape attempts from inside the sandbox, on real bubblewrap and real cgroups. Each attempt must fail,
 * and each test asserts how it fails (ENOENT, ESRCH, ECONNREFUSED, ...). Where a weaker tier lets the
 * same attempt succeed, a contrast case shows the probe itself works.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createE2eContext, tryConnectScript, tryReadScript, type E2eContext } from './e2e-support.ts';
import { waitFor as eventually } from '../../../test/support/wait.ts';

let ctx: E2eContext;
before(async () => {
  ctx = await createE2eContext('escape');
  const probe = await ctx.executor.probe();
  assert.ok(probe.tiers.sandbox.available, `sandbox tier unavailable: ${JSON.stringify(probe.tiers.sandbox)}`);
});
after(async () => {
  await ctx.cleanup();
});

const parse = (lines: string[]): Map<string, string> =>
  new Map(lines.map((l) => l.split(' ')).filter((p) => p.length === 2).map(([k, v]) => [k as string, v as string]));

test('another tenant\'s workspace, a platform data file, /root, /home and /work are not visible', async () => {
  const other = await ctx.dirs('tenant-b-job');
  const otherSecret = join(other.workspaceDir, 'secret.txt');
  await writeFile(otherSecret, 'tenant b secret');
  // A platform data dir that is deliberately world-readable: only the mount namespace can hide it.
  const platformDir = join(ctx.base, 'platform-data');
  await mkdir(platformDir, { mode: 0o755 });
  const keyFile = join(platformDir, 'master.key');
  await writeFile(keyFile, 'k'.repeat(32), { mode: 0o644 });
  await chmod(ctx.base, 0o755);
  const targets = [otherSecret, keyFile, '/root/', '/home/', '/work/', '/work/main/package.json', '/etc/shadow', '/etc/os-release'];

  const { outcome, lines } = await ctx.run({ tenantId: 'ta', argv: ['python3', '-c', tryReadScript, ...targets] });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  const seen = parse(lines);
  for (const target of targets) assert.equal(seen.get(target), 'ENOENT', `${target} must not exist inside`);

  // Contrast: the process tier has no mount namespace, so the world-readable platform file IS readable
  // there. This is the documented weakness of that tier, and proof the probe above can see a file.
  const weak = await ctx.run({ tenantId: 'ta', tier: 'process', argv: ['/usr/bin/python3', '-c', tryReadScript, keyFile] });
  assert.equal(parse(weak.lines).get(keyFile), 'OK');
});

test('the job writes only where it may: /usr and /data are read-only, /workspace and /outputs writable', async () => {
  const d = await ctx.dirs('rw');
  const dataDir = join(ctx.base, 'dataset');
  await mkdir(dataDir, { mode: 0o755 });
  await writeFile(join(dataDir, 'train.csv'), 'x,y\n1,2\n', { mode: 0o644 });
  const script = [
    'import sys, errno',
    'for p in sys.argv[1:]:',
    '    try:',
    '        open(p, "w").write("x"); print(p, "OK")',
    '    except OSError as e:',
    '        print(p, errno.errorcode[e.errno])',
    'print("/data/train.csv", "READ" if open("/data/train.csv").read().startswith("x,y") else "BAD")',
  ].join('\n');
  const { outcome, lines } = await ctx.run({
    ...d,
    dataDir,
    argv: ['python3', '-c', script, '/usr/evil', '/data/evil', '/etc/passwd', '/workspace/ok', '/outputs/model.bin'],
  });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  const seen = parse(lines);
  assert.equal(seen.get('/usr/evil'), 'EROFS');
  assert.equal(seen.get('/data/evil'), 'EROFS');
  assert.match(seen.get('/etc/passwd') ?? '', /^(EROFS|EACCES)$/);
  assert.equal(seen.get('/workspace/ok'), 'OK');
  assert.equal(seen.get('/outputs/model.bin'), 'OK');
  assert.equal(seen.get('/data/train.csv'), 'READ');
  assert.equal(await readFile(join(d.outputsDir, 'model.bin'), 'utf8'), 'x');
});

test('no capabilities, uid 65534, no_new_privs, a cleared environment', async () => {
  const { outcome, lines } = await ctx.run({
    env: { ONLY_THIS: '1' },
    argv: ['sh', '-c', 'grep -E "^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status; env | cut -d= -f1 | sort | tr "\\n" " "'],
  });
  assert.equal(outcome.kind, 'succeeded');
  const status = Object.fromEntries(lines.filter((l) => l.includes(':')).map((l) => l.split(/:\s+/)));
  for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(status[cap], '0000000000000000', cap);
  assert.equal(status.Uid, '65534\t65534\t65534\t65534');
  assert.equal(status.Gid, '65534\t65534\t65534\t65534');
  assert.equal(status.NoNewPrivs, '1');
  const names = (lines.at(-1) ?? '').trim().split(' ');
  // The executor process's own environment (which in production holds database URLs) must not leak.
  assert.deepEqual(names, ['BULKHEAD_JOB_ID', 'BULKHEAD_OUTPUTS', 'BULKHEAD_WORKSPACE', 'HOME', 'ONLY_THIS', 'PATH', 'PWD']);
});

test('two jobs at once: neither sees nor can signal the other\'s processes', async () => {
  const marker = 'sleep 7.654';
  const lines: string[] = [];
  const victimSpec = ctx.spec({ tenantId: 'tb', ...(await ctx.dirs('victim')), argv: ['sh', '-c', `echo up; ${marker}; echo survived`], output: (l) => lines.push(l.line) });
  const victim = ctx.executor.start(victimSpec);
  // Wait until the victim is running, then take its host pids from its cgroup.
  const procs = join('/sys/fs/cgroup/pids', ctx.prefix, 'tenant-tb', `job-${victimSpec.jobId}`, 'cgroup.procs');
  let hostPids: string[] = [];
  await eventually('the line "up"', () => lines.includes('up'));
  hostPids = (await readFile(procs, 'utf8')).trim().split('\n');
  assert.ok(hostPids.length >= 2, 'victim has processes');

  const script = [
    'import os, sys, signal, errno',
    'mine = [p for p in os.listdir("/proc") if p.isdigit()]',
    'cmds = [open(f"/proc/{p}/cmdline","rb").read().replace(b"\\0", b" ").decode() for p in mine]',
    // The marker is assembled at run time so this script's own command line does not contain it.
    'marker = "sleep " + "7.654"',
    'print("visible", any(marker in c for c in cmds), len(mine))',
    'for p in sys.argv[1:]:',
    '    try:',
    '        os.kill(int(p), signal.SIGKILL); print("kill", p, "OK")',
    '    except OSError as e:',
    '        print("kill", p, errno.errorcode[e.errno])',
  ].join('\n');
  const attacker = await ctx.run({ tenantId: 'ta', argv: ['python3', '-c', script, ...hostPids] });
  assert.equal(attacker.outcome.kind, 'succeeded', attacker.lines.join('\n'));
  const visible = attacker.lines.find((l) => l.startsWith('visible'))?.split(' ');
  assert.equal(visible?.[1], 'False', 'the victim\'s command line is not in the attacker\'s /proc');
  assert.ok(Number(visible?.[2]) <= 3, 'only the sandbox\'s own few processes are visible');
  for (const pid of hostPids) {
    // Either the pid does not exist in the attacker's PID namespace (ESRCH) or it names one of the
    // attacker's own processes (low pids) — never the victim's.
    const line = attacker.lines.find((l) => l.startsWith(`kill ${pid} `));
    assert.ok(line === `kill ${pid} ESRCH` || Number(pid) <= 3, line);
  }
  const outcome = await victim.wait();
  assert.equal(outcome.kind, 'succeeded');
  assert.ok(lines.includes('survived'));
});

test('process tier: each job has its own host uid and PID namespace — another job can neither signal its processes nor read its workspace', async () => {
  const lines: string[] = [];
  const victimDirs = await ctx.dirs('pvictim');
  const victimSpec = ctx.spec({
    tenantId: 'tb', tier: 'process', ...victimDirs,
    argv: ['sh', '-c', 'echo secret > "$BULKHEAD_WORKSPACE/secret"; chmod 644 "$BULKHEAD_WORKSPACE/secret"; echo "pid $$ uid $(id -u)"; sleep 7.654; echo survived'],
    output: (l) => lines.push(l.line),
  });
  const victim = ctx.executor.start(victimSpec);
  await eventually('a "pid" line', () => lines.some((l) => l.startsWith('pid ')));
  const [, victimPid, , victimUid] = lines.find((l) => l.startsWith('pid '))!.split(' ');
  assert.equal(victimPid, '2', 'the job is PID 2 of its own namespace (bwrap\'s init is 1)');
  // The victim's host pids, from its cgroup: what an attacker on the host's PID namespace would aim at.
  const procs = join('/sys/fs/cgroup/pids', ctx.prefix, 'tenant-tb', `job-${victimSpec.jobId}`, 'cgroup.procs');
  const hostPids = (await readFile(procs, 'utf8')).trim().split('\n');
  assert.ok(hostPids.length >= 3 && hostPids.every((p) => Number(p) > 10), `victim host pids ${hostPids.join(',')}`);
  const script = [
    'import os, sys, signal, errno',
    'print("uid", os.getuid())',
    'for p in sys.argv[2:]:',
    '    try:',
    '        os.kill(int(p), signal.SIGKILL); print("kill", p, "OK")',
    '    except OSError as e:',
    '        print("kill", p, errno.errorcode[e.errno])',
    'try:',
    '    print("read", open(sys.argv[1]).read().strip())',
    'except OSError as e:',
    '    print("read", errno.errorcode[e.errno])',
  ].join('\n');
  const attacker = await ctx.run({ tenantId: 'ta', tier: 'process', argv: ['/usr/bin/python3', '-c', script, join(victimDirs.workspaceDir, 'secret'), ...hostPids] });
  assert.equal(attacker.outcome.kind, 'succeeded', attacker.lines.join('\n'));
  const attackerUid = attacker.lines.find((l) => l.startsWith('uid '))?.split(' ')[1];
  assert.notEqual(attackerUid, victimUid, 'two jobs never share a host uid');
  assert.ok(Number(victimUid) >= 2_100_000_000 && Number(attackerUid) >= 2_100_000_000, `job uids come from the job range (${victimUid}, ${attackerUid})`);
  // Host pids do not exist in the attacker's PID namespace (only its own few low pids do).
  for (const pid of hostPids) assert.ok(attacker.lines.includes(`kill ${pid} ESRCH`), attacker.lines.join('\n'));
  assert.ok(attacker.lines.includes('read EACCES'), attacker.lines.join('\n'));
  const outcome = await victim.wait();
  assert.equal(outcome.kind, 'succeeded', JSON.stringify({ outcome, lines }));
  assert.ok(lines.includes('survived'));
});

test('seccomp: namespaces, mounts, keyrings, eBPF, io_uring, ptrace are refused by the kernel; fork and threads work', async () => {
  const script = [
    'import ctypes, errno, os, threading',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'def call(name, nr, *args):',
    '    r = libc.syscall(nr, *args)',
    '    print(name, "OK" if r >= 0 else errno.errorcode[ctypes.get_errno()])',
    'call("unshare_user", 272, 0x10000000)',
    'call("unshare_net", 272, 0x40000000)',
    'call("clone_newuser", 56, 0x10000000 | 17, 0, 0, 0, 0)',
    'call("clone3", 435, 0, 0)',
    'call("keyctl", 250, 0, 0, 0, 0, 0)',
    'call("bpf", 321, 0, 0, 0)',
    'call("io_uring_setup", 425, 1, 0)',
    'call("ptrace", 101, 0, 0, 0, 0)',
    'call("mount", 165, 0, 0, 0, 0, 0)',
    'call("perf_event_open", 298, 0, 0, 0, 0, 0)',
    'pid = os.fork()',
    'if pid == 0: os._exit(7)',
    'print("fork", os.waitpid(pid, 0)[1] >> 8)',
    't = threading.Thread(target=lambda: print("thread OK")); t.start(); t.join()',
  ].join('\n');
  const { outcome, lines } = await ctx.run({ argv: ['python3', '-c', script] });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  const result = Object.fromEntries(lines.map((l) => l.split(' ')));
  for (const name of ['unshare_user', 'unshare_net', 'clone_newuser', 'keyctl', 'bpf', 'io_uring_setup', 'ptrace', 'mount', 'perf_event_open']) {
    assert.equal(result[name], 'EPERM', `${name}: ${lines.join(' | ')}`);
  }
  assert.equal(result['clone3'], 'ENOSYS');
  assert.equal(result['fork'], '7');
  assert.equal(result['thread'], 'OK');
});

test('no TCP connection to a host port, to the host\'s address, or to another job', async () => {
  const hostServer = createTcpServer((socket) => {
    socket.on('error', () => undefined); // the probe closes at once; a reset is expected
    socket.end('hello\n');
  });
  let accepted = 0;
  hostServer.on('connection', () => (accepted += 1));
  await new Promise<void>((r) => hostServer.listen(0, '0.0.0.0', r));
  const port = (hostServer.address() as { port: number }).port;
  const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  try {
    // Another job listening on its own loopback, port 9099.
    const lines: string[] = [];
    const listener = ctx.executor.start(ctx.spec({
      tenantId: 'tb', ...(await ctx.dirs('listener')), output: (l) => lines.push(l.line),
      argv: ['python3', '-c', 'import socket,time\ns=socket.socket();s.bind(("127.0.0.1",9099));s.listen();print("listening",flush=True);time.sleep(5)'],
    }));
    await eventually('the line "listening"', () => lines.includes('listening'));
    const targets = [`127.0.0.1:${port}`, `[::1]:${port}`.replace(/^\[|\]/g, ''), '127.0.0.1:9099'];
    if (external !== undefined) targets.push(`${external}:${port}`);
    const { outcome, lines: out } = await ctx.run({ tenantId: 'ta', argv: ['python3', '-c', tryConnectScript, ...targets] });
    assert.equal(outcome.kind, 'succeeded', out.join('\n'));
    const seen = parse(out);
    assert.equal(seen.get(`127.0.0.1:${port}`), 'ECONNREFUSED', 'the sandbox loopback is its own');
    assert.equal(seen.get(`::1:${port}`), 'ECONNREFUSED');
    assert.equal(seen.get('127.0.0.1:9099'), 'ECONNREFUSED', 'another job\'s loopback is not ours');
    if (external !== undefined) assert.equal(seen.get(`${external}:${port}`), 'ENETUNREACH', 'no route out of the namespace');
    assert.equal(accepted, 0);
    listener.cancel();
    await listener.wait();

    // Contrast: the same probe, run on the host, connects.
    const fromHost = execFileSync('/usr/bin/python3', ['-c', tryConnectScript, `127.0.0.1:${port}`], { encoding: 'utf8' });
    assert.equal(parse(fromHost.trim().split('\n')).get(`127.0.0.1:${port}`), 'OK');
    await eventually('a connection accepted', () => accepted >= 1);
    assert.equal(accepted, 1);
  } finally {
    await new Promise((r) => (hostServer as Server).close(r));
  }
});

test('the relay: a request from inside reaches the platform socket and nothing else', async () => {
  const socketDir = join(ctx.base, 'api');
  await mkdir(socketDir, { mode: 0o755 });
  const socketPath = join(socketDir, 'api.sock');
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, path: req.url }));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  await chmod(socketPath, 0o666);
  try {
    const py = 'import os,urllib.request as u\nprint("py", u.urlopen(os.environ["BULKHEAD_API_URL"] + "/api/2.0/mlflow/runs/get?run_id=1").read().decode())';
    const js = 'fetch(process.env.BULKHEAD_API_URL + "/from-node", { method: "POST", body: "x" }).then(r => r.text()).then(t => console.log("js", t))';
    const { outcome, lines } = await ctx.run({
      apiSocketPath: socketPath,
      argv: ['sh', '-c', `echo "url $BULKHEAD_API_URL"; python3 -c '${py}' && node -e '${js}'`],
    });
    assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
    assert.ok(lines.includes('url http://127.0.0.1:8765'));
    assert.ok(lines.includes('py {"ok":true,"path":"/api/2.0/mlflow/runs/get?run_id=1"}'), lines.join('\n'));
    assert.ok(lines.includes('js {"ok":true,"path":"/from-node"}'), lines.join('\n'));
    assert.deepEqual(requests, ['GET /api/2.0/mlflow/runs/get?run_id=1', 'POST /from-node']);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('process tier: no host loopback port, no host process; the API relay is its one way out', async () => {
  // A host service on loopback (as PostgreSQL, Redis or the platform port would be).
  const hostServer = createTcpServer((socket) => {
    socket.on('error', () => undefined);
    socket.end('hello\n');
  });
  let accepted = 0;
  hostServer.on('connection', () => (accepted += 1));
  await new Promise<void>((r) => hostServer.listen(0, '127.0.0.1', r));
  const port = (hostServer.address() as { port: number }).port;
  // The platform side of the relay: an HTTP server on a Unix socket.
  const socketDir = join(ctx.base, 'papi');
  await mkdir(socketDir, { mode: 0o755 });
  const socketPath = join(socketDir, 'api.sock');
  const requests: string[] = [];
  const api = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((r) => api.listen(socketPath, r));
  await chmod(socketPath, 0o666);
  // A host process the job must not see or signal: this test's own process.
  const hostPid = process.pid;
  const probe = [
    'import os, sys, signal, errno, socket, urllib.request',
    tryConnectScript.split('\n').slice(1).join('\n').replace('for t in sys.argv[1:]:', 'for t in sys.argv[2:]:'),
    'hostpid = sys.argv[1]',
    'print("proc", hostpid, "VISIBLE" if os.path.exists("/proc/" + hostpid) else "ABSENT")',
    'print("pids", len([p for p in os.listdir("/proc") if p.isdigit()]))',
    'try:',
    '    os.kill(int(hostpid), 0); print("signal", hostpid, "OK")',
    'except OSError as e:',
    '    print("signal", hostpid, errno.errorcode[e.errno])',
    'print("relay", urllib.request.urlopen(os.environ["BULKHEAD_API_URL"] + "/api/v1/me").read().decode())',
  ].join('\n');
  try {
    const { outcome, lines } = await ctx.run({
      tier: 'process',
      apiSocketPath: socketPath,
      argv: ['/usr/bin/python3', '-c', probe, String(hostPid), `127.0.0.1:${port}`, `::1:${port}`],
    });
    assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
    const seen = parse(lines);
    assert.equal(seen.get(`127.0.0.1:${port}`), 'ECONNREFUSED', 'the host loopback is not the job\'s');
    assert.equal(seen.get(`::1:${port}`), 'ECONNREFUSED');
    assert.ok(lines.includes(`proc ${hostPid} ABSENT`), lines.join('\n'));
    assert.ok(lines.includes(`signal ${hostPid} ESRCH`), lines.join('\n'));
    // bwrap's init, the job, the relay launcher's relay: a handful, never the host's ~100.
    assert.ok(Number(lines.find((l) => l.startsWith('pids '))?.split(' ')[1]) <= 5, lines.join('\n'));
    assert.ok(lines.includes('relay {"ok":true}'), lines.join('\n'));
    assert.deepEqual(requests, ['GET /api/v1/me']);
    assert.equal(accepted, 0, 'nothing reached the host listener');

    // Contrast: the same probe from the host connects and sees the host process.
    const fromHost = execFileSync('/usr/bin/python3', ['-c', tryConnectScript, `127.0.0.1:${port}`], { encoding: 'utf8' });
    assert.equal(parse(fromHost.trim().split('\n')).get(`127.0.0.1:${port}`), 'OK');
    await eventually('a connection accepted', () => accepted >= 1);
    assert.equal(accepted, 1);
  } finally {
    await new Promise((r) => hostServer.close(r));
    await new Promise((r) => api.close(r));
  }
});
