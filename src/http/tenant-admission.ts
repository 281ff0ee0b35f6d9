/**
 * Per-tenant admission before Fastify, before a request body is read (issue 16, item 4): the decisions,
 * pure over an injectable clock. The raw server adapter (admission-server.ts) asks `screen` for every
 * request that carries a bearer (or basic) token and answers a refusal itself — no routing, no auth hook,
 * no JSON parsing, no body read.
 *
 * A request is screened only when its token was seen before on this process as a tenant's token (the
 * auth hook authenticated it: `learn`). Unknown tokens, platform-admin tokens, console sessions and
 * requests without credentials always pass to the full path, so this layer can only refuse, and only
 * what the full path would refuse anyway:
 * - `rate`: the tenant's token bucket refused a request (`rateRefused`, called by the rate guard) and
 *   holds no token until `retryAfterMs`; until then, every request of the tenant is refused here exactly
 *   as the auth hook would refuse it (a refusal does not consume a token, so nothing is lost by skipping it);
 * - `in_flight`: the tenant has `maxInFlight` requests running on this process;
 * - `connections`: a new connection whose first request is the tenant's while `maxConnections` of its
 *   connections are open.
 * Known tokens expire after `tokenTtlMs` (the auth cache's TTL): a revoked token is answered 429 instead of
 * 401 for at most that long, and only while its tenant is over a limit.
 */
import type { Clock } from '../serving/index.ts';

export interface TenantAdmissionLimits {
  /** Requests of one tenant running at once on this process (0: unlimited). */
  maxInFlight: number;
  /** Open connections tagged with one tenant on this process (0: unlimited). */
  maxConnections: number;
  /** How long a learned token → tenant mapping is used (0: never learned, so nothing is screened). */
  tokenTtlMs: number;
  /**
   * How long a refusal whose body is dropped (admission-server.ts) is held, its socket unread, before its
   * 429 is written (0: answered at once). Optional; 0 when absent.
   */
  refusalHoldMs?: number;
  /** At most this many refusals held at once on this process; past it, refusals are answered at once. */
  maxHeldRefusals?: number;
}

export type AdmissionRefusal = 'rate' | 'in_flight' | 'connections';

export type AdmissionVerdict =
  | { admit: true; tenantId: string | undefined }
  | { admit: false; tenantId: string; reason: AdmissionRefusal; retryAfterMs: number };

/** Counts of early refusals since start (what the benchmark and `stats` report); `held`: of those, how many were held first. */
export type AdmissionStats = Record<AdmissionRefusal, number> & { admitted: number; held: number };

export interface TenantAdmission {
  /** Remembers that `tokenKey` (a hash of the token, never the token) authenticated as `tenantId`. */
  learn(tokenKey: string, tenantId: string): void;
  /** The rate guard refused `tenantId`: its bucket is empty for `retryAfterMs`. */
  rateRefused(tenantId: string, retryAfterMs: number): void;
  /** Drops what is known of the tenant (quota change, suspension, deletion): its next request takes the full path. */
  forgetTenant(tenantId: string): void;
  /**
   * The verdict for a request carrying `tokenKey` (undefined: no token) on a connection that is
   * `newConnection` (its first request) — before anything of its body is read.
   */
  screen(tokenKey: string | undefined, newConnection: boolean): AdmissionVerdict;
  /** An admitted request of `tenantId` started / finished (in-flight accounting). */
  requestStarted(tenantId: string): void;
  requestFinished(tenantId: string): void;
  /**
   * Whether a refusal of `tenantId` may be held before its answer (admission-server.ts): the hold is on,
   * and fewer than `maxHeldRefusals` refusals in all, and fewer than `maxConnections` of the tenant's,
   * are held. True counts it (`stats().held`, `load().held`) until `holdEnded`.
   */
  tryHold(tenantId: string): boolean;
  holdEnded(tenantId: string): void;
  /** Refusals held now, all tenants. */
  holding(): number;
  /** A connection was tagged with `tenantId` (its first screened request) / closed. */
  connectionOpened(tenantId: string): void;
  connectionClosed(tenantId: string): void;
  /** Off: every request passes (the benchmark's "before"); counters still run. */
  setEnabled(enabled: boolean): void;
  readonly enabled: boolean;
  readonly limits: TenantAdmissionLimits;
  stats(): AdmissionStats;
  /** Requests in flight, connections open and refusals held for a tenant (tests, diagnostics). */
  load(tenantId: string): { inFlight: number; connections: number; held: number };
}

