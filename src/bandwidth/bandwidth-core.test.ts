import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatRate, reserveBytes, transferVerdict, weightedShares } from './bandwidth-core.ts';
import { createBandwidthLimiter } from './bandwidth-limiter.ts';
import type { TenantBandwidth } from './bandwidth-limiter.ts';

const MB = 1_000_000;

describe('reserveBytes', () => {
  it('lets the burst through at once, then the rate', () => {
    const limit = { bytesPerSecond: MB, burstBytes: MB / 2 };
    const first = reserveBytes(0, 1000, MB / 2, limit);
    assert.equal(first.waitMs, 0);
    const second = reserveBytes(first.tat, 1000, MB / 2, limit);
    assert.equal(second.waitMs, 500);
  });

  it('never lets more than burst + rate × time through, whatever the chunk sizes and arrival times', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1024, max: 10 * MB }), fc.integer({ min: 0, max: 10 * MB }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 2 * MB }), fc.integer({ min: 0, max: 500 })), { minLength: 1, maxLength: 60 }),
      (rate, burst, chunks) => {
        let tat = 0;
        let now = 1000;
        const first = now + (chunks[0]?.[1] ?? 0);
        let sent = 0;
        for (const [bytes, gap] of chunks) {
          now += gap;
          const reserved = reserveBytes(tat, now, bytes, { bytesPerSecond: rate, burstBytes: burst });
          tat = reserved.tat;
          const passesAt = now + reserved.waitMs;
          sent += bytes;
          // The token-bucket envelope: what has passed by `passesAt` (this chunk included) is at most the
          // burst plus the rate over the time since the first chunk arrived (or the one chunk, if larger).
          const envelope = burst + (rate * (passesAt - first)) / 1000;
          assert.ok(sent <= Math.max(envelope, bytes) * (1 + 1e-9) + 1e-6, `${sent} bytes by ${passesAt} ms at ${rate}/s + ${burst}`);
          // The caller waits before sending more.
          now = passesAt;
        }
      },
    ));
  });

  it('takes about bytes / rate for a long transfer', () => {
    const limit = { bytesPerSecond: 4 * MB, burstBytes: 64 * 1024 };
    let tat = 0;
    let now = 0;
    for (let i = 0; i < 640; i += 1) {
      const reserved = reserveBytes(tat, now, 64 * 1024, limit);
      tat = reserved.tat;
      now += reserved.waitMs;
    }
    const seconds = now / 1000;
    const expected = (640 * 64 * 1024 - 64 * 1024) / (4 * MB);
    assert.ok(Math.abs(seconds - expected) < 1e-6, `${seconds} s, expected ${expected}`);
  });
});

describe('transferVerdict', () => {
  const limit = { bytesPerSecond: MB, burstBytes: MB };
  it('allows a body that is through within the bound', () => {
    assert.equal(transferVerdict(0, 0, 30 * MB, limit, 30).allowed, true);
  });
  it('refuses a body over the bound even on an idle bucket, with the time it would take', () => {
    const verdict = transferVerdict(0, 0, 100 * MB, limit, 30);
    assert.equal(verdict.allowed, false);
    assert.ok(!verdict.allowed && !verdict.fitsAtThisRate && verdict.retryAfterSeconds === 99);
  });
  it('refuses a body that fits alone while other transfers hold the bucket, and says when it will fit', () => {
    // 20 s of backlog already reserved.
    const tat = 20_000 + 1000;
    const verdict = transferVerdict(tat, 0, 20 * MB, limit, 30);
    assert.ok(!verdict.allowed && verdict.fitsAtThisRate);
    assert.equal(verdict.retryAfterSeconds, 10);
    // Once that time has passed, the same body goes.
    assert.equal(transferVerdict(tat, 10_000, 20 * MB, limit, 30).allowed, true);
  });
});

describe('weightedShares', () => {
  it('gives a tenant alone the whole pipe, two their weighted shares', () => {
    assert.deepEqual(weightedShares(100, [{ id: 'v', weight: 1, cap: Infinity }]), new Map([['v', 100]]));
    const two = weightedShares(90, [{ id: 'v', weight: 2, cap: Infinity }, { id: 'n', weight: 1, cap: Infinity }]);
    assert.equal(two.get('v'), 60);
    assert.equal(two.get('n'), 30);
  });
  it('gives what a capped tenant cannot use to the others', () => {
    const shares = weightedShares(100, [{ id: 'v', weight: 1, cap: Infinity }, { id: 'n', weight: 1, cap: 10 }]);
    assert.equal(shares.get('n'), 10);
    assert.equal(shares.get('v'), 90);
  });
  it('never hands out more than the pipe, never more than a cap, and uses the pipe when caps allow', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 1e9 }),
      fc.array(fc.record({ weight: fc.double({ min: 0.01, max: 100, noNaN: true }), cap: fc.integer({ min: 1, max: 1e9 }) }), { minLength: 1, maxLength: 12 }),
      (capacity, raw) => {
        const claims = raw.map((claim, index) => ({ ...claim, id: `t${index}` }));
        const shares = weightedShares(capacity, claims);
        const total = [...shares.values()].reduce((sum, share) => sum + share, 0);
        assert.ok(total <= capacity * (1 + 1e-9));
        for (const claim of claims) assert.ok((shares.get(claim.id) ?? 0) <= claim.cap * (1 + 1e-9));
        const demand = claims.reduce((sum, claim) => sum + claim.cap, 0);
        assert.ok(Math.abs(total - Math.min(capacity, demand)) <= Math.min(capacity, demand) * 1e-9);
      },
    ));
  });
});

