import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDenialThrottle } from './denial-throttle.ts';

const key = (over: Partial<{ tenantId: string; actor: string; action: string; reason: string; source: string }> = {}) => ({
  tenantId: 't1', actor: 'anonymous', action: 'auth.failure', reason: 'invalid_token', source: '10.0.0.1', ...over,
});

test('the first burst of a key is audited, the rest counted and summed once the window ends', () => {
  let now = 1_000;
  const throttle = createDenialThrottle({ burst: 3, windowMs: 60_000, now: () => now });
  const admitted = Array.from({ length: 10 }, () => throttle.admit(key()));
  assert.deepEqual(admitted, [true, true, true, false, false, false, false, false, false, false]);
  assert.deepEqual(throttle.drain(), [], 'nothing is summed while the window is open');
  now += 60_000;
  const summary = throttle.drain();
  assert.equal(summary.length, 1);
  assert.deepEqual({ ...summary[0] }, { ...key(), count: 7, windowStart: 1_000, windowEnd: 61_000 });
  assert.equal(throttle.admit(key()), true, 'a new window starts with a new burst');
});

test('keys are independent: another address, reason or tenant has its own burst', () => {
  const throttle = createDenialThrottle({ burst: 1, now: () => 0 });
  assert.equal(throttle.admit(key()), true);
  assert.equal(throttle.admit(key()), false);
  assert.equal(throttle.admit(key({ source: '10.0.0.2' })), true);
  assert.equal(throttle.admit(key({ reason: 'missing_token' })), true);
  assert.equal(throttle.admit(key({ tenantId: 't2' })), true);
  const summary = throttle.drain(true);
  assert.deepEqual(summary.map((s) => [s.source, s.reason, s.count]), [['10.0.0.1', 'invalid_token', 1]]);
});

test('a window that ends on the next refusal is summed too; the key table is bounded', () => {
  let now = 0;
  const throttle = createDenialThrottle({ burst: 1, windowMs: 10, maxKeys: 2, now: () => now });
  throttle.admit(key());
  throttle.admit(key());
  now = 10;
  assert.equal(throttle.admit(key()), true);
  assert.deepEqual(throttle.drain().map((s) => s.count), [1]);
  // Two keys tracked; every further distinct key is counted under one overflow entry and not audited.
  throttle.admit(key({ source: 'a' }));
  assert.equal(throttle.admit(key({ source: 'b' })), false);
  assert.equal(throttle.admit(key({ source: 'c' })), false);
  const drained = throttle.drain(true);
  const overflow = drained.find((s) => s.source === 'many');
  assert.equal(overflow?.count, 2);
});
