/**
 * The GPU inventory of this host: which NVIDIA device nodes exist (whole GPUs `nvidia<N>`, MIG capability
 * nodes under `nvidia-caps/`), which control nodes every GPU job needs (`nvidiactl`, `nvidia-uvm`,
 * `nvidia-uvm-tools`, `nvidia-modeset`), and, when `nvidia-smi` exists, each GPU's model and UUID.
 *
 * Two sources: discovery in a device directory (default `/dev`), or an explicit list of device names in
 * that directory from configuration (an operator reserving some cards; tests pointing at fake nodes they
 * made with `mknod` in a folder of their own). Either way every entry is checked to be a character
 * device: a regular file or a symlink named like a GPU is not one. Synchronous on purpose: it runs once at
 * start-up (and in `bulkhead doctor`) over a handful of directory entries.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface CharDevice {
  /** Host path of the node. */
  path: string;
  major: number;
  minor: number;
}

export interface GpuDevice extends CharDevice {
  /** Stable id on this host: the node's name in the device directory (`nvidia0`, `nvidia-caps/nvidia-cap21`). */
  id: string;
  kind: 'gpu' | 'mig';
  /** Quota units the device counts for (a whole GPU is 1; a MIG instance its compute slices, as KAI counts them). */
  units: number;
  /** A MIG instance's profile (`mig-3g`), when configured: what a job asking for that profile is granted. */
  profile?: string;
  model?: string;
  uuid?: string;
}

export interface GpuInventory {
  source: 'discovered' | 'configured';
  devDir: string;
  /** Whole GPUs and MIG instances, by id. */
  devices: GpuDevice[];
  /** Control nodes present: bound into every GPU job, never counted. */
  controlNodes: CharDevice[];
  /** What was configured but could not be used, one sentence each (doctor shows them). */
  problems: string[];
}

export const controlNodeNames = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset'] as const;
const GPU_NAME = /^nvidia([0-9]+)$/;
const MIG_NAME = /^nvidia-caps\/nvidia-cap([0-9]+)$/;

/** Linux `dev_t` split as glibc's major()/minor() do. */
export const splitRdev = (rdev: number): { major: number; minor: number } => {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
};

const charDevice = (path: string): CharDevice | undefined => {
  try {
    const info = lstatSync(path);
    if (!info.isCharacterDevice()) return undefined;
    return { path, ...splitRdev(info.rdev) };
  } catch {
    return undefined;
  }
};

/** One line of `nvidia-smi -L`: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)`. MIG lines are skipped. */
export const parseNvidiaSmiList = (text: string): Array<{ index: number; model: string; uuid: string }> => {
  const out: Array<{ index: number; model: string; uuid: string }> = [];
  for (const line of text.split('\n')) {
    const match = /^GPU ([0-9]+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)\s*$/.exec(line.trim());
    if (match !== null) out.push({ index: Number(match[1]), model: match[2] as string, uuid: match[3] as string });
  }
  return out;
};

/** MIG profile slices from a name such as `mig-3g` (the `units` of a MIG device); 1 when unknown. */
export const migUnits = (profile: string | undefined): number => {
  const match = /([0-9]+)g/.exec(profile ?? '');
  return match === null ? 1 : Number(match[1]);
};

const gpuOf = (devDir: string, id: string): GpuDevice | undefined => {
  const node = charDevice(join(devDir, id));
  if (node === undefined) return undefined;
  if (GPU_NAME.test(id)) return { ...node, id, kind: 'gpu', units: 1 };
  if (MIG_NAME.test(id)) return { ...node, id, kind: 'mig', units: 1 };
  return undefined;
};

const byIndex = (a: GpuDevice, b: GpuDevice): number =>
  a.kind !== b.kind ? (a.kind === 'gpu' ? -1 : 1) : a.minor - b.minor || a.id.localeCompare(b.id);

