/**
 * Jobs on OCI images end to end (issue 17), on PGlite and PostgreSQL with the real local executor: import
 * through the API into private stores and the public one, a job on image A sees A's files and not the
 * host's python3, two tenants on different images at once, the digest recorded on the job and pinned by a
 * rerun, tenant B gets 404 for A's private image by name and by digest (also as a job's image), hostile
 * archives refused over HTTP with nothing stored, storage quota accounting, delete + garbage collection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { buildOciArchive, buildShellImage } from './support/oci-images.ts';
import { runCliWith } from './support/cli.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);
const imageA = buildShellImage('image-a');
const imageB = buildShellImage('image-b');
const imageA2 = buildShellImage('image-a-v2');

for (const kind of databaseKinds) {
  describe(`jobs on images (${kind})`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;

    const importImage = (tenant: TestTenant | 'public', name: string, tag: string, archive: Buffer, token?: string) =>
      p.call('POST', tenant === 'public' ? `/api/v1/images?name=${name}&tag=${tag}` : `/api/v1/tenants/${tenant.slug}/images?name=${name}&tag=${tag}`,
        token ?? (tenant === 'public' ? adminToken : tenant.tokens.member), archive);
    const submit = (tenant: TestTenant, body: Record<string, unknown>) => p.call('POST', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member, body);
    const finished = async (tenant: TestTenant, id: string) =>
      waitFor(`job ${id} to end`, async () => {
        await p.platform.jobs.runner.tick();
        const job = await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/${id}`, tenant.tokens.viewer);
        return terminal.has(job.body.status) ? job.body : undefined;
      }, 60_000, 100);
    const logsOf = async (tenant: TestTenant, id: string) =>
      (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.slug}/jobs/${id}/logs`, headers: { authorization: `Bearer ${tenant.tokens.viewer}` } })).body;
    const storageUsed = async (tenant: TestTenant) => (await p.call('GET', `/api/v1/tenants/${tenant.slug}/usage`, tenant.tokens.viewer)).body.storageBytes.used as number;
    const printImage = ['/bin/sh', '-c', 'cat /etc/image-name; if [ -e /usr/bin/python3 ]; then echo python3-present; else echo python3-absent; fi'];

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhtest-img-${randomBytes(4).toString('hex')}`, relayPort: 18766 });
      acme = await p.createTenant('acme', 'sandbox');
      globex = await p.createTenant('globex', 'sandbox');
      for (const t of [acme, globex]) {
        await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, maxQueuedJobs: 100 });
      }
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    let digestA = '';
    test('import: { name, tag, digest }; the image counts against the tenant\'s storage', async () => {
      const before = await storageUsed(acme);
      const imported = await importImage(acme, 'envy', '1', imageA.archive);
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      assert.equal(imported.body.digest, imageA.manifestDigest);
      assert.deepEqual([imported.body.name, imported.body.tag, imported.body.scope], ['envy', '1', 'tenant']);
      digestA = imported.body.digest;
      assert.equal(await storageUsed(acme), before + imported.body.sizeBytes);
      const b = await importImage(globex, 'other', '1', imageB.archive);
      assert.equal(b.status, 201, JSON.stringify(b.body));
      const list = await p.call('GET', '/api/v1/tenants/acme/images', acme.tokens.viewer);
      assert.deepEqual(list.body.images.map((i: { name: string; tag: string }) => `${i.name}:${i.tag}`), ['envy:1']);
    });

    test('a job on image A sees A\'s files, not the host\'s python3; its digest is on the job and its run', async () => {
      const created = await submit(acme, { command: printImage, image: 'envy:1', resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.imageDigest, digestA);
      assert.equal(created.body.image, 'envy:1');
      const job = await finished(acme, created.body.id);
      const logs = await logsOf(acme, job.id);
      assert.equal(job.status, 'succeeded', `${job.reason ?? ''}\n${logs}`);
      assert.deepEqual(logs.trim().split('\n'), ['image-a', 'python3-absent']);
      assert.equal(job.imageDigest, digestA);
      assert.ok(job.runId !== null, 'the job has an MLflow run');
      const run = await p.call('GET', `/api/2.0/mlflow/runs/get?run_id=${job.runId}`, acme.tokens.viewer);
      const tags = Object.fromEntries((run.body.run.data.tags as Array<{ key: string; value: string }>).map((t) => [t.key, t.value]));
      assert.equal(tags['bulkhead.image_digest'], digestA);
      assert.equal(tags['bulkhead.image'], 'envy:1');
    });

    test('tenant B gets 404 for A\'s private image by name and by digest, in the API and as a job image — the same as a missing image', async () => {
      const missing = await p.call('GET', '/api/v1/tenants/globex/images/nothing:1', globex.tokens.viewer);
      assert.equal(missing.status, 404);
      for (const ref of ['envy:1', `envy@${digestA}`]) {
        const seen = await p.call('GET', `/api/v1/tenants/globex/images/${encodeURIComponent(ref)}`, globex.tokens.viewer);
        assert.equal(seen.status, 404, ref);
        assert.equal(seen.body.code, missing.body.code);
        assert.equal(seen.body.message, `image '${ref}' not found`);
        const job = await submit(globex, { command: ['/bin/true'], image: ref });
        assert.equal(job.status, 404, ref);
        assert.equal(job.body.code, 'NOT_FOUND');
        const del = await p.call('DELETE', `/api/v1/tenants/globex/images/${encodeURIComponent('envy:1')}`, globex.tokens.member);
        assert.equal(del.status, 404);
      }
      const list = await p.call('GET', '/api/v1/tenants/globex/images', globex.tokens.viewer);
      assert.ok(!JSON.stringify(list.body).includes(digestA.slice(7)), 'not listed');
      // A's own view by digest works: the 404 above is the tenant boundary, not a bad reference.
      const own = await p.call('GET', `/api/v1/tenants/acme/images/${encodeURIComponent(`envy@${digestA}`)}`, acme.tokens.viewer);
      assert.equal(own.status, 200, JSON.stringify(own.body));
      assert.equal(own.body.digest, digestA);
    });

    test('two tenants run different images at the same time', async () => {
      const sleepy = ['/bin/sh', '-c', 'cat /etc/image-name; sleep 0.5; cat /etc/image-name'];
      const [a, b] = await Promise.all([
        submit(acme, { command: sleepy, image: 'envy:1', resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } }),
        submit(globex, { command: sleepy, image: 'other:1', resources: { cpu: 0.5, memoryMiB: 256, timeoutSeconds: 60 } }),
      ]);
      assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(b.status, 201, JSON.stringify(b.body));
      const [ja, jb] = await Promise.all([finished(acme, a.body.id), finished(globex, b.body.id)]);
      assert.equal(ja.status, 'succeeded');
      assert.equal(jb.status, 'succeeded');
      assert.deepEqual((await logsOf(acme, ja.id)).trim().split('\n'), ['image-a', 'image-a']);
      assert.deepEqual((await logsOf(globex, jb.id)).trim().split('\n'), ['image-b', 'image-b']);
      // Both ran at once: each started before the other finished.
      assert.ok(Date.parse(ja.startedAt) < Date.parse(jb.finishedAt) && Date.parse(jb.startedAt) < Date.parse(ja.finishedAt), 'overlapping runs');
    });

    test('a rerun pinned by digest runs the same image after the tag moved', async () => {
      const first = await submit(acme, { command: printImage, image: 'envy:1' });
      assert.equal(first.status, 201);
      const moved = await importImage(acme, 'envy', '1', imageA2.archive);
      assert.equal(moved.status, 201, JSON.stringify(moved.body));
      assert.notEqual(moved.body.digest, digestA);
      // The old digest stays in the store, untagged (it still counts against the quota).
      const listed = (await p.call('GET', '/api/v1/tenants/acme/images', acme.tokens.viewer)).body.images as Array<{ tag: string | null; digest: string }>;
      assert.ok(listed.some((i) => i.digest === digestA && i.tag === null), JSON.stringify(listed));
      // What `bulkhead job rerun` submits: the same command, resources, datasets, code bundle, image by digest.
      const original = (await p.call('GET', `/api/v1/tenants/acme/jobs/${first.body.id}`, acme.tokens.viewer)).body;
      const rerun = await submit(acme, { command: original.command, resources: original.resources, image: `envy@${original.imageDigest}` });
      assert.equal(rerun.status, 201, JSON.stringify(rerun.body));
      assert.equal(rerun.body.imageDigest, digestA);
      const job = await finished(acme, rerun.body.id);
      assert.equal(job.status, 'succeeded', job.reason ?? '');
      assert.equal((await logsOf(acme, job.id)).trim().split('\n')[0], 'image-a', 'the old image, not the moved tag');
      const fresh = await submit(acme, { command: printImage, image: 'envy:1' });
      assert.equal(fresh.body.imageDigest, moved.body.digest);
      await finished(acme, fresh.body.id);
      await finished(acme, first.body.id);
    });

    test('a hostile archive is refused over HTTP with IMAGE_REFUSED and nothing stored', async () => {
      const store = join(p.home, 'images');
      const blobsBefore = readdirSync(join(store, 'blobs', 'sha256')).sort();
      const rootfsBefore = readdirSync(join(store, 'rootfs')).sort();
      const hostile = buildOciArchive([{ entries: [{ path: 'ok', data: 'x' }, { path: 'dev-null', type: 'CharacterDevice' }] }]);
      const refused = await importImage(acme, 'evil', '1', hostile.archive);
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'IMAGE_REFUSED');
      assert.equal(refused.body.details.check, 'device-node');
      // Nothing new (the refusal's garbage collection may have removed images no longer referenced).
      assert.deepEqual(readdirSync(join(store, 'blobs', 'sha256')).filter((b) => !blobsBefore.includes(b)), []);
      assert.deepEqual(readdirSync(join(store, 'rootfs')).filter((r) => !rootfsBefore.includes(r)), []);
      assert.deepEqual(readdirSync(join(store, 'tmp')), []);
      const list = await p.call('GET', '/api/v1/tenants/acme/images', acme.tokens.viewer);
      assert.ok(!list.body.images.some((i: { name: string }) => i.name === 'evil'));
    });

    test('an import over the storage quota is QUOTA_EXCEEDED and stores nothing', async () => {
      await p.call('PUT', '/api/v1/tenants/globex/quota', adminToken, { storageBytes: 100_000 });
      const refused = await importImage(globex, 'big', '1', imageA2.archive);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'QUOTA_EXCEEDED');
      const list = await p.call('GET', '/api/v1/tenants/globex/images', globex.tokens.viewer);
      assert.ok(!list.body.images.some((i: { name: string }) => i.name === 'big'));
      await p.call('PUT', '/api/v1/tenants/globex/quota', adminToken, { storageBytes: 10 * 1024 ** 3 });
    });

    test('the public store: platform admins import, tenants list and run it, members cannot write it', async () => {
      const denied = await importImage('public', 'base', '1', imageB.archive, acme.tokens.owner);
      assert.equal(denied.status, 403);
      const imported = await importImage('public', 'base', '1', imageB.archive);
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      assert.equal(imported.body.scope, 'public');
      const list = await p.call('GET', '/api/v1/tenants/acme/images', acme.tokens.viewer);
      assert.ok(list.body.images.some((i: { name: string; scope: string }) => i.name === 'base' && i.scope === 'public'));
      const created = await submit(acme, { command: printImage, image: 'base:1' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const job = await finished(acme, created.body.id);
      assert.equal(job.status, 'succeeded', job.reason ?? '');
      assert.equal((await logsOf(acme, job.id)).trim().split('\n')[0], 'image-b');
    });

    test('a tenant default image: jobs without `image` run on it; it must resolve for the tenant; cleared, jobs run on the host', async () => {
      const foreign = await p.call('PUT', '/api/v1/tenants/globex/image-default', globex.tokens.member, { image: `envy@${digestA}` });
      assert.equal(foreign.status, 404, 'another tenant\'s private image cannot become a default');
      const set = await p.call('PUT', '/api/v1/tenants/globex/image-default', globex.tokens.member, { image: 'other:1' });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual((await p.call('GET', '/api/v1/tenants/globex/image-default', globex.tokens.viewer)).body, { image: 'other:1' });
      const created = await submit(globex, { command: printImage });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.image, 'other:1');
      assert.equal(created.body.imageDigest, imageB.manifestDigest);
      const job = await finished(globex, created.body.id);
      assert.equal(job.status, 'succeeded', job.reason ?? '');
      assert.deepEqual((await logsOf(globex, job.id)).trim().split('\n'), ['image-b', 'python3-absent']);
      const cleared = await p.call('PUT', '/api/v1/tenants/globex/image-default', globex.tokens.member, { image: null });
      assert.deepEqual(cleared.body, { image: null });
      const host = await submit(globex, { command: ['/bin/sh', '-c', 'if [ -e /usr/bin/python3 ]; then echo python3-present; fi'] });
      assert.equal(host.body.imageDigest, null);
      const hostJob = await finished(globex, host.body.id);
      assert.equal(hostJob.status, 'succeeded', hostJob.reason ?? '');
      assert.equal((await logsOf(globex, hostJob.id)).trim(), 'python3-present');
    });

    test('CLI: image import, job submit --image, job rerun reproduces the image digest, image list and delete', async () => {
      const url = await p.listen();
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-image-cli-'));
      const file = join(dir, 'image.tar');
      writeFileSync(file, imageB.archive);
      const env = { BULKHEAD_URL: url, BULKHEAD_TOKEN: acme.tokens.member, BULKHEAD_CLI_CONFIG: join(dir, 'cli.json') };
      const imported = await runCliWith(['--json', 'image', 'import', file, '--tenant', 'acme', '--name', 'cli-img:7'], env);
      assert.equal(imported.code, 0, imported.err);
      assert.equal(JSON.parse(imported.out).digest, imageB.manifestDigest);
      const submitted = await runCliWith(['--json', 'job', 'submit', '--tenant', 'acme', '--image', 'cli-img:7', '--', ...printImage], env);
      assert.equal(submitted.code, 0, submitted.err);
      const original = JSON.parse(submitted.out) as { id: string; imageDigest: string };
      assert.equal(original.imageDigest, imageB.manifestDigest);
      await finished(acme, original.id);
      // The tag moves to another image; the rerun still runs the original digest.
      const retag = await importImage(acme, 'cli-img', '7', imageA.archive);
      assert.equal(retag.status, 201, JSON.stringify(retag.body));
      const rerun = await runCliWith(['--json', 'job', 'rerun', original.id, '--tenant', 'acme'], env);
      assert.equal(rerun.code, 0, rerun.err);
      const again = JSON.parse(rerun.out) as { id: string; imageDigest: string; image: string; command: string[] };
      assert.equal(again.imageDigest, imageB.manifestDigest);
      assert.equal(again.image, `cli-img@${imageB.manifestDigest}`);
      assert.deepEqual(again.command, printImage);
      const job = await finished(acme, again.id);
      assert.equal(job.status, 'succeeded', job.reason ?? '');
      assert.equal((await logsOf(acme, job.id)).trim().split('\n')[0], 'image-b');
      const listed = await runCliWith(['image', 'list', '--tenant', 'acme'], env);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, /cli-img\s+7/);
      assert.match(listed.out, /<untagged>/);
      const shown = await runCliWith(['image', 'default', '--tenant', 'acme'], env);
      assert.equal(shown.code, 0, shown.err);
      assert.match(shown.out, /default image: none/);
      const setDefault = await runCliWith(['--json', 'image', 'default', 'cli-img:7', '--tenant', 'acme'], env);
      assert.equal(setDefault.code, 0, setDefault.err);
      assert.deepEqual(JSON.parse(setDefault.out), { image: 'cli-img:7' });
      assert.equal((await runCliWith(['image', 'default', '--clear', '--tenant', 'acme'], env)).code, 0);
      const deleted = await runCliWith(['image', 'delete', 'cli-img:7', '--tenant', 'acme'], env);
      assert.equal(deleted.code, 0, deleted.err);
      const hostile = join(dir, 'hostile.tar');
      writeFileSync(hostile, buildOciArchive([{ entries: [{ path: '../escape', data: 'x' }] }]).archive);
      const refused = await runCliWith(['image', 'import', hostile, '--tenant', 'acme', '--name', 'bad:1'], env);
      assert.notEqual(refused.code, 0);
      assert.match(refused.err, /image refused: path/);
    });

    test('delete releases the storage and garbage collection removes files no image or active job references', async () => {
      const before = await storageUsed(acme);
      const list = (await p.call('GET', '/api/v1/tenants/acme/images', acme.tokens.viewer)).body.images as Array<{ name: string; tag: string; sizeBytes: number; digest: string }>;
      const envy = list.find((i) => i.name === 'envy' && i.tag === '1');
      assert.ok(envy !== undefined);
      const deleted = await p.call('DELETE', `/api/v1/tenants/acme/images/${encodeURIComponent('envy:1')}`, acme.tokens.member);
      assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
      assert.equal(await storageUsed(acme), before - envy.sizeBytes);
      const again = await p.call('GET', `/api/v1/tenants/acme/images/${encodeURIComponent('envy:1')}`, acme.tokens.viewer);
      assert.equal(again.status, 404);
      // envy:1 pointed at image-a-v2 (only acme had it): its rootfs is gone; image-b (globex, public) stays.
      assert.equal(existsSync(join(p.home, 'images', 'rootfs', envy.digest.slice(7))), false);
      assert.ok(existsSync(join(p.home, 'images', 'rootfs', imageB.manifestDigest.slice(7))));
      // The untagged old digest goes by name@digest, and with it its storage and files.
      const old = list.find((i) => i.digest === digestA);
      assert.ok(old !== undefined);
      const gone = await p.call('DELETE', `/api/v1/tenants/acme/images/${encodeURIComponent(`envy@${digestA}`)}`, acme.tokens.member);
      assert.equal(gone.status, 204, JSON.stringify(gone.body));
      assert.equal(await storageUsed(acme), before - envy.sizeBytes - old.sizeBytes);
      assert.equal(existsSync(join(p.home, 'images', 'rootfs', digestA.slice(7))), false);
    });
  });
}
