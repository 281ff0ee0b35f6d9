/**
 * The tamper-evident audit log: appending MACed events inside the caller's transaction, sealing them into a
 * per-tenant hash chain in the background (refusing forged events and chains that do not continue their
 * signed head, with an alert), and verifying a chain. Threat model: docs/audit.md. It does not decide what to audit:
 * the HTTP layer and the services call `appendAuditEvent` for every mutation, authentication failure and
 * authorization denial.
 */
export { AUDIT_EVENT_COLUMNS, appendAuditEvent, auditEventValues, createAuditLog, listPlatformAuditEvents, tamperAlertMetricName } from './audit-log.ts';
export type { AuditAlert, AuditAlertLog, AuditLog, AuditEvent, AuditEventInput, AuditOutcome, AuditProblem, AuditVerification } from './audit-log.ts';
export { createAuditSigningDb, eventMac, headSignature, sealMac } from './audit-mac.ts';
export type { EventMacKind, MacedFields } from './audit-mac.ts';
export { checkChainHead } from './audit-head-check.ts';
export type { AuditAlertKind, HeadVerdict } from './audit-head-check.ts';
export { eventHash, canonicalJson, genesisHash } from './audit-hash.ts';
