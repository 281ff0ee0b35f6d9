import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  buildBwrapArgs,
  buildJoinArgs,
  buildPrlimitArgs,
  buildSetprivArgs,
  relayLauncher,
  sandboxEtcFiles,
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

test('the join wrapper writes its own pid into every procs file before exec, and reports on fd 3', () => {
  // Run the real shell script with ordinary files standing in for cgroup.procs.
  const dir = execFileSync('mktemp', ['-d']).toString().trim();
  try {
    const out = execFileSync('/bin/sh', [...buildJoinArgs([`${dir}/a`, `${dir}/b`], ['/bin/sh', '-c', 'echo $$']), ], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    }).toString().trim();
    const a = execFileSync('cat', [`${dir}/a`]).toString().trim();
    const b = execFileSync('cat', [`${dir}/b`]).toString().trim();
    // exec keeps the pid: the program that runs is the process that joined.
    assert.equal(a, out);
    assert.equal(b, out);
  } finally {
    execFileSync('rm', ['-rf', dir]);
  }
});

test('the join wrapper refuses to run the command when a procs file cannot be written', () => {
  assert.throws(
    () => execFileSync('/bin/sh', buildJoinArgs(['/nonexistent/dir/cgroup.procs'], ['/bin/echo', 'ran']), { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }),
    (error: { status: number; stdout: Buffer }) => error.status === 125 && !error.stdout.toString().includes('ran'),
  );
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
