/**
 * The envelope of every MLflow page token this server issues: a JSON object, base64-encoded. What the
 * object holds (a fingerprint of the search, the last row's keys) is each search's own business.
 */
import { mlflowErrors } from './mlflow-errors.ts';

export const invalidPageToken = (why: string) => mlflowErrors.invalidParameter(`Invalid page token: ${why}`);

export const encodePageToken = (value: Record<string, unknown>): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

/**
 * The object inside `token`: undefined for no token (absent, null or empty); INVALID_PARAMETER_VALUE for a
 * token longer than `maxLength`, not base64 JSON, or not a JSON object.
 */
export const decodePageToken = (token: unknown, maxLength: number): Record<string, unknown> | undefined => {
  if (token === undefined || token === null || token === '') return undefined;
  if (typeof token !== 'string' || token.length > maxLength) throw invalidPageToken('too long');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw invalidPageToken('could not decode it');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidPageToken('could not decode it');
  return parsed as Record<string, unknown>;
};
