/**
 * Tampering with the audit log directly in SQL (as the schema owner, the strongest attacker short of the
 * platform's key file) is detected by verify, which says where: edited, deleted, reordered rows, deleting
 * the newest events, and forged checkpoints. On PGlite and PostgreSQL.
 *
 * One database per database kind, fresh tenants, keys and heads file per test: a tampered tenant is left
 * behind and touches no later test (chains, checkpoints and verification are per tenant). Not a database
 * per test: creating and dropping many embedded databases in one process is what triggered V8's
 * `jit_page` abort (nodejs/node#64500) in this file.
 */
import { after, before, beforeEach, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendAuditEvent, createAuditLog, createAuditSigningDb } from '../src/audit/index.ts';
import type { AuditLog } from '../src/audit/index.ts';
import { withSystem, withTenant } from '../src/db/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import type { Db } from '../src/db/index.ts';
import type { TestDatabase } from './support/databases.ts';

for (const kind of databaseKinds) {
  describe(`audit tamper detection on ${kind}`, () => {
    let t: TestDatabase;
    let audit: AuditLog;
    let dir: string;
    /** The platform's view of the database: its transactions MAC the events they append. */
    let db: Db;
    let tenant: string;
    let other: string;

    const sql = (text: string, params: unknown[] = []) =>
      // The owner connection: superuser on PostgreSQL, the PGlite session user. System scope so RLS admits the rows.
      t.kind === 'postgres' ? t.owner.queryAsOwner(text, params) : withSystem(t.db, (tx) => tx.query(`RESET ROLE`).then(() => tx.query(text, params)));

    before(async () => {
      t = await createTestDatabase(kind);
    });
    after(async () => {
      await t.drop();
    });

    beforeEach(async () => {
      tenant = randomUUID();
      other = randomUUID();
      dir = mkdtempSync(join(tmpdir(), 'bulkhead-audit-'));
      const eventKey = randomBytes(32);
      db = createAuditSigningDb(t.db, eventKey);
      audit = createAuditLog({ db, checkpointKey: randomBytes(32), eventKey, headsFile: join(dir, 'heads.json'), log: { error: () => {}, warn: () => {} } });
      for (const id of [tenant, other]) {
        for (let i = 1; i <= 10; i += 1) {
          await withTenant(db, id, (tx) => appendAuditEvent(tx, { tenantId: id, actor: 'user:alice', action: `thing.${i}`, target: `thing:${i}`, outcome: 'success', requestId: `req_${i}`, details: { n: i, nested: { b: 2, a: 1 } } }));
        }
        // Seal in two batches so there are several checkpoints.
        if (id === tenant) await audit.seal();
      }
      await audit.seal();
    });
    afterEach(async () => {
      rmSync(dir, { recursive: true, force: true });
    });

    test('an untouched chain verifies, and chains are per tenant', async () => {
      const result = await audit.verify(tenant);
      assert.equal(result.ok, true);
      assert.equal(result.eventsChecked, 10);
      assert.equal(result.headSeq, 10);
      assert.equal((await audit.verify(other)).eventsChecked, 10);
    });

    test('an edited event is reported at its position', async () => {
      await sql(`UPDATE audit_events SET actor = 'user:mallory' WHERE tenant_id = $1 AND chain_seq = 4`, [tenant]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      // The hash and the event's MAC both cover the actor.
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['hash_mismatch', 4], ['bad_event_mac', 4]]);
      assert.equal((await audit.verify(other)).ok, true);
    });

    test('an edit that also recomputes the row hash breaks the next link', async () => {
      await sql(`UPDATE audit_events SET details = '{"n": 999}'::jsonb, hash = repeat('a', 64) WHERE tenant_id = $1 AND chain_seq = 6`, [tenant]);
      const result = await audit.verify(tenant);
      assert.ok(result.problems.some((p) => p.seq === 6 && p.kind === 'hash_mismatch'));
      assert.ok(result.problems.some((p) => p.seq === 7 && p.kind === 'broken_link'));
    });

    test('a deleted event in the middle is reported as a gap', async () => {
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq = 5`, [tenant]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.kind === 'gap' && p.seq === 5));
    });

    test('reordered events are reported', async () => {
      await sql(`UPDATE audit_events SET chain_seq = -chain_seq WHERE tenant_id = $1 AND chain_seq IN (2, 3)`, [tenant]);
      await sql(`UPDATE audit_events SET chain_seq = CASE chain_seq WHEN -2 THEN 3 ELSE 2 END WHERE tenant_id = $1 AND chain_seq IN (-2, -3)`, [tenant]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      const seqs = new Set(result.problems.map((p) => p.seq));
      assert.ok(seqs.has(2) && seqs.has(3), JSON.stringify(result.problems));
    });

    test('deleting the newest events is caught by the signed checkpoints', async () => {
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq > 7`, [tenant]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.kind === 'truncated' && p.seq === 10), JSON.stringify(result.problems));
    });

    test('deleting the newest events and their checkpoints is caught by the heads file', async () => {
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq > 7`, [tenant]);
      await sql(`DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND chain_seq > 7`, [tenant]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.kind === 'truncated' && p.seq === 10), JSON.stringify(result.problems));
    });

    test('a forged checkpoint is reported', async () => {
      await sql(`UPDATE audit_checkpoints SET hash = repeat('b', 64) WHERE tenant_id = $1`, [tenant]);
      const result = await audit.verify(tenant);
      assert.ok(result.problems.some((p) => p.kind === 'bad_checkpoint_signature'));
    });

    test('without the heads file a truncation to an older signed checkpoint still shows', async () => {
      // The first seal checkpointed tenant at 10; a second batch adds events 11-12 with a new checkpoint.
      for (let i = 11; i <= 12; i += 1) await withTenant(db, tenant, (tx) => appendAuditEvent(tx, { tenantId: tenant, actor: 'a', action: `late.${i}`, outcome: 'success' }));
      await audit.seal();
      unlinkSync(join(dir, 'heads.json'));
      await sql(`DELETE FROM audit_events WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      await sql(`DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND chain_seq > 10`, [tenant]);
      // With both the newest rows and their checkpoints gone and no heads file, the chain up to 10 is
      // self-consistent: this is the documented limit (keep the heads file, or ship checkpoints off-host).
      assert.equal((await audit.verify(tenant)).ok, true);
    });

    test('events appended while sealing runs concurrently all end up chained, gap-free', async () => {
      await Promise.all([
        ...Array.from({ length: 50 }, (_, i) => withTenant(db, tenant, (tx) => appendAuditEvent(tx, { tenantId: tenant, actor: 'a', action: `burst.${i}`, outcome: 'success' }))),
        audit.seal(), audit.seal(),
      ]);
      const result = await audit.verify(tenant);
      assert.equal(result.ok, true, JSON.stringify(result.problems));
      assert.equal(result.eventsChecked, 60);
    });
  });
}
