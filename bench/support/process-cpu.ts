/**
 * CPU time of a process from /proc (Linux): user and system milliseconds so far, in 10 ms ticks (USER_HZ =
 * 100). Undefined when the process is gone.
 */
import { procStatFields } from '../../src/main/process-identity.ts';

export const TICK_MS = 10;

export const processCpu = (pid: number | string): { user: number; system: number } | undefined => {
  const fields = procStatFields(pid);
  // Fields 14 (utime) and 15 (stime).
  return fields === undefined ? undefined : { user: Number(fields[14 - 3]) * TICK_MS, system: Number(fields[15 - 3]) * TICK_MS };
};

/** Node flags for a benchmark's server process: BENCH_SERVER_NODE_ARGS (e.g. `--perf-basic-prof`), split. */
export const benchServerNodeArgs = (): string[] => process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter((arg) => arg !== '') ?? [];
