/**
 * How long one 1,000-run `runs/search` answer holds the server's thread while it is encoded: the longest
 * stretch in which no other callback could run (another tenant's request waits that long at most), and the
 * total encoding time — `JSON.stringify` in one piece (before) against `encodeJsonInSlices` (now), side by
 * side in this process, alternated. The page is shaped like the search benchmark's (three metrics, a param,
 * a tag, MLflow's run info). A ticker re-arms `setImmediate` while the encoding runs; the largest gap between
 * two of its turns is the longest hold.
 *
 * Usage: node bench/json-slices.ts [--runs 1000] [--rounds 40]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { encodeJsonInSlices } from '../src/http/json-slices.ts';
import { percentile } from './support/timing.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '40' } } });
const RUNS = Number(values.runs);
const ROUNDS = Number(values.rounds);

const page = (round: number) => ({
  runs: Array.from({ length: RUNS }, (_, i) => {
    const id = `${round.toString(16).padStart(8, '0')}${i.toString(16).padStart(24, '0')}`;
    return {
      info: { run_id: id, run_uuid: id, run_name: `run-${i}`, experiment_id: '1', user_id: `user${i % 7}`, status: 'FINISHED', start_time: 1_700_000_000_000 + i, end_time: 1_700_000_001_000 + i, artifact_uri: `mlflow-artifacts:/1/${id}/artifacts`, lifecycle_stage: 'active' },
      data: {
        metrics: [0, 1, 2].map((k) => ({ key: `m${k}`, value: Math.sin(i * 7 + k + round), timestamp: 1_700_000_000_000 + i, step: 0 })),
        params: [{ key: 'a', value: String(i % 10) }],
        tags: [{ key: 't', value: `x${i % 100}` }, { key: 'mlflow.runName', value: `run-${i}` }],
      },
      inputs: { dataset_inputs: [] },
    };
  }),
  next_page_token: 'eyJzIjowLCJrIjpbIjAuNSJdfQ',
});

/** Encodes with `encode` while a ticker measures the gaps between its turns; returns [total ms, longest hold ms]. */
const measure = async (encode: () => string | Buffer | Promise<string | Buffer>): Promise<[number, number]> => {
  let last = performance.now();
  let longest = 0;
  let running = true;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  await new Promise<void>((resolve) => setImmediate(resolve));
  last = performance.now();
  setImmediate(tick);
  const started = performance.now();
  const text = await encode();
  const total = performance.now() - started;
  running = false;
  await new Promise<void>((resolve) => setImmediate(resolve));
  longest = Math.max(longest, performance.now() - last);
  if (text.length < RUNS * 100) throw new Error('encoding too short');
  return [total, longest];
};

console.log(`JSON encoding of a ${RUNS.toLocaleString('en-US')}-run search page: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${ROUNDS} rounds alternated; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const whole: [number, number][] = [];
const sliced: [number, number][] = [];
for (let round = 0; round < ROUNDS + 5; round += 1) {
  const value = page(round);
  // Before: one JSON.stringify, and its UTF-8 encoding, which the socket write did at once.
  const a = await measure(() => Buffer.from(JSON.stringify(value), 'utf8'));
  const b = await measure(() => encodeJsonInSlices(value));
  if (round < 5) continue; // warm-up
  whole.push(a);
  sliced.push(b);
}
const p50 = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 0.5);
const p99 = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 0.99);
const line = (label: string, xs: [number, number][]) =>
  `${label}: total p50 ${p50(xs.map((x) => x[0])).toFixed(2)} ms; longest hold of the thread p50 ${p50(xs.map((x) => x[1])).toFixed(2)} ms, p99 ${p99(xs.map((x) => x[1])).toFixed(2)} ms`;
console.log(line('JSON.stringify + UTF-8, one piece', whole));
console.log(line('encodeJsonInSlices (100 runs)   ', sliced));
console.log(`ratio sliced / one piece: total ×${(p50(sliced.map((x) => x[0])) / p50(whole.map((x) => x[0]))).toFixed(2)}, longest hold ×${(p50(sliced.map((x) => x[1])) / p50(whole.map((x) => x[1]))).toFixed(2)}`);
