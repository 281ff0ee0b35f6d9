/**
 * The anomaly detector: pure, no IO. It is fed audit events in id order (`observe`) and returns the alerts
 * they raise. Its clock is the events' own time, so replaying the same events gives the same alerts — the
 * warm-up after a restart replays recent history with `live: false` to rebuild baselines without alerting.
 *
 * State per principal and rule: the events inside the rule's sliding windows, and per-window-length buckets
 * of history (the baseline). Its own `security.alert` events set cooldowns (so a restart or a second replica
 * does not raise an episode twice) and `security.alert.false_positive` events raise that principal's
 * threshold for that rule (the detector learns from the operators).
 */
import { PLATFORM_TENANT_ID } from '../db/index.ts';
import type { AlertKind, DetectorRules, RateRule, Severity } from './detector-rules.ts';
import { summarize, thresholdOf } from './robust-stats.ts';
import type { BaselineSummary } from './robust-stats.ts';

/** An audit event as the detector reads it. */
export interface DetectorEvent {
  id: number;
  tenantId: string;
  /** Milliseconds since the epoch (the event's `occurred_at`). */
  at: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
}

export interface AlertCandidate {
  kind: AlertKind;
  severity: Severity;
  /** The tenant whose chain the evidence is in; the platform's nil id for platform-level alerts. */
  tenantId: string;
  /** Who: an actor label (`user:alice`, `token:<id>`), a source address, or a job. */
  principal: string;
  /** The detector's key for the principal within the rule (what cooldowns and FP feedback attach to). */
  key: string;
  /** Idempotency: the same alert raised twice (replay, another replica) has the same key. */
  dedupeKey: string;
  firstEventAt: number;
  detectedAt: number;
  evidence: Record<string, unknown> & { eventIds: number[] };
}

/**
 * The SQL condition (on `audit_events`) of the events the detector can act on: refusals and failures, its own
 * and the observer's `security.*` events, deletions, job failures and reported sandbox violations. The tail
 * fetches only the id of every other event (most of the stream: successful writes), so the detector's round
 * costs little on the server's event loop. Keep in step with `observe` below (a test checks it).
 */
export const relevantEventSql = `(outcome <> 'success' OR action LIKE 'security.%' OR action LIKE '%.delete' OR action = 'job.fail' OR action = 'sandbox.violation')`;

/** Whether an event matches `relevantEventSql` (the same condition in code, for tests). */
export const isRelevantEvent = (event: Pick<DetectorEvent, 'outcome' | 'action'>): boolean =>
  event.outcome !== 'success' || event.action.startsWith('security.') || event.action.endsWith('.delete') || event.action === 'job.fail' || event.action === 'sandbox.violation';

/** Actions the auth hook writes for a refused request on a tenant the caller does not own or that does not exist. */
const notFoundReasons = new Set(['not_found', 'no_such_tenant']);
const stuffingReasons = new Set(['invalid_token', 'bad_credentials']);
const revokedReasons = new Set(['revoked_token', 'expired_token']);
const sandboxDenials = new Set(['auth.job_scope', 'auth.job_token_outside_relay', 'job.relay_refused']);
const maxEvidenceIds = 100;

type RateKind = 'bola_probing' | 'credential_stuffing' | 'deletion_burst' | 'exfiltration';

interface Signal {
  kind: RateKind;
  tenantId: string;
  principal: string;
  value: number;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0);

