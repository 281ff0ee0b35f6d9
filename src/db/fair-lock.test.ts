import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFairLock } from './fair-lock.ts';

test('with equal held times, waiters are served round-robin by owner, FIFO within an owner', async () => {
  const lock = createFairLock(() => 0);
  const first = await lock.acquire('n');
  const order: string[] = [];
  const waits = [
    ['n', 1], ['n', 2], ['n', 3], ['v', 1], ['s', 1], ['v', 2],
  ].map(async ([owner, i]) => {
    const release = await lock.acquire(String(owner));
    order.push(`${owner}${i}`);
    release();
  });
  first();
  await Promise.all(waits);
  // n queued three before v and s arrived; each still waits for at most one of n's turns.
  assert.deepEqual(order, ['n1', 'v1', 's1', 'n2', 'v2', 'n3']);
});

test('release is idempotent and the lock is free afterwards', async () => {
  const lock = createFairLock();
  const release = await lock.acquire('a');
  assert.equal(lock.held, true);
  release();
  release();
  assert.equal(lock.held, false);
  const again = await lock.acquire('b');
  assert.equal(lock.held, true);
  again();
});

test('close rejects waiters and later acquires, and resolves when the holder releases', async () => {
  const lock = createFairLock();
  const release = await lock.acquire('a');
  const waiter = lock.acquire('b');
  let idle = false;
  const closing = lock.close(new Error('closed')).then(() => { idle = true; });
  await assert.rejects(waiter, /closed/);
  await assert.rejects(lock.acquire('c'), /closed/);
  assert.equal(idle, false);
  release();
  await closing;
  assert.equal(idle, true);
});

test('the owner that has held the lock longest waits behind the others: time-fair, not turn-fair', async () => {
  let clock = 0;
  const lock = createFairLock(() => clock);
  const order: string[] = [];
  // n holds for 1000 ms; v's and s's operations take 10 ms each.
  const first = await lock.acquire('n');
  const waits = [['n', 1], ['v', 1], ['v', 2], ['v', 3], ['s', 1], ['n', 2]].map(async ([owner, i]) => {
    const release = await lock.acquire(String(owner));
    order.push(`${owner}${i}`);
    clock += owner === 'n' ? 1000 : 10;
    release();
  });
  clock += 1000;
  first();
  await Promise.all(waits);
  assert.deepEqual(order, ['v1', 's1', 'v2', 'v3', 'n1', 'n2']);
});
