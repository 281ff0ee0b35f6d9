/**
 * Forging the audit log as whoever can write its tables without the platform's key: the PostgreSQL
 * superuser, the PGlite session user (RESET ROLE). Each case is one of issue 23's item 5, which the
 * platform got wrong before event MACs (sealed a forged row, passed a forged tail, forgot a truncation
 * once new events came, stopped every tenant's sealing on one conflict):
 * - a forged pending row is never sealed, and raises an alert (platform chain event, log line, metric);
 * - a forged tail row with a correct SHA-256 is reported, and the chain stops growing;
 * - deleting the newest events and their checkpoints is reported after new events arrive, also by a
 *   verifier that has only the key (no heads file);
 * - a conflict in tenant A's chain does not stop tenant B's, and verify answers a report (HTTP 200), not 500.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { Registry } from 'prom-client';
import { appendAuditEvent, createAuditLog, createAuditSigningDb, eventHash, tamperAlertMetricName } from '../src/audit/index.ts';
import type { AuditAlertLog, AuditLog } from '../src/audit/index.ts';
import { PLATFORM_TENANT_ID, withSystem, withTenant } from '../src/db/index.ts';
import type { Db } from '../src/db/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';

/** SQL as the attacker: the superuser on PostgreSQL, the PGlite session user leaving the app role. */
const attackerSql = (t: TestDatabase) => (text: string, params: unknown[] = []) =>
  t.kind === 'postgres'
    ? t.owner.queryAsOwner(text, params)
    : withSystem(t.owner, (tx) => tx.query('RESET ROLE').then(() => tx.query(text, params)));