export interface InventoryOptions {
  /** Directory holding the nodes. Default `/dev`. */
  devDir?: string;
  /** Device names in `devDir` to use (`nvidia0`, `nvidia-caps/nvidia-cap21`); default: every one found. */
  devices?: readonly string[];
  /** MIG profile per MIG device id (`mig-3g`): its quota units. */
  migProfiles?: Readonly<Record<string, string>>;
  /** `nvidia-smi` to ask for models and UUIDs; false to skip. Default: `nvidia-smi` on PATH, when `devDir` is `/dev`. */
  nvidiaSmi?: string | false;
}

/** The inventory. Never throws: what cannot be used is listed in `problems`. */
export const readGpuInventory = (options: InventoryOptions = {}): GpuInventory => {
  const devDir = options.devDir ?? '/dev';
  const problems: string[] = [];
  let devices: GpuDevice[] = [];
  if (options.devices !== undefined) {
    for (const id of options.devices) {
      if (!GPU_NAME.test(id) && !MIG_NAME.test(id)) {
        problems.push(`${id}: not a GPU device name (nvidia<N> or nvidia-caps/nvidia-cap<N>)`);
        continue;
      }
      const device = gpuOf(devDir, id);
      if (device === undefined) problems.push(`${join(devDir, id)}: not a character device`);
      else devices.push(device);
    }
  } else {
    const names = (dir: string): string[] => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    };
    for (const name of names(devDir)) {
      const device = GPU_NAME.test(name) ? gpuOf(devDir, name) : undefined;
      if (device !== undefined) devices.push(device);
    }
    for (const name of names(join(devDir, 'nvidia-caps'))) {
      const device = gpuOf(devDir, `nvidia-caps/${name}`);
      if (device !== undefined) devices.push(device);
    }
  }
  devices = devices.map((d) => {
    if (d.kind !== 'mig') return d;
    const profile = options.migProfiles?.[d.id];
    return { ...d, units: migUnits(profile), ...(profile === undefined ? {} : { profile }) };
  });
  for (const id of Object.keys(options.migProfiles ?? {})) {
    if (!devices.some((d) => d.id === id)) problems.push(`${id}: a MIG profile is configured for it, but it is not in the inventory`);
  }
  const smi = options.nvidiaSmi ?? (devDir === '/dev' ? 'nvidia-smi' : false);
  if (smi !== false && devices.some((d) => d.kind === 'gpu')) {
    try {
      const listed = parseNvidiaSmiList(execFileSync(smi, ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }));
      devices = devices.map((d) => {
        const found = d.kind === 'gpu' ? listed.find((l) => `nvidia${l.index}` === d.id) : undefined;
        return found === undefined ? d : { ...d, model: found.model, uuid: found.uuid };
      });
    } catch {
      // No nvidia-smi (or no driver): models and UUIDs stay unknown; the nodes are what isolation needs.
    }
  }
  const controlNodes = controlNodeNames.map((name) => charDevice(join(devDir, name))).filter((n): n is CharDevice => n !== undefined);
  return { source: options.devices === undefined ? 'discovered' : 'configured', devDir, devices: devices.sort(byIndex), controlNodes, problems };
};

/** GPU quota units the inventory offers: what BULKHEAD_CAPACITY_GPU is derived from. */
export const inventoryUnits = (inventory: GpuInventory): number => inventory.devices.reduce((sum, d) => sum + d.units, 0);

/** Doctor's lines for the inventory. */
export const describeInventory = (inventory: GpuInventory): string[] => {
  const lines = [`GPU inventory (${inventory.source}, ${inventory.devDir}): ${inventory.devices.length} device(s), ${inventoryUnits(inventory)} unit(s)`];
  for (const d of inventory.devices) {
    lines.push(`  ${d.id}: ${d.kind} ${d.major}:${d.minor}${d.profile === undefined ? '' : ` ${d.profile}`}${d.units !== 1 ? ` (${d.units} units)` : ''}${d.model === undefined ? '' : ` ${d.model}`}${d.uuid === undefined ? '' : ` ${d.uuid}`}`);
  }
  lines.push(`  control nodes: ${inventory.controlNodes.length === 0 ? 'none' : inventory.controlNodes.map((n) => n.path).join(', ')}`);
  for (const problem of inventory.problems) lines.push(`  problem: ${problem}`);
  return lines;
};
