import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAnomalyDetector, isRelevantEvent, rateSignalsOf } from './anomaly-detector.ts';
import type { AlertCandidate, DetectorEvent } from './anomaly-detector.ts';
import { resolveRules } from './detector-rules.ts';
import { summarize, thresholdOf } from './robust-stats.ts';
import { backoffMs, verifyWebhookSignature, webhookSignature } from './webhook-sender.ts';

const tenant = '11111111-1111-4111-8111-111111111111';
const platform = '00000000-0000-0000-0000-000000000000';
const minute = 60_000;
const t0 = Date.UTC(2026, 10, 1);

const makeFeeder = () => {
  let id = 0;
  return (partial: Partial<DetectorEvent> & { action: string; at: number }): DetectorEvent => ({
    id: ++id, tenantId: tenant, actor: 'user:alice', target: '', outcome: 'success', details: {}, ...partial,
  });
};

describe('robust statistics', () => {
  test('median, MAD and p95 of a history; the threshold takes the largest of floor, median + kσ and ratio·p95', () => {
    const summary = summarize([0, 1, 1, 2, 2, 2, 3, 3, 4, 100]);
    assert.equal(summary.median, 2);
    assert.equal(summary.mad, 1);
    assert.equal(summary.p95, 100);
    assert.equal(thresholdOf(summary, 5, 6, 0, 1), 2 + 6 * 1.4826);
    assert.equal(thresholdOf(summary, 5, 6, 2, 1), 200);
    assert.equal(thresholdOf(summarize([]), 25, 6, 4, 2), 50);
  });
});

