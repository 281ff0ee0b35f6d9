import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { unwritten } from './blob-writer.ts';

test('unwritten: after a short write of n bytes, the rest is exactly the bytes from n on', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), fc.nat(), (pieces, cut) => {
      const buffers = pieces.map((p) => Buffer.from(p));
      const all = Buffer.concat(buffers);
      const written = all.length === 0 ? 0 : cut % (all.length + 1);
      const rest = unwritten(buffers, written);
      assert.deepEqual(Buffer.concat(rest), all.subarray(written));
      assert.ok(rest.every((b) => b.length > 0 || buffers.some((original) => original === b)), 'no empty slices made up');
    }),
  );
});
