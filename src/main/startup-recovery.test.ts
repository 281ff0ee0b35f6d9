import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { deadInstances } from './startup-recovery.ts';
import { currentProcess, fileTagLiveness, instanceFileTag, newInstanceId, parseInstanceId, processLiveness } from './process-identity.ts';

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

test('temp file tags: this process is alive, a dead pid of this host is dead, another host or no tag is unknown', () => {
  const me = currentProcess();
  assert.equal(fileTagLiveness(instanceFileTag(newInstanceId(me))), 'alive');
  assert.equal(fileTagLiveness(instanceFileTag(newInstanceId({ ...me, pid: 2 ** 22 + 1 }))), 'dead');
  assert.equal(fileTagLiveness(instanceFileTag(newInstanceId({ ...me, hostname: `not-${me.hostname}` }))), 'unknown');
  assert.equal(fileTagLiveness('0b7e1c52-5d1f-4a8e-9c1e-1f2a3b4c5d6e'), 'unknown');
});
