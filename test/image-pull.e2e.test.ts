/**
 * Pulling images from a real OCI distribution registry (issue 17), on PGlite and PostgreSQL: Debian's
 * docker-registry on a loopback ephemeral port with htpasswd auth (and, below, token auth with the test's own
 * token service: the Bearer challenge), images pushed by skopeo from archives
 * built in the test. Covers: the operator's registry list (others refused), the tenant's credentials
 * (sealed under its key, write-only, invisible to another tenant), the registry's challenge answered,
 * the pulled digest equal to the pushed one, a pulled image runnable by name and counted against the
 * quota, and the import path's checks applied to pulls: a hostile layer and a blob tampered in the
 * registry's storage are refused with nothing left in the store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildOciArchive, buildShellImage } from './support/oci-images.ts';
import { registryToolsPresent, startTestRegistry, type TestRegistry } from './support/oci-registry.ts';
import { readAsSystem } from '../src/db/index.ts';

const skip = registryToolsPresent() ? false : 'docker-registry and skopeo are not installed (apt-get install -y docker-registry skopeo)';
const shell = buildShellImage('pulled-image');
const hostile = buildOciArchive([{ entries: [{ path: 'etc/', type: 'Directory' }, { path: '../escape', data: 'out' }] }]);
const victim = buildShellImage('tampered');

describe('image pull from a registry', { skip }, () => {
  let registry: TestRegistry;
  let pushed = '';
  let hostileDigest = '';
  let victimDigest = '';
  before(async () => {
    registry = await startTestRegistry();
    pushed = await registry.push(shell.archive, 'team/shell', '1.0');
    hostileDigest = await registry.push(hostile.archive, 'team/hostile', '1');
    victimDigest = await registry.push(victim.archive, 'team/victim', '1');
  });
  after(async () => {
    await registry.close();
  });

  for (const kind of databaseKinds) {
    describe(kind, () => {
      let p: TestPlatform;
      let acme: TestTenant;
      let globex: TestTenant;
      const pull = (tenant: TestTenant, body: Record<string, unknown>, token = tenant.tokens.member) =>
        p.call('POST', `/api/v1/tenants/${tenant.slug}/images/pull`, token, body);
      const login = (tenant: TestTenant, username: string, password: string) =>
        p.call('PUT', `/api/v1/tenants/${tenant.slug}/registry-credentials/${registry.host}`, tenant.tokens.member, { username, password });
      const storeEmptyOfStaging = () => readdirSync(join(p.home, 'images', 'tmp'));
      const storeBlobs = () => new Set(readdirSync(join(p.home, 'images', 'blobs', 'sha256')));

      before(async () => {
        p = await createTestPlatform(kind, { imageRegistries: { [registry.host]: registry.url, 'registry.invalid': 'https://registry.invalid' } });
        acme = await p.createTenant('acme', 'sandbox');
        globex = await p.createTenant('globex', 'sandbox');
      });
      after(async () => {
        await p.platform.jobs.runner.stop();
        await p.close();
      });

      test('a registry the operator did not configure is refused; a malformed reference is a validation error', async () => {
        const other = await pull(acme, { reference: 'registry.example.com/team/shell:1.0' });
        assert.equal(other.status, 400, JSON.stringify(other.body));
        assert.match(other.body.message, /not one the operator configured/);
        const bad = await pull(acme, { reference: 'no-registry-here' });
        assert.equal(bad.status, 400);
      });

      test('without credentials the registry refuses: FORBIDDEN, nothing stored', async () => {
        const refused = await pull(acme, { reference: `${registry.host}/team/shell:1.0` });
        assert.equal(refused.status, 403, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'FORBIDDEN');
        assert.deepEqual(storeEmptyOfStaging(), []);
        const wrong = await login(acme, registry.user, 'not-the-password');
        assert.equal(wrong.status, 200, JSON.stringify(wrong.body));
        const denied = await pull(acme, { reference: `${registry.host}/team/shell:1.0` });
        assert.equal(denied.status, 403);
        assert.doesNotMatch(JSON.stringify(denied.body), /not-the-password/);
      });

      test('credentials: sealed at rest, listed without the password, invisible to another tenant, viewer cannot set them', async () => {
        const set = await login(acme, registry.user, registry.password);
        assert.equal(set.status, 200, JSON.stringify(set.body));
        assert.deepEqual(Object.keys(set.body).sort(), ['registry', 'updatedAt', 'username']);
        const listed = await p.call('GET', '/api/v1/tenants/acme/registry-credentials', acme.tokens.viewer);
        assert.deepEqual(listed.body.credentials.map((c: { registry: string; username: string }) => [c.registry, c.username]), [[registry.host, registry.user]]);
        assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(registry.password));
        const { rows } = await readAsSystem<{ secret_sealed: string }>(p.platform.db, 'SELECT secret_sealed FROM registry_credentials');
        assert.equal(rows.length, 1);
        assert.ok(!rows[0]!.secret_sealed.includes(registry.password) && !Buffer.from(rows[0]!.secret_sealed, 'base64').toString('latin1').includes(registry.password));
        assert.deepEqual((await p.call('GET', '/api/v1/tenants/globex/registry-credentials', globex.tokens.admin)).body.credentials, []);
        assert.equal((await p.call('GET', '/api/v1/tenants/acme/registry-credentials', globex.tokens.admin)).status, 404);
        const viewer = await p.call('PUT', `/api/v1/tenants/acme/registry-credentials/${registry.host}`, acme.tokens.viewer, { username: 'x', password: 'y' });
        assert.equal(viewer.status, 403);
        const unconfigured = await p.call('PUT', '/api/v1/tenants/acme/registry-credentials/elsewhere.example', acme.tokens.member, { username: 'x', password: 'y' });
        assert.equal(unconfigured.status, 400);
      });

      test('pull: the pushed digest, stored under the repository\'s last name, resolvable, counted against storage', async () => {
        const before = (await p.call('GET', '/api/v1/tenants/acme/usage', acme.tokens.viewer)).body.storageBytes.used as number;
        const pulled = await pull(acme, { reference: `${registry.host}/team/shell:1.0` });
        assert.equal(pulled.status, 201, JSON.stringify(pulled.body));
        assert.equal(pulled.body.digest, pushed);
        assert.equal(pulled.body.digest, shell.manifestDigest, 'skopeo pushed the manifest unchanged');
        assert.deepEqual([pulled.body.name, pulled.body.tag, pulled.body.scope, pulled.body.pulledFrom], ['shell', '1.0', 'tenant', `${registry.host}/team/shell:1.0`]);
        const resolved = await p.call('GET', '/api/v1/tenants/acme/images/shell:1.0', acme.tokens.viewer);
        assert.equal(resolved.body.digest, pushed);
        const after = (await p.call('GET', '/api/v1/tenants/acme/usage', acme.tokens.viewer)).body.storageBytes.used as number;
        assert.equal(after, before + pulled.body.sizeBytes);
        assert.equal(readFileSync(join(p.home, 'images', 'rootfs', pushed.slice(7), 'etc', 'image-name'), 'utf8'), 'pulled-image\n');
        assert.deepEqual(storeEmptyOfStaging(), []);
        // By digest, under another local name (`as`); the audit trail says where it came from.
        const byDigest = await pull(acme, { reference: `${registry.host}/team/shell@${pushed}`, as: 'shell2:pinned' });
        assert.equal(byDigest.status, 201, JSON.stringify(byDigest.body));
        assert.deepEqual([byDigest.body.name, byDigest.body.tag, byDigest.body.digest], ['shell2', 'pinned', pushed]);
        const audit = await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin);
        assert.ok(JSON.stringify(audit.body).includes(`${registry.host}/team/shell:1.0`), JSON.stringify(audit.body).slice(0, 400));
        assert.doesNotMatch(JSON.stringify(audit.body), new RegExp(registry.password));
        // Another tenant without credentials cannot pull it, nor see acme's copy.
        assert.equal((await pull(globex, { reference: `${registry.host}/team/shell:1.0` })).status, 403);
        assert.equal((await p.call('GET', '/api/v1/tenants/globex/images/shell:1.0', globex.tokens.viewer)).status, 404);
        // A job names local images only: a registry reference is not pulled on submission (docs/images.md).
        const job = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, { command: ['/bin/true'], image: `${registry.host}/team/shell:1.0` });
        assert.equal(job.status, 400, JSON.stringify(job.body));
        assert.equal(job.body.code, 'VALIDATION_FAILED');
        const missing = await pull(acme, { reference: `${registry.host}/team/shell:nope` });
        assert.equal(missing.status, 404, JSON.stringify(missing.body));
      });

      test('a hostile layer from the registry is refused exactly as on import; nothing stored', async () => {
        const blobs = storeBlobs();
        const refused = await pull(acme, { reference: `${registry.host}/team/hostile:1` });
        assert.equal(refused.status, 422, JSON.stringify(refused.body));
        assert.equal(refused.body.details.check, 'path-escape');
        assert.equal(hostileDigest, hostile.manifestDigest);
        assert.deepEqual(storeBlobs(), blobs);
        assert.ok(!existsSync(join(p.home, 'images', 'rootfs', hostileDigest.slice(7))));
        assert.deepEqual(storeEmptyOfStaging(), []);
      });

      test('a blob altered in the registry\'s storage fails its digest: refused, nothing stored', async () => {
        // The registry serves whatever its storage holds: flip a byte of the largest blob (a layer).
        const manifest = JSON.parse(readFileSync(join(registry.storage, 'docker/registry/v2/blobs/sha256', victimDigest.slice(7, 9), victimDigest.slice(7), 'data'), 'utf8'));
        const layer = [...manifest.layers].sort((a: { size: number }, b: { size: number }) => b.size - a.size)[0] as { digest: string };
        const path = join(registry.storage, 'docker/registry/v2/blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
        const original = readFileSync(path);
        const bytes = Buffer.from(original);
        bytes[100] = (bytes[100] ?? 0) ^ 0xff;
        writeFileSync(path, bytes);
        try {
          await login(globex, registry.user, registry.password);
          const blobs = storeBlobs();
          const refused = await pull(globex, { reference: `${registry.host}/team/victim:1` });
          assert.equal(refused.status, 422, JSON.stringify(refused.body));
          assert.equal(refused.body.details.check, 'digest-mismatch');
          assert.deepEqual(storeBlobs(), blobs);
          assert.deepEqual(storeEmptyOfStaging(), []);
        } finally {
          writeFileSync(path, original);
        }
      });

      test('a pull larger than the tenant\'s free storage: QUOTA_EXCEEDED, nothing stored', async () => {
        await p.call('PUT', `/api/v1/tenants/${globex.slug}/quota`, adminToken, { storageBytes: 4096 });
        const blobs = storeBlobs();
        const refused = await pull(globex, { reference: `${registry.host}/team/victim:1` });
        assert.equal(refused.status, 403, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'QUOTA_EXCEEDED');
        assert.deepEqual(storeBlobs(), blobs);
        assert.deepEqual(storeEmptyOfStaging(), []);
      });

      test('deleting the credentials: the next pull is refused again', async () => {
        assert.equal((await p.call('DELETE', `/api/v1/tenants/acme/registry-credentials/${registry.host}`, acme.tokens.member)).status, 204);
        assert.equal((await p.call('DELETE', `/api/v1/tenants/acme/registry-credentials/${registry.host}`, acme.tokens.member)).status, 404);
        assert.equal((await pull(acme, { reference: `${registry.host}/team/shell:1.0`, as: 'again:1' })).status, 403);
      });
    });
  }
});

describe('image pull from a registry with token authentication (the Bearer challenge)', { skip }, () => {
  let registry: TestRegistry;
  let pushed = '';
  before(async () => {
    registry = await startTestRegistry({ auth: 'token' });
    pushed = await registry.push(shell.archive, 'team/shell', '2.0');
  });
  after(async () => {
    await registry.close();
  });

  for (const kind of databaseKinds) {
    test(`the token service is asked with the tenant's credentials; the token pulls (${kind})`, async () => {
      const p = await createTestPlatform(kind, { imageRegistries: { [registry.host]: registry.url } });
      try {
        const acme = await p.createTenant('acme', 'sandbox');
        const reference = `${registry.host}/team/shell:2.0`;
        const anonymous = await p.call('POST', '/api/v1/tenants/acme/images/pull', acme.tokens.member, { reference });
        assert.equal(anonymous.status, 403, JSON.stringify(anonymous.body));
        const login = (password: string) =>
          p.call('PUT', `/api/v1/tenants/acme/registry-credentials/${registry.host}`, acme.tokens.member, { username: registry.user, password });
        assert.equal((await login('wrong')).status, 200);
        assert.equal((await p.call('POST', '/api/v1/tenants/acme/images/pull', acme.tokens.member, { reference })).status, 403);
        assert.equal((await login(registry.password)).status, 200);
        const pulled = await p.call('POST', '/api/v1/tenants/acme/images/pull', acme.tokens.member, { reference });
        assert.equal(pulled.status, 201, JSON.stringify(pulled.body));
        assert.equal(pulled.body.digest, pushed);
        assert.deepEqual([pulled.body.name, pulled.body.tag], ['shell', '2.0']);
      } finally {
        await p.close();
      }
    });
  }
});
