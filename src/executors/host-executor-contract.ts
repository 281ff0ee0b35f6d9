/**
 * The contract of an executor that runs jobs on this host (implemented by executors/local): what a
 * caller gives (`JobSpec`), what the host can provide (`HostProbe`), and the executor itself
 * (`HostExecutor`). What a caller gets back (`RunningJob`, `Outcome`) is the neutral executor contract
 * (executor-contract.ts), shared with the cluster executor. Callers (the jobs' local backend, serving's
 * worker supervisor) depend on this file; only the composition root builds the implementation.
 */
import type { IsolationTier, OutputLine, RunningJob } from './executor-contract.ts';

/** Anything with a `write(string)`: a Node Writable, a file stream, a test buffer. */
export interface OutputWritable {
  write(chunk: string): unknown;
}

export interface JobResources {
  /** CPU cores (fractions allowed): the CFS quota is `cpu × period`. */
  cpu: number;
  memoryMiB: number;
  /** Maximum number of tasks (processes + threads) in the job's cgroup. */
  pids: number;
  /** Wall-clock limit; the job ends as `timed_out` when it passes. */
  timeoutSeconds: number;
}

export interface TenantLimits {
  /** Aggregate CPU cores of all the tenant's jobs on this host (quota of the tenant parent cgroup). */
  cpu: number;
  /** Aggregate memory of all the tenant's jobs on this host. */
  memoryMiB: number;
}

export interface JobSpec {
  /** `[A-Za-z0-9_-]{1,64}`: used in cgroup paths, so anything else is refused. */
  jobId: string;
  /** Same alphabet as `jobId`. */
  tenantId: string;
  tier: IsolationTier;
  argv: readonly string[];
  /** The job's whole environment, plus PATH/HOME defaults and the BULKHEAD_* variables the executor sets. */
  env: Readonly<Record<string, string>>;
  /** Host directory, job-private and writable: `/workspace` inside. The executor chowns it to 65534. */
  workspaceDir: string;
  /** Host directory mounted read-only at `/data`; must be readable by uid 65534. */
  dataDir?: string;
  /** Host directory, writable: `/outputs` inside. The executor chowns it to 65534. */
  outputsDir: string;
  /** Host directory mounted read-only at `/code`; must be readable by uid 65534. */
  codeDir?: string;
  /**
   * The job's OCI image: the host path of its unpacked root filesystem (the image store's, shared and
   * read-only), which becomes the sandbox's `/` instead of the host's /usr. Sandbox tiers only: the
   * `process` tier sees the host filesystem and refuses a job with an image.
   */
  rootfs?: string;
  resources: JobResources;
  tenantLimits: TenantLimits;
  /** cpuset list (`"1"`, `"2-3"`): the reserved CPUs for tier `dedicated` (required there); for other tiers the shared pool (optional; default the executor's `sharedCpus`). */
  reservedCpus?: string;
  /**
   * A host Unix socket served by the platform, relayed to `127.0.0.1:<relayPort>` inside the job's network
   * namespace (every tier; bind-mounted in the sandbox tiers, used at its host path in the `process`
   * tier); the job gets `BULKHEAD_API_URL`. Must be connectable by the job's uid and every directory on
   * its path searchable by it (bwrap resolves it as that uid; the relay connects as it).
   */
  apiSocketPath?: string;
  /** Receives stdout and stderr line by line. */
  output?: ((line: OutputLine) => void) | OutputWritable;
  /**
   * Bytes the job reads on its standard input, which is closed after them (without it, stdin is
   * /dev/null). They travel through a pipe only, never a file: how a serving worker gets its decrypted
   * model. Written once the job has joined its cgroups; a job that exits before reading them all is not
   * an error of the executor's.
   */
  stdin?: Uint8Array;
  /**
   * The GPUs granted to this job (jobs/ records the grant; the executor enforces it): exactly these nodes
   * and the control nodes appear in the job's /dev, the device cgroup denies every other device, and
   * CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES number them 0..n-1. A `process`-tier GPU job is refused
   * where no device cgroup can confine it.
   */
  gpus?: {
    devices: ReadonlyArray<{ id: string; path: string }>;
    controlNodes: readonly string[];
    /**
     * GPU units held, when not one per device: a time-slice's fraction (0.5), a MIG instance's compute
     * slices (3 for mig-3g). GPU-seconds are these units × wall time.
     */
    units?: number;
    /** The devices' UUIDs (from `nvidia-smi -L`), when known: what the GPU metering queries. */
    uuids?: readonly string[];
  };
  /**
   * A gang worker: run in this existing network namespace (`/proc/<pid>/ns/net` of the gang's holder,
   * executors/local gang-network.ts) instead of a new one of its own, so the gang's workers reach each
   * other on loopback. Only one worker of a gang should carry `apiSocketPath` (its relay serves them all).
   */
  network?: { netnsPath: string };
}

export type TierAvailability = { available: true } | { available: false; missing: string[]; install: string };

export interface HostProbe {
  tiers: Record<IsolationTier, TierAvailability>;
  /** The cgroup hierarchy the executor would use, if any is writable. */
  cgroup:
    | {
        version: 'v1' | 'v2';
        /** v1: where the hierarchies are mounted; v2: the cgroup the platform's `<prefix>` lives in. */
        root: string;
        controllers: string[];
        /** v2: the platform's own cgroup when it is not the root cgroup (a delegated subtree, e.g. systemd Delegate=yes). */
        delegated?: string;
      }
    | undefined;
  tools: { bwrap?: string; setpriv?: string; prlimit?: string };
  runningAsRoot: boolean;
  /** Whether an unprivileged bwrap (uid 65534) could create its namespaces here. */
  userNamespaces: boolean;
}

export interface ReapedJob {
  tenantId: string;
  jobId: string;
  /** Processes still alive in the job's cgroup that were killed. */
  killedPids: number[];
}

/** What callers need from a host executor: start a job, say what the host can do, clean up after a crash. */
export interface HostExecutor {
  /** Returns at once and never throws: a job that cannot run ends `refused`. */
  start(spec: JobSpec): RunningJob;
  probe(): Promise<HostProbe>;
  /** Kills and removes job cgroups whose ids are not in `liveJobIds` (start-up and shutdown). */
  reapOrphans(liveJobIds: Iterable<string>): Promise<unknown[]>;
  /** A private network namespace (only `lo`) for the workers of one gang job (`JobSpec.network`); absent where unsupported. */
  createGangNetwork?(): Promise<{ netnsPath: string; close(): void }>;
}
