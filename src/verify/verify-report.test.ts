import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJunit, renderText, summarize } from './verify-report.ts';
import type { CheckResult, VerifyReport } from './verify-types.ts';

const checks: CheckResult[] = [
  { group: 'api', check: 'cross-tenant', target: 'GET /api/v1/tenants/{tenant}', expectation: '404', result: 'pass', evidence: '404 for both' },
  { group: 'api', check: 'cross-tenant', target: 'GET /api/v1/tenants/:tenant/leak', expectation: '404', result: 'fail', evidence: 'A\'s: 200 {"a":"<b>&"}', reproduce: "curl -X GET 'http://h/api/v1/tenants/x/leak'" },
  { group: 'data', check: 'login role', target: 'database', expectation: 'no BYPASSRLS', result: 'skip', evidence: 'needs --database-url\u0001' },
];
const report: VerifyReport = { schema: 'bulkhead.verify/v1', url: 'http://h', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1500, groups: ['api', 'data'], summary: summarize(checks), checks };

test('the summary counts each outcome', () => {
  assert.deepEqual(report.summary, { passed: 1, failed: 1, skipped: 1, total: 3 });
});

test('text: a table per group, failures listed with the request to reproduce, the summary line last', () => {
  const text = renderText(report);
  assert.match(text, /== api: 1 passed, 1 failed, 0 skipped/);
  assert.match(text, /FAIL\s+cross-tenant\s+GET \/api\/v1\/tenants\/:tenant\/leak/);
  assert.match(text, /reproduce \[GET \/api\/v1\/tenants\/:tenant\/leak\]: curl -X GET/);
  // A passing route check is folded (there are thousands), unless verbose.
  assert.doesNotMatch(text, /PASS\s+cross-tenant/);
  assert.match(renderText(report, { verbose: true }), /PASS\s+cross-tenant/);
  assert.match(text.split('\n').at(-1) ?? '', /^1 passed, 1 failed, 1 skipped \(3 checks in 1\.5 s\)$/);
});

test('JUnit: one suite per group, failures and skips, XML-escaped, no control characters', () => {
  const xml = renderJunit(report);
  assert.match(xml, /<testsuites name="bulkhead verify" tests="3" failures="1" skipped="1" time="1.500">/);
  assert.match(xml, /<testsuite name="bulkhead verify api" tests="2" failures="1" skipped="0">/);
  assert.match(xml, /<failure message="A&apos;s: 200 \{&quot;a&quot;:&quot;&lt;b&gt;&amp;&quot;\}">/);
  assert.match(xml, /<skipped message="needs --database-url"\/>/);
  assert.doesNotMatch(xml, /\u0001/);
});
