import type { Action } from '../authz/index.ts';
import type { ClusterJobScope } from '../jobs/index.ts';
import type { Principal } from '../authz/index.ts';
import type { Tenant } from '../tenants/index.ts';

/**
 * What every route declares: the action it performs (checked by `authorize` before the handler runs),
 * `authenticated` (any valid token; the handler scopes what it returns), or `public`.
 */
export type RouteAccess = Action | 'authenticated' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /**
     * Where the tenant comes from: the `:tenant` path parameter (default), or the caller's token
     * (`token`: MLflow and inference routes, where nothing in the request can choose another tenant).
     */
    tenantFrom?: 'path' | 'token';
    /**
     * `mlflow`: errors are answered as MLflow clients expect, `{ error_code, message }`; `oip`: as the
     * Open Inference Protocol does, `{ error }`.
     */
    errorFormat?: 'bulkhead' | 'mlflow' | 'oip';
    /**
     * Fields where a non-finite number (JSON `1e309` parses as Infinity) is a meaningful value, such as
     * MLflow metric values; everywhere else the input check refuses it (see input-validation.ts).
     */
    nonFiniteFields?: readonly string[];
  }
  interface FastifyRequest {
    principal: Principal | undefined;
    tenant: Tenant | undefined;
    /** Set for a cluster job's token (no relay): what it may reach, enforced before the handler. */
    jobScope: (ClusterJobScope & { jobId: string; tenantSlug: string }) | undefined;
  }
}

export const requirePrincipal = (principal: Principal | undefined): Principal => {
  if (principal === undefined) throw new Error('route reached without authentication');
  return principal;
};

export const requireTenant = (tenant: Tenant | undefined): Tenant => {
  if (tenant === undefined) throw new Error('tenant route reached without a resolved tenant');
  return tenant;
};
