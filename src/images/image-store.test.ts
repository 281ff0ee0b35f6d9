/** The image store on a real filesystem: import, layer semantics, every hostile case refused with nothing left. */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { isAppError } from '../core/errors.ts';
import { buildOciArchive, buildShellImage, buildTar, type TarEntry } from '../../test/support/oci-images.ts';
import { createImageStore } from './image-store.ts';

const base = await mkdtemp(join(tmpdir(), 'bulkhead-image-store-'));
after(() => rm(base, { recursive: true, force: true }));
let n = 0;
const freshStore = async (): Promise<{ root: string; store: ReturnType<typeof createImageStore> }> => {
  n += 1;
  const root = join(base, `store${n}`);
  return { root, store: createImageStore(root) };
};
const LIMIT = { limitBytes: 1 << 30 };
const listTree = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : []);

test('an OCI image layout is imported: rootfs with the image\'s files and the sandbox mount points, blobs by digest', async () => {
  const { root, store } = await freshStore();
  const image = buildShellImage('alpha');
  const imported = await store.importArchive(Readable.from(image.archive), LIMIT);
  assert.equal(imported.digest, image.manifestDigest);
  assert.equal(imported.layers.length, 2);
  const rootfs = await store.rootfsPath(imported.digest);
  assert.equal(readFileSync(join(rootfs, 'etc/image-name'), 'utf8'), 'alpha\n');
  assert.ok(lstatSync(join(rootfs, 'bin/sh')).isFile());
  for (const dir of ['proc', 'dev', 'tmp', 'workspace', 'outputs', 'opt/bulkhead', 'run/bulkhead']) {
    assert.ok(lstatSync(join(rootfs, dir)).isDirectory(), dir);
  }
  for (const blob of [imported.digest, ...imported.layers]) assert.ok(existsSync(join(root, 'blobs/sha256', blob.slice(7))), blob);
  assert.deepEqual(listTree(join(root, 'tmp')), [], 'staging removed');
  assert.ok(imported.sizeBytes > image.archive.length / 2, 'size counts blobs and unpacked files');
});

test('a docker save archive of the same image gets the same digest; importing twice unpacks once', async () => {
  const { store } = await freshStore();
  const layers = [{ entries: [{ path: 'a.txt', data: 'A' }] as TarEntry[] }];
  const oci = buildOciArchive(layers);
  const docker = buildOciArchive(layers, { format: 'docker' });
  const first = await store.importArchive(Readable.from(oci.archive), LIMIT);
  const rootfs = await store.rootfsPath(first.digest);
  const inode = lstatSync(join(rootfs, 'a.txt')).ino;
  const second = await store.importArchive(Readable.from(docker.archive), LIMIT);
  assert.equal(second.digest, first.digest);
  assert.equal(lstatSync(join(await store.rootfsPath(second.digest), 'a.txt')).ino, inode, 'the rootfs was not unpacked again');
});

test('whiteouts remove lower-layer files, opaque directories drop lower contents but keep their own layer\'s', async () => {
  const { store } = await freshStore();
  const image = buildOciArchive([
    { entries: [
      { path: 'keep/', type: 'Directory' }, { path: 'keep/a', data: '1' }, { path: 'keep/gone', data: '2' },
      { path: 'opq/', type: 'Directory' }, { path: 'opq/old', data: '3' }, { path: 'link', type: 'SymbolicLink', linkpath: 'keep/a' },
    ] },
    { entries: [
      { path: 'keep/.wh.gone', data: '' }, { path: 'opq/', type: 'Directory' }, { path: 'opq/new', data: '4' },
      { path: 'opq/.wh..wh..opq', data: '' }, { path: '.wh.link', data: '' }, { path: 'hard', type: 'Link', linkpath: 'keep/a' },
    ] },
  ], {});
  const imported = await store.importArchive(Readable.from(image.archive), LIMIT);
  const rootfs = await store.rootfsPath(imported.digest);
  assert.deepEqual(readdirSync(join(rootfs, 'keep')).sort(), ['a']);
  assert.deepEqual(readdirSync(join(rootfs, 'opq')).sort(), ['new'], 'opaque: old gone, this layer\'s new kept');
  assert.equal(existsSync(join(rootfs, 'link')), false);
  assert.equal(lstatSync(join(rootfs, 'hard')).ino, lstatSync(join(rootfs, 'keep/a')).ino);
  assert.equal(readdirSync(rootfs).some((name) => name.startsWith('.wh.')), false);
});

