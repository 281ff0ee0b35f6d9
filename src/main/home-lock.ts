/**
 * One writer per embedded home. PGlite is single-writer: a second process opening the same data directory
 * (a second `bulkhead up`, an admin command beside the server) corrupts it or loses acknowledged writes.
 * So whoever opens `$BULKHEAD_HOME/db` first creates `$BULKHEAD_HOME/bulkhead.lock` (O_EXCL) holding its
 * pid, the pid's start time, the host name and what it is, and keeps it for its lifetime; everyone else
 * is refused with a message naming the holder and what to do.
 *
 * A lock left by a process that died (SIGKILL, power loss) is stale: its pid is gone, or belongs to a
 * process started at another time (a recycled pid). A stale lock is taken over: renamed aside, checked to
 * be the very record judged stale (not a fresh lock another starter wrote meanwhile), then deleted, and the
 * exclusive create is tried again. A lock written on another host (a home on a shared file system) is never
 * judged from here: it refuses until removed by hand.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import { currentProcess, processLiveness } from './process-identity.ts';
import type { ProcessIdentity } from './process-identity.ts';

export interface HomeLockRecord extends ProcessIdentity {
  /** What holds it: `bulkhead up`, `bulkhead admin migrate`, ... */
  command: string;
  acquiredAt: string;
  /** The server's API, once it listens: read-only commands go there instead of opening the database. */
  url?: string;
  nonce: string;
}

export interface HomeLock {
  readonly file: string;
  readonly record: HomeLockRecord;
  /** Records the URL the server listens on (atomically rewrites the lock file). */
  setUrl(url: string): void;
  /** Deletes the lock file if it is still this process's. Idempotent. */
  release(): void;
}

export const homeLockFile = (home: string): string => join(home, 'bulkhead.lock');

const parse = (text: string): HomeLockRecord | undefined => {
  try {
    const value = JSON.parse(text) as Partial<HomeLockRecord>;
    if (typeof value.pid !== 'number' || typeof value.hostname !== 'string' || typeof value.startTime !== 'string') return undefined;
    return value as HomeLockRecord;
  } catch {
    return undefined;
  }
};

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

/** The live holder of a home's lock, or undefined when there is none (no lock file, or a stale one). */
export const findHomeLockHolder = (home: string): HomeLockRecord | undefined => {
  const text = readText(homeLockFile(home));
  if (text === undefined) return undefined;
  const record = parse(text);
  if (record === undefined) return undefined;
  return processLiveness(record) === 'dead' ? undefined : record;
};

export const homeLockErrors = {
  held: (home: string, holder: HomeLockRecord, advice: string) =>
    new AppError('CONFLICT', `the embedded database in ${resolve(home)} is in use by process ${holder.pid} (${holder.command}, since ${holder.acquiredAt}${holder.hostname === currentProcess().hostname ? '' : ` on host ${holder.hostname}`}${holder.url === undefined ? '' : `, serving ${holder.url}`}): only one process may open it. ${advice}`, {
      details: { pid: holder.pid, hostname: holder.hostname, command: holder.command, ...(holder.url === undefined ? {} : { url: holder.url }) },
    }),
  busy: (home: string) => new AppError('UNAVAILABLE', `could not take the lock of ${resolve(home)}: other processes keep taking it over; try again`),
};

/**
 * Takes the home's lock for this process, or throws CONFLICT naming the live holder (`advice` says what to
 * do instead). Takes over a stale lock. The lock is released by `release()` or, as a fallback, when the
 * process exits normally; a SIGKILL leaves it behind, stale, for the next start to take over.
 */
export const acquireHomeLock = (home: string, command: string, advice: string): HomeLock => {
  const file = homeLockFile(home);
  const record: HomeLockRecord = { ...currentProcess(), command, acquiredAt: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
  const ours = () => parse(readText(file) ?? '')?.nonce === record.nonce;
  const write = (value: HomeLockRecord) => {
    const temporary = `${file}.${record.nonce}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(value)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
  };
  for (let attempt = 0; attempt < 20; attempt += 1) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(record)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        if (ours()) unlinkSync(file);
      };
      process.on('exit', release);
      return {
        file,
        record,
        setUrl(url) {
          if (ours()) write({ ...record, url });
        },
        release,
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = readText(file);
    if (text === undefined) continue; // released meanwhile: try again
    const holder = parse(text);
    if (holder === undefined) {
      // Empty or torn: a starter between its create and its write, or one that died right there.
      let young = false;
      try {
        young = Date.now() - statSync(file).mtimeMs < 2000;
      } catch {
        continue;
      }
      if (young) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        continue;
      }
    } else if (processLiveness(holder) !== 'dead') {
      throw homeLockErrors.held(home, holder, advice);
    }
    // Stale: move it aside, and make sure what was moved is what we judged (not a fresh lock of a racer).
    const aside = `${file}.stale-${record.nonce}`;
    try {
      renameSync(file, aside);
    } catch {
      continue;
    }
    if (readText(aside) !== text) {
      try {
        linkSync(aside, file); // give the racer its lock back (unless a third one holds the name now)
      } catch {
        // someone else holds the name; the racer will find out when it releases
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
  }
  throw homeLockErrors.busy(home);
};
