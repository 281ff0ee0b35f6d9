import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

/**
 * Why an OIDC token was refused: the stable reason a 401 (or the console's error page) names. Never the
 * token itself.
 */
export const oidcFailureReasons = [
  'malformed_token', 'alg_not_allowed', 'wrong_issuer', 'wrong_audience', 'token_expired', 'token_not_yet_valid',
  'bad_signature', 'unknown_signing_key', 'missing_claim', 'nonce_mismatch', 'idp_unreachable',
] as const;
export type OidcFailureReason = (typeof oidcFailureReasons)[number];

export interface VerifiedClaims {
  issuer: string;
  subject: string;
  /** The username claim (default `preferred_username`), falling back to `email`, then the subject. */
  usernameHint: string;
  groups: string[];
  /** Seconds since the epoch. */
  expiresAt: number;
  /** `jti`, or a digest of the token: names the credential in audit rows without being it. */
  tokenId: string;
  claims: JWTPayload;
}

export type VerifyResult = { ok: true; claims: VerifiedClaims } | { ok: false; reason: OidcFailureReason; message: string };

export interface OidcProviderMetadata {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  device_authorization_endpoint?: string;
  end_session_endpoint?: string;
  [key: string]: unknown;
}

export interface OidcVerifierOptions {
  issuer: string;
  /** The audience access tokens must carry; ID tokens are checked against the client id instead. */
  audience: string;
  clientId: string;
  algorithms: readonly string[];
  clockSkewSeconds: number;
  groupsClaim: string;
  usernameClaim: string;
  /** How long the JWKS is used before it is fetched again; an unknown `kid` refetches at once (rotation), at most every cooldown. */
  jwksCacheMaxAgeMs?: number;
  jwksCooldownMs?: number;
  fetchTimeoutMs?: number;
  /**
   * Access tokens that verified are remembered by their SHA-256 until they expire, at most this many
   * (oldest dropped first; default 10,000; 0: no cache) and never longer than the JWKS cache's max age
   * (`jwksCacheMaxAgeMs`), so a key the IdP withdraws stops being honoured within the same bound as without
   * the cache. A token that differs in any byte hashes differently and is verified in full.
   */
  verifiedCacheSize?: number;
  now?: () => number;
}

export interface OidcVerifier {
  /** The IdP's discovery document, fetched once and then cached (a failure is not cached). */
  metadata(): Promise<OidcProviderMetadata>;
  /** An IdP-issued JWT access token (Bearer): issuer, `aud` = the audience, expiry, signature, alg allow-list. */
  verifyAccessToken(token: string): Promise<VerifyResult>;
  /**
   * An ID token: as above with `aud` = the client id; from the code flow also its `nonce` (the device and
   * refresh grants have none to check: undefined).
   */
  verifyIdToken(token: string, nonce: string | undefined): Promise<VerifyResult>;
}

/** Three base64url segments: a compact JWS (Bulkhead's own tokens start with `bh_` and have no dots). */
export const looksLikeJwt = (token: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) && token.length < 16_384;

