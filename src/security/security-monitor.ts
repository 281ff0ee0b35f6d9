/**
 * Runs the detector over the audit stream: every `pollIntervalMs` one system transaction takes the
 * detector's lease (one detector per database, whichever replica holds it), reads new audit events by id
 * (audit-tail.ts), feeds them to the pure detector, inserts the alerts it raises (each with its
 * `security.alert` audit event) and moves the durable cursor — all or nothing. On taking the lease (start-up,
 * or another replica's lapsed) it first replays recent history without alerting to rebuild baselines. After
 * the commit: the alert metric, a log line, and a webhook delivery round (background, never a request's).
 */
import { Counter, Registry } from 'prom-client';
import type { Db, Queryable } from '../db/index.ts';
import { withSystem } from '../db/index.ts';
import type { Alert } from '../contract/alerts.ts';
import { createAnomalyDetector } from './anomaly-detector.ts';
import type { AnomalyDetector } from './anomaly-detector.ts';
import type { AlertKind, DetectorRules } from './detector-rules.ts';
import { createAuditTail, firstIdSince, maxAuditId, readRange } from './audit-tail.ts';
import type { AuditTail } from './audit-tail.ts';
import { insertAlerts } from './alert-store.ts';
import { createWebhookSender } from './webhook-sender.ts';
import type { WebhookConfig, WebhookSender } from './webhook-sender.ts';

export const securityAlertMetricName = 'bulkhead_security_alerts_total';

/** `bulkhead_security_alerts_total{kind,severity}` on `registry` (reused when already registered there). */
export const securityAlertCounter = (registry: Registry): Counter<'kind' | 'severity'> => {
  const existing = registry.getSingleMetric(securityAlertMetricName);
  if (existing !== undefined) return existing as Counter<'kind' | 'severity'>;
  return new Counter({
    name: securityAlertMetricName,
    help: 'Security alerts raised by the anomaly detector, by kind and severity',
    labelNames: ['kind', 'severity'] as const,
    registers: [registry],
  });
};

export interface SecurityMonitorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SecurityMonitorOptions {
  db: Db;
  rules: DetectorRules;
  pollIntervalMs: number;
  /** How much history the warm-up replays into the baselines (token sources: 7 times as much). */
  warmupMs: number;
  /** This process (`<pid>:<start>:<random>@<host>`): who holds the lease. */
  instanceId: string;
  webhook?: WebhookConfig | undefined;
  /** Where the alert counter is registered (the platform's registry); default: one of its own. */
  metrics?: Registry | undefined;
  log: SecurityMonitorLog;
  /** Late commits are waited for this long (audit-tail.ts). */
  gapGraceMs?: number;
  now?: () => number;
}

export interface SecurityMonitor {
  /** One round: read, detect, store. Returns the alerts raised. Never throws (errors are logged; state is rebuilt). */
  tick(): Promise<Alert[]>;
  /** One webhook round (also run after every tick that raised alerts, and on the poll timer). */
  deliverWebhooks(): Promise<number>;
  /** The detector's false-positive factor for a rule and key (1 when unmarked or before the first round). */
  factorOf(kind: AlertKind, key: string): number;
  start(): void;
  stop(): Promise<void>;
}

const cursorName = 'audit-tail';