describe('anomaly detector', () => {
  const rules = resolveRules(undefined);

  test('BOLA probing: a burst of not-founds alerts once per episode; the benign trickle before it does not', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const alerts: AlertCandidate[] = [];
    // A day of a few 404s an hour (an MLflow client's get-by-name before create).
    for (let m = 0; m < 24 * 60; m += 20) alerts.push(...detector.observe(event({ action: 'security.not_found', outcome: 'denied', at: t0 + m * minute, details: { count: 2 } })));
    assert.equal(alerts.length, 0);
    // Then 60 probes of foreign tenants in two minutes.
    for (let i = 0; i < 60; i += 1) {
      alerts.push(...detector.observe(event({ action: 'tenant.read', outcome: 'denied', at: t0 + 24 * 60 * minute + i * 2000, details: { reason: 'not_found' } })));
    }
    assert.equal(alerts.length, 1);
    const alert = alerts[0]!;
    assert.equal(alert.kind, 'bola_probing');
    assert.equal(alert.tenantId, tenant);
    assert.equal(alert.principal, 'user:alice');
    assert.equal(alert.evidence['value'], 20);
    assert.equal(alert.evidence.eventIds.length, 20);
    assert.match(alert.dedupeKey, /^bola_probing:/);
  });

  test('a slow probe (one a minute) is caught by the long window', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const alerts: AlertCandidate[] = [];
    for (let i = 0; i < 45; i += 1) alerts.push(...detector.observe(event({ action: 'security.not_found', outcome: 'denied', at: t0 + i * minute, details: { count: 1 } })));
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.evidence['windowMs'], 60 * minute);
    assert.equal(alerts[0]!.evidence['value'], 30);
  });

  test('a principal whose normal windows are busy is judged against them (ratio · p95), not the floor', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const alerts: AlertCandidate[] = [];
    // 30 deletions every 5 minutes for a day: a cleanup job. 30 is over the floor (25) but normal for it.
    for (let m = 0; m < 24 * 60; m += 5) {
      for (let i = 0; i < 30; i += 1) alerts.push(...detector.observe(event({ action: 'tracking.run.delete', at: t0 + m * minute + i * 1000 })));
    }
    const firstDay = alerts.filter((alert) => alert.detectedAt > t0 + 3 * 60 * minute);
    assert.deepEqual(firstDay, [], 'steady high volume is its baseline once it has history');
    for (let i = 0; i < 200; i += 1) alerts.push(...detector.observe(event({ action: 'tracking.run.delete', at: t0 + 24 * 60 * minute + i * 500 })));
    assert.equal(alerts.filter((alert) => alert.detectedAt >= t0 + 24 * 60 * minute).length, 1);
  });

  test('credential stuffing is keyed by source address and lands in the platform tenant', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const alerts: AlertCandidate[] = [];
    for (let i = 0; i < 25; i += 1) {
      alerts.push(...detector.observe(event({ tenantId: platform, actor: 'anonymous', action: 'auth.failure', outcome: 'denied', at: t0 + i * 1000, details: { reason: 'invalid_token', source: i % 2 === 0 ? '10.0.0.9' : '10.0.0.9' } })));
      detector.observe(event({ tenantId: platform, actor: 'anonymous', action: 'auth.failure', outcome: 'denied', at: t0 + i * 1000, details: { reason: 'invalid_token', source: `10.1.0.${i}` } }));
    }
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.principal, 'source:10.0.0.9');
    assert.equal(alerts[0]!.tenantId, platform);
    // Suppressed-denial summaries count in full.
    const summary = detector.observe(event({ tenantId: platform, actor: 'anonymous', action: 'audit.denials_suppressed', target: 'auth.failure', outcome: 'denied', at: t0 + 5000, details: { reason: 'invalid_token', source: '10.2.0.1', count: 500 } }));
    assert.equal(summary.length, 1);
  });

  test('a token used from a new address after a stable history alerts; a young token or a roaming one does not', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const source = (tokenId: string, at: number, address: string, agent = 'mlflow-python/2.12') =>
      detector.observe(event({ action: 'security.new_source', at, target: `token:${tokenId}`, details: { tokenId, source: address, userAgent: agent } }));
    assert.deepEqual(source('a', t0, '10.0.0.1'), []);
    assert.deepEqual(source('a', t0 + 10 * minute, '10.0.0.2'), [], 'young token: no history to compare with');
    assert.deepEqual(source('b', t0, '10.0.0.1'), []);
    const alert = source('b', t0 + 2 * 60 * minute, '203.0.113.7', 'curl/8.0');
    assert.equal(alert.length, 1);
    assert.equal(alert[0]!.kind, 'token_new_source');
    assert.equal(alert[0]!.severity, 'high', 'new address and new agent at once');
    assert.equal(alert[0]!.evidence['newAddress'], '203.0.113.7');
    assert.deepEqual(source('b', t0 + 3 * 60 * minute, '203.0.113.7', 'curl/8.0'), [], 'learned');
    // A roaming token (more addresses than maxKnownSources) is not judged.
    for (let i = 0; i < 4; i += 1) source('c', t0 + i, `10.9.0.${i}`);
    assert.deepEqual(source('c', t0 + 5 * 60 * minute, '198.51.100.1'), []);
  });

  test('exfiltration: bytes far above the token\'s own baseline', () => {
    const detector = createAnomalyDetector(resolveRules({ exfiltration: { windows: [{ windowMs: 15 * minute, minValue: 10_000_000, historyMs: 24 * 60 * minute }] } }));
    const event = makeFeeder();
    const alerts: AlertCandidate[] = [];
    for (let m = 0; m < 24 * 60; m += 5) alerts.push(...detector.observe(event({ action: 'security.download', at: t0 + m * minute, details: { bytes: 2_000_000 } })));
    assert.equal(alerts.length, 0, '6 MB per 15 minutes is this token\'s normal');
    for (let i = 0; i < 10; i += 1) alerts.push(...detector.observe(event({ action: 'security.download', at: t0 + 24 * 60 * minute + i * 10_000, details: { bytes: 20_000_000 } })));
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.kind, 'exfiltration');
    assert.equal(alerts[0]!.evidence['unit'], 'bytes');
  });

  test('revoked-token use and sandbox violations alert at once, once per cooldown', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const revoked = (at: number) => detector.observe(event({ actor: 'token:t1', action: 'auth.failure', outcome: 'denied', at, details: { reason: 'revoked_token', source: '10.0.0.1' } }));
    assert.equal(revoked(t0).length, 1);
    assert.equal(revoked(t0 + minute).length, 0);
    assert.equal(revoked(t0 + 31 * minute).length, 1);
    const kill = detector.observe(event({ actor: 'system:job-runner', action: 'job.fail', target: 'job:j1', at: t0, details: { reason: 'killed by SIGSYS' } }));
    assert.equal(kill.length, 1);
    assert.equal(kill[0]!.kind, 'sandbox_violation');
    assert.equal(kill[0]!.principal, 'job:j1');
    assert.deepEqual(detector.observe(event({ action: 'job.fail', target: 'job:j2', at: t0, details: { reason: 'exited with code 1' } })), []);
    // The executor's denied network attempts (written by the job store as the runner) and the relay's
    // refusals (actor job:<id>, target the request): both are the job's violations.
    const network = detector.observe(event({ actor: 'system:job-runner', action: 'sandbox.violation', outcome: 'denied', target: 'job:j3', at: t0, details: { kind: 'network', refusedConnects: 2 } }));
    assert.deepEqual(network.map((a) => [a.kind, a.principal]), [['sandbox_violation', 'job:j3']]);
    const relay = detector.observe(event({ actor: 'job:j4', action: 'job.relay_refused', outcome: 'denied', target: 'GET /api/v1/tenants/other/jobs', at: t0, details: { status: 403, reason: 'not available to jobs' } }));
    assert.deepEqual(relay.map((a) => [a.kind, a.principal]), [['sandbox_violation', 'job:j4']]);
    // One alert per job per cooldown: the same job's next refusal is the same episode.
    assert.deepEqual(detector.observe(event({ actor: 'job:j4', action: 'job.relay_refused', outcome: 'denied', target: 'GET /api/v1/me', at: t0 + minute, details: { status: 401 } })), []);
  });

  test('warm-up (live: false) builds state without alerting; its own alert events set cooldowns across a restart', () => {
    const first = createAnomalyDetector(rules);
    const event = makeFeeder();
    const events: DetectorEvent[] = [];
    for (let i = 0; i < 30; i += 1) events.push(event({ action: 'tracking.run.delete', at: t0 + i * 1000 }));
    const raised = events.flatMap((e) => first.observe(e));
    assert.equal(raised.length, 1);
    const alertEvent = event({ actor: 'system:anomaly-detector', action: 'security.alert', at: t0 + 30_000, details: { kind: 'deletion_burst', key: raised[0]!.key } });
    // A restarted detector replays the history (including its alert event) and then sees more deletions.
    const second = createAnomalyDetector(rules);
    for (const e of [...events, alertEvent]) assert.deepEqual(second.observe(e, false), []);
    const more: AlertCandidate[] = [];
    for (let i = 0; i < 30; i += 1) more.push(...second.observe(event({ action: 'tracking.run.delete', at: t0 + 40_000 + i * 1000 })));
    assert.deepEqual(more, [], 'same episode: already alerted before the restart');
  });

  test('a false positive raises that principal\'s threshold for that rule only', () => {
    const detector = createAnomalyDetector(rules);
    const event = makeFeeder();
    const burst = (actor: string, start: number) => {
      const out: AlertCandidate[] = [];
      for (let i = 0; i < 30; i += 1) out.push(...detector.observe(event({ actor, action: 'tracking.run.delete', at: start + i * 1000 })));
      return out;
    };
    const first = burst('user:ci', t0);
    assert.equal(first.length, 1);
    detector.observe(event({ action: 'security.alert.false_positive', at: t0 + 60_000, details: { kind: 'deletion_burst', key: first[0]!.key } }));
    assert.equal(detector.factorOf('deletion_burst', first[0]!.key), 2);
    // After the cooldown, the same burst no longer alerts for user:ci (threshold doubled) but does for another user.
    assert.deepEqual(burst('user:ci', t0 + 3 * 60 * minute), []);
    assert.equal(burst('user:bob', t0 + 3 * 60 * minute).length, 1);
  });

  test('every event that carries a signal passes the tail\'s relevance filter', () => {
    const event = makeFeeder();
    const samples: DetectorEvent[] = [
      event({ action: 'security.not_found', outcome: 'denied', at: t0, details: { count: 1 } }),
      event({ action: 'security.download', at: t0, details: { bytes: 5 } }),
      event({ action: 'security.login_failure', outcome: 'denied', at: t0, details: { count: 1, source: 'x' } }),
      event({ action: 'tenant.read', outcome: 'denied', at: t0, details: { reason: 'not_found' } }),
      event({ action: 'audit.denials_suppressed', target: 'auth.failure', outcome: 'denied', at: t0, details: { reason: 'invalid_token', count: 3 } }),
      event({ action: 'auth.failure', outcome: 'denied', at: t0, details: { reason: 'invalid_token' } }),
      event({ action: 'tracking.run.delete', at: t0 }),
      event({ action: 'artifact.delete', at: t0 }),
    ];
    for (const sample of samples) {
      assert.ok(rateSignalsOf(sample).length > 0, sample.action);
      assert.ok(isRelevantEvent(sample), sample.action);
    }
    for (const action of ['security.new_source', 'security.alert', 'security.alert.false_positive', 'job.fail', 'sandbox.violation']) {
      assert.ok(isRelevantEvent({ action, outcome: 'success' }), action);
    }
    assert.ok(!isRelevantEvent({ action: 'tracking.run.create', outcome: 'success' }));
  });

  test('rules: overrides merge into the defaults, durations scale, bad values are listed', () => {
    const scaled = resolveRules({ bola_probing: { k: 3 } }, 60);
    assert.equal(scaled.bola_probing.k, 3);
    assert.equal(scaled.bola_probing.windows[0]!.windowMs, 5000);
    assert.equal(scaled.deletion_burst.cooldownMs, 30_000);
    assert.throws(() => resolveRules({ bola_probing: { k: -1 }, nope: 1 }), (error: Error) => /securityRules\.bola_probing\.k/.test(error.message) && /nope|Unrecognized/.test(error.message));
  });
});

