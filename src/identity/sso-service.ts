import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { OidcConfig } from '../config/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { Principal } from '../authz/index.ts';
import { isBuiltInRole } from '../authz/index.ts';
import { mapGroups, ssoUsername } from './group-mapping.ts';
import { createOidcVerifier } from './oidc-verifier.ts';
import type { OidcFailureReason, OidcVerifier, VerifiedClaims } from './oidc-verifier.ts';
import type { IdentityService, TokenRecord } from './identity-service.ts';
import { tenantAccess } from './identity-service.ts';
import type { RoleService } from './role-service.ts';

/** Why SSO refused someone: a token problem (oidc-verifier.ts) or one of mapping. Named on 401s and the error page. */
export type SsoFailureReason = OidcFailureReason | 'no_mapped_group' | 'user_disabled' | 'username_taken' | 'bad_state' | 'idp_error' | 'device_flow_unsupported';
export type SsoFailure = { ok: false; reason: SsoFailureReason; message: string };

export interface SsoAccess {
  user: { id: string; username: string };
  platformAdmin: boolean;
  /** The mapped tenants that exist, each with its role (built-in or custom), in mapping order. */
  tenants: Array<{ tenantId: string; slug: string; role: string }>;
  claims: VerifiedClaims;
}

export interface TenantLookup {
  find(ref: string): Promise<{ id: string; slug: string } | undefined>;
}

export interface SsoService {
  readonly config: OidcConfig;
  readonly verifier: OidcVerifier;
  /**
   * An IdP-issued JWT access token used as a Bearer token → the person's access from the groups in that
   * token (nothing from an earlier token counts), with the user made or updated just in time.
   */
  authenticateBearer(token: string): Promise<{ ok: true; access: SsoAccess } | SsoFailure>;
  /**
   * The principal `access` acts as in `tenantId` (the addressed tenant), or undefined when none of its
   * mappings is that tenant. Custom roles are read from the tenant's roles; one that does not exist there
   * grants nothing.
   */
  principalFor(access: SsoAccess, tenantId: string, credential: string): Promise<Principal | undefined>;
  /**
   * Starts the authorization code flow (PKCE S256, state, nonce): the IdP URL and the binding the starter
   * keeps (the browser's cookie, or the CLI's loopback flow). `offline`: asks for a refresh token too
   * (`offline_access` with `prompt=consent`, OpenID Connect Core §11) — the CLI's loopback sign-in.
   */
  beginLogin(redirectUri: string, tenant?: string, options?: { offline?: boolean }): Promise<{ url: string; binding: string }>;
  /**
   * Ends it: checks state against the binding, redeems the code, verifies the ID token (nonce) and signs
   * the person in; with the IdP's refresh token where it issued one.
   */
  finishLogin(input: { code: string; state: string; binding: string | undefined; redirectUri: string; source: string; via?: 'browser' | 'loopback' }): Promise<{ ok: true; access: SsoAccess; tenant: string | undefined; refreshToken?: string | undefined } | SsoFailure>;
  /**
   * A Bulkhead session token for a signed-in person (console or CLI): in one tenant, or a platform
   * session for a platform admin. It lasts `sessionRefreshSeconds`: past that the IdP is asked again,
   * which bounds how long a person removed from a group keeps access.
   */
  mintSession(access: SsoAccess, tenantId: string | null, via: 'browser' | 'device' | 'loopback'): Promise<{ token: string; record: TokenRecord }>;
  /** RFC 8628: asks the IdP for a device code. */
  startDevice(): Promise<{ deviceCode: string; userCode: string; verificationUri: string; verificationUriComplete?: string | undefined; interval: number; expiresIn: number } | SsoFailure>;
  /** RFC 8628: one poll of the token endpoint; `pending` while the person has not approved yet. */
  pollDevice(deviceCode: string, source: string): Promise<{ ok: true; access: SsoAccess; refreshToken?: string | undefined } | { ok: 'pending'; slowDown: boolean } | SsoFailure>;
  /** Refreshes with the IdP's refresh token: groups are read again, so a removed person loses access here. */
  refresh(refreshToken: string, source: string): Promise<{ ok: true; access: SsoAccess; refreshToken?: string | undefined } | SsoFailure>;
  /** Audits a refused SSO attempt in the platform chain (the reason, never the token). */
  auditFailure(failure: SsoFailure, via: string, source: string, requestId: string): Promise<void>;
}

