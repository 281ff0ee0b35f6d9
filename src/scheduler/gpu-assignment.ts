/**
 * Which GPU devices a job admitted by the scheduler gets. The scheduler counts GPUs (whole devices, in
 * the pool capacity and the quotas); this picks the specific devices, from what nobody holds now.
 * Pure: the caller reads the held devices from the database and records the grant there (where a device
 * already held makes the recording fail, so two deciders racing can never both grant it).
 */

export interface GpuCandidate {
  readonly id: string;
  readonly kind: 'gpu' | 'mig';
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
