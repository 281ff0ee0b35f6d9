import { createHash, randomBytes } from 'node:crypto';

/** Every Bulkhead API token starts with this, so scanners and people can recognise a leaked one. */
export const tokenPrefix = 'bh_';

const tokenPattern = /^bh_[A-Za-z0-9_-]{32,128}$/;

/** A new random token: `bh_` + 32 random bytes, base64url (256 bits of entropy). Shown once, never stored. */
export const generateToken = (): string => `${tokenPrefix}${randomBytes(32).toString('base64url')}`;

export const looksLikeToken = (value: string): boolean => tokenPattern.test(value);

/**
 * The stored form of a token. Tokens carry 256 bits of entropy, so a fast hash is safe here (no
 * dictionary to attack) and keeps authentication cheap on every request.
 */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** What a list shows: enough to tell tokens apart, far too little to use one. */
export const displayPrefix = (token: string): string => `${token.slice(0, 10)}…`;
