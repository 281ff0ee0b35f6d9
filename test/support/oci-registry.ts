/**
 * A real OCI distribution registry for tests: Debian's `docker-registry` (distribution 2.8) started on a
 * loopback ephemeral port with its own config and storage directory and htpasswd or token authentication, and
 * `skopeo` to push OCI image archives built by oci-images.ts into it. Nothing is shared with the host's
 * own registry (if any): own port, own directory, stopped by `close()`.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { X509Certificate, createPrivateKey, createSign, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

const execFileAsync = promisify(execFile);

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
  push(archive: Buffer, repository: string, tag: string): Promise<string>;
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

/**
 * A token service per the distribution spec's token authentication: GET ?service&scope with HTTP Basic
 * credentials → `{ token }`, a JWT (RS256, its certificate in `x5c`) granting the scope's actions to the
 * right user; the registry trusts it through `rootcertbundle`. Anonymous or wrong credentials: 401.
 */
const startTokenService = async (dir: string, user: string, password: string): Promise<{ realm: string; certPath: string; close(): Promise<void> }> => {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=bulkhead-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyPath));
  const der = new X509Certificate(readFileSync(certPath)).raw.toString('base64');
  const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    if (given !== `${user}:${password}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const scope = /^repository:([^:]+):(.+)$/.exec(url.searchParams.get('scope') ?? '');
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ alg: 'RS256', typ: 'JWT', x5c: [der] });
    const claims = b64({
      iss: 'bulkhead-test-token', sub: user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(),
      access: scope === null ? [] : [{ type: 'repository', name: scope[1], actions: (scope[2] ?? '').split(',') }],
    });
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { realm: `http://127.0.0.1:${port}/token`, certPath, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

/** `auth: 'htpasswd'` (the Basic challenge) or `'token'` (the Bearer challenge, with a token service of the test's). */
export const startTestRegistry = async (options: { auth?: 'htpasswd' | 'token' } = {}): Promise<TestRegistry> => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-registry-'));
  const storage = join(dir, 'data');
  const user = 'puller';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'htpasswd'), htpasswdLine(user, password));
  const tokens = options.auth === 'token' ? await startTokenService(dir, user, password) : undefined;
  const authConfig = tokens === undefined
    ? ['auth:', '  htpasswd:', '    realm: bulkhead-test', `    path: ${join(dir, 'htpasswd')}`]
    : ['auth:', '  token:', `    realm: ${tokens.realm}`, '    service: bulkhead-test-registry', '    issuer: bulkhead-test-token', `    rootcertbundle: ${tokens.certPath}`];
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
    ...authConfig,
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
    // Asynchronous: with token auth the token service answers from this very process.
    async push(archive, repository, tag) {
      const file = join(dir, `push-${Math.random().toString(36).slice(2)}.tar`);
      const digestFile = `${file}.digest`;
      writeFileSync(file, archive);
      try {
        await execFileAsync('skopeo', [
          'copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${user}:${password}`, '--digestfile', digestFile,
          `oci-archive:${file}`, `docker://${host}/${repository}:${tag}`,
        ], { env: { ...process.env, HOME: dir } });
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
      await tokens?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
