/**
 * Integer resource vectors: CPU in millicores, memory in MiB, GPUs in hundredths (a `gpu: 0.5` time-slice
 * is 50; issue 24). Converting once at the boundary keeps
 * every sum exact (0.1 + 0.2 cores is 300 millicores, not 0.30000000000000004 cores).
 */
import { AppError } from '../core/errors.ts';
import type { ResourceName, Resources } from './scheduler-types.ts';

export interface Vec {
  cpu: number;
  mem: number;
  gpu: number;
}

export const zeroVec = (): Vec => ({ cpu: 0, mem: 0, gpu: 0 });

const checkAmount = (value: number, what: string, integer: boolean): void => {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new AppError('VALIDATION_FAILED', `${what} must be a ${integer ? 'non-negative integer' : 'non-negative number'}`, {
      details: { value },
    });
  }
};

/**
 * Converts caller units to an integer vector. Throws VALIDATION_FAILED for negative, non-finite or
 * fractional memory amounts, for CPU finer than a millicore and GPUs finer than a hundredth.
 */
export const toVec = (resources: Resources, what: string): Vec => {
  checkAmount(resources.cpu, `${what}.cpu`, false);
  checkAmount(resources.memoryMiB, `${what}.memoryMiB`, true);
  checkAmount(resources.gpu, `${what}.gpu`, false);
  const milli = Math.round(resources.cpu * 1000);
  if (Math.abs(milli - resources.cpu * 1000) > 1e-6) {
    throw new AppError('VALIDATION_FAILED', `${what}.cpu must be a multiple of 0.001 cores`, {
      details: { value: resources.cpu },
    });
  }
  const gpuHundredths = Math.round(resources.gpu * 100);
  if (Math.abs(gpuHundredths - resources.gpu * 100) > 1e-6) {
    throw new AppError('VALIDATION_FAILED', `${what}.gpu must be a multiple of 0.01 GPUs`, {
      details: { value: resources.gpu },
    });
  }
  return { cpu: milli, mem: resources.memoryMiB, gpu: gpuHundredths };
};

export const fromVec = (vec: Vec): Resources => ({ cpu: vec.cpu / 1000, memoryMiB: vec.mem, gpu: vec.gpu / 100 });

export const addInto = (target: Vec, amount: Vec): void => {
  target.cpu += amount.cpu;
  target.mem += amount.mem;
  target.gpu += amount.gpu;
};

export const subInto = (target: Vec, amount: Vec): void => {
  target.cpu -= amount.cpu;
  target.mem -= amount.mem;
  target.gpu -= amount.gpu;
};

export const addVec = (a: Vec, b: Vec): Vec => ({ cpu: a.cpu + b.cpu, mem: a.mem + b.mem, gpu: a.gpu + b.gpu });

/** base + extra <= limit in every resource. */
export const fitsWithin = (base: Vec, extra: Vec, limit: Vec): boolean =>
  base.cpu + extra.cpu <= limit.cpu && base.mem + extra.mem <= limit.mem && base.gpu + extra.gpu <= limit.gpu;

/** a > b in at least one resource. */
export const exceedsAny = (a: Vec, b: Vec): boolean => a.cpu > b.cpu || a.mem > b.mem || a.gpu > b.gpu;

/** The resources in which base + extra > limit, in a fixed order. */
export const overflowing = (base: Vec, extra: Vec, limit: Vec): ResourceName[] => {
  const out: ResourceName[] = [];
  if (base.cpu + extra.cpu > limit.cpu) out.push('cpu');
  if (base.mem + extra.mem > limit.mem) out.push('memory');
  if (base.gpu + extra.gpu > limit.gpu) out.push('gpu');
  return out;
};

export const component = (vec: Vec, resource: ResourceName): number =>
  resource === 'cpu' ? vec.cpu : resource === 'memory' ? vec.mem : vec.gpu;

/** A component in caller units (cores for CPU, GPUs for GPU). */
export const componentInUnits = (vec: Vec, resource: ResourceName): number =>
  resource === 'cpu' ? vec.cpu / 1000 : resource === 'gpu' ? vec.gpu / 100 : component(vec, resource);

export interface DominantShareOfVec {
  share: number;
  resource: ResourceName | undefined;
}

/**
 * max over resources of usage / capacity, ignoring resources the pool has none of (a job asking for them
 * can never be admitted, so they cannot make anyone's share grow).
 */
export const dominantShareOfVec = (usage: Vec, capacity: Vec): DominantShareOfVec => {
  let share = 0;
  let resource: ResourceName | undefined;
  if (capacity.cpu > 0 && usage.cpu > 0) {
    share = usage.cpu / capacity.cpu;
    resource = 'cpu';
  }
  if (capacity.mem > 0 && usage.mem / capacity.mem > share) {
    share = usage.mem / capacity.mem;
    resource = 'memory';
  }
  if (capacity.gpu > 0 && usage.gpu / capacity.gpu > share) {
    share = usage.gpu / capacity.gpu;
    resource = 'gpu';
  }
  return { share, resource };
};