for (const kind of databaseKinds) {
  describe(`audit forgery without the key on ${kind}`, () => {
    let t: TestDatabase;
    let db: Db;
    let audit: AuditLog;
    let dir: string;
    let registry: Registry;
    let eventKey: Buffer;
    let checkpointKey: Buffer;
    const logged: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
    const log: AuditAlertLog = {
      error: (fields, message) => void logged.push({ level: 'error', fields, message }),
      warn: (fields, message) => void logged.push({ level: 'warn', fields, message }),
    };
    const tenant = randomUUID();
    const other = randomUUID();
    let sql: ReturnType<typeof attackerSql>;

    const append = (tenantId: string, action: string) =>
      withTenant(db, tenantId, (tx) => appendAuditEvent(tx, { tenantId, actor: 'user:alice', action, target: 'thing:1', outcome: 'success', requestId: 'req_1', details: { n: 1 } }));
    const chainSeqOf = async (action: string) =>
      (await sql(`SELECT chain_seq FROM audit_events WHERE action = $1`, [action])).rows.map((row) => (row as { chain_seq: string | number | null }).chain_seq);
    const alertEvents = async () =>
      (await sql(`SELECT details FROM audit_events WHERE tenant_id = $1 AND action = 'audit.tamper_alert' ORDER BY id`, [PLATFORM_TENANT_ID]))
        .rows.map((row) => (row as { details: { tenantId: string; kind: string; seq: number } }).details);
    const alertCount = async (tenantId: string, alertKind: string) => {
      const metric = registry.getSingleMetric(tamperAlertMetricName) as Counter | undefined;
      const values = metric === undefined ? [] : (await metric.get()).values;
      return values.find((v) => v.labels['tenant'] === tenantId && v.labels['kind'] === alertKind)?.value ?? 0;
    };

    beforeEach(async () => {
      t = await createTestDatabase(kind);
      sql = attackerSql(t);
      dir = mkdtempSync(join(tmpdir(), 'bulkhead-audit-forgery-'));
      eventKey = randomBytes(32);
      checkpointKey = randomBytes(32);
      db = createAuditSigningDb(t.db, eventKey);
      registry = new Registry();
      logged.length = 0;
      audit = createAuditLog({ db, eventKey, checkpointKey, headsFile: join(dir, 'heads.json'), log, metrics: registry });
      for (const id of [tenant, other]) for (let i = 1; i <= 10; i += 1) await append(id, `thing.${i}`);
      assert.equal(await audit.seal(), 20);
    });
    afterEach(async () => {
      await t.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a row inserted with chain_seq NULL is not sealed, and raises an alert', async () => {
      // Without a MAC, and with a made-up one.
      await sql(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'user:mallory', 'forged.nomac', 'success')`, [tenant]);
      await sql(`INSERT INTO audit_events (tenant_id, actor, action, outcome, event_uid, mac, mac_kind) VALUES ($1, 'user:mallory', 'forged.badmac', 'success', $2, $3, 'append')`,
        [tenant, randomUUID(), randomBytes(32).toString('hex')]);
      await append(tenant, 'genuine.after');
      await audit.seal();
      assert.deepEqual(await chainSeqOf('forged.nomac'), [null]);
      assert.deepEqual(await chainSeqOf('forged.badmac'), [null]);
      // The genuine event behind the forged ones is sealed: a forgery does not stop the chain.
      assert.deepEqual((await chainSeqOf('genuine.after')).map(Number), [11]);
      const alerts = (await alertEvents()).filter((a) => a.tenantId === tenant && a.kind === 'forged_event');
      assert.equal(alerts.length, 2);
      assert.equal(await alertCount(tenant, 'forged_event'), 2);
      assert.equal(logged.filter((l) => l.level === 'error' && l.fields['kind'] === 'forged_event' && l.fields['tenantId'] === tenant).length, 2);
      // Quarantined rows are not re-read: another seal raises nothing new.
      await audit.seal();
      assert.equal(await alertCount(tenant, 'forged_event'), 2);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.equal(result.headSeq, 11);
      assert.deepEqual(result.problems.map((p) => p.kind), ['forged_event', 'forged_event']);
      // Marking a genuine pending event quarantined hides it from the chain; verify names it.
      await append(tenant, 'genuine.withheld');
      await sql(`UPDATE audit_events SET quarantined_at = now() WHERE action = 'genuine.withheld'`);
      await audit.seal();
      assert.deepEqual(await chainSeqOf('genuine.withheld'), [null]);
      assert.deepEqual((await audit.verify(tenant)).problems.map((p) => p.kind), ['forged_event', 'forged_event', 'withheld_event']);
      // The alerts themselves are genuine events of the platform's chain.
      const platform = await audit.verify(PLATFORM_TENANT_ID);
      assert.equal(platform.ok, true, JSON.stringify(platform.problems));
      assert.equal(platform.eventsChecked, 2);
      assert.equal((await audit.verify(other)).ok, true);
    });

    test('a forged tail row with a correctly computed SHA-256 is reported, and the chain stops growing', async () => {
      const head = (await sql(`SELECT hash FROM audit_events WHERE tenant_id = $1 AND chain_seq = 10`, [tenant])).rows[0] as { hash: string };
      const forged = { tenantId: tenant, chainSeq: 11, occurredAtMicros: '1767225600000000', actor: 'user:mallory', action: 'forged.tail', target: '', outcome: 'success', requestId: '', details: {} };
      const hash = eventHash(head.hash, forged);
      await sql(
        `INSERT INTO audit_events (tenant_id, occurred_at, actor, action, outcome, chain_seq, prev_hash, hash, event_uid, mac, mac_kind, seal_mac)
         VALUES ($1, '2026-01-01T00:00:00Z', 'user:mallory', 'forged.tail', 'success', 11, $2, $3, $4, $5, 'append', $6)`,
        [tenant, head.hash, hash, randomUUID(), randomBytes(32).toString('hex'), randomBytes(32).toString('hex')],
      );
      await append(tenant, 'genuine.after');
      await append(other, 'genuine.other');
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      const found = result.problems.map((p) => [p.kind, p.seq]);
      assert.ok(!found.some(([k]) => k === 'hash_mismatch' || k === 'broken_link'), 'the SHA-256 chain itself is consistent');
      assert.deepEqual(found, [['bad_event_mac', 11], ['missing_checkpoint', 11]]);
      // The sealer does not build on it: the genuine event waits; the other tenant's is sealed.
      assert.deepEqual(await chainSeqOf('genuine.after'), [null]);
      assert.deepEqual((await chainSeqOf('genuine.other')).map(Number), [11]);
      assert.ok((await alertEvents()).some((a) => a.tenantId === tenant && a.kind === 'unanchored_head' && a.seq === 11));
      assert.equal(await alertCount(tenant, 'unanchored_head'), 1);
      assert.equal((await audit.verify(other)).ok, true);
    });

    test('deleting the newest events and their checkpoints is reported after new events arrive, also without the heads file', async () => {
      await append(tenant, 'thing.11');
      await append(tenant, 'thing.12');
      await audit.seal(); // checkpoints of the tenant now at 10 and 12
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      await sql(`DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      // New events, more than were deleted: a sealer that continued from the database's head would
      // bring the chain past the old head and hide the truncation.
      for (let i = 1; i <= 3; i += 1) await append(tenant, `late.${i}`);
      await append(other, 'late.other');
      await audit.seal();
      assert.deepEqual((await chainSeqOf('late.1')), [null], 'not sealed onto a truncated chain');
      assert.deepEqual((await chainSeqOf('late.other')).map(Number), [11]);
      assert.ok((await alertEvents()).some((a) => a.tenantId === tenant && a.kind === 'head_regressed' && a.seq === 12));
      assert.equal(await alertCount(tenant, 'head_regressed'), 1);
      const server = await audit.verify(tenant);
      assert.equal(server.ok, false);
      assert.ok(server.problems.some((p) => p.kind === 'truncated' && p.seq === 12), JSON.stringify(server.problems));
      // A verifier with the key and no heads file (an admin on another host): the sealer put the signed
      // checkpoint the database lost back, so the key alone shows the truncation.
      const keyOnly = createAuditLog({ db, eventKey, checkpointKey, headsFile: join(dir, 'elsewhere', 'heads.json'), log, metrics: new Registry() });
      const offline = await keyOnly.verify(tenant);
      assert.equal(offline.ok, false);
      assert.ok(offline.problems.some((p) => p.kind === 'truncated' && p.seq === 12), JSON.stringify(offline.problems));
      // ... and its own sealer, though it has no heads file, does not seal onto the truncated chain either.
      assert.deepEqual((await chainSeqOf('late.3')), [null]);
      assert.equal((await keyOnly.verify(other)).ok, true);
    });

    test('a truncated chain re-sealed by a process without the heads file is caught by the server that has it', async () => {
      await append(tenant, 'thing.11');
      await append(tenant, 'thing.12');
      await audit.seal(); // the heads file records the tenant's head at 12
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      await sql(`DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      for (let i = 1; i <= 3; i += 1) await append(tenant, `late.${i}`);
      // A sealer with the key but no heads file sees a consistent chain ending at a signed checkpoint and
      // seals the new events as 11..13: nothing left in the database contradicts it.
      const keyOnly = createAuditLog({ db, eventKey, checkpointKey, headsFile: join(dir, 'elsewhere', 'heads.json'), log, metrics: new Registry() });
      assert.equal(await keyOnly.seal(), 3);
      // The server's sealer knows event 12 as it signed it: the chain no longer passes through it.
      await append(tenant, 'later');
      await append(other, 'later.other');
      await audit.seal();
      assert.deepEqual(await chainSeqOf('later'), [null]);
      assert.deepEqual((await chainSeqOf('later.other')).map(Number), [11]);
      assert.ok((await alertEvents()).some((a) => a.tenantId === tenant && a.kind === 'head_mismatch' && a.seq === 12));
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.kind === 'checkpoint_mismatch' && p.seq === 12), JSON.stringify(result.problems));
    });

    test('a heads-file entry changed without the key is reported and not trusted', async () => {
      const file = join(dir, 'heads.json');
      const heads = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { seq: number; hash: string; signature: string }>;
      assert.match(heads[tenant]!.signature, /^[0-9a-f]{64}$/);
      heads[tenant] = { ...heads[tenant]!, seq: 99 };
      writeFileSync(file, JSON.stringify(heads));
      await append(tenant, 'after.heads');
      await audit.seal();
      // An unsigned claim that the chain was longer stops nothing...
      assert.deepEqual((await chainSeqOf('after.heads')).map(Number), [11]);
      // ... and is reported.
      const result = await audit.verify(tenant);
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['bad_head_signature', 99]]);
    });

    test('a checkpoint conflict in one tenant does not stop sealing for another, and verify reports it', async () => {
      // A checkpoint row where the tenant's next seal must write its own.
      await sql(`INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature) VALUES ($1, 11, repeat('f', 64), 'bogus')`, [tenant]);
      await append(tenant, 'after.conflict');
      await append(other, 'after.conflict.other');
      await audit.seal();
      assert.deepEqual(await chainSeqOf('after.conflict'), [null]);
      assert.deepEqual((await chainSeqOf('after.conflict.other')).map(Number), [11]);
      assert.ok((await alertEvents()).some((a) => a.tenantId === tenant && a.kind === 'checkpoint_conflict'));
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.kind === 'bad_checkpoint_signature' && p.seq === 11), JSON.stringify(result.problems));
      assert.equal((await audit.verify(other)).ok, true);
    });

    test("a checkpoint write the database refuses for one tenant still seals the others' chains", async () => {
      // The superuser plants a trigger that fails the tenant's checkpoint insert: invisible to the
      // sealer's head check, it fails the batch's write, and the sealer retries tenant by tenant.
      await sql(`CREATE FUNCTION refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.tenant_id = '${tenant}'::uuid THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$`);
      await sql(`CREATE TRIGGER refuse_checkpoint BEFORE INSERT ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint()`);
      await append(tenant, 'refused.one');
      await append(other, 'sealed.other');
      await audit.seal();
      assert.deepEqual(await chainSeqOf('refused.one'), [null]);
      assert.deepEqual((await chainSeqOf('sealed.other')).map(Number), [11]);
      assert.equal(await alertCount(tenant, 'seal_conflict'), 1);
      assert.equal((await audit.verify(other)).ok, true);
      assert.equal((await audit.verify(tenant)).ok, true, 'nothing of the chain itself was touched');
    });
  });

  describe(`audit verify over HTTP with a tampered chain on ${kind}`, () => {
    test('a checkpoint conflict in tenant A: A verifies as a report (200, not ok), B verifies ok, B keeps sealing', async () => {
      const p = await createTestPlatform(kind);
      try {
        const a = await p.createTenant('forged-a');
        const b = await p.createTenant('forged-b');
        await p.platform.audit.seal();
        const heads = (await attackerSql(p.database)(`SELECT tenant_id, max(chain_seq)::int AS seq FROM audit_events WHERE tenant_id = ANY($1::uuid[]) GROUP BY tenant_id`, [[a.id]]))
          .rows as Array<{ tenant_id: string; seq: number }>;
        await attackerSql(p.database)(`INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature) VALUES ($1, $2, repeat('f', 64), 'bogus')`, [a.id, heads[0]!.seq + 1]);
        // Events in both chains (a token each), then verify both through the API.
        for (const tenantRef of [a, b]) assert.equal((await p.call('POST', `/api/v1/tenants/${tenantRef.slug}/tokens`, tenantRef.tokens.owner, { name: 'after', role: 'viewer' })).status, 201);
        const verifiedA = await p.call('GET', `/api/v1/tenants/${a.slug}/audit/verify`, a.tokens.owner);
        assert.equal(verifiedA.status, 200);
        assert.equal(verifiedA.body.ok, false);
        assert.ok(verifiedA.body.problems.some((problem: { kind: string }) => problem.kind === 'bad_checkpoint_signature'), JSON.stringify(verifiedA.body));
        const verifiedB = await p.call('GET', `/api/v1/tenants/${b.slug}/audit/verify`, b.tokens.owner);
        assert.equal(verifiedB.status, 200);
        assert.equal(verifiedB.body.ok, true, JSON.stringify(verifiedB.body));
        const unsealedB = (await attackerSql(p.database)(`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1 AND chain_seq IS NULL`, [b.id])).rows[0] as { n: number };
        assert.equal(unsealedB.n, 0);
        // The alert: in the platform's chain (read through the API), and on the platform's metrics registry.
        const platformEvents = await p.call('GET', '/api/v1/platform/audit?limit=1000', adminToken);
        assert.ok(platformEvents.body.events.some((e: { action: string; target: string; details: { kind: string } }) =>
          e.action === 'audit.tamper_alert' && e.target === `tenant:${a.id}` && e.details.kind === 'checkpoint_conflict'), JSON.stringify(platformEvents.body));
        const metric = p.platform.metrics.getSingleMetric(tamperAlertMetricName) as Counter;
        assert.equal((await metric.get()).values.find((v) => v.labels['tenant'] === a.id && v.labels['kind'] === 'checkpoint_conflict')?.value, 1);
        const platformChain = await p.call('GET', '/api/v1/platform/audit/verify', adminToken);
        assert.equal(platformChain.status, 200);
        assert.equal(platformChain.body.ok, true, JSON.stringify(platformChain.body));
      } finally {
        await p.close();
      }
    });
  });
}
