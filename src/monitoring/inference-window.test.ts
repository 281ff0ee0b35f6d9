import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createInferenceWindow } from './inference-window.ts';

test('the window counts requests, 429s and 5xx, and percentiles, over the last windowSeconds only', () => {
  let now = 1_000_000;
  const w = createInferenceWindow({ windowSeconds: 10, now: () => now });
  for (let i = 1; i <= 100; i++) w.observe('t1', 'd', i === 100 ? 503 : i % 10 === 0 ? 429 : 200, i / 1000);
  w.observe('t2', 'd', 200, 5);
  const s = w.read('t1', 'd');
  assert.deepEqual(s, { windowSeconds: 10, requests: 100, requestsPerSecond: 10, p50Ms: 50, p99Ms: 99, rateLimited: 9, serverErrors: 1 });
  assert.equal(w.read('t2', 'd').requests, 1, 'per tenant');
  now += 5_000;
  w.observe('t1', 'd', 200, 0.5);
  now += 6_000;
  assert.deepEqual(w.read('t1', 'd'), { windowSeconds: 10, requests: 1, requestsPerSecond: 0.1, p50Ms: 500, p99Ms: 500, rateLimited: 0, serverErrors: 0 });
  now += 10_000;
  assert.equal(w.read('t1', 'd').p50Ms, null);
});

test('bounded: observations per deployment and deployments (least recently observed go first)', () => {
  const w = createInferenceWindow({ maxPerDeployment: 5, maxDeployments: 2 });
  for (let i = 0; i < 8; i++) w.observe('t', 'a', 200, i);
  assert.equal(w.read('t', 'a').requests, 5);
  assert.equal(w.read('t', 'a').p50Ms, 5000, 'the oldest were dropped');
  w.observe('t', 'b', 200, 0.001);
  w.observe('t', 'a', 200, 0.001);
  w.observe('t', 'c', 200, 0.001);
  assert.equal(w.read('t', 'b').requests, 0, 'b was least recently observed');
  assert.equal(w.read('t', 'c').requests, 1);
});