/** What rate signals an event carries (pure, exported for tests). */
export const rateSignalsOf = (event: DetectorEvent): Signal[] => {
  const reason = str(event.details['reason']) ?? '';
  const { action, tenantId, actor } = event;
  if (action.startsWith('security.')) {
    // The detector's own events, and the observer's summaries below.
    if (action === 'security.not_found') return [{ kind: 'bola_probing', tenantId, principal: actor, value: num(event.details['count']) }];
    if (action === 'security.download') return [{ kind: 'exfiltration', tenantId, principal: actor, value: num(event.details['bytes']) }];
    if (action === 'security.login_failure') {
      return [{ kind: 'credential_stuffing', tenantId: PLATFORM_TENANT_ID, principal: `source:${str(event.details['source']) ?? 'unknown'}`, value: num(event.details['count']) }];
    }
    return [];
  }
  if (event.outcome === 'denied' && notFoundReasons.has(reason)) {
    const count = action === 'audit.denials_suppressed' ? num(event.details['count']) : 1;
    return [{ kind: 'bola_probing', tenantId, principal: actor, value: count }];
  }
  const isAuthFailure = action === 'auth.failure' || (action === 'audit.denials_suppressed' && event.target === 'auth.failure');
  if (isAuthFailure && stuffingReasons.has(reason)) {
    const count = action === 'audit.denials_suppressed' ? num(event.details['count']) : 1;
    return [{ kind: 'credential_stuffing', tenantId: PLATFORM_TENANT_ID, principal: `source:${str(event.details['source']) ?? 'unknown'}`, value: count }];
  }
  if (event.outcome === 'success' && /(^|\.)delete$/.test(action) && !action.startsWith('tenant.')) {
    return [{ kind: 'deletion_burst', tenantId, principal: actor, value: 1 }];
  }
  return [];
};

interface TimedValue {
  at: number;
  value: number;
  id: number;
}

interface RateState {
  recent: TimedValue[];
  /** Per window length: bucket index → sum. */
  buckets: Array<Map<number, number>>;
  firstBucket: number[];
  lastAt: number;
}

interface SourceState {
  firstSeen: number;
  addresses: Set<string>;
  agents: Set<string>;
  lastAt: number;
}

export interface AnomalyDetector {
  /** Feeds one event (in id order). With `live: false` (warm-up) state is updated but no alert is returned. */
  observe(event: DetectorEvent, live?: boolean): AlertCandidate[];
  /** Drops state of principals idle for longer than every history window. */
  prune(now: number): void;
  /** The current false-positive factor of a rule for a principal's key (1 when never marked). */
  factorOf(kind: AlertKind, key: string): number;
}

