import { z } from 'zod';

/** Web console sign-in: an access token, or a username and password (and the tenant to act in). */
export const consoleSignInSchema = z.union([
  z.object({ token: z.string().min(1).max(500) }).strict(),
  z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000), tenant: z.string().min(1).max(100).optional() }).strict(),
]);

/** The console session as the browser sees it: who is signed in, and the CSRF token for its writes. */
export const consoleSessionSchema = z.object({
  signedIn: z.literal(true),
  csrf: z.string(),
  kind: z.enum(['tenant', 'platform_admin']),
  actor: z.string(),
  role: z.string(),
  tenant: z.object({ id: z.string(), slug: z.string(), name: z.string(), status: z.string() }).optional(),
  expiresAt: z.string().optional(),
});

/** `GET /ui/api/session`: the session, or why there is none (no cookie, expired, signed out, token gone). */
export const consoleSessionStateSchema = z.union([
  consoleSessionSchema,
  z.object({ signedIn: z.literal(false), reason: z.enum(['none', 'expired', 'revoked', 'unknown', 'token_invalid']), message: z.string() }),
]);

/**
 * Password sign-in without a tenant, for a user who is a member of several (and not a platform admin): no
 * session yet; the tenants to pick from. Signing in again with one of them opens the session.
 */
export const consoleChooseTenantSchema = z.object({
  signedIn: z.literal(false),
  reason: z.literal('choose_tenant'),
  message: z.string(),
  tenants: z.array(z.object({ slug: z.string(), name: z.string(), status: z.string(), role: z.string() })),
});
