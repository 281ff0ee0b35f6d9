/**
 * The per-job disk limit (BULKHEAD_JOB_DISK_MIB), end to end on PGlite and PostgreSQL with the real runner,
 * bubblewrap, cgroups and a real loop-mounted file system: a sandboxed job that writes past its limit gets
 * ENOSPC inside (its /workspace and /outputs share the limit), its outputs written before are still
 * collected, its log says the limit was reached, and the file system is unmounted and gone afterwards. A job
 * within its limit gets no such line. A mount a crashed process left below the jobs directory is detached.
 * `bulkhead verify`'s compute probe then sees its 64 MiB write refused (the check passes instead of skip).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { detachLeftoverDisks, mountJobDisk, mountsBelow } from '../src/jobs/job-disk.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';
import { runPythonJob } from './support/jobs.ts';
import { startVerify } from '../src/verify/index.ts';
import { adminToken as verifyAdminToken, startVerifyPlatform } from './support/verify-platform.ts';
import type { VerifyPlatform } from './support/verify-platform.ts';

const limitMiB = 32;

const fill = `
import os
chunk = b"x" * (1024 * 1024)
with open(os.path.join(os.environ["BULKHEAD_OUTPUTS"], "result.txt"), "w") as h:
    h.write("written before the disk filled\\n")
written = 0
try:
    with open(os.path.join(os.environ["BULKHEAD_WORKSPACE"], "big"), "wb") as h:
        while written < 64 * 1024 * 1024:
            h.write(chunk)
            h.flush()
            written += len(chunk)
    print("wrote", written, flush=True)
except OSError as error:
    print("refused after", written, "errno", error.errno, flush=True)
`;

const mounts = (dir: string) => mountsBelow(readFileSync('/proc/self/mountinfo', 'utf8'), dir);

test('mount points below a directory, with mountinfo escapes decoded', () => {
  const info = [
    '36 35 98:0 / /mnt/jobs/t/j/disk rw,nosuid,nodev - ext4 /dev/loop3 rw',
    '37 35 98:0 / /mnt/jobs\\040x/t/disk rw - ext4 /dev/loop4 rw',
    '38 35 98:0 / /mnt/jobsother/disk rw - ext4 /dev/loop5 rw',
  ].join('\n');
  assert.deepEqual(mountsBelow(info, '/mnt/jobs'), ['/mnt/jobs/t/j/disk']);
  assert.deepEqual(mountsBelow(info, '/mnt/jobs x'), ['/mnt/jobs x/t/disk']);
});

for (const kind of databaseKinds) {
  describe(`job disk limit on ${kind}`, () => {
    let p: TestPlatform;
    let t: TestTenant;
    const run = async (code: string) => runPythonJob(p, t, code);

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhdisk-${randomBytes(4).toString('hex')}`, relayPort: 18769, jobDiskMiB: limitMiB });
      t = await p.createTenant('filler');
      await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 2048 });
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('writing past the limit fails inside the job with ENOSPC; outputs kept; the log says why; nothing stays mounted', async () => {
      const { job, logs } = await run(fill);
      assert.equal(job.status, 'succeeded', logs);
      const refused = /refused after (\d+) errno (\d+)/.exec(logs);
      assert.ok(refused !== null, logs);
      assert.equal(Number(refused[2]), 28, 'ENOSPC');
      assert.ok(Number(refused[1]) <= limitMiB * 1024 * 1024, logs);
      assert.ok(Number(refused[1]) >= (limitMiB - 8) * 1024 * 1024, `the job got (almost) all of its limit: ${logs}`);
      assert.match(logs, new RegExp(`the job's disk \\(/workspace and /outputs together\\) is full: its limit is ${String(limitMiB)} MiB`));
      const outputs = job.outputs as Array<{ path: string; size: number }>;
      assert.equal(outputs.length, 1, JSON.stringify(outputs));
      assert.match(outputs[0]!.path, /\/outputs\/result\.txt$/);
      assert.equal(outputs[0]!.size, 'written before the disk filled\n'.length);
      // Released after the final state is recorded (the runner's finally): wait for it, do not assume it.
      await waitFor('the job disk to be unmounted', async () => (mounts(p.platform.jobs.jobsDir).length === 0 ? true : undefined), 30_000, 50);
    });

    test('a job within its limit has no such line', async () => {
      const { job, logs } = await run('print("small", flush=True)');
      assert.equal(job.status, 'succeeded', logs);
      assert.doesNotMatch(logs, /disk .* is full/);
    });

    test("a disk a crashed process left mounted is detached by the backend's orphan sweep", async () => {
      const dir = join(p.platform.jobs.jobsDir, t.id, 'crashed-job');
      await mkdir(dir, { recursive: true });
      await mountJobDisk(dir, 8); // never released: what a SIGKILLed platform leaves
      assert.equal(mounts(p.platform.jobs.jobsDir).length, 1);
      assert.deepEqual(await detachLeftoverDisks(p.platform.jobs.jobsDir), [join(dir, 'disk')]);
      assert.deepEqual(mounts(p.platform.jobs.jobsDir), []);
    });
  });
}

for (const kind of databaseKinds) {
  describe(`bulkhead verify against a deployment with a job disk limit (${kind})`, () => {
    let p: VerifyPlatform;
    before(async () => {
      p = await startVerifyPlatform(kind, { overrides: { cgroupPrefix: `bhdiskv-${randomBytes(4).toString('hex')}`, relayPort: 18770, jobDiskMiB: 32 } });
    });
    after(async () => p.close());

    test("compute: the probe's 64 MiB workspace write is refused (pass), not reported as unlimited", async () => {
      const report = await startVerify({ url: p.url, token: verifyAdminToken, groups: ['compute'], tiers: ['sandbox'], keep: false, platformHome: p.home, probeTimeoutSeconds: 60, log: () => {} }).result;
      const write = report.checks.find((c) => c.check === 'write 64 MiB');
      assert.equal(write?.result, 'pass', JSON.stringify(write));
      assert.match(write.evidence, /refused: .*No space left on device/);
      assert.deepEqual(report.checks.filter((c) => c.result === 'fail'), []);
    });
  });
}
