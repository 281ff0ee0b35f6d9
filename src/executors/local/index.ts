/**
 * The local executor: runs a tenant's job on this host inside the isolation tier the job asks for, and
 * reports how it ended.
 *
 * Owns: the `process` / `sandbox` / `dedicated` tiers (root bwrap with network, PID and IPC namespaces +
 * setpriv + prlimit; unprivileged bubblewrap with every namespace; plus a cpuset), the per-tenant and
 * per-job cgroups (v1 and v2), the GPU inventory and each GPU job's device confinement (exact /dev binds,
 * the v1 device cgroup whitelist; gpu-inventory.ts, gpu-binds.ts, device-cgroup.ts), the in-namespace network relay to the platform's Unix socket (every tier), the host capability probe and orphan-cgroup reaping after a restart.
 * Deliberately does not own: job records, queues or scheduling (jobs/, scheduler/), job tokens and the
 * API behind the relay socket (the caller serves it), dataset decryption and output collection (the
 * caller prepares `dataDir` and reads `outputsDir`), or choosing a tenant's tier.
 *
 * Contract:
 *   const executor = createLocalExecutor({ cgroupRoot?, cgroupPrefix?, runtimeRoot?, nodeBinary?,
 *                                          relayPort?, sharedCpus?, maxLineLength? });
 *   const job = executor.start(spec);      // returns at once, never throws
 *   job.cancel(); job.preempt(graceMs);    // idempotent; the first ending reason wins
 *   const outcome = await job.wait();      // never rejects; cgroups and runtime files are gone by then
 *   await executor.probe();                // which tiers this host provides, what to install otherwise
 *   await executor.reapOrphans(liveIds);   // at start-up: kill and remove job cgroups not in liveIds
 *
 * `Outcome` = succeeded | failed { exitCode, signal? } | oom_killed | timed_out | cancelled | preempted |
 * refused { reason }, each with `usage` { wallMs, cpuMs?, peakMemoryBytes?, and JobUsage's cpuCoreSeconds?,
 * memoryPeakBytes?, gpuSeconds? read from the cgroup at the end, and deniedNetwork? — the connects and sends
 * its network namespace refused, from that namespace's kernel counters (netns-counters.ts) }. `refused` means the job's
 * code never ran (invalid spec, tier unavailable, cgroup setup failed).
 *
 * Inside the sandbox: uid/gid 65534 (also on the host), no capabilities, only `lo`, cleared env plus
 * PATH, HOME and BULKHEAD_{JOB_ID,WORKSPACE,OUTPUTS,DATA,CODE,API_URL}; /usr read-only, /workspace and
 * /outputs writable, /data and /code read-only, the host node at /opt/bulkhead/bin/node.
 */
export type { HostProbe, JobResources, JobSpec, OutputWritable, ReapedJob, TenantLimits, TierAvailability } from '../host-executor-contract.ts';
// The neutral contract this executor implements (also the cluster executor's): re-exported for callers of the local executor.
export type { IsolationTier, JobUsage, Outcome, OutputLine, RunningJob, Usage } from '../executor-contract.ts';
export { isolationTiers } from '../executor-contract.ts';
export { createLocalExecutor, type LocalExecutor, type LocalExecutorOptions } from './local-executor.ts';
export { describeCgroups, probeHost } from './host-probe.ts';
export { detectCgroupDriver, type CgroupDriver, type JobCgroup } from './cgroups.ts';
export { createCgroupV1Driver } from './cgroups-v1.ts';
export { createCgroupV2Driver, type CgroupV2Options } from './cgroups-v2.ts';
export { readGpuInventory, describeInventory, inventoryUnits, parseNvidiaSmiList, splitRdev } from './gpu-inventory.ts';
export type { CharDevice, GpuDevice, GpuInventory, InventoryOptions } from './gpu-inventory.ts';
export { findDevicesHierarchy } from './device-cgroup.ts';
export { buildBwrapArgs, sandboxPaths, JOB_UID, JOB_GID, type SandboxPlan } from './bwrap-args.ts';
export { deniedSyscallsX8664, seccompFilterForHost } from './seccomp.ts';
