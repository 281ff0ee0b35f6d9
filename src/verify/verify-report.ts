/** The verifier's outputs: a table per group, the summary line, the `--json` document and JUnit XML. */
import type { CheckResult, VerifyGroup, VerifyReport } from './verify-types.ts';
import { renderTierTable } from './tier-bench.ts';

export const summarize = (checks: readonly CheckResult[]): VerifyReport['summary'] => {
  const passed = checks.filter((c) => c.result === 'pass').length;
  const failed = checks.filter((c) => c.result === 'fail').length;
  const skipped = checks.filter((c) => c.result === 'skip').length;
  return { passed, failed, skipped, total: checks.length };
};

export const summaryLine = (report: VerifyReport): string =>
  `${report.summary.passed} passed, ${report.summary.failed} failed, ${report.summary.skipped} skipped (${report.summary.total} checks in ${(report.durationMs / 1000).toFixed(1)} s)`;

const clip = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, width - 1)}…`);

const renderTable = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
};

/**
 * One table per group. Passing route checks are folded into one line per check kind (there are
 * thousands); every failure is listed with its route template and the request that crossed.
 */
export const renderText = (report: VerifyReport, options: { verbose?: boolean } = {}): string => {
  const out: string[] = [];
  for (const group of report.groups) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    const s = summarize(checks);
    out.push(`\n== ${group}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
    const shown = options.verbose === true || group !== 'api' ? checks : checks.filter((c) => c.result !== 'pass');
    const rows = [['result', 'check', 'target', 'expectation', 'evidence'], ...shown.map((c) => [c.result.toUpperCase(), clip(c.check, 48), clip(c.target, 70), clip(c.expectation, 50), clip(c.evidence, 110)])];
    if (shown.length > 0) out.push(renderTable(rows));
    if (shown.length < checks.length) {
      const folded = new Map<string, number>();
      for (const c of checks.filter((x) => x.result === 'pass')) folded.set(c.check, (folded.get(c.check) ?? 0) + 1);
      out.push(`passed (one line per check kind; --verbose lists each): ${[...folded].map(([k, n]) => `${k} ×${n}`).join('; ')}`);
    }
    for (const c of checks.filter((x) => x.result === 'fail' && x.reproduce !== undefined)) out.push(`  reproduce [${c.target}]: ${c.reproduce}`);
    if (group === 'tiers' && report.tierBench !== undefined && report.tierBench.length > 0) {
      out.push('', 'isolation-tier trade-offs on this host (medians; start/teardown around the job, CPU work = a fixed loop):');
      out.push(renderTable(renderTierTable(report.tierBench)));
    }
  }
  out.push('', summaryLine(report));
  return out.join('\n');
};

const xml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
  // XML 1.0 cannot carry most control characters.
  .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export const renderJunit = (report: VerifyReport): string => {
  const suites = report.groups.map((group: VerifyGroup) => {
    const checks = report.checks.filter((c) => c.group === group);
    const s = summarize(checks);
    const cases = checks.map((c) => {
      const name = xml(`${c.check} — ${c.target}`);
      const inner = c.result === 'fail' ? `<failure message="${xml(c.evidence)}">${xml(`expected: ${c.expectation}\nevidence: ${c.evidence}\nreproduce: ${c.reproduce ?? '-'}`)}</failure>`
        : c.result === 'skip' ? `<skipped message="${xml(c.evidence)}"/>` : '';
      return `    <testcase classname="bulkhead.verify.${group}" name="${name}">${inner}</testcase>`;
    });
    return `  <testsuite name="bulkhead verify ${group}" tests="${s.total}" failures="${s.failed}" skipped="${s.skipped}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bulkhead verify" tests="${report.summary.total}" failures="${report.summary.failed}" skipped="${report.summary.skipped}" time="${(report.durationMs / 1000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
};
