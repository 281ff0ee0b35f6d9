/**
 * Held refusals (admission-server.ts): a tenant over its rate that starts a large upload gets its whole 429
 * at once, then its connection is held — nothing more of the body is read, so the client's upload stalls
 * on TCP flow control — and closed by the server after the hold, instead of being closed at once (which
 * lets a flooding client reconnect and start its next body straight away). Held connections are bounded
 * per tenant and in all; past a bound, or with holding off, the connection is closed at once as before;
 * closing the server ends every hold. Real server, real loopback sockets, the real admission decisions; no
 * database (the server factory is exercised on its own; test/tenant-admission.int.test.ts covers the
 * platform's server on both databases).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { admissionTokenKey, createAdmissionServerFactory, createTenantAdmission } from '../src/http/index.ts';
import type { TenantAdmission } from '../src/http/index.ts';
import { waitFor } from './support/wait.ts';

interface Opened { socket: Socket; status: Promise<{ status: number; headers: string }>; closed: Promise<void> }

/** Opens a connection and sends the head of a POST declaring `declared` bytes; resolves the response head. */
const startUpload = (port: number, token: string, declared: number): Promise<Opened> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      let buffer = '';
      const status = new Promise<{ status: number; headers: string }>((done) => {
        const onData = (chunk: Buffer): void => {
          buffer += chunk.toString('latin1');
          const end = buffer.indexOf('\r\n\r\n');
          if (end === -1) return;
          socket.off('data', onData);
          done({ status: Number(buffer.split(' ')[1]), headers: buffer.slice(0, end).toLowerCase() });
        };
        socket.on('data', onData);
      });
      // A reset from the server after the hold is expected; the test looks at 'close', not at the error.
      socket.on('error', () => undefined);
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.write(`POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`);
      resolve({ socket, status, closed });
    });
    socket.once('error', reject);
  });

