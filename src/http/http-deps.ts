import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BandwidthLimiter } from '../bandwidth/index.ts';
import type { EndpointTokenScope } from '../serving/index.ts';
import type { ClusterJobScope } from '../jobs/index.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, RlsMode } from '../db/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { IdentityService, RoleService, ServiceAccountService, SsoService } from '../identity/index.ts';
import type { TenantDeletion, TenantService, TenantSuspension } from '../tenants/index.ts';
import type { RequestMetering } from '../monitoring/index.ts';
import type { ReplicaStatus } from '../replicas/index.ts';
import type { TenantAdmission } from './tenant-admission.ts';

/** Everything the HTTP layer is given; built by the composition root (main/) or by tests. */
export interface HttpDeps {
  db: Db;
  rlsMode: RlsMode;
  identity: IdentityService;
  /** Custom roles of tenants (issue 14). */
  roles: RoleService;
  /** Service accounts of tenants (issue 14). */
  serviceAccounts: ServiceAccountService;
  /** OIDC single sign-on (issue 14); undefined when `oidc` is not configured. */
  sso?: SsoService | undefined;
  tenants: TenantService;
  /** Deleting a tenant (DELETE /api/v1/tenants/{tenant}); built by main/ with the jobs, serving and file ports. */
  tenantDeletion: TenantDeletion;
  /** What a suspension or resumption stops or starts (PATCH /api/v1/tenants/{tenant}); built by main/. */
  tenantSuspension: TenantSuspension;
  audit: AuditLog;
  bodyLimitBytes: number;
  authCacheTtlMs: number;
  logLevel: string;
  /**
   * Route modules of the domain services (tracking, artifacts, jobs, serving ...), built by main/ with
   * their own dependencies. Each route still declares its access; the auth hook applies to all.
   */
  modules: ReadonlyArray<FastifyPluginAsyncZod>;
  /** The job relays' secret (see jobs/job-relay.ts); undefined when no job runner runs. */
  relaySecret?: string | undefined;
  /** Jobs on a Kubernetes cluster: what a job token may reach without a relay (see auth-hook.ts). */
  clusterJobScope?: ((tenantId: string, jobId: string) => ClusterJobScope | undefined) | undefined;
  /** Endpoints on a Kubernetes cluster: the model artifact a live endpoint token may read (see auth-hook.ts). */
  clusterEndpointScope?: ((tenantId: string, deploymentId: string, tokenId: string) => EndpointTokenScope | undefined) | undefined;
  /** Per-tenant request-rate guard for tenant routes (see serving/tenant-rate-guard.ts). */
  rateLimit?: ((request: FastifyRequest) => Promise<{ retryAfterSeconds: number } | undefined>) | undefined;
  /**
   * Per-tenant admission before a body is read (tenant-admission.ts): requests of a tenant over its rate,
   * in-flight or connection limit are answered 429 by the raw server, before Fastify. Undefined: none.
   */
  admission?: TenantAdmission | undefined;
  /** Request metrics and usage counting (see monitoring/http-metering.ts); none when undefined. */
  requestMetering?: RequestMetering | undefined;
  /** With replicas (issue 16): this replica's id, role and last heartbeat, for /readyz. */
  replicaStatus?: (() => ReplicaStatus) | undefined;
  /** Per-tenant byte limiter for request and response bodies (see http/bandwidth-hooks.ts); undefined: not limited. */
  bandwidth?: BandwidthLimiter | undefined;
  /** Called after every response is sent (security/request-observer: in-memory counters only, never IO). */
  requestObserver?: ((request: FastifyRequest, reply: FastifyReply) => void) | undefined;
  /** Web console session lifetimes (seconds): idle (default 1800) and absolute (default 43200). */
  consoleSessions?: { idleSeconds: number; absoluteSeconds: number } | undefined;
}

export const contextOf = (request: FastifyRequest): RequestContext => ({
  actor: request.principal?.label ?? 'anonymous',
  requestId: String(request.id),
});
