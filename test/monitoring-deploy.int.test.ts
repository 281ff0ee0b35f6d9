/**
 * deploy/monitoring/: the Prometheus alert rules pass `promtool check rules`, and every `bulkhead_` metric
 * the rules and the Grafana dashboard query is one the platform exposes (on PGlite and PostgreSQL — the
 * pool gauge exists only on PostgreSQL).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

const dir = fileURLToPath(new URL('../deploy/monitoring/', import.meta.url));
const rulesFile = `${dir}bulkhead-alerts.yml`;

/** Metric names in PromQL (histogram series mapped to their family). */
const metricNames = (expr: string): string[] =>
  [...expr.matchAll(/\bbulkhead_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));

const queriedMetrics = (): Map<string, string> => {
  const found = new Map<string, string>();
  const rules = parse(readFileSync(rulesFile, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  for (const group of rules.groups) for (const rule of group.rules) for (const name of metricNames(rule.expr)) found.set(name, `rule ${rule.alert}`);
  const dashboard = JSON.parse(readFileSync(`${dir}grafana-dashboard.json`, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }>; templating: { list: Array<{ definition: string }> } };
  for (const panel of dashboard.panels) for (const target of panel.targets ?? []) for (const name of metricNames(target.expr)) found.set(name, `panel ${panel.title}`);
  for (const variable of dashboard.templating.list) for (const name of metricNames(variable.definition)) found.set(name, 'dashboard variable');
  return found;
};

test('the alert rules pass promtool check rules', () => {
  const result = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
  assert.equal(result.error, undefined, 'promtool is installed (Debian package prometheus)');
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /SUCCESS: \d+ rules found/);
});

for (const kind of databaseKinds) {
  describe(`dashboard and rules query exposed metrics (${kind})`, () => {
    let p: TestPlatform;
    before(async () => {
      p = await createTestPlatform(kind);
    });
    after(async () => p?.close());

    test('every bulkhead_ metric queried is exposed', async () => {
      const text = await p.platform.metrics.metrics();
      const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const queried = queriedMetrics();
      assert.ok(queried.size >= 15, `${String(queried.size)} metrics queried`);
      for (const [name, where] of queried) {
        if (name === 'bulkhead_db_pool_connections' && kind === 'pglite') continue;
        assert.ok(exposed.has(name), `${name} (${where}) is not exposed`);
      }
    });
  });
}
