/**
 * The pure parts of run-search.ts: user text never reaches the SQL (keys, values and cursor keys are
 * bound), segments per first order term, placeholders all bound, and the page-token codec refusing
 * tokens of another search or with keys that do not parse as their sort types.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MlflowError } from './mlflow-errors.ts';
import { planRunSearch } from './run-search.ts';

const base = { experimentIds: [1, 2], stages: ['active'], tenantId: '7a0e0000-0000-4000-8000-000000000001' };

/** Every `$n` in the SQL is bound, and every bound value is used. */
const assertBound = (sql: string, params: readonly unknown[]) => {
  const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  assert.deepEqual([...used].sort((a, b) => a - b), params.map((_, i) => i + 1));
};

describe('planRunSearch', () => {
  it('turns incremental sort off only for an indexed param or tag condition (=, LIKE prefix) with an order that starts on a param or tag', () => {
    const off = (filter: string, orderBy: string[]) => planRunSearch({ ...base, filter, orderBy }).settings.includes("'enable_incremental_sort', 'off'");
    assert.equal(off("tags.t = 'x42'", ['params.a', 'metrics.m0 DESC']), true);
    assert.equal(off("params.a LIKE '3%'", ['tags.t DESC']), true);
    assert.equal(off("tags.t = 'x42'", ['metrics.m0 DESC', 'params.a']), false);
    assert.equal(off('metrics.m0 > 0.5', ['params.a']), false);
    assert.equal(off('', ['tags.t DESC']), false);
    assert.equal(off("tags.t = 'x42'", []), false);
    // `!=` and LIKE without a literal prefix keep most runs: the walk stays allowed.
    assert.equal(off("params.p2 != '3' and metrics.loss > 0.5", ['params.p3 DESC']), false);
    assert.equal(off("tags.t LIKE '%42'", ['params.a']), false);
    assert.equal(off("tags.t ILIKE 'x4%'", ['params.a']), false);
    // Every plan runs the base settings (sequential scans and Materialize off).
    assert.match(planRunSearch({ ...base, filter: '', orderBy: [] }).settings, /enable_seqscan', 'off'.*enable_material', 'off'/);
  });

  it('has one segment per way the first order term can be present', () => {
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: [] }).segmentCount, 1);
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['run_name DESC', 'metrics.a'] }).segmentCount, 1);
    // End time: the runs that have one, then the running ones (migration 0045).
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['end_time DESC', 'metrics.a'] }).segmentCount, 2);
    // Status alone: one segment per status (migration 0044).
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['attributes.status'] }).segmentCount, 5);
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['metrics.a DESC'] }).segmentCount, 3);
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['params.a'] }).segmentCount, 2);
    assert.equal(planRunSearch({ ...base, filter: '', orderBy: ['tags.a', 'metrics.b'] }).segmentCount, 2);
  });

  it('binds keys, values and cursor keys; none appears in the SQL (property)', () => {
    const text = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/[`'"\\]/.test(s) && s.trim() === s && s !== '');
    fc.assert(
      fc.property(text, text, fc.constantFrom('metrics', 'params', 'tags', 'attributes'), fc.boolean(), (rawKey, rawValue, prefix, asc) => {
        // A marker no trusted SQL of this module contains, around the user's text.
        const key = `zq${rawKey}zq`;
        const value = `zq${rawValue}zq`;
        const orderKey = prefix === 'attributes' ? 'run_name' : `\`${key}\``;
        const filter = prefix === 'metrics' ? `metrics.\`${key}\` > 1` : `${prefix === 'attributes' ? 'tags' : prefix}.\`${key}\` = '${value}'`;
        const plan = planRunSearch({ ...base, filter, orderBy: [`${prefix}.${orderKey} ${asc ? 'ASC' : 'DESC'}`] });
        for (let s = 0; s < plan.segmentCount; s += 1) {
          const first = plan.query(s, 10);
          assertBound(first.sql, first.params);
          const termCount = (first.sql.match(/ AS k\d+/g) ?? []).length;
          const keys = Array.from({ length: termCount }, () => '1');
          const next = plan.query(s, 10, { segment: s, keys });
          assertBound(next.sql, next.params);
          for (const q of [first, next]) {
            assert.ok(!q.sql.includes('zq'), `user text in SQL: ${q.sql}`);
            assert.ok(q.params.includes(key), 'the key is bound');
            assert.doesNotMatch(q.sql, /;|--|\/\*/);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips a cursor through its token', () => {
    const plan = planRunSearch({ ...base, filter: 'metrics.a > 0', orderBy: ['metrics.b DESC', 'end_time'] });
    const cursor = { segment: 0, keys: ['-Infinity', null, '1700000000000', '00ff'] };
    assert.deepEqual(plan.decodeToken(plan.encodeToken(cursor)), cursor);
    assert.equal(plan.decodeToken(undefined), undefined);
    assert.equal(plan.decodeToken(''), undefined);
  });

  it('refuses tokens of another search, malformed or with keys that are not of their type', () => {
    const plan = planRunSearch({ ...base, filter: 'metrics.a > 0', orderBy: ['metrics.b DESC'] });
    const token = plan.encodeToken({ segment: 0, keys: ['0.5', '1700000000000', 'abc'] });
    const refused = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof MlflowError && e.errorCode === 'INVALID_PARAMETER_VALUE');
    for (const other of [
      { ...base, filter: 'metrics.a > 1', orderBy: ['metrics.b DESC'] },
      { ...base, filter: 'metrics.a > 0', orderBy: ['metrics.b ASC'] },
      { ...base, experimentIds: [1], filter: 'metrics.a > 0', orderBy: ['metrics.b DESC'] },
      { ...base, stages: ['active', 'deleted'], filter: 'metrics.a > 0', orderBy: ['metrics.b DESC'] },
      { ...base, tenantId: '7a0e0000-0000-4000-8000-000000000002', filter: 'metrics.a > 0', orderBy: ['metrics.b DESC'] },
    ]) refused(() => planRunSearch(other).decodeToken(token));
    const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64');
    const h = (JSON.parse(Buffer.from(token, 'base64').toString()) as { h: string }).h;
    for (const body of [
      { s: 0, k: ['0.5; DROP TABLE runs', '1', 'a'], h },
      { s: 0, k: ['0.5', '1.5', 'a'], h },
      { s: 0, k: [null, '1', 'a'], h },
      { s: 0, k: ['0.5', '1'], h },
      { s: 3, k: [], h },
      { s: -1, k: [], h },
      { s: '0', k: ['0.5', '1', 'a'], h },
      { offset: 100 },
      [1, 2],
    ]) refused(() => plan.decodeToken(forge(body)));
    refused(() => plan.decodeToken('%%%'));
    refused(() => plan.decodeToken('x'.repeat(70_000)));
  });
});
