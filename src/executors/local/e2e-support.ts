/** Shared set-up for the local executor's e2e tests: a private cgroup prefix, job dirs, output capture. */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroupDriver, type CgroupController, type CgroupDriver } from './cgroups.ts';
import { createLocalExecutor, type LocalExecutor } from './local-executor.ts';
import type { IsolationTier, Outcome } from '../executor-contract.ts';
import type { JobSpec } from '../host-executor-contract.ts';

export interface E2eContext {
  executor: LocalExecutor;
  prefix: string;
  base: string;
  /** A fresh workspace/outputs pair under `base`, both reachable by uid 65534. */
  dirs(name: string): Promise<{ workspaceDir: string; outputsDir: string }>;
  spec(overrides: Partial<JobSpec> & { argv: string[] }): JobSpec;
  run(overrides: Partial<JobSpec> & { argv: string[] }): Promise<{ outcome: Outcome; lines: string[] }>;
  /** The host's cgroup driver for this prefix (v1 on this host, v2 in the VM lane). */
  cgroups: CgroupDriver;
  /** A job's cgroup directory that carries `controller` (v1: that hierarchy's; v2: the one directory). */
  cgroupDir(controller: CgroupController, tenantId: string, jobId: string): string;
  /** Job cgroups (`tenant/job`) still present under the prefix, in any hierarchy. */
  leftoverCgroups(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/**
 * How much slower than this host the machine running the e2e tests is: the VM lane (`npm run test:vm`,
 * software-emulated) sets BULKHEAD_TEST_TIME_SCALE so that "promptly" bounds (cancel within a second)
 * scale with the emulation; what is killed and what is left are checked the same.
 */
export const timeScale = Math.max(1, Number(process.env['BULKHEAD_TEST_TIME_SCALE'] ?? '1') || 1);

let counter = 0;

export async function createE2eContext(label: string): Promise<E2eContext> {
  const prefix = `bulkhead-e2e-${label}-${process.pid}`;
  const base = await mkdtemp(join(tmpdir(), `bulkhead-e2e-${label}-`));
  await chmod(base, 0o755); // bwrap runs as 65534 and must traverse to the job dirs
  const runtimeRoot = join(base, 'run');
  const executor = createLocalExecutor({ cgroupPrefix: prefix, runtimeRoot });
  const cgroups = await detectCgroupDriver('/sys/fs/cgroup', prefix);
  if (cgroups === undefined) throw new Error('no usable cgroups on this host: the e2e tests need them');
  const dirs = async (name: string): Promise<{ workspaceDir: string; outputsDir: string }> => {
    const root = join(base, name);
    await mkdir(join(root, 'workspace'), { recursive: true, mode: 0o755 });
    await mkdir(join(root, 'outputs'), { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    return { workspaceDir: join(root, 'workspace'), outputsDir: join(root, 'outputs') };
  };
  const spec = (overrides: Partial<JobSpec> & { argv: string[] }): JobSpec => {
    counter += 1;
    return {
      jobId: `job${counter}`,
      tenantId: 'ta',
      tier: 'sandbox' as IsolationTier,
      env: {},
      workspaceDir: join(base, 'missing'),
      outputsDir: join(base, 'missing'),
      resources: { cpu: 1, memoryMiB: 256, pids: 64, timeoutSeconds: 20 },
      tenantLimits: { cpu: 2, memoryMiB: 2048 },
      ...overrides,
    };
  };
  return {
    executor,
    prefix,
    base,
    dirs,
    spec,
    async run(overrides) {
      const lines: string[] = [];
      const d = overrides.workspaceDir === undefined ? await dirs(`d${counter + 1}`) : {};
      const job = executor.start(spec({ ...d, output: (l) => lines.push(l.line), ...overrides }));
      return { outcome: await job.wait(), lines };
    },
    cgroups,
    cgroupDir(controller, tenantId, jobId) {
      const dir = cgroups.openJob(tenantId, jobId).dirFor(controller);
      if (dir === undefined) throw new Error(`no ${controller} controller in the ${cgroups.version} hierarchy`);
      return dir;
    },
    async leftoverCgroups() {
      return (await cgroups.listJobs()).map(({ tenantId, jobId }) => `${tenantId}/${jobId}`);
    },
    async cleanup() {
      await executor.reapOrphans([]);
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** Probe script: for each path, print `path OK` or `path <ERRNO>` (python3, inside or outside the sandbox). */
export const tryReadScript = [
  'import sys, errno',
  'for p in sys.argv[1:]:',
  '    try:',
  '        open(p, "rb").read(1) if not p.endswith("/") else __import__("os").listdir(p)',
  '        print(p, "OK")',
  '    except OSError as e:',
  '        print(p, errno.errorcode.get(e.errno, str(e.errno)))',
].join('\n');

/** Probe script: for each host:port, print `target OK` or `target <ERRNO>`. */
export const tryConnectScript = [
  'import sys, socket, errno',
  'for t in sys.argv[1:]:',
  '    host, port = t.rsplit(":", 1)',
  '    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)',
  '    s.settimeout(2)',
  '    try:',
  '        s.connect((host, int(port)))',
  '        print(t, "OK")',
  '    except OSError as e:',
  '        print(t, errno.errorcode.get(e.errno, str(e)) if e.errno else "TIMEOUT")',
  '    finally:',
  '        s.close()',
].join('\n');
