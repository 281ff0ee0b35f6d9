/**
 * Code bundles: an artifact that is either a tarball (`.tar`, `.tar.gz`, `.tgz`), unpacked into the job's
 * `/code`, or a single file placed there. Shared by the platform (local jobs) and the CLI's
 * `inputs fetch` (cluster jobs' init container), so both unpack the same way.
 */
import { extract } from 'tar';

export const isTarBundle = (ref: string): boolean => /\.(tar|tar\.gz|tgz)$/.test(ref);

/** A stream that unpacks a bundle tarball into `dir`: regular files and directories only (links could point out of /code). */
export const extractBundle = (dir: string) =>
  extract({ cwd: dir, strict: true, filter: (_path, entry) => 'type' in entry && (entry.type === 'File' || entry.type === 'Directory') });