export interface SsoServiceOptions {
  db: Db;
  config: OidcConfig;
  identity: IdentityService;
  roles: RoleService;
  tenants: TenantLookup;
  /** How long a person's synced user and memberships are trusted before the next bearer token re-syncs them. */
  syncCacheTtlMs: number;
  now?: () => number;
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const b64url = (bytes: Buffer): string => bytes.toString('base64url');

interface PendingLogin { bindingHash: string; nonce: string; verifier: string; expiresAt: number; tenant: string | undefined }

/**
 * OIDC single sign-on on top of the existing principal model: users made just in time (no password),
 * memberships kept in step with the IdP's groups at every sign-in and every bearer token (written with
 * `source = 'sso'`; manual memberships are left alone), Bulkhead session tokens for the console and the
 * CLI. Every sign-in, refusal and membership change is audited.
 */
export const createSsoService = (options: SsoServiceOptions): SsoService => {
  const { db, config, identity, roles, tenants } = options;
  const now = options.now ?? Date.now;
  const verifier = createOidcVerifier({
    issuer: config.issuer,
    audience: config.audience ?? config.clientId,
    clientId: config.clientId,
    algorithms: config.algorithms,
    clockSkewSeconds: config.clockSkewSeconds,
    groupsClaim: config.groupsClaim,
    usernameClaim: config.usernameClaim,
    now,
  });
  const synced = new Map<string, { access: Omit<SsoAccess, 'claims'>; at: number }>();
  const pending = new Map<string, PendingLogin>();

  const resolveTenants = async (mapped: Map<string, string>): Promise<SsoAccess['tenants']> => {
    const out: SsoAccess['tenants'] = [];
    for (const [ref, role] of mapped) {
      const tenant = await tenants.find(ref);
      // A mapping naming a tenant that does not exist (yet, or any more) grants nothing.
      if (tenant !== undefined && !out.some((t) => t.tenantId === tenant.id)) out.push({ tenantId: tenant.id, slug: tenant.slug, role });
    }
    return out;
  };

  const findOrCreateUser = async (tx: Queryable, claims: VerifiedClaims, via: string): Promise<{ id: string; username: string; status: string } | SsoFailure> => {
    const { rows } = await tx.query<{ id: string; username: string; status: string }>(
      'SELECT id, username, status FROM users WHERE sso_issuer = $1 AND sso_subject = $2', [claims.issuer, claims.subject]);
    if (rows[0] !== undefined) return rows[0];
    const digest = sha256(`${claims.issuer}\n${claims.subject}`);
    for (const username of [ssoUsername(claims.usernameHint, digest), `sso-${digest.slice(0, 16)}`]) {
      const taken = await tx.query('SELECT 1 FROM users WHERE username = $1', [username]);
      if (taken.rows.length > 0) continue; // a password user of that name stays theirs: never merged by name
      const id = randomUUID();
      await tx.query(
        'INSERT INTO users (id, username, display_name, password_hash, is_platform_admin, sso_issuer, sso_subject) VALUES ($1, $2, $3, NULL, false, $4, $5)',
        [id, username, typeof claims.claims['name'] === 'string' ? claims.claims['name'].slice(0, 200) : '', claims.issuer, claims.subject]);
      await appendAuditEvent(tx, { tenantId: PLATFORM_TENANT_ID, actor: 'system:sso', action: 'user.sso_create', target: `user:${username}`, outcome: 'success', requestId: via, details: { issuer: claims.issuer } });
      return { id, username, status: 'active' };
    }
    return { ok: false, reason: 'username_taken', message: 'no free username for this person' };
  };

  /** Writes the person's user and SSO memberships to match `mapped`; audits every change in its tenant's chain. */
  const sync = async (claims: VerifiedClaims, via: string): Promise<{ ok: true; access: SsoAccess } | SsoFailure> => {
    const mapping = mapGroups(claims.groups, config.roleMappings, config.platformAdminGroups);
    const mappedTenants = await resolveTenants(mapping.tenants);
    const key = `${claims.issuer}\n${claims.subject}\n${mapping.platformAdmin}\n${mappedTenants.map((t) => `${t.tenantId}=${t.role}`).join(',')}`;
    const cached = synced.get(key);
    if (cached !== undefined && now() - cached.at < options.syncCacheTtlMs) return { ok: true, access: { ...cached.access, claims } };
    const noMapping: SsoFailure = { ok: false, reason: 'no_mapped_group', message: 'none of your groups is mapped to a Bulkhead tenant or role' };
    // Mapped to nothing: no user is made, but a person seen before loses every SSO membership (and the
    // sessions in those tenants) now, not when those sessions expire.
    const unmapped = !mapping.platformAdmin && mappedTenants.length === 0;
    const write = () => withSystem(db, async (tx): Promise<{ ok: true; user: { id: string; username: string } } | SsoFailure> => {
      const user = unmapped
        ? (await tx.query<{ id: string; username: string; status: string }>('SELECT id, username, status FROM users WHERE sso_issuer = $1 AND sso_subject = $2', [claims.issuer, claims.subject])).rows[0]
        : await findOrCreateUser(tx, claims, via);
      if (user === undefined) return noMapping;
      if ('ok' in user) return user;
      if (user.status !== 'active') return { ok: false, reason: 'user_disabled', message: 'this user is disabled in Bulkhead' };
      const actor = `user:${user.username}`;
      const { rowCount } = await tx.query('UPDATE users SET is_platform_admin = $2 WHERE id = $1 AND is_platform_admin <> $2', [user.id, mapping.platformAdmin]);
      if ((rowCount ?? 0) > 0) {
        await appendAuditEvent(tx, { tenantId: PLATFORM_TENANT_ID, actor: 'system:sso', action: 'user.sso_platform_admin', target: actor, outcome: 'success', requestId: via, details: { platformAdmin: mapping.platformAdmin } });
      }
      const { rows: current } = await tx.query<{ tenant_id: string; role: string; source: string }>('SELECT tenant_id::text, role, source FROM memberships WHERE user_id = $1', [user.id]);
      for (const want of mappedTenants) {
        const have = current.find((m) => m.tenant_id === want.tenantId);
        if (have?.source === 'manual') continue; // an administrator's own decision is not the IdP's to undo
        if (have === undefined) {
          await tx.query("INSERT INTO memberships (tenant_id, user_id, role, source) VALUES ($1, $2, $3, 'sso')", [want.tenantId, user.id, want.role]);
        } else if (have.role !== want.role) {
          await tx.query('UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2', [want.tenantId, user.id, want.role]);
          // Session tokens minted under the old role end with it.
          await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND kind = \'session\' AND revoked_at IS NULL', [want.tenantId, user.id]);
        } else continue;
        await appendAuditEvent(tx, { tenantId: want.tenantId, actor: 'system:sso', action: 'member.sso_set', target: actor, outcome: 'success', requestId: via, details: { role: want.role, ...(have === undefined ? {} : { previousRole: have.role }) } });
      }
      for (const have of current) {
        if (have.source !== 'sso' || mappedTenants.some((t) => t.tenantId === have.tenant_id)) continue;
        // Out of the group in the IdP: out of the tenant here, and the person's sessions in it end.
        await tx.query('DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2', [have.tenant_id, user.id]);
        await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL', [have.tenant_id, user.id]);
        await appendAuditEvent(tx, { tenantId: have.tenant_id, actor: 'system:sso', action: 'member.sso_remove', target: actor, outcome: 'success', requestId: via, details: { previousRole: have.role } });
      }
      return unmapped ? noMapping : { ok: true, user: { id: user.id, username: user.username } };
    });
    // Two first requests of one person at once: the loser's insert meets the winner's row (unique
    // violation); run once more, and it finds what the other wrote.
    const result = await write().catch(async (error: unknown) => {
      if ((error as { code?: string }).code === '23505') return write();
      throw error;
    });
    if (!result.ok) {
      if (unmapped) identity.forgetCached();
      return result;
    }
    // Revocations above must not be served from this process's token cache.
    identity.forgetCached();
    const access = { user: result.user, platformAdmin: mapping.platformAdmin, tenants: mappedTenants };
    if (options.syncCacheTtlMs > 0) {
      if (synced.size > 10_000) synced.clear();
      synced.set(key, { access, at: now() });
    }
    return { ok: true, access: { ...access, claims } };
  };

