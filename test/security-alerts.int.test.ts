/**
 * Security anomaly detection end to end, on PGlite and PostgreSQL (application role, RLS applies): requests
 * through the real app → audit events (the auth hook's, the request observer's summaries) → the detector
 * tailing the audit table → alert rows + `security.alert` audit events + the metric → the webhook, delivered
 * to a real local HTTP receiver (HMAC checked, a first 503 retried) → GET /api/v1/alerts scoped per caller →
 * a false positive marked and learned. Each boundary is crossed on purpose: another tenant's admin must get
 * 404 for the alert and never see it, a viewer 403, a tenant never a platform-level alert.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/index.ts';
import { createWebhookSender, isRelevantEvent, relevantEventSql, signatureHeader, timestampHeader, verifyWebhookSignature } from '../src/security/index.ts';
import { withSystem } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { waitFor } from './support/wait.ts';
import { runCliWith } from './support/cli.ts';
import { promtoolCheckMetrics } from './support/promtool.ts';

const secret = `whsec-${randomBytes(12).toString('hex')}`;

interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
  status: number;
}

/** A real HTTP receiver: answers the first delivery 503, then 200; records everything. */
const startReceiver = async (): Promise<{ server: Server; url: string; deliveries: Delivery[]; failFirst: { remaining: number } }> => {
  const deliveries: Delivery[] = [];
  const failFirst = { remaining: 1 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = failFirst.remaining > 0 ? 503 : 200;
      if (failFirst.remaining > 0) failFirst.remaining -= 1;
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/bulkhead`, deliveries, failFirst };
};

test('config: webhook URL and secret go together, and the secret is never echoed', () => {
  assert.throws(
    () => loadConfig({ BULKHEAD_SECURITY_WEBHOOK_URL: 'http://127.0.0.1:1/x' }),
    (error: Error) => /go together/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ BULKHEAD_SECURITY_WEBHOOK_URL: 'http://127.0.0.1:1/x', BULKHEAD_SECURITY_WEBHOOK_SECRET: 'short-secret' }),
    (error: Error) => /BULKHEAD_SECURITY_WEBHOOK_SECRET/.test(error.message) && !error.message.includes('short-secret'),
  );
});

test('webhook sender: a failing receiver is retried later, and log lines hold neither the secret nor URL credentials', async () => {
  // Exercised against a receiver that always fails, through the real outbox on PGlite.
  const receiver = createServer((_request, response) => response.writeHead(500).end());
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;
  const p = await createTestPlatform('pglite', { securityWebhookUrl: `http://127.0.0.1:${port}/x`, securityWebhookSecret: secret });
  try {
    const tenant = await p.createTenant('hooked');
    await p.platform.security.monitor.tick();
    const revoked = await p.call('POST', '/api/v1/tenants/hooked/tokens', adminToken, { name: 'old', role: 'member' });
    await p.call('DELETE', `/api/v1/tenants/hooked/tokens/${revoked.body.id}`, adminToken);
    assert.equal((await p.call('GET', '/api/v1/tenants/hooked', revoked.body.token)).status, 401);
    const raised = await p.platform.security.monitor.tick();
    assert.equal(raised.length, 1);
    const lines: string[] = [];
    const sender = createWebhookSender(p.platform.db, { url: `http://hookuser:hookpass@127.0.0.1:${port}/x`, secret, baseBackoffMs: 60_000 }, {
      warn: (obj, msg) => lines.push(JSON.stringify({ ...obj, msg })),
    });
    assert.equal(await sender.deliverDue(), 1);
    assert.equal(await sender.deliverDue(), 0, 'the failed delivery waits for its backoff');
    const listed = await p.call('GET', '/api/v1/alerts', tenant.tokens.admin);
    assert.equal(listed.body.alerts[0].webhook.state, 'pending');
    assert.equal(listed.body.alerts[0].webhook.attempts, 1);
    assert.ok(lines.length > 0 && lines.some((line) => line.includes('receiver answered 500')));
    for (const line of lines) {
      assert.ok(!line.includes(secret), 'secret in a log line');
      assert.ok(!line.includes('hookpass') && !line.includes('hookuser'), 'URL credentials in a log line');
    }
  } finally {
    await p.close();
    receiver.close();
  }
});

