import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeJsonInSlices } from './json-slices.ts';

const text = async (value: unknown, slice?: number): Promise<string> => {
  const encoded = await encodeJsonInSlices(value, slice);
  return typeof encoded === 'string' ? encoded : encoded.toString('utf8');
};

const item = fc.oneof(
  fc.jsonValue(),
  fc.constant(undefined),
  fc.record({ info: fc.record({ run_id: fc.string({ unit: 'binary' }), start_time: fc.integer() }), data: fc.dictionary(fc.string(), fc.jsonValue()) }),
);

test('the bytes are exactly JSON.stringify of the object (UTF-8), for arrays below, at and above the slice size', async () => {
  await fc.assert(fc.asyncProperty(
    fc.dictionary(fc.string(), fc.oneof(fc.array(item, { maxLength: 40 }), fc.jsonValue(), fc.constant(undefined))),
    fc.integer({ min: 1, max: 8 }),
    async (value, slice) => {
      assert.equal(await text(value, slice), JSON.stringify(value));
    },
  ), { numRuns: 300 });
});

test('a large array is encoded in slices, and other work runs between them', async () => {
  const runs = Array.from({ length: 1_000 }, (_, i) => ({ info: { run_id: `r${i}` }, data: { metrics: [{ key: 'm', value: i / 7 }] } }));
  // A recurring callback stands for another tenant's request: count how often it got a turn meanwhile.
  let turns = 0;
  let encoding = true;
  const other = (): void => {
    if (!encoding) return;
    turns += 1;
    setImmediate(other);
  };
  setImmediate(other);
  const encoded = await text({ runs, next_page_token: 'abc' }, 100);
  encoding = false;
  assert.equal(encoded, JSON.stringify({ runs, next_page_token: 'abc' }));
  assert.ok(turns >= 9, `the other callback ran ${turns} times during 10 slices`);

  // A small object is one synchronous encoding: no turn is given.
  turns = 0;
  encoding = true;
  setImmediate(other);
  const small = await encodeJsonInSlices({ runs: runs.slice(0, 100) }, 100);
  encoding = false;
  assert.equal(small, JSON.stringify({ runs: runs.slice(0, 100) }), 'a small value stays one string');
  assert.equal(turns, 0);
});