describe('webhook signing', () => {
  test('signature covers timestamp and body; verification is exact', () => {
    const signature = webhookSignature('s3cret-s3cret-s3cret', '1700000000', '{"a":1}');
    assert.match(signature, /^sha256=[0-9a-f]{64}$/);
    assert.ok(verifyWebhookSignature('s3cret-s3cret-s3cret', '1700000000', '{"a":1}', signature));
    assert.ok(!verifyWebhookSignature('s3cret-s3cret-s3cret', '1700000001', '{"a":1}', signature));
    assert.ok(!verifyWebhookSignature('s3cret-s3cret-s3cret', '1700000000', '{"a":2}', signature));
    assert.ok(!verifyWebhookSignature('other-secret-other', '1700000000', '{"a":1}', signature));
  });

  test('backoff doubles per attempt within ±20 % jitter and is capped', () => {
    assert.equal(backoffMs(1, 1000, 60_000, () => 0.5), 1000);
    assert.equal(backoffMs(3, 1000, 60_000, () => 0.5), 4000);
    assert.equal(backoffMs(20, 1000, 60_000, () => 0.5), 60_000);
    assert.equal(backoffMs(2, 1000, 60_000, () => 0), 1600);
    assert.equal(backoffMs(2, 1000, 60_000, () => 1), 2400);
  });
});
