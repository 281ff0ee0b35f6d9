/**
 * Logical artifact and dataset paths: the one validation every path goes through before it reaches a
 * query. Pure. Paths never reach the file system (blobs are addressed by digest only), but they are
 * still refused when they look like an escape, so nothing stored can surprise a client that writes
 * them to disk later (`dataset pull`, job materialization).
 */
import { AppError } from '../core/errors.ts';

export const MAX_PATH_LENGTH = 1024;

const invalid = (reason: string): AppError => new AppError('VALIDATION_FAILED', `invalid artifact path: ${reason}`);

/**
 * Validates and normalizes a relative path: `a//b/./c` → `a/b/c`. Refuses empty paths (unless
 * `allowRoot`), absolute paths, `..` segments, backslashes, NUL and other control characters, Windows
 * drive letters, and paths longer than 1024 characters. Returns '' for the root when allowed.
 */
export const normalizeArtifactPath = (raw: string, options: { allowRoot?: boolean } = {}): string => {
  if (raw.length > MAX_PATH_LENGTH) throw invalid('longer than 1024 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalid('control characters are not allowed');
  if (raw.includes('\\')) throw invalid('backslashes are not allowed');
  if (raw.startsWith('/')) throw invalid('absolute paths are not allowed');
  if (/^[A-Za-z]:/.test(raw)) throw invalid('drive letters are not allowed');
  const segments: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalid("'..' is not allowed");
    segments.push(segment);
  }
  const path = segments.join('/');
  if (path === '' && options.allowRoot !== true) throw invalid('empty');
  return path;
};

/** The file name part of a client-side path that may use either separator (MLflow mpu sends local paths). */
export const clientBaseName = (raw: string): string => {
  const parts = raw.split(/[/\\]/).filter((part) => part !== '');
  return parts.at(-1) ?? '';
};

export const joinArtifactPath = (...parts: string[]): string => parts.filter((part) => part !== '').join('/');