describe('held refusals before the body', () => {
  let admission: TenantAdmission;
  let handled = 0;
  const tokens = { a: 'token-tenant-a', b: 'token-tenant-b' };
  const servers: Server[] = [];

  /**
   * A server over the shared admission. Holds last far longer than any test step (so that a bound is tested,
   * not a timer); a held connection's client going away is not seen while the socket is paused, so each
   * test ends its holds by closing its server.
   */
  const serve = async (): Promise<{ server: Server; port: number; close: () => Promise<void> }> => {
    const server = createAdmissionServerFactory(admission, undefined, { perTenant: 2, total: 3, maxMs: 600_000 })((_req, res) => {
      handled += 1;
      res.end('{}');
    }, {});
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    return { server, port: (server.address() as net.AddressInfo).port, close };
  };

  before(() => {
    admission = createTenantAdmission({ maxInFlight: 0, maxConnections: 0, tokenTtlMs: 600_000 });
    admission.learn(admissionTokenKey(tokens.a), 'tenant-a');
    admission.learn(admissionTokenKey(tokens.b), 'tenant-b');
  });
  after(async () => {
    for (const server of servers) if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('over its rate: the whole 429 at once, the body left unread, the connection open until the server ends it', async () => {
    const { port, close } = await serve();
    admission.rateRefused('tenant-a', 60_000);
    const before = admission.stats();
    const upload = await startUpload(port, tokens.a, 64 * 1024 * 1024);
    const answer = await upload.status;
    assert.equal(answer.status, 429);
    assert.match(answer.headers, /\r\nconnection: close/);
    assert.match(answer.headers, /\r\nretry-after: 60/);
    assert.equal(admission.stats().held, before.held + 1);
    assert.equal(admission.stats().heldTotal, before.heldTotal + 1);
    // The client goes on sending its 64 MB: the server does not read it, so the kernel's buffers fill and
    // the rest stays queued in the client (writableLength > 0) — a server that drained it would take all.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    for (let i = 0; i < 64; i += 1) upload.socket.write(chunk);
    // Settled: the queue stopped moving (10 polls, 50 ms apart), or emptied.
    let last = -1;
    let still = 0;
    const queued = await waitFor('the upload settled', () => {
      const now = upload.socket.writableLength;
      still = now === last ? still + 1 : 0;
      last = now;
      return now === 0 || still >= 10 ? now + 1 : undefined;
    }, 30_000, 50) - 1;
    assert.ok(queued > 32 * 1024 * 1024, `at most a few MB taken by the kernel's buffers; ${queued} bytes still queued in the client`);
    assert.equal(handled, 0, 'never passed to the application');
    // Still held (not closed) while the tenant's other connection is refused and held as well.
    const second = await startUpload(port, tokens.a, 8 * 1024 * 1024);
    assert.equal((await second.status).status, 429);
    assert.equal(admission.stats().held, before.held + 2);
    assert.equal(upload.socket.destroyed, false);
    await close();
    await Promise.all([upload.closed, second.closed]);
    await waitFor('the holds ended', () => admission.stats().held === before.held);
  });

  test('bounds: past a tenant\'s held connections, or all of them, a refused connection is closed at once', async () => {
    const { port, close } = await serve();
    admission.rateRefused('tenant-a', 60_000);
    admission.rateRefused('tenant-b', 60_000);
    const start = admission.stats().heldTotal;
    const a = [await startUpload(port, tokens.a, 1_000_000), await startUpload(port, tokens.a, 1_000_000)];
    for (const opened of a) assert.equal((await opened.status).status, 429);
    assert.equal(admission.stats().held, 2);
    // Tenant A's third: over its bound of 2, answered and closed by the server at once.
    const third = await startUpload(port, tokens.a, 1_000_000);
    assert.equal((await third.status).status, 429);
    await third.closed;
    assert.equal(admission.stats().heldTotal, start + 2);
    // Tenant B: its first is held (3 in all), its second is over the total of 3 and closed at once.
    const b = await startUpload(port, tokens.b, 1_000_000);
    assert.equal((await b.status).status, 429);
    assert.equal(admission.stats().held, 3);
    const overTotal = await startUpload(port, tokens.b, 1_000_000);
    assert.equal((await overTotal.status).status, 429);
    await overTotal.closed;
    assert.equal(admission.stats().heldTotal, start + 3);
    // Holding off (the build before the hold): closed at once.
    admission.setHolding(false);
    try {
      const unheld = await startUpload(port, tokens.a, 1_000_000);
      assert.equal((await unheld.status).status, 429);
      await unheld.closed;
      assert.equal(admission.stats().heldTotal, start + 3);
    } finally {
      admission.setHolding(true);
    }
    await close();
    await Promise.all([...a, b].map((opened) => opened.closed));
    await waitFor('the holds ended', () => admission.stats().held === 0);
  });

  test('a small refused body is drained on a kept-alive connection, not held', async () => {
    const { port, close } = await serve();
    admission.rateRefused('tenant-b', 60_000);
    const start = admission.stats().heldTotal;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const response = await new Promise<string>((resolve) => {
      let buffer = '';
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        if (buffer.includes('\r\n\r\n') && buffer.endsWith('}')) resolve(buffer);
      });
      socket.write(`POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.b}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
    });
    assert.match(response, /^HTTP\/1\.1 429/);
    assert.match(response.toLowerCase(), /\r\nconnection: keep-alive/);
    assert.equal(admission.stats().heldTotal, start);
    socket.destroy();
    await close();
  });

  test('closing one server ends its holds, not another\'s', async () => {
    const first = await serve();
    const second = await serve();
    admission.rateRefused('tenant-a', 60_000);
    const upload = await startUpload(first.port, tokens.a, 10_000_000);
    assert.equal((await upload.status).status, 429);
    const otherUpload = await startUpload(second.port, tokens.a, 10_000_000);
    assert.equal((await otherUpload.status).status, 429);
    assert.equal(admission.stats().held, 2);
    await second.close();
    await otherUpload.closed;
    await waitFor('the second server\'s hold ended', () => admission.stats().held === 1);
    assert.equal(upload.socket.destroyed, false, 'the first server\'s hold is its own');
    await first.close();
    await upload.closed;
    await waitFor('no holds', () => admission.stats().held === 0);
    assert.equal(handled, 0);
  });
});
