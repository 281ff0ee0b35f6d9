/**
 * One private network namespace for the workers of a gang job: a holder process (root, `unshare --net`)
 * creates it and brings up `lo`, then sleeps; every worker's launcher enters it with `nsenter --net`
 * before bubblewrap starts (`--share-net` then keeps it instead of a namespace of its own). The
 * namespace has only `lo`: the workers reach each other on 127.0.0.1, nothing outside reaches them, and
 * they reach nothing outside but the API relay (run by rank 0, on the same loopback).
 *
 * The holder dies with the platform (parent-death signal SIGKILL, kept across exec) and with `close()`;
 * the namespace disappears with its last process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';

const toolDirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a host tool, or undefined. */
export const findHostTool = async (name: string): Promise<string | undefined> => {
  for (const dir of toolDirs) {
    const path = `${dir}/${name}`;
    if (await access(path, fsConstants.X_OK).then(() => true, () => false)) return path;
  }
  return undefined;
};

export interface GangNetwork {
  /** `/proc/<holder>/ns/net`: what `nsenter --net=` takes. */
  readonly netnsPath: string;
  /** Kills the holder; the namespace goes with the last worker. Idempotent. */
  close(): void;
}

/** Creates the namespace. Rejects (with the reason) when a tool is missing or `lo` cannot be brought up. */
export const createGangNetwork = async (): Promise<GangNetwork> => {
  const [setpriv, unshare, ip] = await Promise.all([findHostTool('setpriv'), findHostTool('unshare'), findHostTool('ip')]);
  if (setpriv === undefined || unshare === undefined || ip === undefined) {
    throw new Error('gang jobs need setpriv, unshare (util-linux) and ip (iproute2) on this host');
  }
  const holder: ChildProcess = spawn(setpriv, ['--pdeathsig', 'KILL', '--', unshare, '--net', '--', '/bin/sh', '-c', `"$0" link set lo up && echo ready && exec sleep 2147483647`, ip], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    detached: true,
  });
  const pid = holder.pid;
  const close = (): void => {
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const ready = await new Promise<boolean>((resolve) => {
    let out = '';
    holder.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve(true);
    });
    holder.once('exit', () => resolve(false));
    holder.once('error', () => resolve(false));
  });
  holder.stdout?.destroy();
  holder.stderr?.destroy();
  holder.unref();
  if (!ready || pid === undefined) {
    close();
    throw new Error('could not create the gang network namespace');
  }
  return { netnsPath: `/proc/${pid}/ns/net`, close };
};
