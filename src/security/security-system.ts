/**
 * The security monitoring parts of one platform process, built together: the request observer (hooked into
 * the HTTP app when detection is on), the detector loop and the webhook sender. `start` is called by the
 * server (`bulkhead up`), never by tests or admin commands, which drive `monitor.tick()` and
 * `observer.flush()` themselves.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Db } from '../db/index.ts';
import { resolveRules } from './detector-rules.ts';
import type { DetectorRules } from './detector-rules.ts';
import { createRequestObserver } from './request-observer.ts';
import type { RequestObserver } from './request-observer.ts';
import { createSecurityMonitor } from './security-monitor.ts';
import type { SecurityMonitor, SecurityMonitorLog } from './security-monitor.ts';

export interface SecuritySettings {
  enabled: boolean;
  pollIntervalMs: number;
  observerFlushMs: number;
  warmupMs: number;
  /** Divides every window of the rules (and the warm-up): 1 in production; the bench compresses a day. */
  timeScale: number;
  webhookUrl?: string | undefined;
  webhookSecret?: string | undefined;
  /** Overrides of the default rules (config file `securityRules`). */
  rules?: Record<string, unknown> | undefined;
}

export interface SecuritySystem {
  enabled: boolean;
  rules: DetectorRules;
  observer: RequestObserver;
  monitor: SecurityMonitor;
  /** The HTTP app's onResponse observer; undefined when detection is off (no hook at all). */
  requestHook: ((request: FastifyRequest, reply: FastifyReply) => void) | undefined;
  start(): void;
  stop(): Promise<void>;
}

const contentLength = (reply: FastifyReply): number => {
  const header = reply.getHeader('content-length');
  const value = typeof header === 'string' ? Number(header) : typeof header === 'number' ? header : 0;
  return Number.isFinite(value) && value > 0 ? value : 0;
};

export const createSecuritySystem = (deps: { db: Db; settings: SecuritySettings; instanceId: string; metrics: Registry; log: SecurityMonitorLog }): SecuritySystem => {
  const { settings } = deps;
  const rules = resolveRules(settings.rules, settings.timeScale);
  const observer = createRequestObserver({ db: deps.db, flushIntervalMs: settings.observerFlushMs, log: deps.log });
  const monitor = createSecurityMonitor({
    db: deps.db, rules, pollIntervalMs: settings.pollIntervalMs, warmupMs: Math.max(1, Math.round(settings.warmupMs / settings.timeScale)),
    instanceId: deps.instanceId, metrics: deps.metrics, log: deps.log,
    webhook: settings.webhookUrl === undefined || settings.webhookSecret === undefined ? undefined : { url: settings.webhookUrl, secret: settings.webhookSecret },
  });
  const requestHook = settings.enabled
    ? (request: FastifyRequest, reply: FastifyReply): void => {
        const principal = request.principal;
        observer.record({
          principal: principal === undefined ? undefined : principal.kind === 'tenant'
            ? { kind: 'tenant', tokenId: principal.tokenId, tenantId: principal.tenantId, label: principal.label }
            : { kind: 'platform_admin', tokenId: principal.tokenId, label: principal.label },
          tenantId: request.tenant?.id,
          source: request.ip,
          userAgent: String(request.headers['user-agent'] ?? '').slice(0, 200),
          method: request.method,
          route: request.routeOptions.url ?? '',
          access: request.routeOptions.config.access,
          statusCode: reply.statusCode,
          bytes: contentLength(reply),
        });
      }
    : undefined;
  let started = false;
  return {
    enabled: settings.enabled, rules, observer, monitor, requestHook,
    start() {
      if (!settings.enabled || started) return;
      started = true;
      observer.start();
      monitor.start();
    },
    async stop() {
      if (!started) return;
      started = false;
      await observer.stop();
      await monitor.stop();
    },
  };
};
