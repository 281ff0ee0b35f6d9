/**
 * Native HTTPS (issue 16 item 5), on the real server (`bulkhead up`, PGlite): with BULKHEAD_TLS_CERT and
 * BULKHEAD_TLS_KEY it serves HTTPS only, every response carries HSTS, and a renewed certificate written
 * over the files is served to new connections without a restart. Config: the two go together; trustProxy
 * takes false, a hop count or a list of proxy addresses, never "trust everyone".
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.ts';
import { freePort } from './support/server-process.ts';
import { waitFor } from './support/wait.ts';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bulkhead-tls-'));

/** A self-signed certificate for 127.0.0.1 named `name`, written as `<prefix>.key` / `<prefix>.crt`. */
const makeCertificate = (prefix: string, name: string): void => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${prefix}.key`), '-out', join(dir, `${prefix}.crt`),
    '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
};

const httpsGet = (port: number, path: string, ca: Buffer): Promise<{ status: number; headers: Record<string, unknown> }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, method: 'GET', timeout: 2000 }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    req.on('error', reject);
    req.end();
  });

/** The common name of the certificate a new TLS connection is served. */
const servedName = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const subject = socket.getPeerCertificate().subject as { CN?: string } | undefined;
      socket.end();
      resolve(subject?.CN ?? '');
    });
    socket.on('error', reject);
  });

describe('native HTTPS', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('config: certificate and key go together; trustProxy is false, a hop count or a list', () => {
    assert.throws(() => loadConfig({ BULKHEAD_TLS_CERT: '/x.crt' }), /BULKHEAD_TLS_CERT and BULKHEAD_TLS_KEY go together/);
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ BULKHEAD_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ BULKHEAD_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy, '10.0.0.0/8,127.0.0.1');
    assert.throws(() => loadConfig({ BULKHEAD_TRUST_PROXY: 'true' }), /BULKHEAD_TRUST_PROXY/);
  });

  test('serves HTTPS with HSTS, and a renewed certificate without a restart', async () => {
    makeCertificate('live', 'bulkhead-tls-first');
    makeCertificate('next', 'bulkhead-tls-second');
    const port = await freePort();
    const child = spawn(process.execPath, [cliPath, 'up'], {
      env: {
        PATH: process.env['PATH'] ?? '', BULKHEAD_LOG_LEVEL: 'warn', BULKHEAD_HOME: join(dir, 'home'), BULKHEAD_HOST: '127.0.0.1', BULKHEAD_PORT: String(port),
        BULKHEAD_RELAY_PORT: String(await freePort()), BULKHEAD_METRICS_PORT: '0',
        BULKHEAD_TLS_CERT: join(dir, 'live.crt'), BULKHEAD_TLS_KEY: join(dir, 'live.key'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      const first = readFileSync(join(dir, 'live.crt'));
      const ready = await waitFor('the HTTPS server', async () => {
        if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
        return httpsGet(port, '/readyz', first).catch(() => undefined);
      }, 60_000, 100);
      assert.equal(ready.status, 200);
      assert.equal(ready.headers['strict-transport-security'], 'max-age=31536000');
      assert.equal(await servedName(port), 'bulkhead-tls-first');
      // Plain HTTP is not served on the HTTPS port.
      await assert.rejects(fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }));

      // A renewal: the new pair is renamed over the old files (as certbot's deploy step does).
      renameSync(join(dir, 'next.key'), join(dir, 'live.key'));
      renameSync(join(dir, 'next.crt'), join(dir, 'live.crt'));
      await waitFor('the renewed certificate to be served', async () => (await servedName(port)) === 'bulkhead-tls-second', 30_000, 100);
      const second = readFileSync(join(dir, 'live.crt'));
      assert.equal((await httpsGet(port, '/readyz', second)).status, 200);
      assert.doesNotMatch(output, /PRIVATE KEY/, 'no key material in the logs');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
