/** The verifier's result vocabulary: one row per check, stable in `--json` (docs/verify.md). */

export const verifyGroups = ['api', 'data', 'compute', 'serving', 'audit', 'tiers'] as const;
export type VerifyGroup = (typeof verifyGroups)[number];

export type CheckOutcome = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  group: VerifyGroup;
  /** What was tried, e.g. `cross-tenant id (role viewer)`. */
  check: string;
  /** The route template as the server spells it (`GET /api/v1/tenants/:tenant/jobs/:id`), a table, a probe. */
  target: string;
  expectation: string;
  result: CheckOutcome;
  evidence: string;
  /** The exact request or probe that crossed (or was tried), for an operator to reproduce. */
  reproduce?: string;
}

export interface VerifyOptions {
  url: string;
  token: string;
  groups: readonly VerifyGroup[];
  tiers: readonly string[];
  keep: boolean;
  /** PostgreSQL connection string of the platform's login role: enables the catalog checks of `data`. */
  databaseUrl?: string | undefined;
  /** A directory where the deployment stores blobs: `data` looks for plaintext in it. */
  storagePath?: string | undefined;
  /** The platform's home directory as the host sees it: compute probes try to read it. */
  platformHome?: string | undefined;
  /** `--kubernetes`: the namespace checks over the tenants' rendered bundles (compute group). */
  kubernetes?: boolean | undefined;
  /** `--bench`: the tiers group measures the trade-off table (otherwise it is reported as skipped). */
  bench?: boolean | undefined;
  /** Jobs per tier for the table (median). Default 3. */
  benchRounds?: number | undefined;
  /** Per-job limit of the compute probes, seconds. */
  probeTimeoutSeconds: number;
  /** Progress lines (stderr in the CLI). */
  log(line: string): void;
}

export interface VerifyReport {
  schema: 'bulkhead.verify/v1';
  url: string;
  startedAt: string;
  durationMs: number;
  groups: VerifyGroup[];
  summary: { passed: number; failed: number; skipped: number; total: number };
  checks: CheckResult[];
  /** With `--bench`: the isolation-tier trade-off table (src/verify/tier-bench.ts), one row per tier measured. */
  tierBench?: TierBenchRow[];
}

/** One tier's medians: set-up and teardown around the job, a fixed CPU loop, what the tier's helpers cost. */
export interface TierBenchRow {
  tier: string;
  rounds: number;
  /** Job start (runner) → the workload's first instruction. */
  startMs: number;
  /** The workload's last instruction → job finish recorded. */
  teardownMs: number;
  /** Wall time of the fixed CPU loop. */
  workMs: number;
  /** `workMs` over the `process` tier's (null when the process tier could not be measured). */
  workRatio: number | null;
  /** Job cgroup CPU minus the workload's own. */
  extraCpuMs: number | null;
  /** Job cgroup memory peak minus the workload's own peak RSS. */
  extraMemoryBytes: number | null;
}
