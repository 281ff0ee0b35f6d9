import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { detectCgroupDriver, isSafeCgroupId } from './cgroups.ts';
import { createCgroupV1Driver } from './cgroups-v1.ts';
import { createCgroupV2Driver, parseOwnCgroup, SUPERVISOR_LEAF } from './cgroups-v2.ts';
import { describeCgroups } from './host-probe.ts';

// Fake cgroup trees in a temp dir: checks which files get which values. The kernel's behaviour (limits
// enforced, OOM counted) is covered by the e2e tests on real v1 cgroups.
const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function fakeV1(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cg-v1-'));
  roots.push(root);
  for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset']) {
    await mkdir(join(root, c));
    await writeFile(join(root, c, 'cgroup.procs'), '');
  }
  await writeFile(join(root, 'cpuset', 'cpuset.cpus'), '0-3');
  await writeFile(join(root, 'cpuset', 'cpuset.mems'), '0');
  return root;
}

const read = async (path: string): Promise<string> => (await readFile(path, 'utf8')).trim();

test('ids that could leave the prefix are rejected', () => {
  for (const bad of ['', '..', 'a/b', '../../etc', 'x y', 'a'.repeat(65)]) assert.equal(isSafeCgroupId(bad), false, bad);
  for (const good of ['t1', 'job_2-A', 'a'.repeat(64)]) assert.equal(isSafeCgroupId(good), true, good);
});

test('v1: tenant parent and job child get their limits in every hierarchy', async () => {
  const root = await fakeV1();
  const driver = await createCgroupV1Driver(root, 'bh');
  assert.ok(driver);
  assert.equal(driver.version, 'v1');
  const job = await driver.createJob('t1', 'j1', { cpu: 2, memoryMiB: 1024 }, { cpu: 0.5, memoryMiB: 64, pids: 32, cpus: '3' });
  const t = (c: string): string => join(root, c, 'bh', 'tenant-t1');
  const j = (c: string): string => join(t(c), 'job-j1');
  assert.equal(await read(join(t('memory'), 'memory.limit_in_bytes')), String(1024 * 1024 * 1024));
  assert.equal(await read(join(j('memory'), 'memory.limit_in_bytes')), String(64 * 1024 * 1024));
  assert.equal(await read(join(t('cpu'), 'cpu.cfs_quota_us')), '200000');
  assert.equal(await read(join(j('cpu'), 'cpu.cfs_quota_us')), '50000');
  assert.equal(await read(join(j('cpu'), 'cpu.cfs_period_us')), '100000');
  assert.equal(await read(join(j('pids'), 'pids.max')), '32');
  assert.equal(await read(join(t('cpuset'), 'cpuset.cpus')), '0-3');
  assert.equal(await read(join(j('cpuset'), 'cpuset.cpus')), '3');
  assert.equal(await read(join(j('cpuset'), 'cpuset.mems')), '0');
  assert.deepEqual([...job.procsFiles].sort(), ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids'].map((c) => join(j(c), 'cgroup.procs')));
  assert.deepEqual(await driver.listJobs(), [{ tenantId: 't1', jobId: 'j1' }]);
  await writeFile(join(j('memory'), 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  assert.equal(await job.oomKills(), 2);
  await writeFile(join(j('cpuacct'), 'cpuacct.usage'), '1500000000\n');
  await writeFile(join(j('memory'), 'memory.max_usage_in_bytes'), '4096\n');
  await writeFile(join(j('memory'), 'memory.usage_in_bytes'), '2048\n');
  assert.deepEqual(await job.usage(), { cpuMs: 1500, peakMemoryBytes: 4096, cpuCoreSeconds: 1.5, memoryPeakBytes: 4096, memoryCurrentBytes: 2048 });
});

test('v1: no usable controller → undefined (the executor then refuses cgroup tiers)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cg-empty-'));
  roots.push(root);
  assert.equal(await createCgroupV1Driver(root, 'bh'), undefined);
  assert.equal(await detectCgroupDriver(root, 'bh'), undefined);
});

test('v2: controllers are enabled down the path and limits use the v2 files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cg-v2-'));
  roots.push(root);
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
  await writeFile(join(root, 'cgroup.subtree_control'), '');
  const driver = await detectCgroupDriver(root, 'bh');
  assert.ok(driver);
  assert.equal(driver.version, 'v2');
  const job = await driver.createJob('t1', 'j1', { cpu: 2, memoryMiB: 512 }, { cpu: 1.5, memoryMiB: 64, pids: 10, cpus: '1' });
  const t = join(root, 'bh', 'tenant-t1');
  const j = join(t, 'job-j1');
  for (const dir of [root, join(root, 'bh'), t]) {
    assert.deepEqual((await read(join(dir, 'cgroup.subtree_control'))).split(' ').sort(), ['+cpu', '+cpuset', '+memory', '+pids']);
  }
  assert.equal(await read(join(t, 'memory.max')), String(512 * 1024 * 1024));
  assert.equal(await read(join(t, 'cpu.max')), '200000 100000');
  assert.equal(await read(join(j, 'cpu.max')), '150000 100000');
  assert.equal(await read(join(j, 'pids.max')), '10');
  assert.equal(await read(join(j, 'cpuset.cpus')), '1');
  assert.deepEqual(job.procsFiles, [join(j, 'cgroup.procs')]);
  await writeFile(join(j, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
  assert.equal(await job.oomKills(), 1);
  await writeFile(join(j, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\n');
  await writeFile(join(j, 'memory.peak'), '8192\n');
  assert.deepEqual(await job.usage(), { cpuMs: 2500, peakMemoryBytes: 8192, cpuCoreSeconds: 2.5, memoryPeakBytes: 8192 });
});

test('v2 without memory, cpu or pids is not usable (this host: cgroup2 offers only hugetlb)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cg-v2h-'));
  roots.push(root);
  await writeFile(join(root, 'cgroup.controllers'), 'hugetlb\n');
  assert.equal(await createCgroupV2Driver(root, 'bh'), undefined);
});