const claimString = (claims: JWTPayload, name: string): string | undefined => {
  const value = claims[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/** The groups claim as a list of strings: an array, or one string (some IdPs send one group bare). */
export const groupsOf = (claims: JWTPayload, claim: string): string[] => {
  const value = claims[claim];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  return [];
};

const failure = (reason: OidcFailureReason, message: string): VerifyResult => ({ ok: false, reason, message });

/**
 * Verifies tokens of one OpenID Provider with jose: discovery (`/.well-known/openid-configuration`, whose
 * `issuer` must equal the configured one), a remote JWKS cached in memory (refetched when a token names a
 * key it does not hold: key rotation, rate-limited by a cooldown), and the checks every token gets before
 * it names anyone: `alg` in the asymmetric allow-list (`none` and HS* are refused before any key is
 * looked up, so a provider's public key can never serve as an HMAC secret), `iss`, `aud`, `exp`/`nbf`
 * with a small skew, a subject, and for ID tokens the flow's nonce.
 */
export const createOidcVerifier = (options: OidcVerifierOptions): OidcVerifier => {
  const now = options.now ?? Date.now;
  const timeout = options.fetchTimeoutMs ?? 5000;
  let discovered: Promise<OidcProviderMetadata> | undefined;
  let jwks: JWTVerifyGetKey | undefined;
  const jwksMaxAgeMs = options.jwksCacheMaxAgeMs ?? 600_000;
  const verifiedCacheSize = options.verifiedCacheSize ?? 10_000;
  /** SHA-256 of an access token that verified → its claims and until when they may be reused (ms). */
  const verified = new Map<string, { claims: VerifiedClaims; until: number }>();

  const metadata = (): Promise<OidcProviderMetadata> => {
    discovered ??= (async () => {
      const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const response = await fetch(url, { signal: AbortSignal.timeout(timeout), headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`discovery answered ${response.status}`);
      const doc = (await response.json()) as OidcProviderMetadata;
      // OpenID Connect Discovery 1.0 §4.3: the document's issuer is exactly the one asked for.
      if (doc.issuer !== options.issuer) throw new Error('discovery document names another issuer');
      if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
      return doc;
    })();
    discovered.catch(() => { discovered = undefined; });
    return discovered;
  };

  const keys = async (): Promise<JWTVerifyGetKey> => {
    if (jwks !== undefined) return jwks;
    const doc = await metadata();
    jwks = createRemoteJWKSet(new URL(doc.jwks_uri), {
      cacheMaxAge: jwksMaxAgeMs,
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      timeoutDuration: timeout,
    });
    return jwks;
  };

  const verify = async (token: string, audience: string, nonce: string | undefined): Promise<VerifyResult> => {
    if (!looksLikeJwt(token)) return failure('malformed_token', 'not a compact JWT');
    let alg: unknown;
    let unverified: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      unverified = decodeJwt(token);
    } catch {
      return failure('malformed_token', 'the token does not decode as a JWT');
    }
    if (typeof alg !== 'string' || !options.algorithms.includes(alg)) {
      return failure('alg_not_allowed', `signature algorithm '${typeof alg === 'string' ? alg.slice(0, 20) : 'none'}' is not allowed (allowed: ${options.algorithms.join(', ')})`);
    }
    // Another issuer's token is refused by name before its keys would be looked for among ours.
    if (unverified.iss !== options.issuer) return failure('wrong_issuer', 'the token was issued by another issuer');
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keys();
    } catch {
      return failure('idp_unreachable', 'the identity provider could not be reached to fetch its signing keys');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: options.issuer,
        audience,
        algorithms: [...options.algorithms],
        clockTolerance: options.clockSkewSeconds,
        currentDate: new Date(now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      return classify(error);
    }
    if (nonce !== undefined && payload['nonce'] !== nonce) return failure('nonce_mismatch', 'the ID token does not carry this sign-in\'s nonce');
    const subject = claimString(payload, 'sub');
    if (subject === undefined) return failure('missing_claim', 'the token has no subject');
    const usernameHint = claimString(payload, options.usernameClaim) ?? claimString(payload, 'email') ?? subject;
    return {
      ok: true,
      claims: {
        issuer: options.issuer,
        subject,
        usernameHint,
        groups: groupsOf(payload, options.groupsClaim),
        expiresAt: payload.exp ?? 0,
        tokenId: claimString(payload, 'jti') ?? createHash('sha256').update(token).digest('hex').slice(0, 24),
        claims: payload,
      },
    };
  };

  /**
   * The access-token path: the cached claims of a token that verified before (RS256 costs tens of µs and,
   * per request, most of a JWT request's authentication; a SHA-256 of the token costs ~1 µs), or a full
   * verification whose success is remembered. Failures are never cached.
   */
  const verifyAccessToken = async (token: string): Promise<VerifyResult> => {
    if (verifiedCacheSize <= 0 || !looksLikeJwt(token)) return verify(token, options.audience, undefined);
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = verified.get(key);
    const at = now();
    if (hit !== undefined) {
      if (at < hit.until) return { ok: true, claims: hit.claims };
      verified.delete(key);
    }
    const result = await verify(token, options.audience, undefined);
    if (result.ok) {
      // Until expiry (without the skew: past `exp` the token is verified in full again, skew and all).
      const until = Math.min(result.claims.expiresAt * 1000, at + jwksMaxAgeMs);
      if (until > at) {
        // Full: the oldest goes (a Map iterates in insertion order); expired ones go when next looked up.
        if (verified.size >= verifiedCacheSize) verified.delete(verified.keys().next().value!);
        verified.set(key, { claims: result.claims, until });
      }
    }
    return result;
  };

  return {
    metadata,
    verifyAccessToken,
    verifyIdToken: (token, nonce) => verify(token, options.clientId, nonce),
  };
};

const classify = (error: unknown): VerifyResult => {
  const code = (error as { code?: string }).code;
  const claim = (error as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return failure('token_expired', 'the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return failure('wrong_audience', 'the token is not meant for this platform (wrong audience)');
      if (claim === 'iss') return failure('wrong_issuer', 'the token was issued by another issuer');
      if (claim === 'nbf' || claim === 'iat') return failure('token_not_yet_valid', 'the token is not valid yet');
      return failure('missing_claim', `the token's '${String(claim).slice(0, 30)}' claim is missing or invalid`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return failure('alg_not_allowed', 'the signature algorithm is not allowed');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return failure('unknown_signing_key', "the token names a signing key the identity provider does not publish");
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return failure('bad_signature', 'the token signature does not verify');
    case 'ERR_JWKS_TIMEOUT':
      return failure('idp_unreachable', 'the identity provider could not be reached to fetch its signing keys');
    default:
      return failure('malformed_token', 'the token could not be verified');
  }
};
