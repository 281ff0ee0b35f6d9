import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { deadInstances } from './startup-recovery.ts';
import { currentProcess, newInstanceId, parseInstanceId, processLiveness } from './process-identity.ts';

test('instance ids name their process and parse back', () => {
  const me = currentProcess();
  assert.deepEqual(parseInstanceId(newInstanceId(me)), me);
  assert.equal(parseInstanceId('garbage'), undefined);
  assert.equal(processLiveness(me), 'alive');
  assert.equal(processLiveness({ ...me, pid: process.ppid, startTime: '1' }), 'dead', 'a recycled pid (another start time) is not the same process');
  assert.equal(processLiveness({ ...me, pid: 2 ** 22 + 1 }), 'dead');
  assert.equal(processLiveness({ ...me, hostname: `not-${hostname()}` }), 'unknown');
});

test('whose reservations are released: every other instance on PGlite, only provably dead ones on PostgreSQL', () => {
  const current = `1:100:aaaa@${hostname()}`;
  const deadHere = `2:200:bbbb@${hostname()}`;
  const aliveHere = `3:300:cccc@${hostname()}`;
  const elsewhere = '4:400:dddd@another-host';
  const all = [current, deadHere, aliveHere, elsewhere, 'malformed'];
  const liveness = (owner: { pid: number; hostname: string }) => (owner.hostname !== hostname() ? 'unknown' : owner.pid === 2 ? 'dead' : 'alive') as 'alive' | 'dead' | 'unknown';
  assert.deepEqual(deadInstances('pglite', all, current, liveness), [deadHere, aliveHere, elsewhere, 'malformed']);
  assert.deepEqual(deadInstances('postgres', all, current, liveness), [deadHere]);
});
