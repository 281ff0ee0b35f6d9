import { createHash } from 'node:crypto';

/**
 * The content digest of a dataset version: SHA-256 over its files sorted by path (UTF-8 byte order),
 * each contributing `path NUL sha256(file) LF`. Pure. Two versions with the same files have the same
 * digest whatever order they were uploaded in; renaming, adding, removing or changing a file changes it.
 */
export const datasetDigest = (files: ReadonlyArray<{ path: string; digest: string }>): string => {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const hash = createHash('sha256');
  for (const file of sorted) hash.update(`${file.path}\u0000${file.digest}\n`);
  return hash.digest('hex');
};

export const DATASET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
