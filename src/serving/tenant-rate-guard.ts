/**
 * The per-tenant request-rate guard shared by the inference gateway and the control-plane API: one
 * token bucket per tenant at its quota's `requestsPerSecond` (quota read at most once a second per
 * tenant, and at once after `forget` — the platform calls it when a quota changes in this process). A
 * request is charged once even when both the API hook and the gateway see it.
 */
import type { FastifyRequest } from 'fastify';
import { createTenantRateLimiter, retryAfterSeconds } from './gateway-limiter.ts';
import type { Clock, LimitDecision, TenantRateLimiter } from './gateway-limiter.ts';

export interface TenantRateGuard {
  readonly limiter: TenantRateLimiter;
  /** Charges the tenant one request; a second call for the same request object returns the first answer. */
  charge(request: object, tenantId: string): Promise<LimitDecision>;
  /** Drops the tenant's cached rate: its next request reads the quota again (a quota change, in this process). */
  forget(tenantId: string): void;
  /**
   * Told of each refusal with how long the tenant's bucket stays empty (the HTTP admission layer refuses
   * the tenant's requests before their body is read until then). Listeners must not throw.
   */
  onRefusal(listener: (tenantId: string, retryAfterMs: number) => void): void;
}

export const createTenantRateGuard = (deps: { quotaRate(tenantId: string): Promise<number>; clock?: Clock; quotaCacheMs?: number }): TenantRateGuard => {
  const limiter = createTenantRateLimiter(deps.clock === undefined ? {} : { clock: deps.clock });
  const charged = new WeakMap<object, LimitDecision>();
  const rates = new Map<string, { rate: number; at: number }>();
  const cacheMs = deps.quotaCacheMs ?? 1000;
  const refusalListeners: Array<(tenantId: string, retryAfterMs: number) => void> = [];
  const rateOf = async (tenantId: string): Promise<number> => {
    const cached = rates.get(tenantId);
    const now = Date.now();
    if (cached !== undefined && now - cached.at < cacheMs) return cached.rate;
    const rate = await deps.quotaRate(tenantId);
    if (rates.size > 10_000) rates.clear();
    rates.set(tenantId, { rate, at: now });
    return rate;
  };
  return {
    limiter,
    async charge(request, tenantId) {
      const previous = charged.get(request);
      if (previous !== undefined) return previous;
      const decision = limiter.enabled ? limiter.take(tenantId, await rateOf(tenantId)) : { allowed: true as const };
      charged.set(request, decision);
      if (!decision.allowed) for (const listener of refusalListeners) listener(tenantId, decision.retryAfterMs);
      return decision;
    },
    forget(tenantId) {
      rates.delete(tenantId);
    },
    onRefusal(listener) {
      refusalListeners.push(listener);
    },
  };
};

/**
 * A step for the auth hook, run right after authorization: charges the resolved tenant and, over its
 * rate, says how long to wait (the hook answers 429 through the API's one error path). Requests without
 * a tenant (platform routes) pass, and so do a platform admin's calls on a tenant's routes: the rate is
 * the tenant's own traffic, and an operator must be able to change a flooding tenant's quota or
 * suspend it while its bucket is empty.
 */
export const createTenantRateLimitHook = (guard: TenantRateGuard) => async (request: FastifyRequest): Promise<{ retryAfterSeconds: number } | undefined> => {
  const tenant = request.tenant;
  if (tenant === undefined || request.principal?.kind === 'platform_admin') return undefined;
  const decision = await guard.charge(request, tenant.id);
  return decision.allowed ? undefined : { retryAfterSeconds: retryAfterSeconds(decision.retryAfterMs) };
};
