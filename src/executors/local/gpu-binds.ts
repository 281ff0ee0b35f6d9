/**
 * Pure builders for what a GPU job sees of the host's GPUs: the bubblewrap options that put exactly its
 * granted device nodes and the control nodes into its /dev (kept apart from bwrap-args.ts, whose bind
 * list is the root filesystem's), and the environment that numbers them 0..n-1 inside the job.
 *
 * The host's driver libraries need no bind of their own: they live under /usr, which every sandbox
 * already has read-only (`nvidia-smi` and `libcuda.so` included, where the driver is installed there).
 */
import { basename, dirname } from 'node:path';

export interface GrantedGpu {
  /** The inventory id: the node's name under /dev (`nvidia3`, `nvidia-caps/nvidia-cap21`). */
  id: string;
  /** The node on the host (under the inventory's device directory). */
  path: string;
}

export interface GpuPlan {
  /** In ordinal order: CUDA device 0 is the first. */
  devices: readonly GrantedGpu[];
  /** Host paths of the control nodes (`nvidiactl`, `nvidia-uvm`, ...). */
  controlNodes: readonly string[];
}

/**
 * bwrap options appended after the sandbox's own (after `--dev /dev`): each granted node and control
 * node bound at its usual /dev name, and nothing else of the host's /dev. With `freshDev` (the `process`
 * tier, which otherwise sees the host's whole /dev) a fresh minimal /dev is mounted first.
 */
export const gpuBindOptions = (plan: GpuPlan, freshDev: boolean): string[] => {
  const options: string[] = freshDev ? ['--dev', '/dev'] : [];
  for (const device of plan.devices) options.push('--dev-bind', device.path, `/dev/${device.id}`);
  for (const node of plan.controlNodes) options.push('--dev-bind', node, `/dev/${basename(node)}`);
  return options;
};

/** CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES: ordinals 0..n-1, as the job's own /dev numbers them. */
export const gpuEnvironment = (count: number): Record<string, string> => {
  const ordinals = Array.from({ length: count }, (_, i) => String(i)).join(',');
  return { CUDA_VISIBLE_DEVICES: ordinals, NVIDIA_VISIBLE_DEVICES: ordinals };
};

/**
 * bwrap options that hide the host's GPU nodes (`nodePaths`, host paths) from a `process`-tier job, which
 * otherwise sees the host's filesystem: a fresh minimal /dev when any is under /dev, a tmpfs over each
 * other folder that holds one (the outermost only: a tmpfs hides what is below it). For hosts where no
 * device cgroup can deny them (cgroup v2 without a BPF device program). Pure.
 */
export const gpuHidingOptions = (nodePaths: readonly string[]): string[] => {
  const dirs = [...new Set(nodePaths.map((p) => (p === '/dev' || p.startsWith('/dev/') ? '/dev' : dirname(p))))].sort();
  const outermost = dirs.filter((d) => !dirs.some((o) => o !== d && (o === '/' ? true : d.startsWith(`${o}/`))));
  return outermost.flatMap((d) => (d === '/dev' ? ['--dev', '/dev'] : d === '/' ? [] : ['--tmpfs', d]));
};
