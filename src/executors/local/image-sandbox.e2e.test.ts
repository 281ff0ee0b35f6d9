/**
 * Jobs on OCI images, on real bubblewrap and real cgroups: the image's rootfs is the sandbox's `/`
 * (its files, not the host's /usr), read-only, two images side by side, the relay still works (the
 * platform's node brought in with its own libraries), and tiers that cannot host an image refuse it.
 * Images are built in the test from the host's /bin/sh and friends (test/support/oci-images.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createImageStore } from '../../images/index.ts';
import { buildShellImage } from '../../../test/support/oci-images.ts';
import { createE2eContext, type E2eContext } from './e2e-support.ts';

let ctx: E2eContext;
let rootfsA: string;
let rootfsB: string;
before(async () => {
  ctx = await createE2eContext('images');
  const probe = await ctx.executor.probe();
  assert.ok(probe.tiers.sandbox.available, `sandbox tier unavailable: ${JSON.stringify(probe.tiers.sandbox)}`);
  const store = createImageStore(join(ctx.base, 'images'));
  const a = await store.importArchive(Readable.from(buildShellImage('image-a').archive), { limitBytes: 1 << 30 });
  const b = await store.importArchive(Readable.from(buildShellImage('image-b').archive), { limitBytes: 1 << 30 });
  rootfsA = await store.rootfsPath(a.digest);
  rootfsB = await store.rootfsPath(b.digest);
});
after(async () => {
  await ctx.cleanup();
});

test('a job on image A sees A\'s files and not the host\'s /usr (no python3), and cannot write the image', async () => {
  assert.ok(existsSync('/usr/bin/python3'), 'precondition: the host has /usr/bin/python3');
  const script = [
    'cat /etc/image-name',
    'if [ -e /usr/bin/python3 ]; then echo python3-present; else echo python3-absent; fi',
    'if [ -e /usr/lib/python3 ] || [ -e /usr/bin/apt ]; then echo host-usr; else echo no-host-usr; fi',
    'if echo x 2>/dev/null > /etc/image-name; then echo image-writable; else echo image-read-only; fi',
    'echo out > /outputs/o.txt && echo outputs-writable',
    'echo "uid=$(cat /proc/self/status | while read k v r; do [ "$k" = Uid: ] && echo $v; done)"',
  ].join('\n');
  const { outcome, lines } = await ctx.run({ rootfs: rootfsA, argv: ['/bin/sh', '-c', script] });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  assert.deepEqual(lines, ['image-a', 'python3-absent', 'no-host-usr', 'image-read-only', 'outputs-writable', 'uid=65534']);
});

test('two tenants run different images at the same time, each seeing only its own', async () => {
  const run = (tenantId: string, rootfs: string) => {
    const lines: string[] = [];
    return ctx.dirs(`two-${tenantId}`).then((d) => {
      const job = ctx.executor.start(ctx.spec({
        ...d, tenantId, rootfs, output: (l) => lines.push(l.line),
        // Each job waits until it sees its own marker file twice a bit apart: both are running together.
        argv: ['/bin/sh', '-c', 'cat /etc/image-name; sleep 0.3; cat /etc/image-name'],
      }));
      return { job, lines };
    });
  };
  const [a, b] = await Promise.all([run('ta', rootfsA), run('tb', rootfsB)]);
  const [oa, ob] = await Promise.all([a.job.wait(), b.job.wait()]);
  assert.equal(oa.kind, 'succeeded', a.lines.join('\n'));
  assert.equal(ob.kind, 'succeeded', b.lines.join('\n'));
  assert.deepEqual(a.lines, ['image-a', 'image-a']);
  assert.deepEqual(b.lines, ['image-b', 'image-b']);
});

let server: Server | undefined;
after(() => server?.close());

test('the relay works on an image: the platform\'s node runs with its own libraries, the job reaches the API', async () => {
  const socketPath = join(ctx.base, 'api.sock');
  server = createServer((_req, res) => res.end('hello from the platform'));
  await new Promise<void>((resolve) => server?.listen(socketPath, resolve));
  await chmod(socketPath, 0o777);
  const script = '/opt/bulkhead/bin/node -e "fetch(process.env.BULKHEAD_API_URL).then(r=>r.text()).then(t=>console.log(t))"';
  const { outcome, lines } = await ctx.run({ rootfs: rootfsA, apiSocketPath: socketPath, argv: ['/bin/sh', '-c', script] });
  assert.equal(outcome.kind, 'succeeded', lines.join('\n'));
  assert.deepEqual(lines, ['hello from the platform']);
});

test('the process tier refuses a job with an image (it would run on the host filesystem)', async () => {
  const { outcome } = await ctx.run({ rootfs: rootfsA, tier: 'process', argv: ['/bin/true'] });
  assert.equal(outcome.kind, 'refused');
  assert.match(outcome.kind === 'refused' ? outcome.reason : '', /sandbox tier/);
});
