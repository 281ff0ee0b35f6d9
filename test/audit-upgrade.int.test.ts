/**
 * Events written before migration 0012 carry no MAC. The first start after the upgrade MACs them all as
 * `adopted` (sealed ones and pending ones), records that in the platform's chain, and the chain verifies;
 * after that, a row without a MAC is a forgery and is never adopted, also not by a restarted platform.
 * PGlite and PostgreSQL.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { createAuditLog, createAuditSigningDb, eventHash, genesisHash, headSignature } from '../src/audit/index.ts';
import type { AuditAlertLog } from '../src/audit/index.ts';
import { PLATFORM_TENANT_ID, withSystem } from '../src/db/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import type { TestDatabase } from './support/databases.ts';

for (const kind of databaseKinds) {
  describe(`audit events from before event MACs on ${kind}`, () => {
    let t: TestDatabase;
    let dir: string;
    const tenant = randomUUID();
    const eventKey = randomBytes(32);
    const checkpointKey = randomBytes(32);
    const warnings: string[] = [];
    const log: AuditAlertLog = { error: () => {}, warn: (_fields, message) => void warnings.push(message) };
    const sql = (text: string, params: unknown[] = []) =>
      t.kind === 'postgres' ? t.owner.queryAsOwner(text, params) : withSystem(t.owner, (tx) => tx.query('RESET ROLE').then(() => tx.query(text, params)));
    const openAudit = () => createAuditLog({ db: createAuditSigningDb(t.db, eventKey), eventKey, checkpointKey, headsFile: join(dir, 'heads.json'), log });

    beforeEach(async () => {
      t = await createTestDatabase(kind);
      dir = mkdtempSync(join(tmpdir(), 'bulkhead-audit-upgrade-'));
      warnings.length = 0;
      // What the platform before 0012 left: events inserted without uid or MAC, the first 5 sealed by its
      // sealer (chain columns, a signed checkpoint, an unsigned heads-file entry), 3 still pending.
      for (let i = 1; i <= 8; i += 1) {
        await sql(`INSERT INTO audit_events (tenant_id, actor, action, target, outcome, request_id, details) VALUES ($1, 'user:alice', $2, 'thing:1', 'success', 'req', $3)`,
          [tenant, `old.${i}`, JSON.stringify({ i, nested: { b: 2, a: 1 } })]);
      }
      const { rows } = await sql(`SELECT id, (extract(epoch from occurred_at) * 1000000)::bigint::text AS micros, actor, action, target, outcome, request_id, details
        FROM audit_events WHERE tenant_id = $1 ORDER BY id LIMIT 5`, [tenant]);
      let prev = genesisHash;
      for (const [index, row] of (rows as Array<{ id: number; micros: string; actor: string; action: string; target: string; outcome: string; request_id: string; details: unknown }>).entries()) {
        const seq = index + 1;
        const hash = eventHash(prev, { tenantId: tenant, chainSeq: seq, occurredAtMicros: row.micros, actor: row.actor, action: row.action, target: row.target, outcome: row.outcome, requestId: row.request_id, details: row.details });
        await sql('UPDATE audit_events SET chain_seq = $1, prev_hash = $2, hash = $3 WHERE id = $4', [seq, prev, hash, row.id]);
        prev = hash;
      }
      await sql('INSERT INTO audit_checkpoints (tenant_id, chain_seq, hash, signature) VALUES ($1, 5, $2, $3)', [tenant, prev, headSignature(checkpointKey, tenant, 5, prev)]);
      writeFileSync(join(dir, 'heads.json'), JSON.stringify({ [tenant]: { seq: 5, hash: prev } }));
    });
    afterEach(async () => {
      await t.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the first start MACs them as adopted, records it, and the chain verifies', async () => {
      const audit = openAudit();
      await audit.adoptLegacyEvents();
      const kinds = (await sql(`SELECT mac_kind, count(*)::int AS n FROM audit_events WHERE tenant_id = $1 GROUP BY mac_kind`, [tenant])).rows;
      assert.deepEqual(kinds, [{ mac_kind: 'adopted', n: 8 }]);
      const recorded = (await sql(`SELECT details FROM audit_events WHERE tenant_id = $1 AND action = 'audit.mac_upgrade'`, [PLATFORM_TENANT_ID])).rows as Array<{ details: { adoptedEvents: number; sealed: number; pending: number } }>;
      assert.equal(recorded.length, 1);
      assert.deepEqual([recorded[0]!.details.adoptedEvents, recorded[0]!.details.sealed, recorded[0]!.details.pending], [8, 5, 3]);
      assert.equal(warnings.length, 1);
      assert.equal(await audit.seal(), 4, 'the 3 pending events and the upgrade record');
      const result = await audit.verify(tenant);
      assert.equal(result.ok, true, JSON.stringify(result.problems));
      assert.equal(result.eventsChecked, 8);
      assert.equal(result.adoptedEvents, 8);
      assert.equal((await audit.verify(PLATFORM_TENANT_ID)).ok, true);
    });

    test('once MACs exist, a row without one is a forgery: not adopted after a restart, not sealed', async () => {
      await openAudit().seal(); // adopts, seals
      await sql(`INSERT INTO audit_events (tenant_id, actor, action, outcome) VALUES ($1, 'user:mallory', 'forged.after-upgrade', 'success')`, [tenant]);
      const restarted = openAudit();
      await restarted.adoptLegacyEvents();
      await restarted.seal();
      const forged = (await sql(`SELECT chain_seq, mac, quarantined_at FROM audit_events WHERE action = 'forged.after-upgrade'`)).rows as Array<{ chain_seq: unknown; mac: unknown; quarantined_at: unknown }>;
      assert.equal(forged[0]!.chain_seq, null);
      assert.equal(forged[0]!.mac, null);
      assert.notEqual(forged[0]!.quarantined_at, null);
      assert.equal((await sql(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'audit.mac_upgrade'`)).rows[0]!['n'], 1);
      const result = await restarted.verify(tenant);
      assert.deepEqual(result.problems.map((p) => p.kind), ['forged_event']);
    });

    test('an adopted event edited afterwards is reported like any other', async () => {
      const audit = openAudit();
      await audit.seal();
      await sql(`UPDATE audit_events SET details = '{"i": 99}'::jsonb WHERE tenant_id = $1 AND chain_seq = 2`, [tenant]);
      const result = await audit.verify(tenant);
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['hash_mismatch', 2], ['bad_event_mac', 2]]);
    });
  });
}
