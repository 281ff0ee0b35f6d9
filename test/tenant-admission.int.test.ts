/**
 * Per-tenant admission before the body is read (issue 16 item 4), on a real listening server over raw
 * TCP sockets, on PGlite and PostgreSQL: a tenant over its request rate is refused 429 with Retry-After
 * from its headers alone — the test never sends the 50 MB body it declares, and the server closes the
 * connection — while another tenant is served; a tenant at its in-flight limit is refused until one of
 * its requests ends; a tenant at its connection limit has its next connection refused and closed; with the
 * hold on, refused large bodies wait unread for their 429, at most the tenant's connection limit of them.
 * Each refusal names the limit, in the route family's error format, and touches only that tenant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Socket } from 'node:net';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { sampleValue } from './support/promtool.ts';
import { databaseKinds } from './support/databases.ts';
import { waitFor } from './support/wait.ts';

interface RawResponse { status: number; headers: Record<string, string>; body: string }

const openSocket = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

const head = (method: string, path: string, token: string, extra: Record<string, string | number> = {}): string =>
  `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n${Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

/** Writes `data` and reads one response (content-length framed) off the socket. */
const exchange = (socket: Socket, data: string): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (buffer.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body: buffer.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(data);
  });

const closed = (socket: Socket): Promise<void> => new Promise((resolve) => {
  if (socket.destroyed || socket.readableEnded) resolve();
  else socket.once('close', () => resolve());
});

/** One request on a fresh connection, closed afterwards. */
const once = async (port: number, data: string): Promise<RawResponse> => {
  const socket = await openSocket(port);
  try {
    return await exchange(socket, data);
  } finally {
    socket.destroy();
  }
};

