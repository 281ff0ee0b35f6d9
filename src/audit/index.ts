/**
 * The tamper-evident audit log: appending events inside the caller's transaction, sealing them into a
 * per-tenant hash chain in the background, and verifying a chain. It does not decide what to audit:
 * the HTTP layer and the services call `appendAuditEvent` for every mutation, authentication failure and
 * authorization denial.
 */
export { appendAuditEvent, createAuditLog, listPlatformAuditEvents } from './audit-log.ts';
export type { AuditLog, AuditEvent, AuditEventInput, AuditOutcome, AuditProblem, AuditVerification } from './audit-log.ts';
export { eventHash, canonicalJson, genesisHash } from './audit-hash.ts';
