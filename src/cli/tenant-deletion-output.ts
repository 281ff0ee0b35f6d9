/** What `bulkhead tenant delete` prints: the plan (without --yes) and the summary of a deletion. */
import type { z } from 'zod';
import type { tenantDeletionPlanSchema, tenantDeletionSummarySchema } from '../contract/api-schemas.ts';

export type DeletionPlan = z.infer<typeof tenantDeletionPlanSchema>;
export type DeletionSummary = z.infer<typeof tenantDeletionSummarySchema>;

const rowsLine = (rows: Record<string, number>): string => {
  const nonZero = Object.entries(rows).filter(([, n]) => n > 0);
  const total = nonZero.reduce((sum, [, n]) => sum + n, 0);
  return total === 0 ? 'none' : `${total} (${nonZero.map(([table, n]) => `${table} ${n}`).join(', ')})`;
};

export const describeDeletionPlan = (plan: DeletionPlan): string => [
  `tenant ${plan.tenant.slug} (${plan.tenant.id}), ${plan.tenant.status}${plan.deletionStartedAt === null ? '' : `; a deletion started at ${plan.deletionStartedAt} did not finish`}`,
  ...(plan.tenant.status === 'suspended' ? [] : [`it is active: suspend it first (bulkhead tenant suspend ${plan.tenant.slug})`]),
  'deleting it would:',
  `  cancel jobs             ${plan.activeJobs}`,
  `  stop deployments        ${plan.deployments}`,
  `  delete the namespace    ${plan.kubernetes === 'not configured' ? 'no: the server has no cluster configured (delete one made with `bulkhead k8s apply` in the cluster)' : plan.kubernetes.namespace}`,
  `  delete rows             ${rowsLine(plan.rows)}`,
  `  delete encrypted files  ${plan.artifacts.files} (${plan.artifacts.bytes} bytes), and destroy the tenant's data key`,
  `and keep its ${plan.auditEventsKept} audit events (verify later with: bulkhead admin verify-audit ${plan.tenant.id})`,
].join('\n');

export const describeDeletionSummary = (summary: DeletionSummary): string => [
  `deleted tenant ${summary.tenant.slug} (${summary.tenant.id})${summary.resumed ? ', finishing an interrupted deletion' : ''}`,
  `  jobs cancelled          ${summary.jobsCancelled}`,
  `  deployments stopped     ${summary.deploymentsStopped}`,
  `  kubernetes              ${summary.kubernetes === 'not configured' ? 'not configured' : `${summary.kubernetes.namespace}: ${summary.kubernetes.deleted.length} object(s) deleted`}`,
  `  rows deleted            ${rowsLine(summary.rowsDeleted)}`,
  `  encrypted files removed ${summary.artifacts.files} (${summary.artifacts.bytes} bytes)`,
  `  plaintext model files   ${summary.modelPlaintext.filesRemoved} removed, ${summary.modelPlaintext.filesRemaining} left (looked for ${summary.modelPlaintext.models} model(s))`,
  `  audit events kept       ${summary.auditEventsKept}`,
].join('\n');