const hostile: { name: string; check: string; layers: Parameters<typeof buildOciArchive>[0] }[] = [
  { name: '.. in a path', check: 'path-escape', layers: [{ entries: [{ path: 'a/../../escaped-dotdot', data: 'x' }] }] },
  { name: 'an absolute path', check: 'path-escape', layers: [{ entries: [{ path: '/tmp/escaped-absolute', data: 'x' }] }] },
  { name: 'a symlink climbing out', check: 'link-escape', layers: [{ entries: [{ path: 'up', type: 'SymbolicLink', linkpath: '../../..' }] }] },
  {
    name: 'a file written through a symlink (in the next layer)',
    check: 'path-through-symlink',
    layers: [
      { entries: [{ path: 'etc2', type: 'SymbolicLink', linkpath: '/tmp' }] },
      { entries: [{ path: 'etc2/escaped-through-link', data: 'x' }] },
    ],
  },
  { name: 'a hardlink outside', check: 'path-escape', layers: [{ entries: [{ path: 'h', type: 'Link', linkpath: '../../../etc/passwd' }] }] },
  {
    name: 'a hardlink through a symlink',
    check: 'path-through-symlink',
    layers: [{ entries: [{ path: 'e', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'h', type: 'Link', linkpath: 'e/passwd' }] }],
  },
  { name: 'a character device', check: 'device-node', layers: [{ entries: [{ path: 'null', type: 'CharacterDevice' }] }] },
  { name: 'a block device', check: 'device-node', layers: [{ entries: [{ path: 'sda', type: 'BlockDevice' }] }] },
  { name: 'a setuid file', check: 'setuid', layers: [{ entries: [{ path: 'su', data: 'x', mode: 0o4755 }] }] },
  { name: 'a setgid directory', check: 'setuid', layers: [{ entries: [{ path: 'g/', type: 'Directory', mode: 0o2755 }] }] },
  { name: 'a layer blob that does not match its digest', check: 'digest-mismatch', layers: [{ entries: [{ path: 'a', data: 'x' }], tamper: true }] },
];

for (const c of hostile) {
  test(`hostile image refused: ${c.name} → IMAGE_REFUSED ${c.check}, nothing left on disk`, async () => {
    const { root, store } = await freshStore();
    // A good layer first: its unpacked files must not survive the refusal either.
    const image = buildOciArchive([{ entries: [{ path: 'good.txt', data: 'ok' }] }, ...c.layers]);
    await assert.rejects(store.importArchive(Readable.from(image.archive), LIMIT), (error: unknown) => {
      assert.ok(isAppError(error), String(error));
      assert.equal(error.code, 'IMAGE_REFUSED');
      assert.equal(error.details?.check, c.check, error.message);
      return true;
    });
    assert.deepEqual(listTree(join(root, 'blobs')), ['sha256'], 'no blob stored');
    assert.deepEqual(listTree(join(root, 'rootfs')), [], 'no rootfs');
    assert.deepEqual(listTree(join(root, 'tmp')), [], 'no staging left');
    for (const escaped of ['/tmp/escaped-absolute', '/tmp/escaped-through-link', join(base, 'escaped-dotdot')]) {
      assert.equal(existsSync(escaped), false, escaped);
    }
  });
}

test('a layer whose uncompressed content does not match the config\'s diff_id is refused', async () => {
  const { root, store } = await freshStore();
  // Swap the raw tar for another after the diff_id was computed: the blob digest matches, the diff_id not.
  const good = buildOciArchive([{ entries: [{ path: 'a', data: 'x' }], gzip: false }]);
  const other = buildTar([{ path: 'b', data: 'y' }]);
  const archive = Buffer.from(good.archive);
  // Replace the layer tar inside the archive by the other one (same length: both one small file).
  const at = archive.indexOf(buildTar([{ path: 'a', data: 'x' }]));
  assert.ok(at > 0);
  other.copy(archive, at);
  await assert.rejects(store.importArchive(Readable.from(archive), LIMIT), (error: unknown) =>
    isAppError(error) && error.code === 'IMAGE_REFUSED' && error.details?.check === 'digest-mismatch');
  assert.deepEqual(listTree(join(root, 'rootfs')), []);
});

test('an archive over the free storage is refused with QUOTA_EXCEEDED while it streams; nothing kept', async () => {
  const { root, store } = await freshStore();
  const image = buildShellImage('big');
  await assert.rejects(store.importArchive(Readable.from(image.archive), { limitBytes: 64 * 1024 }), (error: unknown) =>
    isAppError(error) && error.code === 'QUOTA_EXCEEDED');
  assert.deepEqual(listTree(join(root, 'tmp')), []);
  assert.deepEqual(listTree(join(root, 'rootfs')), []);
});

