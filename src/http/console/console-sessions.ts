import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem } from '../../db/index.ts';
import { appendAuditEvent } from '../../audit/index.ts';

/**
 * Browser sessions of the web console. A session is a 256-bit secret in an HttpOnly cookie; the database
 * keeps only its SHA-256, the SHA-256 of the session's CSRF token and the caller's access token sealed
 * (AES-256-GCM) under a key derived from the secret. Resolving a session yields the access token, which
 * the auth hook authenticates exactly as if it had come in an Authorization header: a revoked token, a
 * deleted user or a suspended tenant ends its sessions on the next request.
 *
 * Expiry: idle (no request for `idleSeconds`) and absolute (`absoluteSeconds` after sign-in), both checked
 * here, server-side. Sign-out marks the row revoked (and revokes the token when the session minted it).
 */
export interface ConsoleSessionStore {
  /** Stores a new session for `token`; returns the cookie secret and the CSRF token (both shown once). */
  create(input: { token: string; tokenId: string; ownsToken: boolean; audit?: SessionAudit }): Promise<{ secret: string; csrf: string; expiresAt: Date }>;
  /**
   * The session's access token, or why not. `csrf` is the request's `x-csrf-token` header; it is checked
   * only when `stateChanging` (every method but GET, HEAD and OPTIONS).
   */
  resolve(secret: string, options: { stateChanging: boolean; csrf: string | undefined }): Promise<SessionResolution>;
  /** Revokes the session; returns the token id when the session owned its token (the caller revokes it). */
  revoke(secret: string, audit?: SessionAudit): Promise<{ tokenId: string; ownsToken: boolean } | undefined>;
}

/** Who signed in or out, for the audit event written in the same transaction (tenant null: platform). */
export interface SessionAudit { tenantId: string | null; actor: string; requestId: string; source: string }

export type SessionResolution =
  | { ok: true; token: string; tokenId: string; csrf: string; csrfOk: boolean; expiresAt: Date }
  | { ok: false; reason: 'unknown' | 'expired' | 'revoked' };

export interface ConsoleSessionOptions {
  db: Db;
  idleSeconds: number;
  absoluteSeconds: number;
  now?: () => number;
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

const keyFor = (secret: string): Buffer => Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'base64url'), Buffer.alloc(0), 'bulkhead console session token', 32));

const seal = (secret: string, token: string): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(secret), iv);
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
};

const unseal = (secret: string, sealed: string): string | undefined => {
  const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
  if (iv === undefined || tag === undefined || body === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(secret), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
};

/**
 * The CSRF token is derived from the session secret, so a reloaded page can ask for it again (GET of the
 * session, which a cross-origin page cannot read) without the server keeping it in the clear.
 */
const csrfFor = (secret: string): string => createHmac('sha256', Buffer.from(secret, 'base64url')).update('bulkhead console csrf').digest('base64url');

const sameHash = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** A session secret is 32 random bytes, base64url: anything else is not looked up. */
export const looksLikeSessionSecret = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value);

interface SessionRow {
  id: string;
  csrf_hash: string;
  sealed_token: string;
  token_id: string;
  owns_token: boolean;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

export const createConsoleSessionStore = (options: ConsoleSessionOptions): ConsoleSessionStore => {
  const now = options.now ?? Date.now;
  const { db } = options;
  return {
    async create(input) {
      const secret = randomBytes(32).toString('base64url');
      const csrf = csrfFor(secret);
      const expiresAt = new Date(now() + options.absoluteSeconds * 1000);
      await withSystem(db, async (tx) => {
        // Sessions a day past their end are of no use to anyone: each sign-in sweeps them.
        await tx.query('DELETE FROM console_sessions WHERE expires_at < $1 OR revoked_at < $1', [new Date(now() - 86_400_000)]);
        await tx.query(
          `INSERT INTO console_sessions (id, session_hash, csrf_hash, sealed_token, token_id, owns_token, created_at, last_seen_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
          [randomUUID(), sha256(secret), sha256(csrf), seal(secret, input.token), input.tokenId, input.ownsToken, new Date(now()), expiresAt],
        );
        if (input.audit !== undefined) {
          await appendAuditEvent(tx, {
            tenantId: input.audit.tenantId ?? PLATFORM_TENANT_ID, actor: input.audit.actor, action: 'console.sign_in', target: `token:${input.tokenId}`,
            outcome: 'success', requestId: input.audit.requestId, details: { source: input.audit.source, expiresAt: expiresAt.toISOString() },
          });
        }
      });
      return { secret, csrf, expiresAt };
    },

    async resolve(secret, request) {
      if (!looksLikeSessionSecret(secret)) return { ok: false, reason: 'unknown' };
      const row = (await withSystem(db, (tx) => tx.query<SessionRow>(
        'SELECT id, csrf_hash, sealed_token, token_id, owns_token, last_seen_at, expires_at, revoked_at FROM console_sessions WHERE session_hash = $1',
        [sha256(secret)],
      ), { readOnly: true })).rows[0];
      if (row === undefined) return { ok: false, reason: 'unknown' };
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
      const at = now();
      if (new Date(row.expires_at).getTime() <= at || new Date(row.last_seen_at).getTime() + options.idleSeconds * 1000 <= at) {
        return { ok: false, reason: 'expired' };
      }
      const token = unseal(secret, row.sealed_token);
      if (token === undefined) return { ok: false, reason: 'unknown' };
      const csrfOk = !request.stateChanging || (request.csrf !== undefined && sameHash(sha256(request.csrf), row.csrf_hash));
      // The idle clock restarts at most every 10 s: one write per burst of requests, not one per request.
      if (at - new Date(row.last_seen_at).getTime() > 10_000) {
        await withSystem(db, (tx) => tx.query('UPDATE console_sessions SET last_seen_at = $2 WHERE id = $1', [row.id, new Date(at)]));
      }
      return { ok: true, token, tokenId: row.token_id, csrf: csrfFor(secret), csrfOk, expiresAt: new Date(row.expires_at) };
    },

    async revoke(secret, audit) {
      if (!looksLikeSessionSecret(secret)) return undefined;
      const row = await withSystem(db, async (tx) => {
        const found = (await tx.query<{ token_id: string; owns_token: boolean }>(
          'UPDATE console_sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE session_hash = $1 RETURNING token_id, owns_token',
          [sha256(secret), new Date(now())],
        )).rows[0];
        if (found !== undefined && audit !== undefined) {
          await appendAuditEvent(tx, {
            tenantId: audit.tenantId ?? PLATFORM_TENANT_ID, actor: audit.actor, action: 'console.sign_out', target: `token:${found.token_id}`,
            outcome: 'success', requestId: audit.requestId, details: { source: audit.source },
          });
        }
        return found;
      });
      return row === undefined ? undefined : { tokenId: row.token_id, ownsToken: row.owns_token };
    },
  };
};
