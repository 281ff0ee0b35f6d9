import type { JobLogLine } from './job-store.ts';

export const maxLogLines = 20_000;

export interface JobLogSink {
  logLine(stream: JobLogLine['stream'], line: string): void;
  /** Stores every line logged so far; resolves once they are stored (errors are logged, not thrown). */
  flush(): Promise<void>;
  /** Stops the timer and flushes. */
  close(): Promise<void>;
}

/**
 * A job's log pipeline: lines are batched into the store (every 200 lines or 250 ms), in order, capped
 * at `maxLogLines` (one `[bulkhead] log truncated` line marks the cut).
 */
export const createJobLogSink = (
  append: (lines: Array<{ stream: JobLogLine['stream']; line: string }>) => Promise<void>,
  onError: (error: unknown) => void,
  options: { maxLines?: number; intervalMs?: number } = {},
): JobLogSink => {
  const maxLines = options.maxLines ?? maxLogLines;
  let pending: Array<{ stream: JobLogLine['stream']; line: string }> = [];
  let flushing = Promise.resolve();
  const flush = () => {
    const batch = pending;
    pending = [];
    flushing = flushing.then(() => append(batch)).catch(onError);
    return flushing;
  };
  let logged = 0;
  const logLine = (stream: JobLogLine['stream'], line: string) => {
    logged += 1;
    if (logged > maxLines) {
      if (logged === maxLines + 1) pending.push({ stream: 'system', line: `[bulkhead] log truncated after ${maxLines} lines` });
      return;
    }
    pending.push({ stream, line });
    if (pending.length >= 200) void flush();
  };
  const timer = setInterval(() => void flush(), options.intervalMs ?? 250);
  return {
    logLine,
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
};
