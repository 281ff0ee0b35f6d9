/**
 * Identity: users (scrypt passwords), tenant memberships and API tokens (random, hashed, tenant- and
 * role-bound, expiring, revocable, optionally narrowed to a permission subset), tenant custom roles, and
 * OIDC single sign-on (JWT verification with jose, group → role mapping, just-in-time users, the code +
 * PKCE and device flows). It authenticates; it does not authorize (authz/ does).
 */
export { createIdentityService, canGrantRole, identityErrors, tenantAccess } from './identity-service.ts';
export { createRoleService, roleErrors } from './role-service.ts';
export type { RoleService, CustomRole } from './role-service.ts';
export { createSsoService } from './sso-service.ts';
export { createServiceAccountService, serviceAccountErrors } from './service-account-service.ts';
export type { ServiceAccountService, ServiceAccount } from './service-account-service.ts';
export type { SsoService, SsoAccess, SsoFailure, SsoFailureReason } from './sso-service.ts';
export { createOidcVerifier, looksLikeJwt, oidcFailureReasons } from './oidc-verifier.ts';
export type { OidcVerifier, OidcVerifierOptions, OidcFailureReason, VerifiedClaims } from './oidc-verifier.ts';
export { mapGroups } from './group-mapping.ts';
export type { IdentityService, TokenRecord, TokenRole, TokenKind, User, Member, NewToken } from './identity-service.ts';
export { generateToken, hashToken, looksLikeToken, tokenPrefix } from './tokens.ts';
export { hashPassword, verifyPassword } from './passwords.ts';
