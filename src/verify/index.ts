/**
 * The isolation conformance suite (`bulkhead verify`, docs/verify.md). Owns: attacking a live deployment
 * over HTTP as a hostile tenant would, from short-lived tenants it creates and deletes, and reporting
 * what held. Deliberately does not import any server module (only contract/ and core/): it runs where an
 * operator runs the CLI, against any installation.
 */
export { startVerify } from './verify-run.ts';
export type { VerifyRun } from './verify-run.ts';
export { renderJunit, renderText, summaryLine } from './verify-report.ts';
export { verifyGroups } from './verify-types.ts';
export type { CheckResult, VerifyGroup, VerifyOptions, VerifyReport } from './verify-types.ts';
