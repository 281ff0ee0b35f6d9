/** Registry references, the distribution spec's authentication challenges, and credential sealing: pure. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseRegistryReference } from '../contract/image-schemas.ts';
import { parseChallenge } from './registry-client.ts';
import { openCredential, sealCredential } from './image-service.ts';
import { isAppError } from '../core/errors.ts';

test('registry references: host[:port]/repository with a tag (default latest) or a digest; others refused', () => {
  assert.deepEqual(parseRegistryReference('registry.example.com/team/torch:2.3'), { registry: 'registry.example.com', repository: 'team/torch', tag: '2.3' });
  assert.deepEqual(parseRegistryReference('127.0.0.1:5000/a/b/c'), { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'latest' });
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseRegistryReference(`r.io/x@${digest}`), { registry: 'r.io', repository: 'x', digest });
  for (const bad of ['torch:2.3', 'r.io/', 'r.io/Team/x', 'r.io/x:', `r.io/x@sha256:${'a'.repeat(63)}`, 'r.io/../x', 'r.io//x', 'R.IO/x', `r.io/${'a'.repeat(600)}`]) {
    assert.equal(parseRegistryReference(bad), undefined, bad);
  }
});

test('challenges: Bearer with quoted parameters (commas inside quotes), Basic, garbage', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="bulkhead-test"'), { scheme: 'basic', params: { realm: 'bulkhead-test' } });
  assert.deepEqual(parseChallenge('bearer Realm=https://x/t'), { scheme: 'bearer', params: { realm: 'https://x/t' } });
  assert.equal(parseChallenge(''), undefined);
});

test('a sealed credential opens only for its tenant, registry and key; the secret is not in the ciphertext', () => {
  const key = randomBytes(32);
  const sealed = sealCredential(key, 'tenant-a', 'r.io', 'hunter2-secret');
  assert.ok(!Buffer.from(sealed, 'base64').toString('latin1').includes('hunter2'));
  assert.notEqual(sealCredential(key, 'tenant-a', 'r.io', 'hunter2-secret'), sealed, 'a fresh IV each time');
  assert.equal(openCredential(key, 'tenant-a', 'r.io', sealed), 'hunter2-secret');
  for (const [k, tenant, registry] of [[randomBytes(32), 'tenant-a', 'r.io'], [key, 'tenant-b', 'r.io'], [key, 'tenant-a', 'other.io']] as const) {
    assert.throws(() => openCredential(k, tenant, registry, sealed), (e: unknown) => isAppError(e) && e.code === 'INTERNAL' && !e.message.includes('hunter2'));
  }
});
