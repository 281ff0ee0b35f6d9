import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { datasetDigest } from './dataset-digest.ts';

const d = (c: string) => c.repeat(64);

test('the digest ignores upload order and sees every change', () => {
  const files = [{ path: 'b.csv', digest: d('b') }, { path: 'a/x.csv', digest: d('a') }];
  const base = datasetDigest(files);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(datasetDigest([...files].reverse()), base);
  assert.notEqual(datasetDigest([{ ...files[0]!, path: 'c.csv' }, files[1]!]), base);
  assert.notEqual(datasetDigest([{ ...files[0]!, digest: d('c') }, files[1]!]), base);
  assert.notEqual(datasetDigest(files.slice(1)), base);
  assert.notEqual(datasetDigest([]), base);
});

test('permutations never change the digest', () => {
  fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 8 }), fc.integer(), (paths, seed) => {
    const files = paths.map((path, i) => ({ path, digest: String(i).padStart(64, '0') }));
    const shuffled = [...files].sort((a, b) => ((a.path.length * 31 + seed) % 7) - ((b.path.length * 31 + seed) % 7));
    return datasetDigest(files) === datasetDigest(shuffled);
  }));
});
