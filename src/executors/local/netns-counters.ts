/**
 * Denied network attempts of one job, read from the kernel's own counters of the job's network namespace.
 *
 * Every tier gives a job its own network namespace with only `lo` (and the relay listening on it), so any
 * attempt to reach something else fails inside the job, where we cannot see it. The kernel counts those
 * failures per network namespace in the SNMP MIBs it shows in `/proc/<pid>/net/snmp` and `snmp6`:
 * - `Tcp: AttemptFails` — TCP connects that never got established (a refused connect to a closed loopback
 *   port, e.g. the database's or the platform's port: SYN answered by RST; a timed-out or abandoned one);
 * - `Ip: OutNoRoutes` + `Ip6: Ip6OutNoRoutes` — connects and sends to an address with no route (anything
 *   outside the namespace: the internet, the host's LAN addresses, the cluster);
 * - `Udp: NoPorts` + `Udp6: Udp6NoPorts` — datagrams to a closed local port (a DNS query to a resolver
 *   address on loopback, a probe of a UDP service).
 *
 * The executor opens these files right after bwrap has created the namespaces and before the job runs
 * (bwrap `--info-fd` gives the namespace's first pid, `--block-fd` holds the job until we have the files
 * open). An open proc-net file keeps a reference to its namespace, so the counters can still be read
 * after every process of the job is gone — a job that exits at once after its attempt is still counted.
 * No tracing, no in-sandbox code, nothing the job can reach or reset (`/proc/sys/net` and the MIBs are not
 * writable from inside an unprivileged user namespace).
 *
 * Limits: a connect to the relay's own port is allowed and not counted; a connect that succeeded to a
 * listener the job itself opened inside its namespace is not an attempt to leave it; raw sockets need
 * CAP_NET_RAW, which the job does not have (socket() fails, uncounted); attempts through the relay are
 * HTTP requests the relay audits itself.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { DeniedNetwork } from '../executor-contract.ts';

/** `Name: field field …` / `Name: value value …` line pairs (`/proc/net/snmp`) to `Name:field → value`. */
export const parseSnmpTable = (text: string): Map<string, number> => {
  const values = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const header = lines[i]!.trim().split(/\s+/);
    const row = lines[i + 1]!.trim().split(/\s+/);
    if (header[0] === undefined || header[0] !== row[0] || !header[0].endsWith(':')) continue;
    header.slice(1).forEach((field, j) => {
      const value = Number(row[j + 1]);
      if (Number.isFinite(value)) values.set(`${header[0]!}${field}`, value);
    });
  }
  return values;
};

/** `Name value` lines (`/proc/net/snmp6`). */
export const parseSnmp6 = (text: string): Map<string, number> => {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, raw] = line.trim().split(/\s+/);
    const value = Number(raw);
    if (name !== undefined && name !== '' && Number.isFinite(value)) values.set(name, value);
  }
  return values;
};

/** The denied-attempt figures from both files' text. Missing counters (an IPv6-less kernel) count 0. */
export const deniedNetworkOf = (snmp: string, snmp6: string | undefined): DeniedNetwork => {
  const v4 = parseSnmpTable(snmp);
  const v6 = snmp6 === undefined ? new Map<string, number>() : parseSnmp6(snmp6);
  const get = (map: Map<string, number>, name: string): number => map.get(name) ?? 0;
  return {
    refusedConnects: get(v4, 'Tcp:AttemptFails'),
    unroutableSends: get(v4, 'Ip:OutNoRoutes') + get(v6, 'Ip6OutNoRoutes'),
    closedPortDatagrams: get(v4, 'Udp:NoPorts') + get(v6, 'Udp6NoPorts'),
  };
};

export const noDeniedNetwork = (denied: DeniedNetwork): boolean =>
  denied.refusedConnects === 0 && denied.unroutableSends === 0 && denied.closedPortDatagrams === 0;

export interface NetnsCounters {
  /** The attempts counted since `openNetnsCounters` (differences, never negative). */
  read(): Promise<DeniedNetwork>;
  close(): Promise<void>;
}

const readAll = async (file: FileHandle): Promise<string> => {
  // Positional reads from 0: a proc seq file regenerates its text on each read from the start.
  const chunks: Buffer[] = [];
  let position = 0;
  for (;;) {
    const buffer = Buffer.alloc(16 * 1024);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * Opens the counters of the network namespace `pid` is in (the caller knows it is the job's, not ours).
 * Rejects when the files cannot be opened (no procfs, the process is gone); `snmp6` is optional.
 */
export const openNetnsCounters = async (pid: number, procRoot = '/proc'): Promise<NetnsCounters> => {
  const snmp = await open(`${procRoot}/${String(pid)}/net/snmp`, 'r');
  const snmp6 = await open(`${procRoot}/${String(pid)}/net/snmp6`, 'r').catch(() => undefined);
  const sample = async (): Promise<DeniedNetwork> => deniedNetworkOf(await readAll(snmp), snmp6 === undefined ? undefined : await readAll(snmp6));
  let baseline: DeniedNetwork;
  try {
    baseline = await sample();
  } catch (error) {
    await snmp.close().catch(() => undefined);
    await snmp6?.close().catch(() => undefined);
    throw error;
  }
  return {
    async read() {
      const now = await sample();
      return {
        refusedConnects: Math.max(0, now.refusedConnects - baseline.refusedConnects),
        unroutableSends: Math.max(0, now.unroutableSends - baseline.unroutableSends),
        closedPortDatagrams: Math.max(0, now.closedPortDatagrams - baseline.closedPortDatagrams),
      };
    },
    async close() {
      await snmp.close().catch(() => undefined);
      await snmp6?.close().catch(() => undefined);
    },
  };
};
