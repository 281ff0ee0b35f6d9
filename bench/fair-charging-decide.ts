/**
 * Issue 15: the cost of the running charge in the job runner's pure decision. `decide` with `fairRanks`
 * only (the ranks fixed for the pass) against `decide` with `fairCharging` (each admission charged to its
 * tenant's Fair Tree key and every tenant re-ranked before the next: O(tenants) per admission), on the same
 * snapshot, alternating A/B rounds; medians reported. The snapshot: a two-level tree of `tenants` teams in
 * 20 organizations, each with `queued` 1-core jobs queued and none running, on a pool of `cores` cores (so
 * one pass admits `cores` jobs).
 *
 *   node_modules/.bin/node bench/fair-charging-decide.ts                 # 1,000 teams, 10 queued each, 64 cores
 *   node_modules/.bin/node bench/fair-charging-decide.ts 200 10 16 15     # teams, queued per team, cores, rounds
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { decide, FairTreeIndex, runningChargeMs } from '../src/scheduler/index.ts';
import type { FairTreeNode, QueuedJob, SchedulerInput, SchedulerQuota } from '../src/scheduler/index.ts';

const [teams = 1000, perTeam = 10, cores = 64, rounds = 11] = process.argv.slice(2).map(Number);
const orgs = 20;
const nodes: FairTreeNode[] = [];
for (let o = 0; o < orgs; o += 1) nodes.push({ id: `o${o}`, parentId: null, weight: 1 + (o % 4) });
for (let t = 0; t < teams; t += 1) nodes.push({ id: `t${t}`, parentId: `o${t % orgs}`, weight: 1 + (t % 3) });
const leaves = nodes.filter((n) => n.parentId !== null);
// Decayed usage (share·s), deterministic, 0–999 s apart: one 1-core admission charges 3,600/cores s.
const keys = Object.fromEntries(leaves.map((n, i) => [n.id, (i * 7919) % 1000]));
const index = new FairTreeIndex(nodes);
for (const [id, key] of Object.entries(keys)) index.setUsage(id, key);
const fairRanks = Object.fromEntries(index.ranks());
const quota: SchedulerQuota = { nominal: { cpu: 0, memoryMiB: 0, gpu: 0 }, borrowingLimit: { cpu: cores, memoryMiB: 0, gpu: 0 }, maxConcurrentJobs: 1_000_000, weight: 1 };
const queued: QueuedJob[] = leaves.flatMap((n, i) => Array.from({ length: perTeam }, (_, j) => ({
  id: `${n.id}-${j}`, tenantId: n.id, request: { cpu: 1, memoryMiB: 0, gpu: 0 }, priority: 0, enqueuedAt: i * perTeam + j,
})));
const base: SchedulerInput = {
  capacity: { cpu: cores, memoryMiB: 0, gpu: 0 }, quotas: Object.fromEntries(leaves.map((n) => [n.id, quota])), running: [], queued, now: 1e9, fairRanks,
};
const charged: SchedulerInput = { ...base, fairCharging: { nodes, keys, chargeSeconds: runningChargeMs / 1000 } };

const time = (input: SchedulerInput): { ms: number; admitted: number; teams: number } => {
  const t0 = performance.now();
  const decision = decide(input);
  return { ms: performance.now() - t0, admitted: decision.admitted.length, teams: new Set(decision.admitted.map((a) => a.tenantId)).size };
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

time(base);
time(charged);
const a: number[] = [];
const b: number[] = [];
let shape = { base: time(base), charged: time(charged) };
for (let r = 0; r < rounds; r += 1) {
  const x = time(base);
  const y = time(charged);
  a.push(x.ms);
  b.push(y.ms);
  shape = { base: x, charged: y };
}
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${teams} teams in ${orgs} organizations, ${queued.length} queued, ${cores} cores`);
console.log(`ranks only:     decide ${median(a).toFixed(1)} ms median (${shape.base.admitted} admitted, to ${shape.base.teams} teams)`);
console.log(`running charge: decide ${median(b).toFixed(1)} ms median (${shape.charged.admitted} admitted, to ${shape.charged.teams} teams)`);
console.log(`ratio charged / ranks only: ${(median(b) / median(a)).toFixed(2)}×; extra per admission ${((median(b) - median(a)) / Math.max(1, shape.charged.admitted) * 1000).toFixed(0)} µs`);
