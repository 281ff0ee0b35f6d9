import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkChainHead } from './audit-head-check.ts';
import type { CheckpointSeen, FileHead } from './audit-head-check.ts';

const h = (c: string) => c.repeat(64);
const cp = (seq: number, hash: string, valid = true): CheckpointSeen => ({ seq, hash, valid });
/** A heads-file entry: signed (default), with a signature that fails, or unsigned (from before 0012). */
const file = (seq: number, hash: string, signature: 'signed' | 'bad' | 'unsigned' = 'signed'): FileHead =>
  signature === 'unsigned' ? { seq, hash, valid: undefined } : { seq, hash, valid: signature === 'signed', signature: 'sig' };
const kindOf = (verdict: ReturnType<typeof checkChainHead>) => (verdict.ok ? 'ok' : verdict.kind);

test('a new chain, or one ending at its signed checkpoint and recorded head, may grow', () => {
  assert.equal(kindOf(checkChainHead(undefined, [], undefined)), 'ok');
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'))], file(10, h('a')))), 'ok');
  // The heads file may lag (another server sealed since): not a regression.
  assert.equal(kindOf(checkChainHead({ seq: 12, hash: h('b') }, [cp(12, h('b'))], file(10, h('a')))), 'ok');
});

test('a signed head past the chain end is a regression, whichever record holds it', () => {
  assert.equal(kindOf(checkChainHead({ seq: 7, hash: h('a') }, [cp(7, h('a')), cp(10, h('c'))], undefined)), 'head_regressed');
  const fromFile = checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'))], file(12, h('b')));
  assert.equal(kindOf(fromFile), 'head_regressed');
  // Only a signed heads-file entry is written back to the database.
  assert.deepEqual(fromFile.ok ? undefined : fromFile.reassert, { seq: 12, hash: h('b'), signature: 'sig' });
  const unsigned = checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'))], file(12, h('b'), 'unsigned'));
  assert.equal(kindOf(unsigned), 'head_regressed');
  assert.equal(unsigned.ok ? 'ok' : unsigned.reassert, undefined);
  assert.equal(kindOf(checkChainHead(undefined, [], file(3, h('b')))), 'head_regressed');
});

test('a heads-file entry whose signature fails is ignored by the sealer (verify reports it)', () => {
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'))], file(12, h('b'), 'bad'))), 'ok');
});

test('rows past the signed head, unsigned checkpoints and differing heads stop the chain', () => {
  assert.equal(kindOf(checkChainHead({ seq: 11, hash: h('f') }, [], undefined)), 'unanchored_head');
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a')), cp(11, h('f'), false)], undefined)), 'checkpoint_conflict');
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'), false)], undefined)), 'checkpoint_conflict');
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('b'))], undefined)), 'head_mismatch');
  assert.equal(kindOf(checkChainHead({ seq: 10, hash: h('a') }, [cp(10, h('a'))], file(10, h('b')))), 'head_mismatch');
  // An older recorded head must still be on the chain: rewritten from there (truncated, then re-sealed) is not.
  assert.equal(kindOf(checkChainHead({ seq: 13, hash: h('d') }, [cp(13, h('d'))], file(12, h('b')), h('b'))), 'ok');
  assert.equal(kindOf(checkChainHead({ seq: 13, hash: h('d') }, [cp(13, h('d'))], file(12, h('b')), h('e'))), 'head_mismatch');
});
