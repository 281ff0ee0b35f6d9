import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, RlsMode } from '../db/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { TenantService } from '../tenants/index.ts';

/** Everything the HTTP layer is given; built by the composition root (main/) or by tests. */
export interface HttpDeps {
  db: Db;
  rlsMode: RlsMode;
  identity: IdentityService;
  tenants: TenantService;
  audit: AuditLog;
  bodyLimitBytes: number;
  authCacheTtlMs: number;
  logLevel: string;
}

export const contextOf = (request: FastifyRequest): RequestContext => ({
  actor: request.principal?.label ?? 'anonymous',
  requestId: String(request.id),
});
