/**
 * Sampling from step summaries (migration 0038): the batch summary, and MLflow's sampled steps of unions
 * of progressions against the sampling of the enumerated steps (the integration test,
 * metric-history.int.test.ts, checks the same through the database on both engines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sampleSummarizedSteps, summariesOf } from './step-sampling.ts';
import type { StepSummary } from './step-sampling.ts';
import { stepProgression } from './tracking-queries.ts';

/** MLflow's sampling over an explicit list of the series' steps. */
const reference = (series: readonly number[][], maxResults: number, interval?: [number, number]): number[] => {
  const all = [...new Set(series.flat())].sort((a, b) => a - b);
  const [lo, hi] = interval ?? [0, all.at(-1) ?? 0];
  const inRange = all.filter((s) => s >= lo && s <= hi);
  const chosen = new Set<number>();
  for (const steps of series) for (const s of [Math.min(...steps), Math.max(...steps)]) if (s >= lo && s <= hi) chosen.add(s);
  if (inRange.length <= maxResults) for (const s of inRange) chosen.add(s);
  else {
    for (let k = 0; k < maxResults; k += 1) chosen.add(inRange[Math.floor((k * inRange.length) / maxResults)] as number);
    chosen.add(inRange.at(-1) as number);
  }
  return [...chosen].sort((a, b) => a - b);
};

const summary = (first: number, count: number, stride: number): StepSummary => ({ first: BigInt(first), count: BigInt(count), stride: BigInt(count === 1 ? 0 : stride) });
const stepsOf = (s: StepSummary): number[] => Array.from({ length: Number(s.count) }, (_, i) => Number(s.first + BigInt(i) * s.stride));

describe('stepProgression (a batch\'s distinct steps of one key)', () => {
  it('finds the progression in order, out of order and with repeats, and refuses anything else', () => {
    assert.deepEqual(stepProgression([5]), { first: 5, count: 1, stride: 0 });
    assert.deepEqual(stepProgression([0, 1, 2, 3]), { first: 0, count: 4, stride: 1 });
    assert.deepEqual(stepProgression([30, 10, 20, 10, 30]), { first: 10, count: 3, stride: 10 });
    assert.deepEqual(stepProgression([7, 7, 7]), { first: 7, count: 1, stride: 0 });
    assert.equal(stepProgression([0, 1, 3]).stride, undefined);
    assert.equal(stepProgression([-(2 ** 52), 2 ** 52 + 2]).stride, undefined, 'a span past 2^53 is not computed inexactly');
  });
});

describe('sampleSummarizedSteps', () => {
  it('samples a union of progressions on one lattice as MLflow samples their steps (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 5),
        fc.integer({ min: -3, max: 3 }),
        fc.array(fc.record({ at: fc.integer({ min: -4, max: 30 }), count: fc.integer({ min: 1, max: 25 }) }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 20 }),
        fc.option(fc.tuple(fc.integer({ min: -30, max: 200 }), fc.integer({ min: -30, max: 200 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]), { nil: undefined }),
        (stride, residue, parts, maxResults, interval) => {
          const series = parts.map((p) => summary(residue + p.at * stride, p.count, stride));
          const got = sampleSummarizedSteps(series, maxResults, interval === undefined ? undefined : [BigInt(interval[0]), BigInt(interval[1])]);
          assert.deepEqual(got?.map(Number), reference(series.map(stepsOf), maxResults, interval));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers a million-step series from its summary: 320 positions and the last step', () => {
    const got = sampleSummarizedSteps([summary(0, 1_000_000, 1)], 320) as bigint[];
    assert.equal(got.length, 321);
    assert.equal(got[1], 3125n);
    assert.equal(got.at(-1), 999_999n);
    // Far past 2^53 the positions stay exact.
    const far = sampleSummarizedSteps([{ first: 2n ** 62n, count: 2n ** 40n, stride: 3n }], 3) as bigint[];
    assert.deepEqual(far, [2n ** 62n, 2n ** 62n + (2n ** 40n / 3n) * 3n, 2n ** 62n + ((2n * 2n ** 40n) / 3n) * 3n, 2n ** 62n + (2n ** 40n - 1n) * 3n]);
  });

  it('leaves series on different lattices to the scan', () => {
    assert.equal(sampleSummarizedSteps([summary(0, 10, 2), summary(1, 10, 2)], 5), undefined);
    assert.equal(sampleSummarizedSteps([summary(0, 10, 2), summary(0, 10, 3)], 5), undefined);
    assert.deepEqual(sampleSummarizedSteps([summary(0, 10, 2), summary(3, 1, 0)], 50), undefined);
    assert.deepEqual(sampleSummarizedSteps([summary(4, 1, 0), summary(9, 1, 0)], 50)?.map(Number), [4, 9]);
    assert.deepEqual(sampleSummarizedSteps([], 50), []);
  });

  it('trusts a summary only when it is complete, current and the series has no unsummarised rows', () => {
    const row = { id: 'r', step: '9', step_min: '0', step_count: '10', step_stride: '1', unsummarized: false };
    assert.deepEqual(summariesOf([row]), [{ first: 0n, count: 10n, stride: 1n }]);
    assert.deepEqual(summariesOf([{ ...row, step: null, step_min: null, step_count: null, step_stride: null }]), [], 'a run without the key adds nothing');
    assert.equal(summariesOf([row, { ...row, unsummarized: true }]), undefined);
    assert.equal(summariesOf([{ ...row, step_stride: null }]), undefined);
    assert.equal(summariesOf([{ ...row, step: '12' }]), undefined, 'a summary that does not end at the highest step');
  });
});
