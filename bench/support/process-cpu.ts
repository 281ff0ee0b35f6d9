/**
 * CPU time of a process from /proc (Linux): user and system milliseconds so far, in 10 ms ticks (USER_HZ =
 * 100). Undefined when the process is gone.
 */
import { readFileSync } from 'node:fs';

export const TICK_MS = 10;

export const processCpu = (pid: number | string): { user: number; system: number } | undefined => {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) * TICK_MS, system: Number(fields[12]) * TICK_MS };
};

/** Node flags for a benchmark's server process: BENCH_SERVER_NODE_ARGS (e.g. `--perf-basic-prof`), split. */
export const benchServerNodeArgs = (): string[] => process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter((arg) => arg !== '') ?? [];
