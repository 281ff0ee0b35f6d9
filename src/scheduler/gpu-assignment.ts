/**
 * Which GPU devices a job admitted by the scheduler gets. The scheduler counts GPU units (whole devices,
 * fractions, MIG compute slices, in the pool capacity and the quotas); this picks the specific devices,
 * from what nobody holds now. Pure: the caller reads the held devices from the database and records the
 * grant there (where a device already held makes the recording fail, so two deciders racing can never
 * both grant it).
 *
 * The sharing rule, from what each mode really isolates: time-slicing gives no memory or fault isolation,
 * so a device is time-sliced only among jobs of ONE tenant; across tenants a physical GPU is shared only
 * as MIG instances, each granted whole.
 */

export interface GpuCandidate {
  readonly id: string;
  readonly kind: 'gpu' | 'mig';
  /** A MIG instance's profile (`mig-3g`), when known. */
  readonly profile?: string | undefined;
}

/** A device held now: whole by one job, or time-sliced by one tenant's jobs (`unitsUsed` hundredths). */
export interface HeldGpu {
  readonly deviceId: string;
  readonly tenantId: string;
  readonly mode: 'whole' | 'shared';
  readonly unitsUsed: number;
}

/**
 * `count` whole GPUs nobody holds, in inventory order (lowest first: a stable, predictable choice), or
 * undefined when fewer are free. MIG instances are never handed out for a whole-GPU request.
 */
export const chooseGpus = (inventory: readonly GpuCandidate[], held: ReadonlySet<string>, count: number): string[] | undefined => {
  if (!Number.isInteger(count) || count < 0) return undefined;
  const free = inventory.filter((d) => d.kind === 'gpu' && !held.has(d.id)).map((d) => d.id);
  return free.length < count ? undefined : free.slice(0, count);
};

/** A fraction of a GPU (0 < gpu < 1) in hundredths, the unit shares are recorded in. */
export const shareUnits = (gpu: number): number => Math.round(gpu * 100);

/**
 * The whole GPU a `units`-hundredths time-slice of `tenantId` goes on, or undefined when none can take
 * it. First a device this tenant already time-slices with room left (the fullest that fits: packing
 * keeps whole devices free for whole-GPU jobs), else the lowest free whole GPU. Never a device held whole,
 * by another tenant, or a MIG instance.
 */
export const chooseGpuShare = (inventory: readonly GpuCandidate[], held: readonly HeldGpu[], tenantId: string, units: number): string | undefined => {
  if (!Number.isInteger(units) || units < 1 || units > 99) return undefined;
  const gpus = new Set(inventory.filter((d) => d.kind === 'gpu').map((d) => d.id));
  const joinable = held
    .filter((h) => gpus.has(h.deviceId) && h.mode === 'shared' && h.tenantId === tenantId && h.unitsUsed + units <= 100)
    .sort((a, b) => b.unitsUsed - a.unitsUsed || a.deviceId.localeCompare(b.deviceId));
  if (joinable[0] !== undefined) return joinable[0].deviceId;
  return chooseGpus(inventory, new Set(held.map((h) => h.deviceId)), 1)?.[0];
};

/** Whether an instance of profile `have` (`mig-3g.40gb`) serves a request for `want` (`mig-3g` or `mig-3g.40gb`). */
export const migProfileMatches = (have: string | undefined, want: string): boolean =>
  have !== undefined && (have === want || (!want.includes('.') && have.startsWith(`${want}.`)));

/**
 * A free MIG instance of `profile` (lowest first), or undefined. MIG instances are only granted whole:
 * the hardware partitions memory and faults between instances, so different tenants may hold instances
 * of one physical GPU, but never one instance together.
 */
export const chooseMigInstance = (inventory: readonly GpuCandidate[], held: ReadonlySet<string>, profile: string): string | undefined =>
  inventory.find((d) => d.kind === 'mig' && migProfileMatches(d.profile, profile) && !held.has(d.id))?.id;
