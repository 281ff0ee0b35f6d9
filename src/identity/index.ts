/**
 * Identity: users (scrypt passwords), tenant memberships and API tokens (random, hashed, tenant- and
 * role-bound, expiring, revocable). It authenticates; it does not authorize (authz/ does).
 */
export { createIdentityService, canGrantRole, identityErrors } from './identity-service.ts';
export type { IdentityService, TokenRecord, TokenRole, TokenKind, User, Member, NewToken } from './identity-service.ts';
export { generateToken, hashToken, looksLikeToken, tokenPrefix } from './tokens.ts';
export { hashPassword, verifyPassword } from './passwords.ts';
