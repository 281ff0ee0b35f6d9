/** Shared set-up for the local executor's e2e tests: a private cgroup prefix, job dirs, output capture. */
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  /** Job cgroup dirs still present under the prefix in any v1 hierarchy. */
  leftoverCgroups(): Promise<string[]>;
  cleanup(): Promise<void>;
}

let counter = 0;

export async function createE2eContext(label: string): Promise<E2eContext> {
  const prefix = `bulkhead-e2e-${label}-${process.pid}`;
  const base = await mkdtemp(join(tmpdir(), `bulkhead-e2e-${label}-`));
  await chmod(base, 0o755); // bwrap runs as 65534 and must traverse to the job dirs
  const runtimeRoot = join(base, 'run');
  const executor = createLocalExecutor({ cgroupPrefix: prefix, runtimeRoot });
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
    async leftoverCgroups() {
      const left: string[] = [];
      for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset']) {
        const dir = join('/sys/fs/cgroup', c, prefix);
        for (const tenant of await readdir(dir).catch(() => [] as string[])) {
          if (!tenant.startsWith('tenant-')) continue;
          for (const job of await readdir(join(dir, tenant)).catch(() => [] as string[])) {
            if (job.startsWith('job-')) left.push(join(dir, tenant, job));
          }
        }
      }
      return left;
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
