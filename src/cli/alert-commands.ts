/**
 * `bulkhead alerts [list]` (security alerts: a platform admin sees all, a tenant admin its tenant's; `--kind`,
 * `--status`, `--tenant` for platform admins, `--limit`) and `bulkhead alerts false-positive ID [--note TEXT]`.
 */
import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import { alertKindValues, alertStatusValues } from '../contract/alerts.ts';
import type { Alert } from '../contract/alerts.ts';
import { table } from './output.ts';
import type { CommandContext } from './program.ts';

const summary = (alert: Alert): string => {
  const value = alert.evidence['value'];
  const unit = alert.evidence['unit'];
  return typeof value === 'number' ? `${Math.round(value)} ${String(unit ?? '')}`.trim() : '';
};

export const registerAlertCommands = (program: Command, ctx: CommandContext): void => {
  const alerts = program.command('alerts').description('security alerts raised by the anomaly detector');
  const list = async (options: { kind?: string; status?: string; tenant?: string; limit?: string }) => {
    if (options.kind !== undefined && !(alertKindValues as readonly string[]).includes(options.kind)) {
      throw new AppError('VALIDATION_FAILED', `--kind must be one of ${alertKindValues.join(', ')}`);
    }
    if (options.status !== undefined && !(alertStatusValues as readonly string[]).includes(options.status)) {
      throw new AppError('VALIDATION_FAILED', `--status must be one of ${alertStatusValues.join(', ')}`);
    }
    const query = new URLSearchParams();
    for (const key of ['kind', 'status', 'tenant', 'limit'] as const) if (options[key] !== undefined) query.set(key, options[key]);
    const result = await ctx.client().request<{ alerts: Alert[]; nextBefore: string | null }>('GET', `/api/v1/alerts${query.size > 0 ? `?${query}` : ''}`);
    ctx.print(result, () => table(result.alerts.map((alert) => ({
      id: alert.id, detected: alert.detectedAt, kind: alert.kind, severity: alert.severity, status: alert.status,
      tenant: alert.tenant?.slug ?? '(platform)', principal: alert.principal, evidence: summary(alert),
    })), ['id', 'detected', 'kind', 'severity', 'status', 'tenant', 'principal', 'evidence']));
  };
  const listOptions = (command: Command): Command => command
    .option('--kind <kind>', `only this kind (${alertKindValues.join(', ')})`)
    .option('--status <status>', 'open or false_positive')
    .option('--tenant <tenant>', 'platform admins: only this tenant (slug or id), or "platform" for platform-level alerts')
    .option('--limit <n>', 'at most this many (default 100)');
  listOptions(alerts).action(list);
  listOptions(alerts.command('list').description('list alerts, newest first')).action(list);
  alerts
    .command('false-positive <id>')
    .description('mark an alert a false positive: the detector raises that principal\'s threshold for that rule')
    .option('--note <text>', 'why (kept in the audit log)')
    .action(async (id: string, options: { note?: string }) => {
      const alert = await ctx.client().request<Alert>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/false-positive`, options.note === undefined ? {} : { note: options.note });
      ctx.print(alert, () => `alert ${alert.id} (${alert.kind}, ${alert.principal}) marked a false positive`);
    });
};
