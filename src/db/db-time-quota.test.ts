import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDbTimeQuotaGate, creditWaitMs, isStatementTimeout, refilledCredit } from './db-time-quota.ts';
import { isAppError } from '../core/errors.ts';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
};

test('the tenant limits reach the work, with the tenant as owner', async () => {
  const gate = createDbTimeQuotaGate({ loadLimits: async () => ({ statementTimeoutMs: 1234, maxConcurrentOperations: 2, timeMsPerSecond: 0 }) });
  const limits = await gate.run('t1', async (l) => l);
  assert.deepEqual(limits, { owner: 't1', statementTimeoutMs: 1234 });
});

test('a statement timeout becomes DB_STATEMENT_TIMEOUT naming the limit; an admin cancel does not', async () => {
  const gate = createDbTimeQuotaGate({ loadLimits: async () => ({ statementTimeoutMs: 300, maxConcurrentOperations: 2, timeMsPerSecond: 0 }) });
  const timeout = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
  await assert.rejects(gate.run('t', async () => { throw timeout; }), (error: unknown) =>
    isAppError(error) && error.code === 'DB_STATEMENT_TIMEOUT' && error.status === 429
    && error.details?.['limit'] === 'dbStatementTimeoutMs' && error.details['value'] === 300 && error.cause === timeout);
  const cancel = Object.assign(new Error('canceling statement due to user request'), { code: '57014' });
  assert.equal(isStatementTimeout(cancel), false);
  await assert.rejects(gate.run('t', async () => { throw cancel; }), (error: unknown) => error === cancel);
  const usage = gate.usage().find((u) => u.tenantId === 't')!;
  assert.equal(usage.statementTimeouts, 1);
  assert.equal(usage.operations, 2);
  assert.equal(usage.active, 0);
});

test('over the cap an operation waits for a slot, FIFO, and is refused after queueWaitMs; other tenants are not counted', async () => {
  const gate = createDbTimeQuotaGate({ loadLimits: async () => ({ statementTimeoutMs: 1000, maxConcurrentOperations: 2, timeMsPerSecond: 0 }), queueWaitMs: 60_000 });
  const holds = [deferred(), deferred()];
  const running = holds.map((hold) => gate.run('a', () => hold.promise));
  const order: number[] = [];
  const queued = [gate.run('a', async () => { order.push(1); }), gate.run('a', async () => { order.push(2); })];
  // Another tenant is admitted at once.
  assert.equal(await gate.run('b', async () => 'b ran'), 'b ran');
  assert.equal(gate.usage().find((u) => u.tenantId === 'a')!.active, 2);
  assert.deepEqual(order, []);
  holds[0]!.resolve();
  await queued[0];
  assert.deepEqual(order, [1]);
  holds[1]!.resolve();
  await Promise.all([...running, ...queued]);
  assert.deepEqual(order, [1, 2]);
  assert.equal(gate.usage().find((u) => u.tenantId === 'a')!.active, 0);

  const refusing = createDbTimeQuotaGate({ loadLimits: async () => ({ statementTimeoutMs: 1000, maxConcurrentOperations: 1, timeMsPerSecond: 0 }), queueWaitMs: 0 });
  const hold = deferred();
  const held = refusing.run('a', () => hold.promise);
  await assert.rejects(refusing.run('a', async () => {}), (error: unknown) =>
    isAppError(error) && error.code === 'DB_CONCURRENCY_LIMITED' && error.details?.['value'] === 1);
  hold.resolve();
  await held;
  await refusing.run('a', async () => {});
  assert.equal(refusing.usage()[0]!.concurrencyRefusals, 1);
});

test('limits are cached, and invalidate() makes the next operation read them again', async () => {
  let reads = 0;
  let timeout = 100;
  const gate = createDbTimeQuotaGate({ loadLimits: async () => { reads += 1; return { statementTimeoutMs: timeout, maxConcurrentOperations: 1, timeMsPerSecond: 0 }; }, cacheTtlMs: 60_000 });
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 100);
  timeout = 200;
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 100);
  gate.invalidate('t');
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 200);
  assert.equal(reads, 2);
});

