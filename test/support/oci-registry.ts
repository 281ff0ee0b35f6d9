/**
 * A real OCI distribution registry for tests: Debian's `docker-registry` (distribution 2.8) started on a
 * loopback ephemeral port with its own config and storage directory and htpasswd authentication, and
 * `skopeo` to push OCI image archives built by oci-images.ts into it. Nothing is shared with the host's
 * own registry (if any): own port, own directory, stopped by `close()`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

export const registryToolsPresent = (): boolean => existsSync('/usr/bin/docker-registry') && existsSync('/usr/bin/skopeo');

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the host part of references, and the key of `imageRegistries`. */
  host: string;
  url: string;
  /** The registry's storage root (tests tamper with stored blobs there). */
  storage: string;
  user: string;
  password: string;
  /** Pushes an OCI layout archive as `repository:tag`; returns the manifest digest skopeo pushed. */
  push(archive: Buffer, repository: string, tag: string): string;
  close(): Promise<void>;
}

/** A bcrypt htpasswd line (the registry accepts only bcrypt), computed by the host's libcrypt through python3. */
const htpasswdLine = (user: string, password: string): string => {
  const hash = execFileSync('python3', ['-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', password], {
    encoding: 'utf8', env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  }).trim();
  if (!hash.startsWith('$2')) throw new Error('python3 crypt produced no bcrypt hash');
  return `${user}:${hash}\n`;
};

export const startTestRegistry = async (): Promise<TestRegistry> => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-registry-'));
  const storage = join(dir, 'data');
  const user = 'puller';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'htpasswd'), htpasswdLine(user, password));
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1',
    'log:',
    '  level: info',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    '  addr: 127.0.0.1:0',
    'auth:',
    '  htpasswd:',
    '    realm: bulkhead-test',
    `    path: ${join(dir, 'htpasswd')}`,
    '',
  ].join('\n'));
  // The log goes to a file, not a pipe: `push` blocks this process in execFileSync, and a registry
  // writing into a full pipe nobody drains would stall skopeo's push.
  const logPath = join(dir, 'registry.log');
  const logFd = openSync(logPath, 'w');
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const port = await waitFor('the registry to listen', () => {
    const log = readFileSync(logPath, 'utf8');
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    return /listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1];
  }, 20_000, 50);
  const host = `127.0.0.1:${port}`;
  return {
    host, url: `http://${host}`, storage, user, password,
    push(archive, repository, tag) {
      const file = join(dir, `push-${Math.random().toString(36).slice(2)}.tar`);
      const digestFile = `${file}.digest`;
      writeFileSync(file, archive);
      try {
        execFileSync('skopeo', [
          'copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${user}:${password}`, '--digestfile', digestFile,
          `oci-archive:${file}`, `docker://${host}/${repository}:${tag}`,
        ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: dir } });
        return readFileSync(digestFile, 'utf8').trim();
      } finally {
        rmSync(file, { force: true });
        rmSync(digestFile, { force: true });
      }
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await waitFor('the registry to stop', () => child.exitCode !== null || child.signalCode !== null || undefined, 10_000, 50);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