export const createSecurityMonitor = (options: SecurityMonitorOptions): SecurityMonitor => {
  const { db, rules, log } = options;
  const now = options.now ?? Date.now;
  const counter = securityAlertCounter(options.metrics ?? new Registry());
  const leaseMs = Math.max(options.pollIntervalMs * 5, 10_000);
  const sender: WebhookSender | undefined = options.webhook === undefined ? undefined : createWebhookSender(db, options.webhook, log);
  let detector: AnomalyDetector | undefined;
  let tail: AuditTail | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let lastPrune = 0;

  /** Replays history up to `cursor` into a fresh detector (no alerts), then tails from `cursor`. */
  const warmUp = async (tx: Queryable, cursor: number): Promise<void> => {
    const fresh = createAnomalyDetector(rules);
    const at = now();
    const sourcesFrom = await firstIdSince(tx, at - 7 * options.warmupMs);
    const allFrom = await firstIdSince(tx, at - options.warmupMs);
    const feed = (events: readonly Parameters<AnomalyDetector['observe']>[0][]) => {
      for (const event of events) fresh.observe(event, false);
    };
    if (sourcesFrom !== undefined) await readRange(tx, sourcesFrom - 1, Math.min(cursor, (allFrom ?? cursor + 1) - 1), 'sources', feed);
    if (allFrom !== undefined) await readRange(tx, allFrom - 1, cursor, 'all', feed);
    detector = fresh;
    tail = createAuditTail(cursor, { graceMs: options.gapGraceMs ?? 60_000 });
  };

  const round = async (): Promise<Alert[]> => withSystem(db, async (tx) => {
    if (detector === undefined) {
      // First round of this process (or after a failure): a database never tailed starts at its end.
      await tx.query(
        `INSERT INTO security_detector_state (name, cursor_id, holder, lease_until) VALUES ($1, $2, NULL, NULL) ON CONFLICT (name) DO NOTHING`,
        [cursorName, await maxAuditId(tx)],
      );
    }
    // Row lock: concurrent rounds (two replicas) serialise here; only the lease holder goes on.
    const { rows } = await tx.query<{ cursor_id: string | number; holder: string | null; expired: boolean }>(
      `SELECT cursor_id, holder, (lease_until IS NULL OR lease_until < clock_timestamp()) AS expired
         FROM security_detector_state WHERE name = $1 FOR UPDATE`,
      [cursorName],
    );
    const state = rows[0]!;
    if (state.holder !== options.instanceId && !state.expired) {
      detector = undefined;
      return [];
    }
    if (detector === undefined || tail === undefined || state.holder !== options.instanceId) await warmUp(tx, Number(state.cursor_id));
    const events = await tail!.read(tx, now());
    const candidates = events.flatMap((event) => detector!.observe(event, true));
    const inserted = candidates.length === 0 ? [] : await insertAlerts(tx, candidates, sender !== undefined);
    await tx.query(
      `UPDATE security_detector_state SET cursor_id = GREATEST(cursor_id, $2), holder = $3,
          lease_until = clock_timestamp() + make_interval(secs => $4::double precision / 1000), updated_at = clock_timestamp()
        WHERE name = $1`,
      [cursorName, tail!.cursor(), options.instanceId, leaseMs],
    );
    return inserted;
  });

  const tick = async (): Promise<Alert[]> => {
    try {
      const inserted = await round();
      for (const alert of inserted) {
        counter.inc({ kind: alert.kind, severity: alert.severity });
        log.warn({ component: 'security', alertId: alert.id, kind: alert.kind, severity: alert.severity, tenantId: alert.tenant?.id ?? null, principal: alert.principal }, 'security alert');
      }
      if (now() - lastPrune > 60_000) {
        detector?.prune(now());
        lastPrune = now();
      }
      return inserted;
    } catch (error) {
      // The transaction rolled back but the detector may have seen its events: rebuild from the cursor.
      detector = undefined;
      tail = undefined;
      log.error({ component: 'security', err: (error as Error).message }, 'anomaly detection round failed');
      return [];
    }
  };

  const deliverWebhooks = async (): Promise<number> => (sender === undefined ? 0 : sender.deliverDue());

  const loop = async (): Promise<void> => {
    const raised = await tick();
    if (sender !== undefined) await deliverWebhooks();
    void raised;
  };

  return {
    tick,
    deliverWebhooks,
    factorOf: (kind, key) => detector?.factorOf(kind, key) ?? 1,
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        if (running !== undefined) return;
        running = loop().finally(() => {
          running = undefined;
        });
      }, options.pollIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
};