test('a tenant without a quota row gets the defaults of new tenants', async () => {
  const gate = createDbTimeQuotaGate({ loadLimits: async () => undefined });
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 10_000);
});

test('an expired entry answers from the cache and is read again in the background', async () => {
  let timeout = 100;
  let release!: () => void;
  let reads = 0;
  const gate = createDbTimeQuotaGate({
    loadLimits: async () => {
      reads += 1;
      if (reads > 1) await new Promise<void>((resolve) => { release = resolve; });
      return { statementTimeoutMs: timeout, maxConcurrentOperations: 1, timeMsPerSecond: 0 };
    },
    cacheTtlMs: 0,
  });
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 100);
  timeout = 200;
  // The background read has not answered: the cached limits serve, the work does not wait for it.
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 100);
  release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await gate.run('t', async (l) => l.statementTimeoutMs), 200);
});

/** Lets every pending promise chain of the gate settle (it waits on promises only, never on timers here). */
const settle = () => new Promise<void>((resolve) => { setImmediate(resolve); });

test('fair slots: a tenant alone runs its searches at once; next to a busy tenant they are held to its share, in order', async () => {
  const limits = async () => ({ statementTimeoutMs: 1000, maxConcurrentOperations: 8, timeMsPerSecond: 0 });
  const gate = createDbTimeQuotaGate({ loadLimits: limits, fairSlots: 2, busyWindowMs: 60_000 });
  const started: string[] = [];
  const search = (tenant: string, name: string, hold: Promise<void>) => gate.run(tenant, async () => { started.push(name); await hold; }, { heavy: true });

  // Alone: three searches of A run together (no share to keep).
  const alone = [deferred(), deferred(), deferred()];
  const aloneRuns = alone.map((hold, i) => search('a', `alone${String(i)}`, hold.promise));
  await settle();
  assert.deepEqual(started, ['alone0', 'alone1', 'alone2']);
  for (const hold of alone) hold.resolve();
  await Promise.all(aloneRuns);

  // B becomes busy: A's share of 2 slots is 1. A's second and third searches wait for its first.
  started.length = 0;
  const b = deferred();
  const bRun = gate.run('b', async () => { started.push('b'); await b.promise; });
  await settle();
  const holds = [deferred(), deferred(), deferred()];
  const runs = holds.map((hold, i) => search('a', `a${String(i)}`, hold.promise));
  await settle();
  assert.deepEqual(started, ['b', 'a0']);
  // A's ordinary operations are not held.
  assert.equal(await gate.run('a', async () => 'read'), 'read');
  holds[0]!.resolve();
  await runs[0];
  await settle();
  assert.deepEqual(started, ['b', 'a0', 'a1']);
  holds[1]!.resolve();
  await runs[1];
  await settle();
  assert.deepEqual(started, ['b', 'a0', 'a1', 'a2']);
  holds[2]!.resolve();
  b.resolve();
  await Promise.all([...runs, bRun]);
  assert.equal(gate.usage().find((u) => u.tenantId === 'a')!.fairShareWaits, 2);
});

test('fair slots: a tenant counts as busy only within the window after its last operation; 0 slots is off', async () => {
  const limits = async () => ({ statementTimeoutMs: 1000, maxConcurrentOperations: 8, timeMsPerSecond: 0 });
  for (const [options, held] of [[{ fairSlots: 2, busyWindowMs: 0 }, false], [{ fairSlots: 2, busyWindowMs: 60_000 }, true], [{ fairSlots: 0, busyWindowMs: 60_000 }, false]] as const) {
    const gate = createDbTimeQuotaGate({ loadLimits: limits, ...options });
    await gate.run('b', async () => {});
    const started: number[] = [];
    const holds = [deferred(), deferred()];
    const runs = holds.map((hold, i) => gate.run('a', async () => { started.push(i); await hold.promise; }, { heavy: true }));
    await settle();
    assert.deepEqual(started, held ? [0] : [0, 1], JSON.stringify(options));
    for (const hold of holds) hold.resolve();
    await Promise.all(runs);
  }
});

