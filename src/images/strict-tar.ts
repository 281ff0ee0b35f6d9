import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';

export interface StrictTarHandlers {
  /**
   * Handles one entry. It must consume the entry (or call `entry.resume()`); a throw fails the whole read
   * (the entry is resumed for it). `fail` ends the read from inside an entry's own stream events.
   */
  onEntry: (entry: ReadEntry, fail: (error: unknown) => void) => void;
  /** After a failure the source is either drained (an HTTP body the caller still answers) or destroyed. */
  afterFailure: 'drain' | 'destroy';
  /** Runs once on failure before the promise rejects (close open files). */
  cleanup?: () => void;
  /** The error for the parser's own complaints (an unreadable archive). */
  unreadable: (message: string) => Error;
}

/**
 * Reads the tar stream `source` with tar's strict parser: the first bad entry, parser warning or source error
 * rejects (with `unreadable(…)` for the parser's own complaints), once; later entries are skipped.
 * Resolves when the archive's end has been read and no entry failed.
 */
export function readStrictTar(source: Readable, handlers: StrictTarHandlers): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      handlers.cleanup?.();
      source.unpipe(parser);
      if (handlers.afterFailure === 'drain') source.resume();
      else source.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (failed) {
          entry.resume();
          return;
        }
        try {
          handlers.onEntry(entry, fail);
        } catch (error) {
          entry.resume();
          fail(error);
        }
      },
    });
    const { unreadable } = handlers;
    parser.on('error', (error: Error) => fail(unreadable(error.message)));
    parser.on('warn', (_code: string, message: string | Error) => fail(unreadable(typeof message === 'string' ? message : message.message)));
    source.on('error', (error) => fail(error));
    parser.on('end', () => {
      if (!failed) resolve();
    });
    source.pipe(parser);
  });
}
