/**
 * What a log line may say about a request URL: everything but the values of credential-shaped query
 * parameters. A signed multipart part URL (`expires`, `signature`), `?token=`, `access_token`, passwords,
 * secrets, keys and the like are replaced by `[redacted]`; the path and the other parameters are kept.
 * Pure, so the whole list is tested without a logger.
 */

export const REDACTED = '[redacted]';

/** Parameter names (lower-cased, `-` read as `_`) that are credentials, or part of one (a signed URL's expiry). */
const exactNames = new Set(['key', 'sig', 'pwd', 'pass', 'code', 'expires', 'expiry', 'jwt', 'session', 'sid', 'nonce']);
const nameParts = ['token', 'password', 'passwd', 'secret', 'signature', 'credential', 'apikey', 'api_key', 'auth', 'session', 'private'];

/** True when a query parameter of this name carries (part of) a credential. */
export const isCredentialParam = (rawName: string): boolean => {
  let name: string;
  try {
    name = decodeURIComponent(rawName.replaceAll('+', ' '));
  } catch {
    name = rawName;
  }
  name = name.trim().toLowerCase().replaceAll('-', '_');
  if (exactNames.has(name)) return true;
  if (name.endsWith('_key') || name.startsWith('x_amz_') || name.startsWith('x_goog_')) return true;
  return nameParts.some((part) => name.includes(part));
};

/**
 * `url` (a request target: path and query) with the values of credential-shaped query parameters
 * replaced by `[redacted]`. A URL without a query is returned as is.
 */
export const redactUrl = (url: string): string => {
  const at = url.indexOf('?');
  if (at === -1) return url;
  const query = url.slice(at + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!isCredentialParam(name)) return pair;
    return `${name}=${REDACTED}`;
  });
  return `${url.slice(0, at)}?${query.join('&')}`;
};