export const createAnomalyDetector = (rules: DetectorRules): AnomalyDetector => {
  const rates = new Map<string, RateState>();
  const sources = new Map<string, SourceState>();
  const cooldownUntil = new Map<string, number>();
  const fpFactors = new Map<string, number>();

  const ruleKey = (kind: AlertKind, key: string): string => `${kind}\u0000${key}`;
  const factorOf = (kind: AlertKind, key: string): number => fpFactors.get(ruleKey(kind, key)) ?? 1;
  const cooling = (kind: AlertKind, key: string, at: number): boolean => (cooldownUntil.get(ruleKey(kind, key)) ?? -Infinity) > at;
  const startCooldown = (kind: AlertKind, key: string, at: number, ms: number): void => {
    cooldownUntil.set(ruleKey(kind, key), at + ms);
  };

  const candidate = (
    kind: AlertKind, severity: Severity, tenantId: string, principal: string, key: string, trigger: DetectorEvent,
    firstEventAt: number, evidence: Record<string, unknown>, eventIds: number[],
  ): AlertCandidate => ({
    kind, severity, tenantId, principal, key,
    dedupeKey: `${kind}:${key}:${trigger.id}`,
    firstEventAt, detectedAt: trigger.at,
    evidence: { ...evidence, eventIds: eventIds.slice(-maxEvidenceIds) },
  });

  const observeRate = (signal: Signal, rule: RateRule, event: DetectorEvent, live: boolean): AlertCandidate | undefined => {
    if (!rule.enabled || signal.value <= 0) return undefined;
    const key = `${signal.tenantId}|${signal.principal}`;
    const stateKey = ruleKey(signal.kind, key);
    let state = rates.get(stateKey);
    if (state === undefined) {
      state = { recent: [], buckets: rule.windows.map(() => new Map()), firstBucket: rule.windows.map((w) => Math.floor(event.at / w.windowMs)), lastAt: event.at };
      rates.set(stateKey, state);
    }
    state.lastAt = event.at;
    state.recent.push({ at: event.at, value: signal.value, id: event.id });
    const longest = Math.max(...rule.windows.map((w) => w.windowMs));
    while (state.recent.length > 0 && state.recent[0]!.at <= event.at - longest) state.recent.shift();
    let fired: AlertCandidate | undefined;
    rule.windows.forEach((window, index) => {
      const bucket = Math.floor(event.at / window.windowMs);
      const buckets = state.buckets[index]!;
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + signal.value);
      const historyBuckets = Math.max(1, Math.floor(window.historyMs / window.windowMs));
      for (const old of buckets.keys()) if (old < bucket - historyBuckets) buckets.delete(old);
      if (fired !== undefined || !live || cooling(signal.kind, key, event.at)) return;
      const inWindow = state.recent.filter((item) => item.at > event.at - window.windowMs);
      const current = inWindow.reduce((sum, item) => sum + item.value, 0);
      const factor = factorOf(signal.kind, key);
      if (current < window.minValue * factor) return;
      // The baseline leaves out the current bucket and the one before it: a sliding window overlaps both,
      // and an attack must not raise its own bar.
      const from = Math.max(bucket - historyBuckets, state.firstBucket[index]!);
      const history: number[] = [];
      for (let b = from; b <= bucket - 2; b += 1) history.push(buckets.get(b) ?? 0);
      const baseline: BaselineSummary = summarize(history);
      const threshold = thresholdOf(baseline, window.minValue, rule.k, rule.ratio, factor);
      if (current < threshold) return;
      fired = candidate(
        signal.kind, rule.severity, signal.tenantId, signal.principal, key, event, inWindow[0]!.at,
        { value: current, unit: signal.kind === 'exfiltration' ? 'bytes' : 'events', windowMs: window.windowMs, threshold, baseline, falsePositiveFactor: factor },
        inWindow.map((item) => item.id),
      );
    });
    if (fired !== undefined) startCooldown(signal.kind, key, event.at, rule.cooldownMs);
    return fired;
  };

  const observeSource = (event: DetectorEvent, live: boolean): AlertCandidate | undefined => {
    const rule = rules.token_new_source;
    const tokenId = str(event.details['tokenId']);
    if (!rule.enabled || tokenId === undefined) return undefined;
    const address = str(event.details['source']) ?? '';
    const agent = str(event.details['userAgent']) ?? '';
    const key = `${event.tenantId}|token:${tokenId}`;
    const state = sources.get(key);
    if (state === undefined) {
      sources.set(key, { firstSeen: event.at, addresses: new Set([address]), agents: new Set([agent]), lastAt: event.at });
      return undefined;
    }
    state.lastAt = event.at;
    const newAddress = !state.addresses.has(address);
    const newAgent = !state.agents.has(agent);
    if (!newAddress && !newAgent) return undefined;
    const stable = event.at - state.firstSeen >= rule.minHistoryMs
      && state.addresses.size <= rule.maxKnownSources && state.agents.size <= rule.maxKnownSources;
    const known = { addresses: [...state.addresses], userAgents: [...state.agents] };
    state.addresses.add(address);
    state.agents.add(agent);
    // A false positive on this token widens what counts as its normal roaming.
    const roaming = state.addresses.size > rule.maxKnownSources * factorOf('token_new_source', key);
    if (!live || !stable || roaming || cooling('token_new_source', key, event.at)) return undefined;
    startCooldown('token_new_source', key, event.at, rule.cooldownMs);
    return candidate(
      'token_new_source', newAddress && newAgent ? 'high' : rule.severity, event.tenantId, `token:${tokenId}`, key, event, event.at,
      { newAddress: newAddress ? address : null, newUserAgent: newAgent ? agent : null, known, historyMs: event.at - state.firstSeen, actor: event.actor },
      [event.id],
    );
  };

  const observePoint = (kind: 'sandbox_violation' | 'revoked_token_use', tenantId: string, principal: string, event: DetectorEvent, live: boolean, evidence: Record<string, unknown>): AlertCandidate | undefined => {
    const rule = rules[kind];
    const key = `${tenantId}|${principal}`;
    if (!rule.enabled || !live || cooling(kind, key, event.at)) return undefined;
    startCooldown(kind, key, event.at, rule.cooldownMs);
    return candidate(kind, rule.severity, tenantId, principal, key, event, event.at, evidence, [event.id]);
  };

  const observe = (event: DetectorEvent, live = true): AlertCandidate[] => {
    const { action, details } = event;
    if (action === 'security.alert') {
      // One of ours (this process before a restart, or another replica): the episode is already alerted.
      const kind = str(details['kind']) as AlertKind | undefined;
      const key = str(details['key']);
      const cooldown = kind === undefined ? undefined : (rules[kind] as { cooldownMs?: number } | undefined)?.cooldownMs;
      if (kind !== undefined && key !== undefined && cooldown !== undefined) {
        const until = event.at + cooldown;
        if ((cooldownUntil.get(ruleKey(kind, key)) ?? -Infinity) < until) cooldownUntil.set(ruleKey(kind, key), until);
      }
      return [];
    }
    if (action === 'security.alert.false_positive') {
      const kind = str(details['kind']) as AlertKind | undefined;
      const key = str(details['key']);
      if (kind !== undefined && key !== undefined) {
        const id = ruleKey(kind, key);
        fpFactors.set(id, Math.min((fpFactors.get(id) ?? 1) * rules.falsePositiveFactor, rules.falsePositiveMaxFactor));
      }
      return [];
    }
    if (action === 'security.new_source') {
      const alert = observeSource(event, live);
      return alert === undefined ? [] : [alert];
    }
    const reason = str(details['reason']) ?? '';
    if (action === 'auth.failure' && revokedReasons.has(reason)) {
      // The auth hook writes these as the token itself (actor `token:<id>`).
      const principal = str(details['tokenId']) === undefined ? event.actor : `token:${str(details['tokenId'])!}`;
      const alert = observePoint('revoked_token_use', event.tenantId, principal, event, live, { reason, source: details['source'] ?? null, target: event.target });
      return alert === undefined ? [] : [alert];
    }
    const seccompKill = action === 'job.fail' && /SIGSYS|seccomp/i.test(reason);
    if (seccompKill || action === 'sandbox.violation' || (event.outcome === 'denied' && sandboxDenials.has(action))) {
      const principal = event.target.startsWith('job:') ? event.target : event.actor;
      const alert = observePoint('sandbox_violation', event.tenantId, principal, event, live, { action, reason, target: event.target, details });
      return alert === undefined ? [] : [alert];
    }
    const alerts: AlertCandidate[] = [];
    for (const signal of rateSignalsOf(event)) {
      const alert = observeRate(signal, rules[signal.kind], event, live);
      if (alert !== undefined) alerts.push(alert);
    }
    return alerts;
  };

  const prune = (now: number): void => {
    const horizon = Math.max(
      ...(['bola_probing', 'credential_stuffing', 'deletion_burst', 'exfiltration'] as const).flatMap((kind) => rules[kind].windows.map((w) => w.historyMs)),
    );
    for (const [key, state] of rates) if (state.lastAt < now - horizon) rates.delete(key);
    for (const [key, until] of cooldownUntil) if (until < now) cooldownUntil.delete(key);
    // Token sources are kept longer: a token's stable history is what makes a new source suspicious.
    for (const [key, state] of sources) if (state.lastAt < now - 7 * horizon) sources.delete(key);
  };

  return { observe, prune, factorOf };
};