test('v2 delegated: the own cgroup is the base; its processes move to the supervisor leaf first', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cg-v2d-'));
  roots.push(root);
  const svc = join(root, 'system.slice', 'bulkhead.service');
  await mkdir(svc, { recursive: true });
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  // What the parent delegated: no cpuset here.
  await writeFile(join(svc, 'cgroup.controllers'), 'cpu memory pids\n');
  await writeFile(join(svc, 'cgroup.subtree_control'), '');
  await writeFile(join(svc, 'cgroup.procs'), ''); // the fake cannot move processes: start it empty
  const driver = await detectCgroupDriver(root, 'bh', { ownCgroup: '/system.slice/bulkhead.service' });
  assert.ok(driver);
  assert.equal(driver.version, 'v2');
  assert.equal(driver.root, svc);
  assert.equal(driver.ownCgroup, '/system.slice/bulkhead.service');
  assert.deepEqual([...driver.controllers].sort(), ['cpu', 'cpuacct', 'memory', 'pids']);
  assert.equal(await readFile(join(root, 'cgroup.subtree_control'), 'utf8').catch(() => 'untouched'), 'untouched', 'detection writes nothing');
  await driver.createJob('t1', 'j1', { cpu: 1, memoryMiB: 256 }, { cpu: 1, memoryMiB: 64, pids: 8 });
  assert.ok((await readdir(svc)).includes(SUPERVISOR_LEAF));
  assert.deepEqual((await read(join(svc, 'cgroup.subtree_control'))).split(' ').sort(), ['+cpu', '+memory', '+pids']);
  assert.equal(await read(join(svc, 'bh', 'tenant-t1', 'job-j1', 'pids.max')), '8');
  assert.equal(await read(join(svc, 'bh', 'tenant-t1', 'job-j1', 'memory.max')), String(64 * 1024 * 1024));
  assert.equal(await readFile(join(root, 'cgroup.subtree_control'), 'utf8').catch(() => 'untouched'), 'untouched', 'nothing above the base');
  // A process already in the supervisor leaf still finds the same base.
  const again = await createCgroupV2Driver(root, 'bh', { ownCgroup: `/system.slice/bulkhead.service/${SUPERVISOR_LEAF}` });
  assert.equal(again?.root, svc);
  assert.deepEqual(await again?.listJobs(), [{ tenantId: 't1', jobId: 'j1' }]);
  // An own cgroup that is not delegated (no controllers offered) is not usable; a path with .. never is.
  await mkdir(join(root, 'other'));
  assert.equal(await createCgroupV2Driver(root, 'bh', { ownCgroup: '/other' }), undefined);
  assert.equal(await createCgroupV2Driver(root, 'bh', { ownCgroup: '/system.slice/../x' }), undefined);
});

test('v2: the own cgroup comes from the 0:: line of /proc/self/cgroup', () => {
  assert.equal(parseOwnCgroup('0::/system.slice/bulkhead.service\n'), '/system.slice/bulkhead.service');
  assert.equal(parseOwnCgroup('12:pids:/x\n1:name=systemd:/x\n0::/\n'), '/');
  assert.equal(parseOwnCgroup('4:memory:/x\n'), undefined);
});

test('doctor line: version, where the platform writes, controllers', () => {
  assert.equal(describeCgroups(undefined), 'none writable (only the process tier can run, without limits)');
  assert.equal(describeCgroups({ version: 'v1', root: '/sys/fs/cgroup', controllers: ['cpu', 'memory'] }), 'v1, hierarchies under /sys/fs/cgroup — controllers cpu, memory');
  assert.equal(describeCgroups({ version: 'v2', root: '/sys/fs/cgroup', controllers: ['pids'] }), 'v2, unified hierarchy, root cgroup /sys/fs/cgroup — controllers pids');
  assert.match(
    describeCgroups({ version: 'v2', root: '/sys/fs/cgroup/a.service', controllers: ['pids'], delegated: '/a.service' }),
    /^v2, unified hierarchy, delegated subtree \/sys\/fs\/cgroup\/a\.service \(the platform's own cgroup \/a\.service; its processes move to \/a\.service\/bulkhead-supervisor\)/,
  );
});

test('v2: after another driver pruned the prefix, the next job sets it up again with its subtree_control', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cg-v2p-'));
  roots.push(root);
  await writeFile(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
  await writeFile(join(root, 'cgroup.subtree_control'), '');
  const driver = await createCgroupV2Driver(root, 'bh', { ownCgroup: '/' });
  assert.ok(driver);
  await driver.createJob('t1', 'j1', { cpu: 1, memoryMiB: 256 }, { cpu: 1, memoryMiB: 64, pids: 8 });
  // Another driver (e.g. the start-up reaper's) pruned it; on a fake tree rm stands in for the kernel's rmdir.
  await rm(join(root, 'bh'), { recursive: true });
  await (await createCgroupV2Driver(root, 'bh', { ownCgroup: '/' }))?.pruneEmpty();
  await driver.createJob('t1', 'j2', { cpu: 1, memoryMiB: 256 }, { cpu: 1, memoryMiB: 64, pids: 8 });
  assert.deepEqual((await read(join(root, 'bh', 'cgroup.subtree_control'))).split(' ').sort(), ['+cpu', '+memory', '+pids']);
  assert.equal(await read(join(root, 'bh', 'tenant-t1', 'job-j2', 'pids.max')), '8');
});
