import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inlineParams } from './inline-params.ts';

test('values become quoted literals; quotes and backslashes cannot end them', () => {
  assert.equal(inlineParams('SELECT $1, $2, $3, $4', ['a', 1.5, true, null]), "SELECT 'a', '1.5', 'true', NULL");
  assert.equal(inlineParams('SELECT $1', ["x'; DROP TABLE jobs; --"]), "SELECT 'x''; DROP TABLE jobs; --'");
  assert.equal(inlineParams('SELECT $1', ["\\'; SELECT 1; --"]), "SELECT E'\\\\''; SELECT 1; --'");
  // A negative number cannot turn `a-$1` into a comment: every value is quoted.
  assert.equal(inlineParams('SELECT 1-$1', [-5]), "SELECT 1-'-5'");
  assert.equal(inlineParams('SELECT $10, $1', Array.from({ length: 10 }, (_, i) => i)), "SELECT '9', '0'");
});

test('what cannot be inlined safely is refused, so the caller binds instead', () => {
  assert.equal(inlineParams('SELECT $1', ['nul\0byte']), undefined);
  assert.equal(inlineParams('SELECT $1', [['array']]), undefined);
  assert.equal(inlineParams('SELECT $1', [{ object: true }]), undefined);
  assert.equal(inlineParams('SELECT $1', [Number.NaN]), undefined);
  assert.equal(inlineParams('SELECT $2', ['only one']), undefined);
});
