/**
 * keyset-page.ts without a database: the order parsed back from the compiler, cut after a unique column,
 * the "after" condition's shape and bound parameters, and the page tokens (round trip, refusals).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EXPERIMENT_KEYS, VERSION_KEYS, computedKeyset, decodeHistoryToken, encodeHistoryToken, keysetOrder } from './keyset-page.ts';
import { compileExperimentFilter, compileExperimentOrderBy, compileLoggedModelOrderBy, compileModelVersionOrderBy } from './search-filter.ts';

const invalid = (error: unknown) => (error as { errorCode?: string }).errorCode === 'INVALID_PARAMETER_VALUE';

describe('keyset pages', () => {
  it('keeps the compiled order up to the first unique column', () => {
    const byName = keysetOrder(compileExperimentOrderBy(['name DESC']).sql, EXPERIMENT_KEYS, ['e.id', 'e.name'], 's');
    assert.equal(byName.orderSql, 'e.name DESC');
    const byDefault = keysetOrder(compileExperimentOrderBy([]).sql, EXPERIMENT_KEYS, ['e.id', 'e.name'], 's');
    assert.equal(byDefault.orderSql, 'e.creation_time DESC, e.id ASC');
    const versions = keysetOrder(compileModelVersionOrderBy([]).sql, VERSION_KEYS, [], 's');
    assert.equal(versions.orderSql, 'v.last_updated_time DESC, v.name ASC, v.version DESC');
  });

  it('builds the condition after a key with bound, typed parameters only', () => {
    const order = keysetOrder('v.last_updated_time DESC, v.name ASC, v.version DESC', VERSION_KEYS, [], 's');
    const params: unknown[] = ['tenant'];
    const sql = order.after(['5', "x' OR 1=1 --", '3'], params);
    assert.deepEqual(params, ['tenant', '5', "x' OR 1=1 --", '3']);
    assert.equal(sql, 'v.last_updated_time <= $2::bigint AND ((v.last_updated_time < $2::bigint) OR (v.last_updated_time = $2::bigint AND v.name > $3::text) OR '
      + '(v.last_updated_time = $2::bigint AND v.name = $3::text AND v.version < $4::bigint))');
  });

  it('round-trips its tokens and refuses those of another search, forged keys and offsets', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (name, time) => {
      const order = keysetOrder('e.name ASC, e.id DESC', EXPERIMENT_KEYS, [], 'search-a');
      const keys = [name, String(time)];
      assert.deepEqual(order.decode(order.encode(keys)), keys);
    }));
    const a = keysetOrder('e.name ASC', EXPERIMENT_KEYS, ['e.name'], 'search-a');
    const b = keysetOrder('e.name ASC', EXPERIMENT_KEYS, ['e.name'], 'search-b');
    assert.throws(() => b.decode(a.encode(['x'])), invalid);
    const ids = keysetOrder('e.id ASC', EXPERIMENT_KEYS, ['e.id'], 'search-a');
    const forged = JSON.parse(Buffer.from(ids.encode(['1']), 'base64').toString('utf8')) as { k: unknown[] };
    for (const k of ['1; DROP TABLE experiments', 1, null, '1e3', '9223372036854775808', '-9223372036854775809']) {
      assert.throws(() => ids.decode(Buffer.from(JSON.stringify({ ...forged, k: [k] })).toString('base64')), invalid);
    }
    assert.throws(() => ids.decode(Buffer.from('{"offset": 1}').toString('base64')), invalid);
    assert.throws(() => ids.decode('not a token'), invalid);
    assert.equal(ids.decode(''), undefined);
  });

  it('computed keysets (logged models): NULLS LAST conditions, typed bound keys, tokens that refuse nulls where none can be', () => {
    const order = compileLoggedModelOrderBy([{ field_name: 'metrics.acc', ascending: false }], { firstParam: 2 });
    const keyset = computedKeyset(order.terms, 'search');
    assert.equal(keyset.orderSql, 's.k0 DESC NULLS LAST, s.k1 DESC, s.k2 ASC');
    const params: unknown[] = ['x', 'acc'];
    // After a model with acc 0.5: a lower acc, no acc, or the same acc and then older / a greater id.
    assert.equal(keyset.after(['0.5', '1700000000000', 'm-1'], params),
      '(((s.k0 < $3::float8 OR s.k0 IS NULL)) OR (s.k0 = $3::float8 AND s.k1 < $4::bigint) OR (s.k0 = $3::float8 AND s.k1 = $4::bigint AND s.k2 > $5::text))');
    assert.deepEqual(params.slice(2), ['0.5', '1700000000000', 'm-1']);
    // After a model without acc: only models without it, by the later terms.
    const more: unknown[] = [];
    assert.equal(keyset.after([null, '5', 'm-2'], more), '((s.k0 IS NULL AND s.k1 < $1::bigint) OR (s.k0 IS NULL AND s.k1 = $1::bigint AND s.k2 > $2::text))');
    for (const keys of [['NaN', '1', 'm-1'], ['-Infinity', '1', 'm-1'], ['1e-05', '-3', 'm-1'], [null, '1', 'm-1']]) {
      assert.deepEqual(keyset.decode(keyset.encode(keys)), keys);
    }
    for (const keys of [['0.5', null, 'm-1'], ['0.5', '1', null], ['1; DROP', '1', 'm-1'], ['0.5', '1.5', 'm-1'], ['0.5', '1'], [0.5, '1', 'm-1']]) {
      assert.throws(() => keyset.decode(keyset.encode(keys as string[])), invalid, JSON.stringify(keys));
    }
    assert.throws(() => computedKeyset(order.terms, 'another search').decode(keyset.encode(['0.5', '1', 'm-1'])), invalid);
    assert.equal(keyset.decode(undefined), undefined);
  });

  it('history tokens belong to one run and key', () => {
    const token = encodeHistoryToken('r1', 'loss', { step: '3', timestamp: '-4', value: 'NaN' });
    assert.deepEqual(decodeHistoryToken(token, 'r1', 'loss'), { step: '3', timestamp: '-4', value: 'NaN' });
    assert.throws(() => decodeHistoryToken(token, 'r2', 'loss'), invalid);
    assert.throws(() => decodeHistoryToken(token, 'r1', 'acc'), invalid);
    const big = encodeHistoryToken('r1', 'loss', { step: '9999999999999999999', timestamp: '0', value: '1' });
    assert.throws(() => decodeHistoryToken(big, 'r1', 'loss'), invalid);
  });

  it('compiled experiment, model and version filters carry the tenant in their tag correlations', () => {
    // Under the OR-ed share policies row-level security gives the planner no `tenant_id = X` condition, so
    // a tag probe without the tenant would have no leading column for the tag table's (tenant_id, …) key.
    assert.match(compileExperimentFilter("tags.team = 'x'", { firstParam: 3 }).sql, /f\.tenant_id = e\.tenant_id AND f\.experiment_id = e\.id/);
  });
});