interface TenantState {
  inFlight: number;
  connections: number;
  /** Refusals held before their answer. */
  held: number;
  /** Clock time before which the tenant's token bucket is empty. */
  refuseUntil: number;
}

/** Limits a map that an attacker could grow with fresh tokens: past this many entries it starts over. */
const MAX_TOKENS = 100_000;

export const createTenantAdmission = (limits: TenantAdmissionLimits, clock: Clock = () => performance.now()): TenantAdmission => {
  const tokens = new Map<string, { tenantId: string; until: number }>();
  const tenants = new Map<string, TenantState>();
  const counts: AdmissionStats = { admitted: 0, rate: 0, in_flight: 0, connections: 0, held: 0 };
  let enabled = true;
  let heldTotal = 0;

  const stateOf = (tenantId: string): TenantState => {
    let state = tenants.get(tenantId);
    if (state === undefined) {
      state = { inFlight: 0, connections: 0, held: 0, refuseUntil: 0 };
      tenants.set(tenantId, state);
    }
    return state;
  };
  const refuse = (tenantId: string, reason: AdmissionRefusal, retryAfterMs: number): AdmissionVerdict => {
    counts[reason] += 1;
    return { admit: false, tenantId, reason, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) };
  };

  return {
    limits,
    get enabled() {
      return enabled;
    },
    setEnabled(value) {
      enabled = value;
    },
    learn(tokenKey, tenantId) {
      if (limits.tokenTtlMs <= 0) return;
      if (tokens.size >= MAX_TOKENS && !tokens.has(tokenKey)) tokens.clear();
      tokens.set(tokenKey, { tenantId, until: clock() + limits.tokenTtlMs });
    },
    rateRefused(tenantId, retryAfterMs) {
      const state = stateOf(tenantId);
      state.refuseUntil = Math.max(state.refuseUntil, clock() + retryAfterMs);
    },
    forgetTenant(tenantId) {
      const state = tenants.get(tenantId);
      if (state !== undefined) state.refuseUntil = 0;
      for (const [key, entry] of tokens) if (entry.tenantId === tenantId) tokens.delete(key);
    },
    screen(tokenKey, newConnection) {
      if (tokenKey === undefined) return { admit: true, tenantId: undefined };
      const known = tokens.get(tokenKey);
      const now = clock();
      if (known === undefined) return { admit: true, tenantId: undefined };
      if (known.until <= now) {
        tokens.delete(tokenKey);
        return { admit: true, tenantId: undefined };
      }
      const tenantId = known.tenantId;
      if (enabled) {
        const state = stateOf(tenantId);
        if (state.refuseUntil > now) return refuse(tenantId, 'rate', state.refuseUntil - now);
        // In-flight and connection refusals carry no bucket time; a second is what a client should wait.
        if (newConnection && limits.maxConnections > 0 && state.connections >= limits.maxConnections) return refuse(tenantId, 'connections', 1000);
        if (limits.maxInFlight > 0 && state.inFlight >= limits.maxInFlight) return refuse(tenantId, 'in_flight', 1000);
      }
      counts.admitted += 1;
      return { admit: true, tenantId };
    },
    requestStarted(tenantId) {
      stateOf(tenantId).inFlight += 1;
    },
    requestFinished(tenantId) {
      const state = tenants.get(tenantId);
      if (state !== undefined) state.inFlight = Math.max(0, state.inFlight - 1);
    },
    tryHold(tenantId) {
      const { refusalHoldMs = 0, maxHeldRefusals = 0 } = limits;
      if (refusalHoldMs <= 0 || heldTotal >= maxHeldRefusals) return false;
      const state = stateOf(tenantId);
      if (limits.maxConnections > 0 && state.held >= limits.maxConnections) return false;
      state.held += 1;
      heldTotal += 1;
      counts.held += 1;
      return true;
    },
    holding: () => heldTotal,
    holdEnded(tenantId) {
      const state = tenants.get(tenantId);
      if (state === undefined || state.held === 0) return;
      state.held -= 1;
      heldTotal -= 1;
    },
    connectionOpened(tenantId) {
      stateOf(tenantId).connections += 1;
    },
    connectionClosed(tenantId) {
      const state = tenants.get(tenantId);
      if (state !== undefined) state.connections = Math.max(0, state.connections - 1);
    },
    stats: () => ({ ...counts }),
    load(tenantId) {
      const state = tenants.get(tenantId);
      return { inFlight: state?.inFlight ?? 0, connections: state?.connections ?? 0, held: state?.held ?? 0 };
    },
  };
};
