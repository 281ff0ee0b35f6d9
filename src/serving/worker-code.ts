/**
 * Prepares the read-only code directory every model worker runs from (`/code` in the sandbox): the
 * worker script, the OIP codec, and a copy of onnxruntime-node (Linux build for this CPU only) with
 * onnxruntime-common. A copy rather than a bind of the platform's node_modules: the sandbox then sees
 * exactly what a worker needs and nothing of the platform's dependencies or source.
 */
import { cp, mkdir, writeFile, chmod } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The worker script in this source tree (`bulkhead serve-model` runs it as is, with the platform's node_modules). */
export const oipWorkerScript = join(here, 'worker', 'oip-worker.ts');

/** Copies the worker runtime into `dir` (created 0755, files world-readable, nothing writable by workers). */
export const prepareWorkerCode = async (dir: string): Promise<{ dir: string; script: string }> => {
  const require = createRequire(import.meta.url);
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  // onnxruntime-common's exports hide its package.json: walk up from its entry point instead.
  let commonDir = dirname(createRequire(join(ortDir, 'package.json')).resolve('onnxruntime-common'));
  while (basename(commonDir) !== 'onnxruntime-common' && dirname(commonDir) !== commonDir) commonDir = dirname(commonDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  for (const file of ['oip-worker.ts', 'oip-codec.ts']) await cp(join(here, 'worker', file), join(dir, file));
  await writeFile(join(dir, 'package.json'), '{"type":"module","private":true}\n', { mode: 0o644 });
  const ortTarget = join(dir, 'node_modules', 'onnxruntime-node');
  await cp(join(ortDir, 'package.json'), join(ortTarget, 'package.json'));
  await cp(join(ortDir, 'dist'), join(ortTarget, 'dist'), { recursive: true });
  const binary = join('bin', 'napi-v6', process.platform, process.arch);
  await cp(join(ortDir, binary), join(ortTarget, binary), { recursive: true });
  const commonTarget = join(dir, 'node_modules', 'onnxruntime-common');
  await cp(join(commonDir, 'package.json'), join(commonTarget, 'package.json'));
  await cp(join(commonDir, 'dist'), join(commonTarget, 'dist'), { recursive: true });
  return { dir, script: 'oip-worker.ts' };
};
