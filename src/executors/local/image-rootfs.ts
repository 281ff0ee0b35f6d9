/**
 * The sandbox's filesystem when a job runs on an OCI image: the image's unpacked root (images/ store,
 * mount points already created there) bound read-only at `/` instead of the host's `/usr`, and the
 * platform's node (for the relay) brought in with its own loader and libraries under `/opt/bulkhead`, so
 * it runs whatever libc the image has. Pure argument builders plus one host probe (ldd of node); kept
 * apart from bwrap-args.ts so the host-/usr layout there stays as it is.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sandboxPaths } from './bwrap-args.ts';

/** The host node binary and what it needs to run inside an image: its ELF loader and shared libraries. */
export interface NodeRuntime {
  node: string;
  /** Host path of the dynamic loader (absent for a static binary). */
  loader?: string;
  libs: readonly string[];
  /** Host path of the launcher script bound at /opt/bulkhead/bin/node. */
  wrapper: string;
}

export interface ImageRoot {
  /** Host path of the image's unpacked root filesystem (read-only, shared by every job of the image). */
  rootfs: string;
  /** Present when the plan binds node (the relay, or jobs that run node). */
  nodeRuntime?: NodeRuntime;
}

const LIB_DIR = '/opt/bulkhead/lib';

/** The script at /opt/bulkhead/bin/node: runs the host's node through the host's loader and libraries. */
export function nodeWrapperScript(loaderName: string | undefined): string {
  const node = `${LIB_DIR}/node`;
  return loaderName === undefined
    ? `#!/bin/sh\nexec ${node} "$@"\n`
    : `#!/bin/sh\nexec ${LIB_DIR}/${loaderName} --library-path ${LIB_DIR} ${node} "$@"\n`;
}

/**
 * bwrap options for an image root, in place of the host's /usr and its symlinks: the rootfs read-only at
 * `/` (bwrap mounts nosuid; the image has no setuid files and no devices anyway), private tmpfs at
 * `/opt/bulkhead` and `/run/bulkhead` so the platform's own binds need nothing writable in the image.
 */
export function imageRootOptions(image: ImageRoot): string[] {
  return ['--ro-bind', image.rootfs, '/', '--tmpfs', '/opt/bulkhead', '--tmpfs', '/run/bulkhead'];
}

/** bwrap options that bring the platform's node into an image sandbox (at sandboxPaths.node). */
export function imageNodeOptions(runtime: NodeRuntime): string[] {
  const args = ['--ro-bind', runtime.wrapper, sandboxPaths.node, '--ro-bind', runtime.node, `${LIB_DIR}/node`];
  if (runtime.loader !== undefined) args.push('--ro-bind', runtime.loader, `${LIB_DIR}/${basename(runtime.loader)}`);
  for (const lib of runtime.libs) args.push('--ro-bind', lib, `${LIB_DIR}/${basename(lib)}`);
  return args;
}

/** Parses `ldd` output into the loader and the libraries (host paths). */
export function parseLdd(output: string): { loader?: string; libs: string[] } {
  const libs: string[] = [];
  let loader: string | undefined;
  for (const line of output.split('\n')) {
    const arrow = /=>\s*(\/\S+)\s+\(0x/.exec(line);
    if (arrow?.[1] !== undefined) {
      libs.push(arrow[1]);
      continue;
    }
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (bare?.[1] !== undefined) loader = bare[1];
  }
  return loader === undefined ? { libs } : { loader, libs };
}

/**
 * Finds node's loader and libraries with `ldd` and writes the wrapper script once into `runtimeRoot`
 * (root-owned, 0755, named by its content's hash; replaced if it was tampered with). `extraObjects`:
 * native addons node will load in the sandbox (serving workers: onnxruntime's binding) — their libraries
 * join node's (e.g. librt, which node itself does not link), except those beside the addon itself, which
 * it finds there (its RPATH).
 */
export async function detectNodeRuntime(node: string, runtimeRoot: string, extraObjects: readonly string[] = []): Promise<NodeRuntime> {
  const ldd = (file: string): Promise<string> => new Promise<string>((resolve) => {
    execFile('ldd', [file], { encoding: 'utf8' }, (error, stdout) => resolve(error === null ? stdout : ''));
  });
  const { loader, libs: nodeLibs } = parseLdd(await ldd(node));
  const libs = [...nodeLibs];
  for (const object of extraObjects) {
    for (const lib of parseLdd(await ldd(object)).libs) {
      if (dirname(lib) !== dirname(object) && !libs.some((known) => basename(known) === basename(lib))) libs.push(lib);
    }
  }
  const script = nodeWrapperScript(loader === undefined ? undefined : basename(loader));
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 16);
  await mkdir(runtimeRoot, { recursive: true, mode: 0o755 });
  const wrapper = join(runtimeRoot, `node-wrapper-${hash}`);
  const intact = await lstat(wrapper).then(
    async (info) => info.isFile() && info.uid === (process.geteuid?.() ?? 0) && (info.mode & 0o022) === 0 && (await readFile(wrapper, 'utf8')) === script,
    () => false,
  );
  if (!intact) {
    const temp = `${wrapper}.${process.pid}.tmp`;
    await writeFile(temp, script, { mode: 0o755 });
    await chmod(temp, 0o755);
    await rename(temp, wrapper);
  }
  return { node, ...(loader === undefined ? {} : { loader }), libs, wrapper };
}