  const auditLogin = async (access: SsoAccess, via: string, source: string): Promise<void> => {
    await withSystem(db, (tx) => appendAuditEvent(tx, {
      tenantId: PLATFORM_TENANT_ID, actor: `user:${access.user.username}`, action: 'auth.sso_login', target: `user:${access.user.username}`, outcome: 'success', requestId: via,
      details: { via, source, platformAdmin: access.platformAdmin, tenants: access.tenants.map((t) => ({ tenant: t.slug, role: t.role })) },
    }));
  };

  const tokenEndpoint = async (params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> => {
    const doc = await verifier.metadata();
    if (typeof doc.token_endpoint !== 'string') throw new Error('the identity provider publishes no token endpoint');
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const form = new URLSearchParams(params);
    if (config.clientSecret !== undefined) {
      // client_secret_basic (RFC 6749 §2.3.1): both parts form-encoded before base64.
      headers['authorization'] = `Basic ${Buffer.from(`${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`).toString('base64')}`;
    } else form.set('client_id', config.clientId);
    const response = await fetch(doc.token_endpoint, { method: 'POST', headers, body: form, signal: AbortSignal.timeout(10_000) });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: response.status, body };
  };

  /** The token endpoint's answer → the person (ID token verified; access from its groups). */
  const fromTokenResponse = async (body: Record<string, unknown>, nonce: string | undefined, via: string): Promise<{ ok: true; access: SsoAccess } | SsoFailure> => {
    const idToken = body['id_token'];
    if (typeof idToken !== 'string') return { ok: false, reason: 'idp_error', message: 'the identity provider returned no ID token' };
    const verified = await verifier.verifyIdToken(idToken, nonce);
    if (!verified.ok) return verified;
    return sync(verified.claims, via);
  };
  const idpError = (body: Record<string, unknown>): SsoFailure => ({
    ok: false, reason: 'idp_error',
    message: `the identity provider refused: ${typeof body['error'] === 'string' ? body['error'].slice(0, 60) : 'unknown error'}`,
  });

  return {
    config,
    verifier,

    async authenticateBearer(token) {
      const verified = await verifier.verifyAccessToken(token);
      if (!verified.ok) return verified;
      return sync(verified.claims, 'bearer');
    },

    async principalFor(access, tenantId, credential) {
      const entry = access.tenants.find((t) => t.tenantId === tenantId);
      if (entry === undefined) return undefined;
      const label = `user:${access.user.username}`;
      const tokenId = `oidc:${credential}`;
      if (isBuiltInRole(entry.role)) return { kind: 'tenant', tokenId, tenantId, role: entry.role, userId: access.user.id, label };
      const actions = await roles.actionsOf(tenantId, entry.role);
      if (actions === undefined) return undefined;
      const custom = tenantAccess(entry.role, [...actions].map((a) => a.replace('.', ':')), null);
      return custom === undefined ? undefined : { kind: 'tenant', tokenId, tenantId, userId: access.user.id, label, ...custom };
    },

    async beginLogin(redirectUri, tenant, options) {
      const doc = await verifier.metadata();
      if (typeof doc.authorization_endpoint !== 'string') throw new Error('the identity provider publishes no authorization endpoint');
      const state = b64url(randomBytes(24));
      const nonce = b64url(randomBytes(24));
      const codeVerifier = b64url(randomBytes(48));
      const binding = b64url(randomBytes(24));
      for (const [key, entry] of pending) if (entry.expiresAt <= now()) pending.delete(key);
      if (pending.size > 10_000) pending.clear();
      pending.set(state, { bindingHash: sha256(binding), nonce, verifier: codeVerifier, expiresAt: now() + 600_000, tenant });
      const url = new URL(doc.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code', client_id: config.clientId, redirect_uri: redirectUri,
        scope: options?.offline === true ? [...new Set([...config.scopes, 'offline_access'])].join(' ') : config.scopes.join(' '),
        state, nonce, code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'), code_challenge_method: 'S256',
        // A refresh token is issued for offline_access only with consent asked (OpenID Connect Core §11).
        ...(options?.offline === true ? { prompt: 'consent' } : {}),
      }).toString();
      return { url: url.toString(), binding };
    },

    async finishLogin(input) {
      const entry = pending.get(input.state);
      // One use: a replayed state finds nothing.
      pending.delete(input.state);
      if (entry === undefined || entry.expiresAt <= now() || input.binding === undefined || sha256(input.binding) !== entry.bindingHash) {
        return { ok: false, reason: 'bad_state', message: 'this sign-in was not started by this browser or has expired: start again' };
      }
      let answer: { status: number; body: Record<string, unknown> };
      try {
        answer = await tokenEndpoint({ grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri, code_verifier: entry.verifier });
      } catch {
        return { ok: false, reason: 'idp_unreachable', message: 'the identity provider could not be reached' };
      }
      if (answer.status !== 200) return idpError(answer.body);
      const via = input.via ?? 'browser';
      const outcome = await fromTokenResponse(answer.body, entry.nonce, via);
      if (!outcome.ok) return outcome;
      await auditLogin(outcome.access, via, input.source);
      const refreshToken = answer.body['refresh_token'];
      return { ...outcome, tenant: entry.tenant, refreshToken: typeof refreshToken === 'string' ? refreshToken : undefined };
    },

    async mintSession(access, tenantId, via) {
      const ctx = { actor: `user:${access.user.username}`, requestId: `sso-${via}` };
      if (tenantId === null) {
        return identity.createToken(ctx, null, { name: `sso-${via}`, role: 'platform_admin', kind: 'session', userId: access.user.id, expiresInSeconds: config.sessionRefreshSeconds });
      }
      const entry = access.tenants.find((t) => t.tenantId === tenantId);
      if (entry === undefined) throw new Error('mintSession: not a mapped tenant');
      return identity.createToken(ctx, tenantId, { name: `sso-${via}`, role: entry.role, kind: 'session', userId: access.user.id, expiresInSeconds: config.sessionRefreshSeconds });
    },

    async startDevice() {
      const doc = await verifier.metadata().catch(() => undefined);
      if (doc === undefined) return { ok: false, reason: 'idp_unreachable', message: 'the identity provider could not be reached' };
      if (typeof doc.device_authorization_endpoint !== 'string') return { ok: false, reason: 'device_flow_unsupported', message: 'the identity provider does not offer the device authorization grant (the CLI signs in through a loopback redirect instead)' };
      const form = new URLSearchParams({ client_id: config.clientId, scope: [...new Set([...config.scopes, 'offline_access'])].join(' ') });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      if (config.clientSecret !== undefined) {
        headers['authorization'] = `Basic ${Buffer.from(`${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`).toString('base64')}`;
        form.delete('client_id');
      }
      const response = await fetch(doc.device_authorization_endpoint, { method: 'POST', headers, body: form, signal: AbortSignal.timeout(10_000) });
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status !== 200 || typeof body['device_code'] !== 'string' || typeof body['user_code'] !== 'string' || typeof body['verification_uri'] !== 'string') return idpError(body);
      return {
        deviceCode: body['device_code'], userCode: body['user_code'], verificationUri: body['verification_uri'],
        verificationUriComplete: typeof body['verification_uri_complete'] === 'string' ? body['verification_uri_complete'] : undefined,
        interval: typeof body['interval'] === 'number' ? body['interval'] : 5, expiresIn: typeof body['expires_in'] === 'number' ? body['expires_in'] : 600,
      };
    },

    async pollDevice(deviceCode, source) {
      let answer: { status: number; body: Record<string, unknown> };
      try {
        answer = await tokenEndpoint({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode });
      } catch {
        return { ok: false, reason: 'idp_unreachable', message: 'the identity provider could not be reached' };
      }
      if (answer.status !== 200) {
        const error = answer.body['error'];
        if (error === 'authorization_pending' || error === 'slow_down') return { ok: 'pending', slowDown: error === 'slow_down' };
        return idpError(answer.body);
      }
      const outcome = await fromTokenResponse(answer.body, undefined, 'device');
      if (!outcome.ok) return outcome;
      await auditLogin(outcome.access, 'device', source);
      const refreshToken = answer.body['refresh_token'];
      return { ...outcome, refreshToken: typeof refreshToken === 'string' ? refreshToken : undefined };
    },

    async refresh(refreshToken, source) {
      let answer: { status: number; body: Record<string, unknown> };
      try {
        answer = await tokenEndpoint({ grant_type: 'refresh_token', refresh_token: refreshToken });
      } catch {
        return { ok: false, reason: 'idp_unreachable', message: 'the identity provider could not be reached' };
      }
      if (answer.status !== 200) return idpError(answer.body);
      const outcome = await fromTokenResponse(answer.body, undefined, 'refresh');
      if (!outcome.ok) return outcome;
      await auditLogin(outcome.access, 'refresh', source);
      const next = answer.body['refresh_token'];
      return { ...outcome, refreshToken: typeof next === 'string' ? next : refreshToken };
    },

    async auditFailure(failure, via, source, requestId) {
      await withSystem(db, (tx) => appendAuditEvent(tx, {
        tenantId: PLATFORM_TENANT_ID, actor: 'anonymous', action: 'auth.sso_failure', target: via, outcome: 'denied', requestId, details: { reason: failure.reason, source },
      })).catch(() => {});
    },
  };
};