test('database time per second: the budget refills at the rate up to one second of it, and a debt is waited out at the rate', () => {
  assert.equal(refilledCredit(0, 0, 500, 200), 100);
  assert.equal(refilledCredit(150, 0, 10_000, 200), 200, 'never more than one second of the rate');
  assert.equal(refilledCredit(-300, 1000, 1000, 200), -300);
  assert.equal(creditWaitMs(-300, 200), 1500);
  assert.equal(creditWaitMs(0, 200), 0);
  assert.equal(creditWaitMs(-5, 0), 0, 'no rate: no wait');
});

test("database time per second: operations are charged their time; the next one waits out the debt, refused past the queue wait; another tenant and an unlimited one never wait", async () => {
  let now = 0;
  const sleeps: number[] = [];
  let rate = 200;
  const gate = createDbTimeQuotaGate({
    loadLimits: async (tenantId) => ({ statementTimeoutMs: 1000, maxConcurrentOperations: 8, timeMsPerSecond: tenantId === 'capped' ? rate : 0 }),
    queueWaitMs: 2000,
    cacheTtlMs: 60_000,
    clock: () => now,
    sleep: async (ms) => { sleeps.push(ms); now += ms; },
  });
  /** An operation that takes `ms` of (fake) time in the database. */
  const op = (tenant: string, ms: number) => gate.run(tenant, async () => { now += ms; return tenant; });
  // The first 200 ms are the burst; a 500 ms operation leaves 300 ms of debt.
  await op('capped', 500);
  assert.deepEqual(sleeps, []);
  // Another tenant, and an unlimited one, run at once.
  await op('other', 5000);
  assert.deepEqual(sleeps, []);
  // 5 s later the debt is repaid (and the budget full again): no wait.
  await op('capped', 900);
  assert.deepEqual(sleeps, []);
  // 900 ms against a full 200 ms budget: 700 ms of debt, repaid at 200 ms/s = 3.5 s > the 2 s queue wait: refused now.
  await assert.rejects(op('capped', 1), (error: unknown) =>
    isAppError(error) && error.code === 'DB_TIME_LIMITED' && error.status === 429
    && error.details?.['limit'] === 'dbTimeMsPerSecond' && error.details['value'] === 200 && error.details['retryAfterSeconds'] === 4);
  assert.deepEqual(sleeps, [], 'a refusal does not wait first');
  // 2 s later 300 ms of debt are left: 1.5 s of wait, within the queue wait: it waits, then runs.
  now += 2000;
  assert.equal(await op('capped', 10), 'capped');
  assert.equal(sleeps.length, 1);
  assert.ok(Math.abs(sleeps[0]! - 1500) <= 1, String(sleeps[0]));
  const usage = gate.usage().find((u) => u.tenantId === 'capped')!;
  assert.equal(usage.timeRateWaits, 1);
  assert.equal(usage.timeRateRefusals, 1);
  assert.ok(Math.abs(usage.timeRateWaitSeconds - 1.5) < 0.01, String(usage.timeRateWaitSeconds));
  assert.equal(usage.operations, 3, 'the refused operation never ran');
  // The quota turned off (0; a change made in this process invalidates the cached limits) applies to the
  // next operation: no wait, whatever the debt.
  now += 1000;
  await op('capped', 5000);
  rate = 0;
  gate.invalidate('capped');
  await op('capped', 1);
  assert.equal(sleeps.length, 1);
  // Back on: a fresh budget, not the old debt.
  rate = 200;
  gate.invalidate('capped');
  await op('capped', 1);
  assert.equal(sleeps.length, 1);
});
