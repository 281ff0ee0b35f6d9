/** The bwrap arguments of a job on an image: the image at `/`, nothing of the host's /usr or /etc, node with its own libraries. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBwrapArgs, type SandboxPlan } from './bwrap-args.ts';
import { imageNodeOptions, nodeWrapperScript, parseLdd } from './image-rootfs.ts';

const runtime = {
  node: '/opt/node/bin/node', loader: '/lib64/ld-linux-x86-64.so.2',
  libs: ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libstdc++.so.6'], wrapper: '/run/bh/node-wrapper-1',
};
const plan: SandboxPlan = {
  argv: ['python3', 'train.py'], env: { PATH: '/usr/bin' },
  workspaceDir: '/srv/j1/workspace', outputsDir: '/srv/j1/outputs', etcDir: '/run/bh/etc', hostEtcFiles: ['/etc/ld.so.cache'],
  layout: { mergedUsr: true, lib64: true }, hostname: 'bulkhead-job', nodeBinary: runtime.node,
  relay: { socketPath: '/run/bh/api.sock', port: 8765 },
  image: { rootfs: '/srv/images/rootfs/abc', nodeRuntime: runtime },
};

const optionsOf = (args: string[]): string[] => args.slice(0, args.indexOf('--'));

test('the image rootfs is bound read-only at / and the host\'s /usr, merged-usr links and /etc files are not', () => {
  const options = optionsOf(buildBwrapArgs(plan));
  const at = options.indexOf('/srv/images/rootfs/abc');
  assert.deepEqual(options.slice(at - 1, at + 2), ['--ro-bind', '/srv/images/rootfs/abc', '/']);
  assert.ok(!options.includes('/usr'), 'no host /usr');
  assert.ok(!options.includes('--symlink'), 'no merged-usr links over the image');
  assert.ok(!options.includes('/etc/ld.so.cache'), 'no host /etc files');
  // The rootfs comes before anything mounted on top of it, and the security options come first of all.
  assert.ok(options.indexOf('--cap-drop') < at);
  for (const target of ['/etc/passwd', '/workspace', '/outputs', '/proc', '/tmp', '/run/bulkhead/api.sock', '/opt/bulkhead/bin/node']) {
    const i = options.indexOf(target);
    assert.ok(i > at, `${target} is mounted after (over) the rootfs`);
  }
  assert.ok(options.indexOf('/opt/bulkhead') < options.indexOf('/opt/bulkhead/bin/node'), 'the tmpfs before the node binds');
});

test('node comes with its own loader and libraries under /opt/bulkhead, started by the wrapper', () => {
  assert.deepEqual(imageNodeOptions(runtime), [
    '--ro-bind', runtime.wrapper, '/opt/bulkhead/bin/node',
    '--ro-bind', runtime.node, '/opt/bulkhead/lib/node',
    '--ro-bind', runtime.loader, '/opt/bulkhead/lib/ld-linux-x86-64.so.2',
    '--ro-bind', runtime.libs[0], '/opt/bulkhead/lib/libc.so.6',
    '--ro-bind', runtime.libs[1], '/opt/bulkhead/lib/libstdc++.so.6',
  ]);
  assert.equal(nodeWrapperScript('ld-linux-x86-64.so.2'),
    '#!/bin/sh\nexec /opt/bulkhead/lib/ld-linux-x86-64.so.2 --library-path /opt/bulkhead/lib /opt/bulkhead/lib/node "$@"\n');
  assert.throws(() => buildBwrapArgs({ ...plan, image: { rootfs: '/srv/images/rootfs/abc' } }), /nodeRuntime/);
});

test('ldd output: the loader and the libraries', () => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f99)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f98)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f99152ac000)',
  ].join('\n');
  assert.deepEqual(parseLdd(out), { loader: '/lib64/ld-linux-x86-64.so.2', libs: ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib/x86_64-linux-gnu/libc.so.6'] });
  assert.deepEqual(parseLdd('\tnot a dynamic executable\n'), { libs: [] });
});
