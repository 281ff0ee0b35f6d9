import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConcurrencyGate, createTenantRateLimiter, createTokenBucket, retryAfterSeconds } from './gateway-limiter.ts';

test('a token bucket allows its burst, then refuses with the time until the next token', () => {
  const bucket = createTokenBucket(10, 10, 0);
  for (let i = 0; i < 10; i++) assert.deepEqual(bucket.take(0), { allowed: true });
  const refused = bucket.take(0);
  assert.equal(refused.allowed, false);
  assert.equal(!refused.allowed && refused.retryAfterMs, 100);
  assert.deepEqual(bucket.take(100), { allowed: true });
  assert.equal(bucket.take(100).allowed, false);
  // Refill is capped at the burst.
  for (let i = 0; i < 10; i++) assert.equal(bucket.take(60_000).allowed, true);
  assert.equal(bucket.take(60_000).allowed, false);
});

test('sustained rate over a long window equals the configured rate', () => {
  const bucket = createTokenBucket(5, 5, 0);
  let allowed = 0;
  for (let t = 0; t <= 10_000; t += 10) if (bucket.take(t).allowed) allowed++;
  // 5 initial + 5/s × 10 s
  assert.ok(allowed >= 54 && allowed <= 56, String(allowed));
});

test('one tenant flooding its bucket leaves another tenant untouched', () => {
  let now = 0;
  const limiter = createTenantRateLimiter({ clock: () => now });
  let floodAllowed = 0;
  for (let i = 0; i < 1000; i++) if (limiter.take('noisy', 20).allowed) floodAllowed++;
  assert.equal(floodAllowed, 20);
  for (let i = 0; i < 20; i++) assert.equal(limiter.take('victim', 20).allowed, true, `victim request ${i}`);
  now = 1000;
  assert.equal(limiter.take('noisy', 20).allowed, true);
});

test('a changed quota rate takes effect, and a disabled limiter allows everything', () => {
  const now = 0;
  const limiter = createTenantRateLimiter({ clock: () => now });
  assert.equal(limiter.take('t', 1).allowed, true);
  assert.equal(limiter.take('t', 1).allowed, false);
  assert.equal(limiter.take('t', 100).allowed, true);
  limiter.setEnabled(false);
  for (let i = 0; i < 500; i++) assert.equal(limiter.take('t', 100).allowed, true);
});

test('Retry-After is whole seconds and at least one', () => {
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1000), 1);
  assert.equal(retryAfterSeconds(1001), 2);
});

test('the concurrency gate admits up to the cap, queues FIFO up to the bound, refuses beyond it at once', async () => {
  const gate = createConcurrencyGate({ maxConcurrency: 2, maxQueue: 1 });
  const a = await gate.acquire();
  const b = await gate.acquire();
  assert.ok(a.admitted && b.admitted);
  const queued = gate.acquire();
  assert.equal(gate.queued, 1);
  const refused = await gate.acquire();
  assert.deepEqual(refused, { admitted: false, retryAfterMs: 1000, reason: 'queue_full' });
  a.release();
  a.release(); // idempotent
  const c = await queued;
  assert.ok(c.admitted);
  assert.equal(gate.inFlight, 2);
  b.release();
  if (c.admitted) c.release();
  assert.equal(gate.inFlight, 0);
});

test('a queued request gives up after the queue timeout', async () => {
  const timers: Array<() => void> = [];
  const gate = createConcurrencyGate({ maxConcurrency: 1, maxQueue: 5, setTimer: (fn) => (timers.push(fn), { cancel: () => {} }) });
  const first = await gate.acquire();
  const waiting = gate.acquire();
  timers[0]!();
  assert.deepEqual(await waiting, { admitted: false, retryAfterMs: 1000, reason: 'queue_timeout' });
  assert.equal(gate.queued, 0);
  if (first.admitted) first.release();
  assert.equal(gate.inFlight, 0);
});
