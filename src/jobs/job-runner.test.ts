/**
 * The runner's transitions, without a database: the runner takes its ports (store, tenants, backend), so
 * these tests give it an in-memory store that applies the real state machine (job-state.ts) and a backend
 * whose jobs end when the test says. Every wait is on an event (a transition, a launch), never on time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Job } from '../contract/job-schemas.ts';
import type { TenantQuota } from '../contract/quota.ts';
import { AppError } from '../core/errors.ts';
import type { Outcome, RunningJob } from '../executors/executor-contract.ts';
import type { HostProbe } from '../executors/host-executor-contract.ts';
import type { Tenant } from '../tenants/index.ts';
import type { JobBackend, JobGrant, LaunchContext } from './job-backend.ts';
import { outcomeVerdict } from './job-outcome.ts';
import { createJobRunner } from './job-runner.ts';
import { transition as applyEvent } from './job-state.ts';
import type { JobEvent } from './job-state.ts';
import type { ActiveJob, TransitionUpdate } from './job-store.ts';

const quota = (cpu: number, borrow = 0): TenantQuota => ({
  cpu, memoryMiB: 8192, gpu: 0, borrowingLimit: { cpu: borrow, memoryMiB: 8192, gpu: 0 }, lendingLimit: { cpu: null, memoryMiB: null, gpu: null },
  maxConcurrentJobs: 10, maxQueuedJobs: 100, storageBytes: 1e9, requestsPerSecond: 100, weight: 1,
  dbStatementTimeoutMs: 10_000, dbMaxConcurrentOperations: 8, dbTimeMsPerSecond: 0,
  ingressBytesPerSecond: 10 * 1024 ** 3, ingressBurstBytes: 10 * 1024 ** 3, egressBytesPerSecond: 10 * 1024 ** 3, egressBurstBytes: 10 * 1024 ** 3,
});
const tenant = (id: string, tier: Tenant['tier'] = 'sandbox'): Tenant => ({ id, slug: id, name: id, tier, status: 'active', createdAt: '', updatedAt: '' });

/** An in-memory job store over the real state machine: what the runner's store port promises, minus SQL. */
const memoryStore = () => {
  const jobs = new Map<string, ActiveJob>();
  const events: Array<{ jobId: string; event: JobEvent; update: TransitionUpdate }> = [];
  const logs = new Map<string, string[]>();
  const waiters: Array<() => void> = [];
  let clock = 0;
  const notify = () => { for (const w of waiters.splice(0)) w(); };
  return {
    events,
    logs,
    add(partial: Partial<Job> & { id: string; tenantId: string }): void {
      clock += 1;
      jobs.set(partial.id, {
        name: '', status: 'queued', tier: 'sandbox', command: ['true'], env: {}, resources: { cpu: 1, memoryMiB: 256, gpu: 0, timeoutSeconds: 60 },
        priority: 0, datasets: [], codeBundle: null, codeDigest: null, image: null, imageDigest: null, runId: null, experimentId: null, createdBy: 'test',
        createdAt: new Date(clock).toISOString(), queuedAt: new Date(clock).toISOString(), admittedAt: null, startedAt: null, finishedAt: null,
        attempts: 0, preemptions: 0, exitCode: null, reason: null, usage: null, outputs: [], gpuDevices: [], gpuSharing: 'none', gpuMigProfile: null, workers: 1, cancelRequested: false, ...partial,
      });
    },
    status: (id: string) => jobs.get(id)?.status,
    job: (id: string) => jobs.get(id),
    /** Resolves when a line of `id`'s log matches (an event: a stored batch). */
    async untilLog(id: string, pattern: RegExp): Promise<void> {
      while (!(logs.get(id) ?? []).some((line) => pattern.test(line))) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    /** Resolves when `id` reaches `status` (an event, not a poll). */
    async until(id: string, status: Job['status']): Promise<void> {
      while (jobs.get(id)?.status !== status) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    port: {
      active: async () => [...jobs.values()].filter((j) => ['queued', 'admitted', 'running', 'preempted'].includes(j.status)).map((j) => ({ ...j })),
      get: async (_tenantId: string, id: string) => {
        const job = jobs.get(id);
        if (job === undefined) throw new AppError('NOT_FOUND', `job '${id}' not found`);
        return { ...job };
      },
      transition: async (_ctx: unknown, _tenantId: string, id: string, event: JobEvent, update: TransitionUpdate = {}) => {
        const job = jobs.get(id);
        if (job === undefined) throw new AppError('NOT_FOUND', `job '${id}' not found`);
        const result = applyEvent(job.status, event);
        if (!result.ok) throw result.error;
        job.status = result.state;
        if (event === 'admit') job.admittedAt = new Date(++clock).toISOString();
        if (event === 'requeue') { job.queuedAt = new Date(++clock).toISOString(); job.admittedAt = null; }
        if (update.reason !== undefined) job.reason = update.reason;
        if (update.exitCode !== undefined) job.exitCode = update.exitCode;
        if (update.runId !== undefined) job.runId = update.runId;
        if (update.outputs !== undefined) job.outputs = update.outputs;
        events.push({ jobId: id, event, update });
        notify();
        return { ...job };
      },
      appendLogs: async (_tenantId: string, id: string, lines: ReadonlyArray<{ line: string }>) => {
        logs.set(id, [...(logs.get(id) ?? []), ...lines.map((l) => l.line)]);
        notify();
      },
    },
  };
};

/** A running job the test ends by hand; records cancel and preempt calls. */
const handleFor = (jobId: string) => {
  let end!: (outcome: Outcome) => void;
  const ended = new Promise<Outcome>((resolve) => { end = resolve; });
  const calls: string[] = [];
  const handle: RunningJob = {
    jobId,
    wait: () => ended,
    cancel: () => { calls.push('cancel'); end({ kind: 'cancelled', usage: { wallMs: 1 } }); },
    preempt: (graceMs) => { calls.push(`preempt:${graceMs}`); end({ kind: 'preempted', usage: { wallMs: 1 } }); },
  };
  return { handle, end, calls };
};

interface Launch { job: Job; grant: JobGrant; ctx: LaunchContext; end: (o: Outcome) => void; calls: string[]; released: boolean }

const testBackend = (options: { admission?: 'bulkhead' | 'kueue'; placement?: 'host' | 'cluster'; refusal?: string; fail?: unknown } = {}) => {
  const launches = new Map<string, Launch>();
  const waiters: Array<() => void> = [];
  const backend: JobBackend = {
    admission: options.admission ?? 'bulkhead',
    placement: options.placement ?? 'host',
    launchFailure: 'the platform could not start the job',
    refusal: async () => options.refusal,
    async launch(job, _tenant, _quota, grant, ctx) {
      if (options.fail !== undefined) throw options.fail;
      const run = { runId: `run-${job.id}`, experimentId: '1', codeDigest: null };
      if (backend.admission === 'bulkhead') await ctx.progress('running', run);
      const { handle, end, calls } = handleFor(job.id);
      const launch: Launch = { job, grant, ctx, end, calls, released: false };
      launches.set(job.id, launch);
      for (const w of waiters.splice(0)) w();
      return { handle, run, collectOutputs: async () => [{ path: 'model.json', size: 3 }], endAccess: async () => {}, release: async () => { launch.released = true; } };
    },
    hostProbe: async () => ({}) as HostProbe,
    reapOrphans: async () => {},
  };
  return {
    backend,
    launches,
    async launched(id: string): Promise<Launch> {
      for (;;) {
        const launch = launches.get(id);
        if (launch !== undefined) return launch;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
};

const setup = (tenants: Tenant[], quotas: Record<string, TenantQuota>, backendOptions: Parameters<typeof testBackend>[0] = {}, cpuIds = [0, 1, 2, 3]) => {
  const store = memoryStore();
  const backend = testBackend(backendOptions);
  const finished: Array<{ runId: string; status: string }> = [];
  const runner = createJobRunner({
    store: store.port,
    tenants: { list: async () => tenants, getQuota: async (id) => quotas[id] ?? quota(1) },
    backend: backend.backend,
    capacity: { cpu: cpuIds.length, memoryMiB: 65536, gpu: 0, cpuIds },
    tickIntervalMs: 60_000,
    preemptGraceMs: 1234,
    tracking: { createRun: async () => ({ runId: 'r', experimentId: '1' }), finishRun: async (_t, runId, status) => { finished.push({ runId, status }); } },
    log: { info: () => {}, error: () => {} },
  });
  return { store, backend, runner, finished };
};

const eventsOf = (store: ReturnType<typeof memoryStore>, id: string) => store.events.filter((e) => e.jobId === id).map((e) => e.event);

describe('job runner transitions', () => {
  test('a queued job is admitted, started with its run, and succeeds; outputs stored, run FINISHED, launch released', async () => {
    const { store, backend, runner, finished } = setup([tenant('a')], { a: quota(2) });
    store.add({ id: 'j1', tenantId: 'a' });
    await runner.tick();
    const launch = await backend.launched('j1');
    assert.equal(store.status('j1'), 'running');
    assert.equal(store.job('j1')?.runId, 'run-j1');
    assert.equal(launch.grant.cpuset, '0,1,2,3');
    launch.end({ kind: 'succeeded', usage: { wallMs: 5 } });
    await store.until('j1', 'succeeded');
    assert.deepEqual(eventsOf(store, 'j1'), ['admit', 'start', 'succeed']);
    assert.deepEqual(store.job('j1')?.outputs, [{ path: 'model.json', size: 3 }]);
    assert.equal(store.job('j1')?.exitCode, 0);
    assert.deepEqual(finished, [{ runId: 'run-j1', status: 'FINISHED' }]);
    await runner.stop();
    assert.equal(launch.released, true);
  });

  test('a failing job ends failed with its exit code in the record and a reason in its log', async () => {
    const { store, backend, runner, finished } = setup([tenant('a')], { a: quota(2) });
    store.add({ id: 'j1', tenantId: 'a' });
    await runner.tick();
    (await backend.launched('j1')).end({ kind: 'failed', exitCode: 3, usage: { wallMs: 5 } });
    await store.until('j1', 'failed');
    assert.equal(store.job('j1')?.exitCode, 3);
    assert.ok(store.logs.get('j1')?.includes('[bulkhead] exited with code 3'));
    assert.deepEqual(finished, [{ runId: 'run-j1', status: 'FAILED' }]);
    await runner.stop();
  });

  test('a backend that cannot run the tenant refuses the job after admitting it; nothing is launched', async () => {
    const { store, backend, runner } = setup([tenant('a')], { a: quota(2) }, { refusal: "this host cannot provide the 'sandbox' isolation tier" });
    store.add({ id: 'j1', tenantId: 'a' });
    await runner.tick();
    await store.until('j1', 'refused');
    assert.deepEqual(eventsOf(store, 'j1'), ['admit', 'refuse']);
    assert.match(store.job('j1')?.reason ?? '', /cannot provide the 'sandbox'/);
    assert.equal(backend.launches.size, 0);
    await runner.stop();
  });

  test('a launch that fails refuses the job: an AppError with its message, anything else with the backend\'s words', async () => {
    for (const [fail, expected] of [[new AppError('UNAVAILABLE', 'datasets need the artifact store'), 'datasets need the artifact store'], [new Error('EACCES /secret/path'), 'the platform could not start the job']] as const) {
      const { store, runner } = setup([tenant('a')], { a: quota(2) }, { fail });
      store.add({ id: 'j1', tenantId: 'a' });
      await runner.tick();
      await store.until('j1', 'refused');
      assert.equal(store.job('j1')?.reason, expected);
      assert.ok(store.logs.get('j1')?.includes(`[bulkhead] ${expected}`));
      await runner.stop();
    }
  });

  test('cancel kills the running job: it ends cancelled and its run KILLED', async () => {
    const { store, backend, runner, finished } = setup([tenant('a')], { a: quota(2) });
    store.add({ id: 'j1', tenantId: 'a' });
    await runner.tick();
    const launch = await backend.launched('j1');
    assert.equal(runner.cancel('j1'), true);
    assert.deepEqual(launch.calls, ['cancel']);
    await store.until('j1', 'cancelled');
    assert.deepEqual(eventsOf(store, 'j1'), ['admit', 'start', 'cancel']);
    assert.deepEqual(finished, [{ runId: 'run-j1', status: 'KILLED' }]);
    assert.equal(runner.cancel('nope'), false);
    await runner.stop();
  });

  test('a borrower is preempted (with the grace period) when the owner needs its quota back, then requeued', async () => {
    // Tenant b borrows all 4 CPUs; tenant a's nominal quota is 3 of them.
    const { store, backend, runner, finished } = setup([tenant('a'), tenant('b')], { a: quota(3), b: quota(1, 3) });
    store.add({ id: 'borrow', tenantId: 'b', resources: { cpu: 4, memoryMiB: 256, gpu: 0, timeoutSeconds: 60 } });
    await runner.tick();
    const borrower = await backend.launched('borrow');
    store.add({ id: 'owner', tenantId: 'a', resources: { cpu: 3, memoryMiB: 256, gpu: 0, timeoutSeconds: 60 } });
    await runner.tick();
    assert.deepEqual(borrower.calls, ['preempt:1234']);
    await store.until('borrow', 'queued');
    assert.deepEqual(eventsOf(store, 'borrow'), ['admit', 'start', 'preempt', 'requeue']);
    assert.deepEqual(finished, [], 'a preempted job keeps its run open: it runs again');
    // The owner starts once the borrower's capacity is free.
    await runner.tick();
    await backend.launched('owner');
    assert.equal(store.status('owner'), 'running');
    await runner.stop();
  });

  test('a dedicated tenant runs on its reserved CPUs; the others on the shared pool', async () => {
    const { store, backend, runner } = setup([tenant('d', 'dedicated'), tenant('s')], { d: quota(2), s: quota(2) });
    store.add({ id: 'jd', tenantId: 'd' });
    store.add({ id: 'js', tenantId: 's' });
    await runner.tick();
    assert.equal((await backend.launched('jd')).grant.cpuset, '2,3');
    assert.equal((await backend.launched('js')).grant.cpuset, '0,1');
    assert.equal(await runner.cpusetFor('d'), '2,3');
    assert.equal(await runner.cpusetFor('s'), '0,1');
    await runner.stop();
  });

  test('under Kueue a queued job is launched while queued; the cluster\'s progress admits and starts it', async () => {
    const { store, backend, runner } = setup([tenant('a')], { a: quota(1) }, { admission: 'kueue', placement: 'cluster' });
    store.add({ id: 'j1', tenantId: 'a' });
    await runner.tick();
    const launch = await backend.launched('j1');
    assert.equal(store.status('j1'), 'queued');
    await runner.tick();
    assert.equal(backend.launches.size, 1, 'a job this process follows is not launched twice');
    const run = { runId: 'run-j1', experimentId: '1', codeDigest: null };
    await launch.ctx.progress('admitted', run);
    assert.equal(store.status('j1'), 'admitted');
    await launch.ctx.progress('running', run);
    launch.end({ kind: 'succeeded', usage: { wallMs: 1 } });
    await store.until('j1', 'succeeded');
    assert.deepEqual(eventsOf(store, 'j1'), ['admit', 'start', 'succeed']);
    await runner.stop();
  });

  test('under Kueue a job evicted before admission stays queued; one that ends unreported is started first', async () => {
    const { store, backend, runner } = setup([tenant('a')], { a: quota(1) }, { admission: 'kueue', placement: 'cluster' });
    store.add({ id: 'evicted', tenantId: 'a' });
    store.add({ id: 'quick', tenantId: 'a' });
    await runner.tick();
    const evicted = await backend.launched('evicted');
    evicted.end({ kind: 'preempted', usage: { wallMs: 1 } });
    await store.untilLog('evicted', /evicted from the cluster queue before admission/);
    assert.equal(store.status('evicted'), 'queued');
    assert.deepEqual(eventsOf(store, 'evicted'), []);
    (await backend.launched('quick')).end({ kind: 'failed', exitCode: 1, usage: { wallMs: 1 } });
    await store.until('quick', 'failed');
    assert.deepEqual(eventsOf(store, 'quick'), ['admit', 'start', 'fail']);
    await runner.stop();
  });

  test('start-up recovery: on a host running jobs fail and admitted ones are requeued; on a cluster both run again', async () => {
    for (const placement of ['host', 'cluster'] as const) {
      const { store, runner } = setup([tenant('a')], { a: quota(1) }, { placement });
      store.add({ id: 'running', tenantId: 'a', status: 'running' });
      store.add({ id: 'admitted', tenantId: 'a', status: 'admitted' });
      store.add({ id: 'queued', tenantId: 'a' });
      const failed = await runner.recoverInterrupted();
      assert.equal(await runner.recoverInterrupted(), await runner.recoverInterrupted(), 'once per runner');
      assert.deepEqual(eventsOf(store, 'admitted'), ['preempt', 'requeue']);
      assert.deepEqual(eventsOf(store, 'queued'), []);
      if (placement === 'host') {
        assert.deepEqual(failed, [{ tenantId: 'a', jobId: 'running' }]);
        assert.equal(store.status('running'), 'failed');
      } else {
        assert.deepEqual(failed, []);
        assert.deepEqual(eventsOf(store, 'running'), ['preempt', 'requeue']);
      }
    }
  });
});

describe('outcomeVerdict (the one switch over outcomes)', () => {
  const job = { resources: { cpu: 1, memoryMiB: 300, gpu: 0, timeoutSeconds: 9 } };
  const usage = { wallMs: 1 };
  test('maps every outcome kind to its event, exit code, reason and run status', () => {
    assert.deepEqual(outcomeVerdict(job, { kind: 'succeeded', usage }), { event: 'succeed', exitCode: 0, reason: null, runStatus: 'FINISHED' });
    assert.deepEqual(outcomeVerdict(job, { kind: 'failed', exitCode: 2, usage }), { event: 'fail', exitCode: 2, reason: 'exited with code 2', runStatus: 'FAILED' });
    assert.deepEqual(outcomeVerdict(job, { kind: 'failed', exitCode: null, signal: 'SIGSEGV', usage }), { event: 'fail', exitCode: null, reason: 'killed by SIGSEGV', runStatus: 'FAILED' });
    assert.match(outcomeVerdict(job, { kind: 'oom_killed', usage }).reason ?? '', /300 MiB/);
    assert.equal(outcomeVerdict(job, { kind: 'oom_killed', usage }).event, 'oom_kill');
    assert.match(outcomeVerdict(job, { kind: 'timed_out', usage }).reason ?? '', /timeout of 9s/);
    assert.deepEqual(outcomeVerdict(job, { kind: 'cancelled', usage }), { event: 'cancel', exitCode: null, reason: 'cancelled', runStatus: 'KILLED' });
    assert.equal(outcomeVerdict(job, { kind: 'preempted', usage }).runStatus, undefined);
    assert.deepEqual(outcomeVerdict(job, { kind: 'refused', reason: 'no tier', usage }), { event: 'refuse', exitCode: null, reason: 'no tier', runStatus: 'FAILED' });
  });
});