for (const kind of databaseKinds) {
  describe(`security alerts on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    before(async () => {
      receiver = await startReceiver();
      p = await createTestPlatform(kind, {
        securityWebhookUrl: receiver.url,
        securityWebhookSecret: secret,
        securityRules: {
          bola_probing: { windows: [{ windowMs: 300_000, minValue: 10, historyMs: 86_400_000 }] },
          token_new_source: { minHistoryMs: 1 },
        },
      });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      // The first round sets the cursor at the end of the log: what happened before it is history, not live.
      await p.platform.security.monitor.tick();
    });
    after(async () => {
      await p.close();
      receiver.server.close();
    });

    const alertsAs = async (token: string, query = '') => {
      const response = await p.call('GET', `/api/v1/alerts${query}`, token);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.alerts as Array<Record<string, any>>;
    };

    test('probing another tenant raises one BOLA alert: evidence, audit event, metric, webhook', async () => {
      const me = await p.call('GET', '/api/v1/me', acme.tokens.member);
      for (let i = 0; i < 12; i += 1) {
        const probe = await p.call('GET', `/api/v1/tenants/${i % 2 === 0 ? 'globex' : `ghost-${i}`}/jobs`, acme.tokens.member);
        assert.equal(probe.status, 404);
      }
      const raised = await waitFor('the BOLA alert', async () => {
        const alerts = await p.platform.security.monitor.tick();
        return alerts.length > 0 ? alerts : undefined;
      });
      assert.equal(raised.length, 1);
      const alert = raised[0]!;
      assert.equal(alert.kind, 'bola_probing');
      assert.equal(alert.severity, 'high');
      assert.deepEqual(alert.tenant, { id: acme.id, slug: 'acme' });
      assert.equal(alert.principal, me.body.actor);
      const evidence = alert.evidence as { value: number; windowMs: number; eventIds: number[] };
      assert.equal(evidence.value, 10);
      assert.equal(evidence.windowMs, 300_000);
      assert.equal(evidence.eventIds.length, 10);
      // The evidence names real events of acme's own chain: the refused probes.
      const audit = await p.call('GET', '/api/v1/tenants/acme/audit?limit=100', acme.tokens.admin);
      const byId = new Map<number, any>(audit.body.events.map((event: any) => [event.id, event]));
      for (const id of evidence.eventIds) {
        assert.equal(byId.get(id)?.outcome, 'denied', `event ${id}`);
        assert.match(byId.get(id)?.details.reason, /^(not_found|no_such_tenant)$/);
      }
      // The alert is itself an audit event in acme's chain.
      const alertEvent = audit.body.events.find((event: any) => event.action === 'security.alert');
      assert.equal(alertEvent?.details.alertId, alert.id);
      // Metric.
      const metric = await p.platform.metrics.getSingleMetricAsString('bulkhead_security_alerts_total');
      assert.match(metric, /bulkhead_security_alerts_total\{kind="bola_probing",severity="high"\} 1/);
      // On the platform's registry, the one the metrics listener serves: the whole exposition still lints.
      const lint = promtoolCheckMetrics(await p.platform.metrics.metrics());
      assert.equal(lint.status, 0, lint.output);
      // A second round raises nothing new (same episode, same events).
      assert.deepEqual(await p.platform.security.monitor.tick(), []);
      // Webhook: the first delivery gets a 503, the retry (after its backoff) a 200; both signed.
      await waitFor('the webhook delivery to succeed', async () => {
        await p.platform.security.monitor.deliverWebhooks();
        return receiver.deliveries.some((delivery) => delivery.status === 200) ? true : undefined;
      }, 60_000, 250);
      assert.ok(receiver.deliveries.length >= 2);
      assert.equal(receiver.deliveries[0]!.status, 503);
      for (const delivery of receiver.deliveries) {
        const timestamp = String(delivery.headers[timestampHeader]);
        assert.ok(verifyWebhookSignature(secret, timestamp, delivery.body, String(delivery.headers[signatureHeader])), 'signature verifies');
        assert.ok(!verifyWebhookSignature('another-secret-entirely', timestamp, delivery.body, String(delivery.headers[signatureHeader])));
        assert.equal(JSON.parse(delivery.body).alert.id, alert.id);
      }
      const [listed] = await alertsAs(acme.tokens.admin);
      assert.equal(listed?.webhook.state, 'delivered');
    });

    test('who sees the alert: acme admins and platform admins; globex admins neither see nor mark it; viewers are refused', async () => {
      const [alert] = await alertsAs(acme.tokens.admin, '?kind=bola_probing');
      assert.ok(alert !== undefined);
      assert.deepEqual((await alertsAs(acme.tokens.owner, '?kind=bola_probing')).map((a) => a.id), [alert.id]);
      assert.ok((await alertsAs(adminToken)).some((a) => a.id === alert.id));
      assert.ok((await alertsAs(adminToken, '?tenant=acme')).some((a) => a.id === alert.id));
      assert.ok(!(await alertsAs(adminToken, '?tenant=globex')).some((a) => a.id === alert.id));
      // Another tenant: the list is RLS-scoped, the id is NOT_FOUND exactly like a missing one.
      assert.ok(!(await alertsAs(globex.tokens.admin)).some((a) => a.id === alert.id));
      const foreign = await p.call('POST', `/api/v1/alerts/${alert.id}/false-positive`, globex.tokens.admin, {});
      const missing = await p.call('POST', '/api/v1/alerts/00000000-0000-4000-8000-000000000001/false-positive', globex.tokens.admin, {});
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.code, 'NOT_FOUND');
      assert.equal(foreign.body.message.replace(alert.id, 'X'), missing.body.message.replace('00000000-0000-4000-8000-000000000001', 'X'));
      // A tenant cannot pick another tenant through the filter.
      assert.equal((await p.call('GET', '/api/v1/alerts?tenant=acme', globex.tokens.admin)).status, 400);
      // Members and viewers may not read alerts at all.
      for (const token of [acme.tokens.viewer, acme.tokens.member]) {
        const refused = await p.call('GET', '/api/v1/alerts', token);
        assert.equal(refused.status, 403);
        assert.equal(refused.body.code, 'FORBIDDEN');
        assert.equal((await p.call('POST', `/api/v1/alerts/${alert.id}/false-positive`, token, {})).status, 403);
      }
      assert.equal((await p.call('GET', '/api/v1/alerts', undefined)).status, 401);
      // The row really is unreadable from globex's scope, whatever the SQL.
      const { rows } = await p.platform.db.transaction(
        `SELECT set_config('role','bulkhead_app',true),set_config('bulkhead.tenant_id','${globex.id}',true);`,
        (tx) => tx.query('SELECT id FROM security_alerts'),
      );
      assert.ok(!rows.some((row: any) => row.id === alert.id));
    });

    test('a false positive is audited and learned: the detector doubles that principal\'s threshold for that rule', async () => {
      const [alert] = await alertsAs(acme.tokens.admin, '?kind=bola_probing');
      assert.ok(alert !== undefined);
      const key = `${acme.id}|${alert.principal}`;
      assert.equal(p.platform.security.monitor.factorOf('bola_probing', key), 1);
      const marked = await p.call('POST', `/api/v1/alerts/${alert.id}/false-positive`, acme.tokens.admin, { note: 'pen test' });
      assert.equal(marked.status, 200);
      assert.equal(marked.body.status, 'false_positive');
      assert.match(marked.body.markedBy, /^(token|user):/);
      await waitFor('the detector to learn the false positive', async () => {
        await p.platform.security.monitor.tick();
        return p.platform.security.monitor.factorOf('bola_probing', key) === 2 ? true : undefined;
      });
      const audit = await p.call('GET', '/api/v1/tenants/acme/audit?limit=50', acme.tokens.admin);
      const event = audit.body.events.find((e: any) => e.action === 'security.alert.false_positive');
      assert.equal(event?.details.alertId, alert.id);
      assert.equal(event?.details.note, 'pen test');
      assert.deepEqual((await alertsAs(acme.tokens.admin, '?status=open&kind=bola_probing')), []);
    });

    test('a revoked token used again: one alert in its tenant, as that token', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/tokens', acme.tokens.admin, { name: 'laptop', role: 'member' });
      assert.equal((await p.call('GET', '/api/v1/tenants/acme', created.body.token)).status, 200);
      await p.call('DELETE', `/api/v1/tenants/acme/tokens/${created.body.id}`, acme.tokens.admin);
      const refused = await p.call('GET', '/api/v1/tenants/acme', created.body.token);
      assert.equal(refused.status, 401);
      const raised = await waitFor('the revoked-token alert', async () => {
        const alerts = (await p.platform.security.monitor.tick()).filter((a) => a.kind === 'revoked_token_use');
        return alerts.length > 0 ? alerts : undefined;
      });
      assert.equal(raised[0]!.principal, `token:${created.body.id}`);
      assert.deepEqual(raised[0]!.tenant, { id: acme.id, slug: 'acme' });
      assert.ok(!(await alertsAs(globex.tokens.admin)).some((a) => a.kind === 'revoked_token_use'));
    });

    test('credential stuffing from one address is a platform-level alert: platform admins see it, tenants never', async () => {
      for (let i = 0; i < 22; i += 1) {
        const response = await p.call('GET', '/api/v1/tenants/acme', `bh_${randomBytes(24).toString('base64url')}`);
        assert.equal(response.status, 401);
      }
      const raised = await waitFor('the stuffing alert', async () => {
        const alerts = (await p.platform.security.monitor.tick()).filter((a) => a.kind === 'credential_stuffing');
        return alerts.length > 0 ? alerts : undefined;
      });
      assert.equal(raised[0]!.tenant, null);
      assert.equal(raised[0]!.principal, 'source:127.0.0.1');
      assert.ok((await alertsAs(adminToken, '?tenant=platform')).some((a) => a.id === raised[0]!.id));
      for (const token of [acme.tokens.admin, globex.tokens.owner]) {
        assert.ok(!(await alertsAs(token)).some((a) => a.kind === 'credential_stuffing'));
        assert.equal((await p.call('POST', `/api/v1/alerts/${raised[0]!.id}/false-positive`, token, {})).status, 404);
      }
    });

    test('a token seen from a new user agent after a stable history (observer → audit → detector)', async () => {
      const call = (agent: string) => p.app.inject({ method: 'GET', url: '/api/v1/tenants/globex', headers: { authorization: `Bearer ${globex.tokens.member}`, 'user-agent': agent } });
      assert.equal((await call('mlflow-python-client/2.12')).statusCode, 200);
      await p.platform.security.observer.flush();
      await p.platform.security.monitor.tick();
      assert.equal((await call('sqlmap/1.8')).statusCode, 200);
      await p.platform.security.observer.flush();
      const raised = await waitFor('the new-source alert', async () => {
        const alerts = (await p.platform.security.monitor.tick()).filter((a) => a.kind === 'token_new_source');
        return alerts.length > 0 ? alerts : undefined;
      });
      assert.deepEqual(raised[0]!.tenant, { id: globex.id, slug: 'globex' });
      assert.equal(raised[0]!.evidence['newUserAgent'], 'sqlmap/1.8');
      assert.equal(raised[0]!.evidence['newAddress'], null);
    });

    test('bulkhead alerts: a table, --json, filters, and false-positive through the CLI', async () => {
      const url = await p.listen();
      const listed = await runCliWith(['alerts', '--kind', 'revoked_token_use'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: acme.tokens.admin });
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, /^ID\s+DETECTED\s+KIND\s+SEVERITY\s+STATUS\s+TENANT\s+PRINCIPAL/m);
      assert.match(listed.out, /revoked_token_use\s+high\s+open\s+acme\s+token:/);
      const asJson = await runCliWith(['alerts', 'list', '--json'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
      const all = JSON.parse(asJson.out).alerts as Array<{ id: string; kind: string; tenant: unknown }>;
      assert.ok(all.some((a) => a.kind === 'credential_stuffing' && a.tenant === null));
      const revokedAlert = all.find((a) => a.kind === 'revoked_token_use')!;
      const bad = await runCliWith(['alerts', '--kind', 'nonsense'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
      assert.notEqual(bad.code, 0);
      assert.match(bad.err, /--kind must be one of/);
      const viewer = await runCliWith(['alerts'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: acme.tokens.viewer });
      assert.notEqual(viewer.code, 0);
      assert.match(viewer.err, /FORBIDDEN|may not/);
      const marked = await runCliWith(['alerts', 'false-positive', revokedAlert.id, '--note', 'old laptop'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: acme.tokens.admin });
      assert.equal(marked.code, 0, marked.err);
      assert.match(marked.out, /marked a false positive/);
      const after = await runCliWith(['alerts', '--status', 'false_positive', '--json'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: acme.tokens.admin });
      assert.ok((JSON.parse(after.out).alerts as Array<{ id: string }>).some((a) => a.id === revokedAlert.id));
    });

    test('the tail\'s SQL relevance filter and the detector\'s agree on every event this suite wrote', async () => {
      const { rows } = await withSystem(p.platform.db, (tx) => tx.query<{ action: string; outcome: string; relevant: boolean }>(
        `SELECT DISTINCT action, outcome, ${relevantEventSql} AS relevant FROM audit_events`));
      assert.ok(rows.length >= 8, `${rows.length} kinds of events`);
      for (const row of rows) assert.equal(row.relevant, isRelevantEvent(row), `${row.action} ${row.outcome}`);
      assert.ok(rows.some((row) => row.relevant) && rows.some((row) => !row.relevant));
    });

    test('a restarted detector (new process, lease lapsed) rebuilds from the log and raises nothing twice', async () => {
      const before = await withSystem(p.platform.db, async (tx) => Number((await tx.query<{ n: string }>('SELECT count(*) AS n FROM security_alerts')).rows[0]!.n));
      const { createSecurityMonitor, resolveRules } = await import('../src/security/index.ts');
      // Let the first monitor's lease lapse, as if its process died.
      await withSystem(p.platform.db, (tx) => tx.query(`UPDATE security_detector_state SET lease_until = clock_timestamp() - interval '1 second'`));
      const second = createSecurityMonitor({
        db: p.platform.db, rules: p.platform.security.rules, pollIntervalMs: 1000, warmupMs: 86_400_000, instanceId: 'second-process',
        log: { warn: () => {}, error: (obj) => assert.fail(JSON.stringify(obj)) },
      });
      void resolveRules;
      assert.deepEqual(await second.tick(), []);
      // The first one no longer holds the lease: it stands by.
      assert.deepEqual(await p.platform.security.monitor.tick(), []);
      const afterCount = await withSystem(p.platform.db, async (tx) => Number((await tx.query<{ n: string }>('SELECT count(*) AS n FROM security_alerts')).rows[0]!.n));
      assert.equal(afterCount, before);
      // The new holder learned the marked false positive from the log during its warm-up.
      const [alert] = await alertsAs(acme.tokens.admin, '?kind=bola_probing');
      assert.equal(second.factorOf('bola_probing', `${acme.id}|${alert!.principal}`), 2);
    });
  });
}
