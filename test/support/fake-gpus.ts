/**
 * Fake NVIDIA device nodes for GPU tests (`mknod` char 195,N in a folder of the test's own, configured as the
 * platform's GPU inventory), and the probe a job runs to report what it can open and see.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh folder with `nvidia0..nvidia{gpus-1}`, `nvidiactl` and, for each number in `caps`, a MIG
 * capability node `nvidia-caps/nvidia-cap{n}` (their major is dynamic on a real host; any will do here).
 */
export const createFakeGpuDir = async (spec: { gpus: number; caps?: readonly number[] }): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'bulkhead-fake-gpus-'));
  await chmod(dir, 0o755);
  for (let i = 0; i < spec.gpus; i += 1) execFileSync('mknod', ['-m', '0666', join(dir, `nvidia${i}`), 'c', '195', String(i)]);
  execFileSync('mknod', ['-m', '0666', join(dir, 'nvidiactl'), 'c', '195', '255']);
  if (spec.caps !== undefined && spec.caps.length > 0) {
    await mkdir(join(dir, 'nvidia-caps'), { mode: 0o755 });
    for (const n of spec.caps) execFileSync('mknod', ['-m', '0444', join(dir, 'nvidia-caps', `nvidia-cap${n}`), 'c', '237', String(n)]);
  }
  return dir;
};

/**
 * Python run by a probe job with device paths as arguments: prints `OPEN <path> OK|<errno name>` for each,
 * `DEV <nvidia nodes in /dev>` (with `CAPS <capability nodes>|-` when `listCaps`), `CUDA <CUDA_VISIBLE_DEVICES>`,
 * then sleeps so the job holds its grant until cancelled.
 */
export const gpuProbe = (options: { listCaps: boolean }): string => [
  'import os, sys, errno, time',
  'for p in sys.argv[1:]:',
  '    try:',
  '        os.close(os.open(p, os.O_RDWR)); r = "OK"',
  '    except OSError as e:',
  '        r = errno.errorcode.get(e.errno, str(e.errno))',
  '    print("OPEN", p, r)',
  ...(options.listCaps
    ? [
        'caps = sorted(os.listdir("/dev/nvidia-caps")) if os.path.isdir("/dev/nvidia-caps") else []',
        'print("DEV", " ".join(sorted(n for n in os.listdir("/dev") if n.startswith("nvidia") and n != "nvidia-caps")), "CAPS", " ".join(caps) or "-")',
      ]
    : ['print("DEV", " ".join(sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))))']),
  'print("CUDA", os.environ.get("CUDA_VISIBLE_DEVICES"))',
  'sys.stdout.flush()',
  'time.sleep(300)',
].join('\n');
