import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInvalidation, replicaBandwidthShare, replicaCountShare, replicaShare, replicaTimeShare } from './replica-invalidation.ts';

test('notification payloads: known kinds with a uuid; anything else drops everything', () => {
  const id = '0b7e8a4e-6f1c-4d7a-9a57-2f1b1d2c3e4f';
  assert.deepEqual(parseInvalidation(`token:${id}`), { kind: 'token', id });
  assert.deepEqual(parseInvalidation(`tenant:${id}`), { kind: 'tenant', id });
  assert.deepEqual(parseInvalidation(`quota:${id}`), { kind: 'quota', id });
  assert.deepEqual(parseInvalidation(`role:${id}`), { kind: 'role', id });
  for (const payload of [undefined, '', 'token:', `token:${id}x`, `other:${id}`, `token:${id};tenant:${id}`, `TOKEN:${id}`]) {
    assert.deepEqual(parseInvalidation(payload), { kind: 'all' }, String(payload));
  }
});

test('a replica enforces its share: the quota over the live replicas, never more than the quota', () => {
  assert.equal(replicaShare(100, 1), 100);
  assert.equal(replicaShare(100, 4), 25);
  assert.ok(Math.abs(replicaShare(100, 3) * 3 - 100) < 1e-9);
  // No count (first heartbeat not answered yet) or a nonsense one: the whole quota, as a single process.
  assert.equal(replicaShare(100, 0), 100);
  assert.equal(replicaShare(100, -2), 100);
  for (let live = 1; live <= 50; live += 1) assert.ok(replicaShare(7, live) * live <= 7 + 1e-9);
});

test('concurrency caps split over replicas: never above the cap in sum once each replica has one', () => {
  assert.equal(replicaCountShare(8, 1), 8);
  assert.equal(replicaCountShare(8, 0), 8);
  assert.equal(replicaCountShare(8, 3), 2);
  assert.equal(replicaCountShare(8, 4), 2);
  assert.equal(replicaCountShare(2, 3), 1, 'a cap below the replicas: one per replica');
  assert.equal(replicaCountShare(0, 3), 0);
  for (let cap = 1; cap <= 40; cap += 1) {
    for (let live = 1; live <= cap; live += 1) assert.ok(replicaCountShare(cap, live) * live <= cap, `${cap} over ${live}`);
  }
});

test('database time per second splits over replicas like the request rate: never above it in sum, at least 1 ms/s, unlimited stays unlimited', () => {
  assert.equal(replicaTimeShare(500, 1), 500);
  assert.equal(replicaTimeShare(500, 0), 500);
  assert.equal(replicaTimeShare(500, 3), 166);
  assert.equal(replicaTimeShare(2, 3), 1, 'a rate below the replicas: 1 ms/s each');
  assert.equal(replicaTimeShare(0, 3), 0);
  for (let live = 1; live <= 50; live += 1) assert.ok(replicaTimeShare(1000, live) * live <= 1000, `1000 over ${live}`);
});

test('bandwidth splits rate and burst over replicas; one replica keeps the quota as it is', () => {
  const quota = { bytesPerSecond: 30_000_000, burstBytes: 3_000_000 };
  assert.deepEqual(replicaBandwidthShare(quota, 1), quota);
  assert.deepEqual(replicaBandwidthShare({ bytesPerSecond: 1024, burstBytes: 0 }, 1), { bytesPerSecond: 1024, burstBytes: 0 });
  assert.deepEqual(replicaBandwidthShare(quota, 3), { bytesPerSecond: 10_000_000, burstBytes: 1_000_000 });
  for (let live = 2; live <= 20; live += 1) {
    const share = replicaBandwidthShare(quota, live);
    assert.ok(share.bytesPerSecond * live <= quota.bytesPerSecond);
    assert.ok(share.burstBytes <= quota.burstBytes);
  }
});