for (const kind of databaseKinds) {
  describe(`tenant admission before the body on ${kind}`, () => {
    let p: TestPlatform;
    let port: number;
    let limited: TestTenant;
    let other: TestTenant;
    let busy: TestTenant;
    let pooled: TestTenant;
    let flooding: TestTenant;
    const search = '/api/2.0/mlflow/experiments/search?max_results=1';

    before(async () => {
      // The auth cache on (tokens are learned for its TTL); 2 requests in flight and 3 connections per tenant;
      // refusals answered at once (the hold test turns the hold on for itself).
      p = await createTestPlatform(kind, { authCacheTtlMs: 5000, tenantMaxInFlight: 2, tenantMaxConnections: 3, refusalHoldMs: 0 });
      port = Number(new URL(await p.listen()).port);
      limited = await p.createTenant('adm-limited');
      other = await p.createTenant('adm-other');
      busy = await p.createTenant('adm-busy');
      pooled = await p.createTenant('adm-pooled');
      flooding = await p.createTenant('adm-flooding');
      const quota = await p.call('PUT', `/api/v1/tenants/${limited.slug}/quota`, adminToken, { requestsPerSecond: 0.25 });
      assert.equal(quota.status, 200, JSON.stringify(quota.body));
      // One token per 100 s: once it is spent, the tenant stays over its rate for the whole hold test.
      const slow = await p.call('PUT', `/api/v1/tenants/${flooding.slug}/quota`, adminToken, { requestsPerSecond: 0.01 });
      assert.equal(slow.status, 200, JSON.stringify(slow.body));
    });
    after(async () => {
      await p.close();
    });

    test('over its rate: 429 from the headers alone, the declared body never read, the connection closed; another tenant served', async () => {
      const admission = p.app.tenantAdmission!;
      // One request per 4 s: the bucket's one token, then the auth hook's refusal (which opens a 4 s window).
      await waitFor('a fresh token in the bucket', async () => (await once(port, head('GET', search, limited.tokens.member))).status === 200, 15_000, 200);
      const hook = await once(port, head('GET', search, limited.tokens.member));
      assert.equal(hook.status, 429);
      const before = admission.stats().rate;
      // 50 MB declared, not one byte of it sent: only an answer from the headers can arrive.
      const socket = await openSocket(port);
      const refused = await exchange(socket, head('POST', '/api/2.0/mlflow/experiments/create', limited.tokens.member, { 'content-type': 'application/json', 'content-length': 50_000_000 }));
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['connection'], 'close');
      assert.ok(Number(refused.headers['retry-after']) >= 1, JSON.stringify(refused.headers));
      assert.deepEqual(JSON.parse(refused.body), { error_code: 'REQUEST_LIMIT_EXCEEDED', message: `this tenant is over its request rate; retry after ${refused.headers['retry-after']} s` });
      await closed(socket);
      assert.equal(admission.stats().rate, before + 1, 'refused by the admission layer, not by the hook');
      // `Expect: 100-continue`: refused instead of being told to send the body (no "100 Continue" first).
      const expecting = await once(port, head('PUT', '/api/2.0/mlflow-artifacts/artifacts/x/y.bin', limited.tokens.member, { 'content-type': 'application/octet-stream', 'content-length': 50_000_000, expect: '100-continue' }));
      assert.equal(expecting.status, 429);
      assert.equal(admission.stats().rate, before + 2);
      // The other tenant, meanwhile: served.
      const served = await once(port, head('GET', search, other.tokens.member));
      assert.equal(served.status, 200, served.body);
      // The platform admin's calls on the limited tenant pass (an operator can always act).
      const adminCall = await once(port, head('GET', `/api/v1/tenants/${limited.slug}/quota`, adminToken));
      assert.equal(adminCall.status, 200, adminCall.body);
      // Once its bucket refills, the tenant is served again.
      await waitFor('the limited tenant served again', async () => (await once(port, head('GET', search, limited.tokens.member))).status === 200, 15_000, 200);
    });

    test('in-flight limit: the third concurrent request is refused until one ends; other tenants unaffected', async () => {
      const admission = p.app.tenantAdmission!;
      assert.equal((await once(port, head('GET', search, busy.tokens.member))).status, 200); // learned
      // Two requests held open: bodies declared, only partly sent.
      const held = await Promise.all([openSocket(port), openSocket(port)]);
      for (const socket of held) socket.write(head('POST', '/api/2.0/mlflow/experiments/create', busy.tokens.member, { 'content-type': 'application/json', 'content-length': 100 }) + '{"name":');
      await waitFor('two requests in flight', () => admission.load(busy.id).inFlight === 2);
      const socket = await openSocket(port);
      const refused = await exchange(socket, head('GET', `/api/v1/tenants/${busy.slug}/jobs?limit=1`, busy.tokens.member));
      assert.equal(refused.status, 429);
      const body = JSON.parse(refused.body);
      assert.equal(body.code, 'RATE_LIMITED');
      assert.deepEqual(body.details, { limit: 'in_flight' });
      assert.match(body.message, /2 requests in flight/);
      assert.equal(refused.headers['connection'], 'keep-alive', 'no body: the connection is kept');
      assert.equal((await once(port, head('GET', search, other.tokens.member))).status, 200, 'another tenant is not counted');
      // One held request ends (its client goes away): the tenant is admitted again, on the same connection.
      held[0]!.destroy();
      await waitFor('one request in flight', () => admission.load(busy.id).inFlight === 1);
      const again = await exchange(socket, head('GET', `/api/v1/tenants/${busy.slug}/jobs?limit=1`, busy.tokens.member));
      assert.equal(again.status, 200, again.body);
      for (const s of [...held, socket]) s.destroy();
      await waitFor('nothing in flight', () => admission.load(busy.id).inFlight === 0);
    });

    test('connection limit: a fourth connection is refused and closed; closing one lets the next in', async () => {
      const admission = p.app.tenantAdmission!;
      assert.equal((await once(port, head('GET', search, pooled.tokens.member))).status, 200); // learned
      await waitFor('the learning connection closed', () => admission.load(pooled.id).connections === 0);
      const open = await Promise.all([openSocket(port), openSocket(port), openSocket(port)]);
      for (const socket of open) assert.equal((await exchange(socket, head('GET', search, pooled.tokens.member))).status, 200);
      assert.equal(admission.load(pooled.id).connections, 3);
      const fourth = await openSocket(port);
      const refused = await exchange(fourth, head('GET', search, pooled.tokens.member));
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['connection'], 'close');
      assert.match(JSON.parse(refused.body).message, /3 connections open/);
      await closed(fourth);
      // A request on an open connection still passes; another tenant's new connection too.
      assert.equal((await exchange(open[0]!, head('GET', search, pooled.tokens.member))).status, 200);
      assert.equal((await once(port, head('GET', search, other.tokens.member))).status, 200);
      open[1]!.destroy();
      await waitFor('two connections open', () => admission.load(pooled.id).connections === 2);
      assert.equal((await once(port, head('GET', search, pooled.tokens.member))).status, 200);
      for (const s of open) s.destroy();
    });

    test('hold: refused large bodies wait unread for their answer, held per tenant up to its connection limit; others served meanwhile', async () => {
      const admission = p.app.tenantAdmission!;
      const post = head('POST', '/api/2.0/mlflow/runs/log-batch', flooding.tokens.member, { 'content-type': 'application/json', 'content-length': 50_000_000 });
      const piece = '['.repeat(64 * 1024);
      // The tenant's one token, then the hook's refusal: over its rate for the rest of the test.
      assert.equal((await once(port, head('GET', search, flooding.tokens.member))).status, 200);
      assert.equal((await once(port, head('GET', search, flooding.tokens.member))).status, 429);
      const holdMs = 5000;
      admission.limits.refusalHoldMs = holdMs;
      const sockets: Socket[] = [];
      try {
        const heldBefore = admission.stats().held;
        // Three large bodies under way on three connections: held, none answered.
        const sent = performance.now();
        let answered = 0;
        const answers: Array<Promise<RawResponse>> = [];
        for (let i = 0; i < 3; i += 1) {
          const socket = await openSocket(port);
          sockets.push(socket);
          answers.push(exchange(socket, post + piece).then((response) => { answered += 1; return response; }));
        }
        await waitFor('three refusals held', () => admission.load(flooding.id).held === 3);
        // What the operator sees (process-wide, no tenant label).
        const scrape = await p.platform.metrics.metrics();
        assert.equal(sampleValue(scrape, 'bulkhead_admission_refusals_held'), 3);
        assert.equal(sampleValue(scrape, 'bulkhead_admission_held_refusals_total'), admission.stats().held);
        assert.equal(sampleValue(scrape, 'bulkhead_admission_refusals_total', { limit: 'rate' }), admission.stats().rate);
        // A fourth, past the tenant's connection limit (3): answered at once, as without the hold.
        const fourth = await openSocket(port);
        sockets.push(fourth);
        const refused = await exchange(fourth, post);
        assert.equal(refused.status, 429);
        assert.equal(refused.headers['connection'], 'close');
        assert.match(JSON.parse(refused.body).message, /over its request rate/);
        await closed(fourth);
        assert.equal(admission.stats().held, heldBefore + 3, 'the fourth was not held');
        // Another tenant is served while they are held; they are still unanswered.
        assert.equal((await once(port, head('GET', search, other.tokens.member))).status, 200);
        assert.equal(answered, 0);
        // One client leaves. The server learns of it only when it answers (it does not read the socket), so
        // its place is freed when its hold ends, with the others'.
        sockets[0]!.destroy();
        for (const late of await Promise.all(answers.slice(1))) {
          assert.equal(late.status, 429);
          assert.equal(late.headers['connection'], 'close');
          assert.ok(Number(late.headers['retry-after']) >= 1, JSON.stringify(late.headers));
        }
        assert.ok(performance.now() - sent >= 0.75 * holdMs - 10, 'answered after the hold (± 25 %), not before');
        await waitFor('no refusal held', () => admission.load(flooding.id).held === 0);
        await Promise.all(sockets.slice(1).map(closed));
      } finally {
        admission.limits.refusalHoldMs = 0;
        for (const socket of sockets) socket.destroy();
      }
    });
  });
}
