/**
 * Security anomaly detection over the audit stream. Owns: the pure detector and its rules (per tenant, per
 * token and per source address, robust baselines over sliding windows), the tail of the audit table with a
 * durable cursor, the alert table (migration 0016) and its routes' queries, the webhook outbox sender, and
 * the request observer that audits, in summaries, what the request path does not (new token sources,
 * download bytes, 404s on ids not owned, failed logins). Does not own: what the services audit (they call
 * appendAuditEvent), the metrics endpoint (src/monitoring serves the registry it is given), or blocking
 * anything — alerts inform operators; suspension stays a human decision.
 */
export { alertKinds, defaultRules, resolveRules, rulesSchema } from './detector-rules.ts';
export type { AlertKind, DetectorRules, Severity } from './detector-rules.ts';
export { createAnomalyDetector, isRelevantEvent, rateSignalsOf, relevantEventSql } from './anomaly-detector.ts';
export type { AlertCandidate, AnomalyDetector, DetectorEvent } from './anomaly-detector.ts';
export { summarize, thresholdOf } from './robust-stats.ts';
export { createAuditTail } from './audit-tail.ts';
export { alertErrors, insertAlerts, listAlerts, markFalsePositive } from './alert-store.ts';
export type { AlertScope } from './alert-store.ts';
export { backoffMs, createWebhookSender, signatureHeader, timestampHeader, verifyWebhookSignature, webhookSignature } from './webhook-sender.ts';
export type { WebhookConfig } from './webhook-sender.ts';
export { createRequestObserver } from './request-observer.ts';
export type { ObservedRequest, RequestObserver } from './request-observer.ts';
export { createSecurityMonitor, securityAlertCounter, securityAlertMetricName } from './security-monitor.ts';
export type { SecurityMonitor } from './security-monitor.ts';
export { createSecuritySystem } from './security-system.ts';
export type { SecuritySettings, SecuritySystem } from './security-system.ts';
