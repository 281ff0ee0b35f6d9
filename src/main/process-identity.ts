/**
 * Who a process is, in a form another process can check later: host name, pid, and the pid's start time
 * (field 22 of /proc/<pid>/stat, clock ticks since boot), so a pid recycled by an unrelated process after
 * a crash is not mistaken for the one that wrote the record. Used by the home lock and by storage
 * reservations (their `instance_id`).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';

export interface ProcessIdentity {
  pid: number;
  /** /proc/<pid>/stat field 22; '' where /proc is not available. */
  startTime: string;
  hostname: string;
}

/**
 * The fields of /proc/<pid>/stat from field 3 (state) on, so field n is at index n - 3; undefined when no
 * such process exists (or no /proc).
 */
export const procStatFields = (pid: number | string): string[] | undefined => {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may contain spaces: count fields after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined when no such process exists. */
export const processStartTime = (pid: number): string | undefined => procStatFields(pid)?.[22 - 3];

export const currentProcess = (): ProcessIdentity => ({ pid: process.pid, startTime: processStartTime(process.pid) ?? '', hostname: hostname() });

/**
 * Whether the process a record names is still the one running: `unknown` for another host (its pids mean
 * nothing here), `dead` when the pid is gone or now belongs to a process started at another time.
 */
export const processLiveness = (holder: ProcessIdentity): 'alive' | 'dead' | 'unknown' => {
  if (holder.hostname !== hostname()) return 'unknown';
  if (holder.pid === process.pid) return 'alive';
  const startTime = processStartTime(holder.pid);
  if (startTime === undefined) return 'dead';
  return holder.startTime === '' || startTime === holder.startTime ? 'alive' : 'dead';
};

/** A unique id for this run of the platform: `<pid>:<start time>:<random>@<host name>`. */
export const newInstanceId = (identity: ProcessIdentity = currentProcess()): string =>
  `${identity.pid}:${identity.startTime}:${randomBytes(6).toString('hex')}@${identity.hostname}`;

/** The process an instance id names; undefined for a malformed id. */
export const parseInstanceId = (instanceId: string): ProcessIdentity | undefined => {
  const match = /^(\d+):(\d*):[0-9a-f]+@(.+)$/.exec(instanceId);
  if (match === null) return undefined;
  return { pid: Number(match[1]), startTime: match[2] ?? '', hostname: match[3] ?? '' };
};

const hostTag = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 8);

/**
 * A file-name-safe tag of the process an instance id names (`<pid>-<start time>-<8 hex of the host name>`):
 * the prefix of its upload temp files, so start-up recovery can tell a dead process's from a live peer's.
 */
export const instanceFileTag = (instanceId: string): string => {
  const owner = parseInstanceId(instanceId);
  return owner === undefined ? 'unknown' : `${owner.pid}-${owner.startTime}-${hostTag(owner.hostname)}`;
};

/** Whether the process a file tag names is alive; `unknown` for another host or a name without a tag. */
export const fileTagLiveness = (tag: string): 'alive' | 'dead' | 'unknown' => {
  const match = /^(\d+)-(\d*)-([0-9a-f]{8})$/.exec(tag);
  if (match === null || match[3] !== hostTag(hostname())) return 'unknown';
  return processLiveness({ pid: Number(match[1]), startTime: match[2] ?? '', hostname: hostname() });
};
