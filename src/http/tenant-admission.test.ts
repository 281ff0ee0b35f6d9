import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTenantAdmission } from './tenant-admission.ts';
import type { TenantAdmissionLimits } from './tenant-admission.ts';

const setup = (limits: Partial<TenantAdmissionLimits> = {}) => {
  let now = 1000;
  const admission = createTenantAdmission({ maxInFlight: 2, maxConnections: 3, tokenTtlMs: 5000, ...limits }, () => now);
  return { admission, advance: (ms: number) => { now += ms; } };
};

test('unknown tokens and requests without a token always pass, unscreened', () => {
  const { admission } = setup();
  admission.rateRefused('t1', 10_000);
  assert.deepEqual(admission.screen(undefined, true), { admit: true, tenantId: undefined });
  assert.deepEqual(admission.screen('never-seen', true), { admit: true, tenantId: undefined });
});

test('a rate refusal refuses the tenant until its bucket refills, and only that tenant', () => {
  const { admission, advance } = setup();
  admission.learn('a', 't1');
  admission.learn('b', 't2');
  admission.rateRefused('t1', 250);
  const refused = admission.screen('a', false);
  assert.equal(refused.admit, false);
  assert.equal(!refused.admit && refused.reason, 'rate');
  assert.equal(!refused.admit && refused.retryAfterMs, 250);
  assert.deepEqual(admission.screen('b', false), { admit: true, tenantId: 't2' });
  advance(249);
  assert.equal(admission.screen('a', false).admit, false);
  advance(1);
  assert.deepEqual(admission.screen('a', false), { admit: true, tenantId: 't1' });
  assert.equal(admission.stats().rate, 2);
});

test('in-flight limit: the (max+1)th concurrent request is refused until one finishes', () => {
  const { admission } = setup();
  admission.learn('a', 't1');
  admission.requestStarted('t1');
  admission.requestStarted('t1');
  const verdict = admission.screen('a', false);
  assert.equal(!verdict.admit && verdict.reason, 'in_flight');
  admission.learn('b', 't2');
  assert.equal(admission.screen('b', false).admit, true, 'another tenant is not counted against t1');
  admission.requestFinished('t1');
  assert.equal(admission.screen('a', false).admit, true);
  assert.deepEqual(admission.load('t1'), { inFlight: 1, connections: 0, held: 0 });
});

test('connection limit applies to a new connection only', () => {
  const { admission } = setup({ maxInFlight: 0 });
  admission.learn('a', 't1');
  for (let i = 0; i < 3; i += 1) admission.connectionOpened('t1');
  const verdict = admission.screen('a', true);
  assert.equal(!verdict.admit && verdict.reason, 'connections');
  assert.equal(admission.screen('a', false).admit, true, 'a request on an open connection of the tenant passes');
  admission.connectionClosed('t1');
  assert.equal(admission.screen('a', true).admit, true);
});

test('learned tokens expire after the TTL; a TTL of 0 learns nothing', () => {
  const { admission, advance } = setup();
  admission.learn('a', 't1');
  admission.rateRefused('t1', 60_000);
  assert.equal(admission.screen('a', false).admit, false);
  advance(5000);
  assert.deepEqual(admission.screen('a', false), { admit: true, tenantId: undefined }, 'expired: the full path decides');
  const off = setup({ tokenTtlMs: 0 });
  off.admission.learn('a', 't1');
  off.admission.rateRefused('t1', 60_000);
  assert.equal(off.admission.screen('a', false).admit, true);
});

test('forgetTenant ends the refusal window and drops its tokens; disabled admits everything but keeps counting', () => {
  const { admission } = setup();
  admission.learn('a', 't1');
  admission.rateRefused('t1', 60_000);
  admission.forgetTenant('t1');
  assert.deepEqual(admission.screen('a', false), { admit: true, tenantId: undefined });
  admission.learn('a', 't1');
  admission.rateRefused('t1', 60_000);
  admission.setEnabled(false);
  assert.deepEqual(admission.screen('a', false), { admit: true, tenantId: 't1' });
  admission.setEnabled(true);
  assert.equal(admission.screen('a', false).admit, false);
});

test('refusal holds: off by default, capped per tenant by its connection limit and in all by maxHeldRefusals', () => {
  assert.equal(setup().admission.tryHold('t1'), false, 'no hold configured: answered at once');
  const { admission } = setup({ refusalHoldMs: 1000, maxHeldRefusals: 5, maxConnections: 3 });
  for (let i = 0; i < 3; i += 1) assert.equal(admission.tryHold('t1'), true);
  assert.equal(admission.tryHold('t1'), false, "the tenant's connection limit bounds its held refusals");
  assert.deepEqual(admission.load('t1'), { inFlight: 0, connections: 0, held: 3 });
  assert.equal(admission.tryHold('t2'), true);
  assert.equal(admission.tryHold('t2'), true);
  assert.equal(admission.tryHold('t3'), false, 'the process-wide cap');
  admission.holdEnded('t1');
  assert.equal(admission.tryHold('t3'), true, 'an ended hold frees a place');
  assert.equal(admission.load('t1').held, 2);
  admission.holdEnded('t9'); // never held: no effect on the count
  assert.equal(admission.tryHold('t3'), false);
  assert.equal(admission.stats().held, 6);
});

test('refusal holds with no connection limit: only the process-wide cap applies', () => {
  const { admission } = setup({ refusalHoldMs: 1000, maxHeldRefusals: 4, maxConnections: 0 });
  for (let i = 0; i < 4; i += 1) assert.equal(admission.tryHold('t1'), true);
  assert.equal(admission.tryHold('t1'), false);
});
