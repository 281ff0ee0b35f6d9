/**
 * Delivers alerts to the configured webhook from the alert table's outbox, in the background: a request
 * never waits on the receiver, and an alert raised while the receiver is down is delivered when it is back
 * (retries with exponential backoff and jitter, up to `maxAttempts`, across restarts). Each body is signed:
 * `X-Bulkhead-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with the timestamp in
 * `X-Bulkhead-Timestamp`, so a receiver can check origin, integrity and freshness. The secret and the URL's
 * credentials are never logged: log lines name the URL's origin only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { Alert } from '../contract/alerts.ts';
import { claimDueDeliveries, recordDelivery } from './alert-store.ts';

export interface WebhookConfig {
  url: string;
  secret: string;
  /** Per attempt. */
  timeoutMs?: number;
  maxAttempts?: number;
  /** First retry after about this long; doubles per attempt, capped at `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export const signatureHeader = 'x-bulkhead-signature';
export const timestampHeader = 'x-bulkhead-timestamp';

/** The signature a receiver recomputes: HMAC-SHA256 over `<timestamp>.<raw body>`, hex. */
export const webhookSignature = (secret: string, timestamp: string, body: string): string =>
  `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

/** For receivers (and tests): constant-time check of a delivery's signature. */
export const verifyWebhookSignature = (secret: string, timestamp: string, body: string, signature: string): boolean => {
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
};

/** Backoff before attempt `attempt + 1` (attempt ≥ 1), with ±20 % jitter so receivers are not hit in lockstep. */
export const backoffMs = (attempt: number, base: number, max: number, random: () => number = Math.random): number =>
  Math.round(Math.min(max, base * 2 ** Math.max(0, attempt - 1)) * (0.8 + 0.4 * random()));

const originOf = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
};

export interface WebhookSender {
  /** Delivers what is due now; returns how many were attempted. Never throws. */
  deliverDue(): Promise<number>;
}

export const createWebhookSender = (db: Db, config: WebhookConfig, log: { warn(obj: object, msg: string): void }): WebhookSender => {
  const timeoutMs = config.timeoutMs ?? 5000;
  const maxAttempts = config.maxAttempts ?? 8;
  const base = config.baseBackoffMs ?? 2000;
  const max = config.maxBackoffMs ?? 300_000;
  const origin = originOf(config.url);
  // fetch refuses URLs with credentials: `https://user:pass@host/…` becomes basic auth on a clean URL.
  const target = new URL(config.url);
  const basic = target.username === '' && target.password === '' ? undefined
    : `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
  target.username = '';
  target.password = '';

  const send = async (alert: Alert): Promise<void> => {
    const body = JSON.stringify({ type: 'bulkhead.security_alert', alert });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const attempt = alert.webhook.attempts + 1;
    let error: string | undefined;
    try {
      const response = await fetch(target, {
        method: 'POST',
        headers: {
          ...(basic === undefined ? {} : { authorization: basic }),
          'content-type': 'application/json',
          [timestampHeader]: timestamp,
          [signatureHeader]: webhookSignature(config.secret, timestamp, body),
          'x-bulkhead-delivery': alert.id,
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) {
        await recordDelivery(db, alert.id, { delivered: true });
        return;
      }
      error = `receiver answered ${response.status}`;
    } catch (caught) {
      // The message of a fetch failure names the cause (refused, timeout), never the secret.
      error = (caught as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `request failed: ${(caught as Error).message}`;
    }
    const retryInMs = attempt >= maxAttempts ? undefined : backoffMs(attempt, base, max);
    log.warn({ component: 'security-webhook', webhook: origin, alertId: alert.id, attempt, error, retryInMs: retryInMs ?? null }, 'alert webhook delivery failed');
    await recordDelivery(db, alert.id, { delivered: false, error, retryInMs });
  };

  return {
    async deliverDue() {
      try {
        const due = await claimDueDeliveries(db, 20, timeoutMs * 2 + 1000);
        await Promise.all(due.map((alert) => send(alert).catch((error: unknown) => log.warn({ component: 'security-webhook', alertId: alert.id, err: (error as Error).message }, 'alert webhook bookkeeping failed'))));
        return due.length;
      } catch (error) {
        log.warn({ component: 'security-webhook', err: (error as Error).message }, 'alert webhook outbox could not be read');
        return 0;
      }
    },
  };
};
