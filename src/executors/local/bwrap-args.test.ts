import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  buildBwrapArgs,
  buildProcessTierOptions,
  buildPrlimitArgs,
  buildSetprivArgs,
  relayLauncher,
  sandboxEtcFiles,
  type ProcessTierPlan,
  type SandboxPlan,
} from './bwrap-args.ts';

const plan: SandboxPlan = {
  argv: ['python3', 'train.py', '--epochs', '3'],
  env: { PATH: '/usr/bin', HOME: '/workspace', SECRETISH: 'a b' },
  workspaceDir: '/srv/bulkhead/jobs/j1/workspace',
  outputsDir: '/srv/bulkhead/jobs/j1/outputs',
  etcDir: '/run/bulkhead/j1',
  hostEtcFiles: ['/etc/ld.so.cache'],
  layout: { mergedUsr: true, lib64: true },
  hostname: 'bulkhead-job',
};

/** The (flag, src, dest) triples of every bind in the args. */
function binds(args: string[]): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (let i = 0; i < args.length; i += 1) {
    const flag = args[i] as string;
    if (flag === '--') break;
    if (flag === '--bind' || flag === '--ro-bind') out.push([flag, args[i + 1] as string, args[i + 2] as string]);
  }
  return out;
}

test('namespaces, identity and capabilities are all requested', () => {
  const args = buildBwrapArgs(plan);
  for (const flag of ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv']) assert.ok(args.includes(flag), flag);
  assert.deepEqual(args.slice(args.indexOf('--uid'), args.indexOf('--uid') + 2), ['--uid', '65534']);
  assert.deepEqual(args.slice(args.indexOf('--gid'), args.indexOf('--gid') + 2), ['--gid', '65534']);
  assert.deepEqual(args.slice(args.indexOf('--cap-drop'), args.indexOf('--cap-drop') + 2), ['--cap-drop', 'ALL']);
  assert.ok(!args.includes('--share-net'));
  assert.ok(!args.some((a) => a.startsWith('--cap-add')));
});

test('the environment is cleared first and then holds exactly the plan env', () => {
  const args = buildBwrapArgs(plan);
  const clear = args.indexOf('--clearenv');
  const sets: string[] = [];
  args.forEach((a, i) => {
    if (a === '--setenv') {
      assert.ok(i > clear, '--setenv must come after --clearenv');
      sets.push(`${args[i + 1]}=${args[i + 2]}`);
    }
  });
  assert.deepEqual(sets, ['PATH=/usr/bin', 'HOME=/workspace', 'SECRETISH=a b']);
});

test('only /usr, synthesized /etc files, listed host files and the job dirs come from the host', () => {
  const all = binds(buildBwrapArgs({ ...plan, dataDir: '/srv/d', codeDir: '/srv/c' }));
  assert.deepEqual(all, [
    ['--ro-bind', '/usr', '/usr'],
    ['--ro-bind', '/run/bulkhead/j1/passwd', '/etc/passwd'],
    ['--ro-bind', '/run/bulkhead/j1/group', '/etc/group'],
    ['--ro-bind', '/run/bulkhead/j1/hosts', '/etc/hosts'],
    ['--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache'],
    ['--bind', '/srv/bulkhead/jobs/j1/workspace', '/workspace'],
    ['--bind', '/srv/bulkhead/jobs/j1/outputs', '/outputs'],
    ['--ro-bind', '/srv/d', '/data'],
    ['--ro-bind', '/srv/c', '/code'],
  ]);
  for (const [, src] of all) {
    assert.ok(!/^\/(root|home|work|etc)\/?$/.test(src), `never the whole ${src}`);
  }
});

test('merged /usr gets symlinks; a split layout gets read-only binds', () => {
  const merged = buildBwrapArgs(plan);
  const i = merged.indexOf('/lib');
  assert.deepEqual(merged.slice(i - 2, i + 1), ['--symlink', 'usr/lib', '/lib']);
  const split = binds(buildBwrapArgs({ ...plan, layout: { mergedUsr: false, lib64: false } }));
  assert.ok(split.some(([f, s]) => f === '--ro-bind' && s === '/lib'));
  assert.ok(!split.some(([, s]) => s === '/lib64'));
});

test('without a relay the job argv follows "--" directly; with one the launcher wraps it', () => {
  const args = buildBwrapArgs(plan);
  assert.deepEqual(args.slice(args.indexOf('--') + 1), plan.argv);
  const relayed = buildBwrapArgs({ ...plan, nodeBinary: '/opt/node/bin/node', relay: { socketPath: '/run/api.sock', port: 8765 } });
  assert.ok(binds(relayed).some(([f, s, d]) => f === '--bind' && s === '/run/api.sock' && d === '/run/bulkhead/api.sock'));
  assert.ok(binds(relayed).some(([f, s, d]) => f === '--ro-bind' && s === '/opt/node/bin/node' && d === '/opt/bulkhead/bin/node'));
  const tail = relayed.slice(relayed.indexOf('--') + 1);
  assert.equal(tail[0], '/usr/bin/env');
  assert.deepEqual(tail.slice(-plan.argv.length), plan.argv);
  assert.ok(tail.includes('8765'));
  assert.throws(() => buildBwrapArgs({ ...plan, relay: { socketPath: '/s', port: 1 } }), TypeError);
});

test('synthesized /etc names only the job uid and localhost', () => {
  const files = sandboxEtcFiles();
  assert.equal(files.passwd.trim().split('\n').length, 1);
  assert.match(files.passwd, /^nobody:x:65534:65534:/);
  assert.doesNotMatch(files.passwd + files.group, /root/);
  assert.match(files.hosts, /127\.0\.0\.1 localhost/);
});

const processPlan: ProcessTierPlan = {
  argv: ['python3', 'train.py'],
  env: { PATH: '/usr/bin', HOME: '/srv/j1/ws' },
  cwd: '/srv/j1/ws',
  uid: 2_100_000_123,
  setpriv: '/usr/bin/setpriv',
  prlimit: '/usr/bin/prlimit',
  limits: { memoryMiB: 2, nofile: 64 },
};

test('process tier: its own network, PID and IPC namespaces, dies with its parent, no user namespace', () => {
  const { options } = buildProcessTierOptions(processPlan);
  for (const flag of ['--unshare-net', '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--new-session', '--clearenv']) {
    assert.ok(options.includes(flag), flag);
  }
  // bwrap runs as root here: a user namespace (or --unshare-all) would map root into it and needs
  // unprivileged user namespaces, which this tier must not require.
  for (const flag of ['--unshare-all', '--unshare-user', '--uid', '--cap-drop']) assert.ok(!options.includes(flag), flag);
  assert.deepEqual(options.slice(options.indexOf('--dev-bind'), options.indexOf('--dev-bind') + 3), ['--dev-bind', '/', '/']);
  assert.ok(options.indexOf('--proc') > options.indexOf('--dev-bind'), 'a fresh /proc over the host one');
  assert.deepEqual(options.slice(options.indexOf('--chdir'), options.indexOf('--chdir') + 2), ['--chdir', '/srv/j1/ws']);
  assert.ok(options.indexOf('--clearenv') < options.indexOf('--setenv'));
});

test('process tier: setpriv drops to the job uid first, prlimit last before the argv; the relay between them', () => {
  const plain = buildProcessTierOptions(processPlan).command;
  assert.deepEqual(plain, [
    '/usr/bin/setpriv', ...buildSetprivArgs(2_100_000_123, 2_100_000_123),
    '/usr/bin/prlimit', ...buildPrlimitArgs({ memoryMiB: 2, nofile: 64 }),
    'python3', 'train.py',
  ]);
  const relayed = buildProcessTierOptions({ ...processPlan, relay: { nodeBinary: '/usr/bin/node', socketPath: '/tmp/bhr-x/j/api.sock', port: 8765, readyFile: '/run/r/job-j1-abcdef/relay-ready' } }).command;
  const setprivEnd = relayed.indexOf('--') + 1;
  assert.equal(relayed[setprivEnd], '/usr/bin/env', 'the relay starts after the uid drop');
  const launcher = relayed.indexOf('bulkhead-relay');
  assert.deepEqual(relayed.slice(launcher + 1, launcher + 5), ['/usr/bin/node', '8765', '/tmp/bhr-x/j/api.sock', '/run/r/job-j1-abcdef/relay-ready']);
  assert.equal(relayed[launcher + 5], '/usr/bin/prlimit', 'the rlimits apply to the job, not the relay');
  assert.deepEqual(relayed.slice(-2), ['python3', 'train.py']);
});

test('setpriv drops to 65534 with no groups, no capabilities and no_new_privs', () => {
  assert.deepEqual(buildSetprivArgs(), [
    '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
  ]);
});

test('prlimit: data limit in bytes, no core dumps, nproc only when asked', () => {
  assert.deepEqual(buildPrlimitArgs({ memoryMiB: 2, nofile: 64 }), ['--data=2097152', '--nofile=64', '--core=0', '--']);
  assert.ok(buildPrlimitArgs({ memoryMiB: 1, nofile: 1, nproc: 5 }).includes('--nproc=5'));
});

test('the relay launcher is valid sh', () => {
  execFileSync('/bin/sh', ['-n', '-c', relayLauncher]);
});
