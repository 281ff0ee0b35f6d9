import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { defaultInputRules, findInputProblem, inputProblemError } from './input-validation.ts';
import type { InputRules } from './input-validation.ts';

/** Well-formed text without NUL: what storage holds. */
const storable = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\u0000'));
const jsonOf = (leaf: fc.Arbitrary<unknown>) =>
  fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(storable, tie('value'), { maxKeys: 3 })),
  })).value;
const finiteLeaf = fc.oneof(storable, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));

/** Puts `bad` at a random place of `value`, returning the new value and the path the check must name. */
const plant = (value: unknown, bad: unknown, choice: number[]): { value: unknown; field: string } => {
  const parts: (string | number)[] = [];
  const root = { v: value } as Record<string, unknown>;
  let parent: Record<string, unknown> | unknown[] = root;
  let key: string | number = 'v';
  for (const c of choice) {
    const current: unknown = (parent as Record<string | number, unknown>)[key];
    if (Array.isArray(current) && current.length > 0) {
      parent = current;
      key = c % current.length;
    } else if (current !== null && typeof current === 'object' && Object.keys(current).length > 0) {
      parent = current as Record<string, unknown>;
      const keys = Object.keys(current);
      key = keys[c % keys.length]!;
    } else break;
    parts.push(key);
  }
  (parent as Record<string | number, unknown>)[key] = bad;
  let field = '';
  for (const part of parts) field += typeof part === 'number' ? `[${part}]` : field === '' ? part : `.${part}`;
  return { value: root['v'], field: field === '' ? '(root)' : field };
};

test('storable input passes: any JSON of well-formed text without NUL and finite numbers', () => {
  fc.assert(fc.property(jsonOf(finiteLeaf), (value) => {
    assert.equal(findInputProblem('body', value), undefined);
  }));
});

test('a NUL, a lone surrogate or a non-finite number anywhere is found, with its path', () => {
  const bad = fc.oneof(
    storable.map((s) => `${s}\u0000`), storable.map((s) => `\ud800${s}`), storable.map((s) => `${s}\udfff`),
    fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN),
  );
  fc.assert(fc.property(jsonOf(finiteLeaf), bad, fc.array(fc.nat(), { maxLength: 6 }), (value, badValue, choice) => {
    const planted = plant(value, badValue, choice);
    const problem = findInputProblem('body', planted.value);
    assert.ok(problem !== undefined, `not found in ${JSON.stringify(planted.value)}`);
    assert.equal(problem.field, planted.field);
  }));
});

test('surrogate pairs (emoji) are text; halves of them are not', () => {
  assert.equal(findInputProblem('body', { name: 'model 😀 𝔘' }), undefined);
  assert.equal(findInputProblem('body', { name: '😀'.slice(0, 1) })?.field, 'name');
  assert.equal(findInputProblem('body', { name: '😀'.slice(1) })?.field, 'name');
});

test('keys are checked too, and strings longer than the ceiling are refused', () => {
  assert.match(findInputProblem('body', { tags: { 'a\u0000': 'v' } })?.reason ?? '', /key/);
  const rules: InputRules = { maxStringLength: 10, nonFiniteFields: [] };
  assert.equal(findInputProblem('querystring', { q: 'x'.repeat(10) }, rules), undefined);
  assert.equal(findInputProblem('querystring', { q: 'x'.repeat(11) }, rules)?.field, 'q');
  assert.equal(findInputProblem('body', { q: 'x'.repeat(defaultInputRules.maxStringLength + 1) })?.field, 'q');
});

test('non-finite numbers are accepted only where the route declares them (MLflow metric values)', () => {
  const rules: InputRules = { maxStringLength: 100, nonFiniteFields: ['value', 'metrics.*.value'] };
  assert.equal(findInputProblem('body', { value: Number.POSITIVE_INFINITY }, rules), undefined);
  assert.equal(findInputProblem('body', { metrics: [{ value: 1 }, { value: Number.NEGATIVE_INFINITY }] }, rules), undefined);
  assert.equal(findInputProblem('body', { metrics: [{ step: Number.POSITIVE_INFINITY }] }, rules)?.field, 'metrics[0].step');
  assert.equal(findInputProblem('body', { timestamp: Number.POSITIVE_INFINITY }, rules)?.field, 'timestamp');
});

test('streams and bytes (raw upload bodies) are not walked; deep nesting does not exhaust the stack', () => {
  assert.equal(findInputProblem('body', Readable.from(['\u0000'])), undefined);
  assert.equal(findInputProblem('body', Buffer.from([0, 0xed, 0xa0, 0x80])), undefined);
  let deep: unknown = '\u0000';
  for (let i = 0; i < 100_000; i += 1) deep = [deep];
  assert.equal(findInputProblem('body', deep)?.reason.includes('NUL'), true);
});

test('the refusal is VALIDATION_FAILED naming the field in its message and details', () => {
  const error = inputProblemError({ source: 'params', field: 'tenant', reason: 'contains a NUL character' });
  assert.equal(error.code, 'VALIDATION_FAILED');
  assert.match(error.message, /'tenant' \(path\)/);
  assert.deepEqual(error.details, { field: 'tenant', in: 'params', issues: [{ path: 'params.tenant', message: 'contains a NUL character' }] });
});
