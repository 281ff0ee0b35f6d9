import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import { meteredResourceNames } from '../contract/usage.ts';
import type { UsageReport } from '../contract/usage.ts';
import type { CommandContext } from './program.ts';
import { table } from './output.ts';

interface UsageView {
  from: string;
  to: string;
  granularity: string;
  units: Record<string, string>;
  buckets: Array<Record<string, unknown> & { start: string }>;
  totals: Record<string, number>;
}

/** A number as a person reads it in a table: at most 6 significant decimals, no exponent for small values. */
const human = (value: number): string => (Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6))));

/** RFC 4180: quote a field holding a comma, a quote or a line break (doubling quotes). */
const csvField = (value: string | number): string => {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

export const reportCsv = (report: UsageReport): string => {
  const header = ['period', 'tenant_id', 'tenant_slug', 'resource', 'unit', 'quantity', 'unit_price', 'currency', 'total'];
  const rows = report.lines.map((line) => [report.period, line.tenantId, line.tenantSlug, line.resource, line.unit, line.quantity, line.unitPrice, report.currency, line.total]);
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n');
};

/** `bulkhead usage` (a tenant's metered usage) and `bulkhead usage report` (the chargeback report of a month). */
export const registerUsageCommands = (program: Command, ctx: CommandContext): void => {
  const usage = program
    .command('usage')
    .description("a tenant's metered usage per hour or day (table; --json for the API's answer), and the monthly chargeback report")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--from <date>', 'start, ISO 8601 (default: 24 hours before --to)')
    .option('--to <date>', 'end, exclusive (default: now)')
    .option('--granularity <hour|day>', 'bucket size', 'hour')
    .action(async (o: { tenant?: string; from?: string; to?: string; granularity: string }) => {
      if (o.granularity !== 'hour' && o.granularity !== 'day') throw new AppError('VALIDATION_FAILED', `--granularity must be hour or day, got '${o.granularity}'`);
      const query = new URLSearchParams({ granularity: o.granularity });
      if (o.from !== undefined) query.set('from', o.from);
      if (o.to !== undefined) query.set('to', o.to);
      const view = await ctx.client().request<UsageView>('GET', `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/usage?${query.toString()}`);
      ctx.print(view, () => {
        const columns = ['start', ...meteredResourceNames];
        const rows = [...view.buckets, { start: 'total', ...view.totals }].map((bucket) =>
          Object.fromEntries(columns.map((c) => [c, typeof bucket[c] === 'number' ? human(bucket[c]) : bucket[c]])));
        const units = meteredResourceNames.map((name) => `${name}: ${view.units[name] ?? '?'}`).join(', ');
        return `${view.from} .. ${view.to} per ${view.granularity}\n${table(rows, columns)}\nunits: ${units}`;
      });
    });

  usage
    .command('report')
    .description('chargeback report of a month: per tenant and resource, quantity, unit price, total (platform admin: every tenant; otherwise your own)')
    .requiredOption('--period <YYYY-MM>', 'the month (UTC)')
    .option('--format <table|csv|json>', 'output format', 'table')
    .action(async (o: { period: string; format: string }) => {
      if (!['table', 'csv', 'json'].includes(o.format)) throw new AppError('VALIDATION_FAILED', `--format must be table, csv or json, got '${o.format}'`);
      const report = await ctx.client().request<UsageReport>('GET', `/api/v1/usage/report?period=${encodeURIComponent(o.period)}`);
      if (o.format === 'json' || ctx.json()) {
        ctx.io.out(JSON.stringify(report, null, 2));
        return;
      }
      if (o.format === 'csv') {
        ctx.io.out(reportCsv(report));
        return;
      }
      const rows = report.lines.map((line) => ({ tenant: line.tenantSlug, resource: line.resource, quantity: human(line.quantity), unit: line.unit, price: line.unitPrice, total: human(line.total) }));
      const totals = report.tenantTotals.map((t) => ({ tenant: t.tenantSlug, total: human(t.total) }));
      ctx.io.out(`${report.period} (${report.from} .. ${report.to}), ${report.currency}\n${table(rows, ['tenant', 'resource', 'quantity', 'unit', 'price', 'total'])}\n\n${table(totals, ['tenant', 'total'])}\ngrand total: ${human(report.grandTotal)} ${report.currency}`);
    });
};