describe('formatRate', () => {
  it('reads as people quote network rates', () => {
    assert.equal(formatRate(50 * MB), '50 MB/s');
    assert.equal(formatRate(1536), '1.54 kB/s');
  });
});

describe('createBandwidthLimiter', () => {
  const limits = (rate: number, weight = 1): TenantBandwidth => ({ ingress: { bytesPerSecond: rate, burstBytes: 0 }, egress: { bytesPerSecond: rate, burstBytes: 0 }, weight });

  it('reads a changed quota after forget, for chunks of a transfer already under way', async () => {
    let rate = MB;
    let now = 0;
    const limiter = createBandwidthLimiter({ limitsOf: async () => limits(rate), maxTransferSeconds: 60, clock: () => now, quotaCacheMs: 1000 });
    await limiter.acquire('t', 'ingress', 1); // loads the quota
    assert.equal(limiter.currentLimit('t', 'ingress')?.bytesPerSecond, MB);
    rate = 2 * MB;
    // Within the cache period and without forget, the old rate holds.
    limiter.acquire('t', 'ingress', 1);
    assert.equal(limiter.currentLimit('t', 'ingress')?.bytesPerSecond, MB);
    // After forget, the piece at hand starts the read (in the background, off the transfer's path); the
    // pieces after it go at the new limits.
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    limiter.forget('t');
    await limiter.acquire('t', 'ingress', 1);
    await settle();
    assert.equal(limiter.currentLimit('t', 'ingress')?.bytesPerSecond, 2 * MB);
    // A change made elsewhere (another process) is read once the cache period is over.
    rate = 3 * MB;
    now += 1000;
    await limiter.acquire('t', 'ingress', 1);
    await settle();
    assert.equal(limiter.currentLimit('t', 'ingress')?.bytesPerSecond, 3 * MB);
  });

  it('splits a shared pipe by weight between active tenants and gives it whole to one alone', async () => {
    let now = 0;
    const quotas: Record<string, TenantBandwidth> = { v: limits(1e12, 3), n: limits(1e12, 1) };
    const limiter = createBandwidthLimiter({ limitsOf: async (id) => quotas[id]!, maxTransferSeconds: 60, clock: () => now, quotaCacheMs: 1e9, capacity: { ingress: 8 * MB } });
    await limiter.acquire('v', 'ingress', 1); // loads v's quota
    now += 1000;
    // v alone: 8 MB take one second at the whole pipe (its quota's burst is 0 here).
    const aloneStart = limiter.counters().find((c) => c.tenantId === 'v')!.throttledSeconds;
    limiter.acquire('v', 'ingress', 8 * MB);
    const alone = limiter.counters().find((c) => c.tenantId === 'v')!.throttledSeconds - aloneStart;
    assert.ok(Math.abs(alone - 1) < 1e-6, `alone waited ${alone} s`);
    now += 5000;
    await limiter.acquire('n', 'ingress', 1); // loads n's quota
    // Both active now: v gets 3/4 of the pipe, n 1/4.
    limiter.acquire('v', 'ingress', 1);
    limiter.acquire('n', 'ingress', 1);
    const before = Object.fromEntries(limiter.counters().map((c) => [c.tenantId, c.throttledSeconds]));
    now += 10;
    limiter.acquire('v', 'ingress', 6 * MB);
    limiter.acquire('n', 'ingress', 2 * MB);
    const after = Object.fromEntries(limiter.counters().map((c) => [c.tenantId, c.throttledSeconds]));
    const vWait = after['v']! - before['v']!;
    const nWait = after['n']! - before['n']!;
    // 6 MB at 6 MB/s and 2 MB at 2 MB/s: both one second.
    assert.ok(Math.abs(vWait - nWait) < 0.05, `v waited ${vWait} s, n ${nWait} s`);
    assert.ok(vWait > 0.99 && vWait < 1.01, `v waited ${vWait} s`);
  });

  it('takes a body at once only when the bucket holds it, and charges nothing otherwise', async () => {
    const now = 0;
    const limiter = createBandwidthLimiter({ limitsOf: async () => ({ ingress: { bytesPerSecond: MB, burstBytes: MB }, egress: { bytesPerSecond: MB, burstBytes: MB }, weight: 1 }), maxTransferSeconds: 60, clock: () => now });
    // Limits not read yet: no decision without them.
    assert.equal(limiter.tryTake('t', 'ingress', 1000), false);
    await limiter.acquire('t', 'ingress', 1);
    assert.equal(limiter.tryTake('t', 'ingress', MB / 2), true);
    assert.equal(limiter.tryTake('t', 'ingress', MB), false, 'over what is left of the burst');
    const counted = limiter.counters()[0]!.ingressBytes;
    assert.equal(counted, 1 + MB / 2, 'the refused take charged nothing');
    assert.equal(limiter.tryTake('t', 'ingress', MB / 2 - 1), true);
  });

  it('passes everything untouched when disabled', () => {
    const limiter = createBandwidthLimiter({ limitsOf: async () => limits(1024), maxTransferSeconds: 1 });
    limiter.setEnabled(false);
    assert.equal(limiter.acquire('t', 'egress', 10 * MB), undefined);
    assert.deepEqual(limiter.counters(), []);
  });
});
