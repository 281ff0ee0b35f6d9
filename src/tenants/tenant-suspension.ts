/**
 * What suspending or resuming a tenant does beyond its status. Suspension is an operator's incident
 * stop: the auth hook refuses every credential of a suspended tenant (API, MLflow, inference, job and
 * endpoint tokens — http/auth-hook.ts), and this stops what already runs:
 *
 * - running and admitted jobs are cancelled (they end `cancelled`); queued jobs stay queued and are not
 *   admitted while the tenant is suspended (the runner admits only active tenants' jobs);
 * - deployments are paused: their replicas stop, the deployments stay stored (`stopped`) and start again
 *   when the tenant is resumed (or at the next start-up of the platform after it was resumed).
 *
 * Each step is recorded: the job store audits each cancel request, and one `tenant.suspend.stopped`
 * (or `tenant.resume.started`) event in the tenant's chain says what was stopped or started.
 */
import type { RequestContext } from '../core/request-context.ts';
import type { Db } from '../db/index.ts';
import { withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { Tenant } from './tenant-service.ts';

/** What suspension needs from the job system and serving; built by the composition root (main/). */
export interface TenantSuspensionPorts {
  jobs: {
    /** Asks every admitted or running job of the tenant to cancel; returns how many it asked. */
    cancelRunning(ctx: RequestContext, tenantId: string): Promise<number>;
  };
  deployments: {
    /** Stops the replicas of the tenant's deployments, keeping the deployments; returns how many. */
    pause(tenantId: string): Promise<number>;
    /** Starts the replicas of the tenant's stored deployments; returns how many. */
    resume(tenantId: string): Promise<number>;
  };
}

export type TenantSuspensionEffect =
  | { status: 'suspended'; jobsCancelled: number; deploymentsPaused: number }
  | { status: 'active'; deploymentsResumed: number };

export interface TenantSuspension {
  /**
   * Brings what runs in line with the tenant's (already changed) status. Idempotent: suspending twice
   * cancels nothing more; resuming twice starts nothing more.
   */
  apply(ctx: RequestContext, tenant: Tenant): Promise<TenantSuspensionEffect>;
}

export const createTenantSuspension = (deps: { db: Db; ports: TenantSuspensionPorts }): TenantSuspension => ({
  async apply(ctx, tenant) {
    const effect: TenantSuspensionEffect = tenant.status === 'suspended'
      ? {
          status: 'suspended',
          jobsCancelled: await deps.ports.jobs.cancelRunning(ctx, tenant.id),
          deploymentsPaused: await deps.ports.deployments.pause(tenant.id),
        }
      : { status: 'active', deploymentsResumed: await deps.ports.deployments.resume(tenant.id) };
    const { status, ...details } = effect;
    await withSystem(deps.db, (tx) => appendAuditEvent(tx, {
      tenantId: tenant.id,
      actor: ctx.actor,
      action: status === 'suspended' ? 'tenant.suspend.stopped' : 'tenant.resume.started',
      target: `tenant:${tenant.id}`,
      outcome: 'success',
      requestId: ctx.requestId,
      details,
    }));
    return effect;
  },
});