test('a small archive that expands past the free storage (a gzip bomb) stops during the unpack: QUOTA_EXCEEDED, nothing kept', async () => {
  const { root, store } = await freshStore();
  // 8 MiB of zeros gzip to a few KiB: the archive fits the 1 MiB limit, its unpacked files do not.
  const bomb = buildOciArchive([{ entries: [{ path: 'zeros.bin', data: Buffer.alloc(8 * 1024 * 1024) }] }]);
  assert.ok(bomb.archive.length < 1024 * 1024 / 4, `archive is ${bomb.archive.length} bytes`);
  await assert.rejects(store.importArchive(Readable.from(bomb.archive), { limitBytes: 1024 * 1024 }), (error: unknown) =>
    isAppError(error) && error.code === 'QUOTA_EXCEEDED' && /unpacked image exceeds/.test(error.message));
  assert.deepEqual(listTree(join(root, 'tmp')), []);
  assert.deepEqual(listTree(join(root, 'rootfs')), []);
  assert.deepEqual(listTree(join(root, 'blobs')), ['sha256']);
});

test('garbage collection removes the rootfs and blobs of unreferenced images only; shared layers stay', async () => {
  const { root, store } = await freshStore();
  const shared = { entries: [{ path: 'shared', data: 's' }] as TarEntry[] };
  const a = await store.importArchive(Readable.from(buildOciArchive([shared, { entries: [{ path: 'a', data: 'a' }] }]).archive), LIMIT);
  const b = await store.importArchive(Readable.from(buildOciArchive([shared, { entries: [{ path: 'b', data: 'b' }] }]).archive), LIMIT);
  const removed = await store.collectGarbage([b.digest]);
  assert.equal(removed.rootfs, 1);
  assert.equal(removed.blobs, 3, 'a\'s manifest, config and own layer');
  assert.equal(existsSync(join(root, 'rootfs', a.digest.slice(7))), false);
  assert.ok(existsSync(join(root, 'blobs/sha256', (b.layers[0] ?? '').slice(7))), 'the shared layer stays');
  // b's rootfs removed by hand: rootfsPath unpacks it again from the blobs.
  await rm(join(root, 'rootfs', b.digest.slice(7)), { recursive: true });
  const again = await store.rootfsPath(b.digest);
  assert.equal(readFileSync(join(again, 'b'), 'utf8'), 'b');
  await assert.rejects(store.rootfsPath(a.digest), (e: unknown) => isAppError(e) && e.code === 'NOT_FOUND');
});

test('the staging sweep: everything with age 0; with an age, only what nobody wrote to for that long', async () => {
  const { root, store } = await freshStore();
  const fresh = await store.stagingDir('pull');
  writeFileSync(join(fresh, 'partial'), Buffer.alloc(100));
  const stale = await store.stagingDir('import');
  mkdirSync(join(stale, 'files'));
  writeFileSync(join(stale, 'files', 'f1'), Buffer.alloc(300));
  const old = new Date(Date.now() - 2 * 3600_000);
  for (const path of [join(stale, 'files', 'f1'), join(stale, 'files'), stale]) utimesSync(path, old, old);
  assert.deepEqual(await store.sweepStaging(3600_000), { entries: 1, bytes: 300 });
  assert.deepEqual(readdirSync(join(root, 'tmp')), [fresh.split('/').at(-1)]);
  assert.deepEqual(await store.sweepStaging(0), { entries: 1, bytes: 100 });
  assert.deepEqual(readdirSync(join(root, 'tmp')), []);
});

test('stats: what the store holds, read without creating anything', async () => {
  const { root, store } = await freshStore();
  assert.deepEqual(await store.stats(), { rootfsCount: 0, rootfsBytes: 0, blobCount: 0, blobBytes: 0, stagingEntries: 0 });
  assert.equal(existsSync(root), false, 'a store never used stays absent');
  const image = buildShellImage('stats');
  await store.importArchive(Readable.from(image.archive), LIMIT);
  const stats = await store.stats();
  assert.equal(stats.rootfsCount, 1);
  assert.equal(stats.blobCount, 4, 'two layers, a config, a manifest');
  assert.ok(stats.rootfsBytes > 0 && stats.blobBytes > 0);
});
