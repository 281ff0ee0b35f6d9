/**
 * The one check every request's parsed input passes before validation, handlers or any query: path
 * parameters, the query string and a JSON body are walked once, and the first value that storage cannot
 * hold or that makes no sense anywhere is refused with 400 naming the field — VALIDATION_FAILED in the
 * platform's shape, INVALID_PARAMETER_VALUE on the MLflow routes (the rendering is the error handler's).
 *
 * Refused everywhere: text PostgreSQL cannot store (NUL, `\u0000`; an unpaired UTF-16 surrogate, which
 * has no UTF-8 form), in values and in object keys; strings longer than the route's ceiling; numbers
 * that are not finite (JSON.parse turns `1e309` into Infinity) except where the route declares them
 * meaningful (MLflow metric values). Field-specific limits (names, keys, values) stay with each field's
 * own schema: the zod schemas of the platform routes, src/tracking/mlflow-validation.ts on the MLflow
 * routes. This layer is the backstop that needs no knowledge of a route's fields.
 *
 * Raw bodies (uploads, inference requests kept as bytes) are not walked: they are streamed to encrypted
 * blobs or forwarded as they are, never stored as text.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';

/** What one route accepts beyond the defaults. */
export interface InputRules {
  /** The longest string (in UTF-16 code units) in any field or key. */
  readonly maxStringLength: number;
  /**
   * Fields where a non-finite number is a meaningful value, as paths: `value`, `metrics.*.value` (`*` is
   * any array index or key).
   */
  readonly nonFiniteFields: readonly string[];
}

/**
 * Ceilings of string length: the platform's own routes have no field longer than 32 KiB (job environment
 * values; see the zod schemas), so 64 Ki code units is a backstop no valid request reaches. On MLflow
 * routes the largest documented field is a dataset profile, 16,777,215 characters
 * (mlflow/utils/validation.py); the body limit (BULKHEAD_BODY_LIMIT_BYTES) is usually lower.
 */
export const inputStringCeilings = { platform: 65_536, mlflow: 16_777_215 } as const;

export const defaultInputRules: InputRules = { maxStringLength: inputStringCeilings.platform, nonFiniteFields: [] };

export type InputSource = 'params' | 'querystring' | 'body';

export interface InputProblem {
  readonly source: InputSource;
  /** The field's path: `name`, `metrics[3].value`, `env.PATH`. */
  readonly field: string;
  readonly reason: string;
}

/** A place in the input: a linked list back to the root, so descending costs O(1) however deep. */
interface Place {
  readonly parent: Place | undefined;
  readonly key: string | number;
}

const partsOf = (place: Place | undefined): (string | number)[] => {
  const parts: (string | number)[] = [];
  for (let p = place; p !== undefined; p = p.parent) parts.push(p.key);
  return parts.reverse();
};

const fieldPath = (parts: readonly (string | number)[]): string => {
  let out = '';
  for (const part of parts) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  // A field 50,000 arrays deep is named by its innermost part: the message stays short.
  return out === '' ? '(root)' : out.length > 200 ? `…${out.slice(-200)}` : out;
};

const matchesPattern = (parts: readonly (string | number)[], pattern: readonly string[]): boolean =>
  parts.length === pattern.length && pattern.every((p, i) => p === '*' || p === String(parts[i]));

// With the u flag a surrogate pair is one code point, so this matches only a surrogate without its partner.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why a string cannot be accepted, or undefined. */
export const stringProblem = (value: string, maxLength: number): string | undefined => {
  if (value.length > maxLength) return `is ${value.length} characters long; the limit is ${maxLength}`;
  if (value.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired UTF-16 surrogate, which is not valid Unicode text';
  return undefined;
};

/**
 * Objects whose fields are input: JSON objects and the router's and query parser's maps (which need
 * not have Object.prototype). Not entered: bytes and streams, the bodies of raw-upload routes.
 */
const isFieldMap = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && typeof (value as { pipe?: unknown }).pipe !== 'function';

/**
 * Walks one parsed input (depth-first, without recursion, so deep nesting cannot exhaust the stack) and
 * returns its first problem. Pure: no IO. Bytes and streams are not entered.
 */
export const findInputProblem = (source: InputSource, input: unknown, rules: InputRules = defaultInputRules): InputProblem | undefined => {
  const patterns = rules.nonFiniteFields.map((f) => f.split('.'));
  const stack: Array<{ value: unknown; place: Place | undefined }> = [{ value: input, place: undefined }];
  while (stack.length > 0) {
    const { value, place } = stack.pop()!;
    if (typeof value === 'string') {
      const reason = stringProblem(value, rules.maxStringLength);
      if (reason !== undefined) return { source, field: fieldPath(partsOf(place)), reason };
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value) && !patterns.some((p) => matchesPattern(partsOf(place), p))) {
        return { source, field: fieldPath(partsOf(place)), reason: `is ${String(value)}; only finite numbers are accepted here` };
      }
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) stack.push({ value: value[i], place: { parent: place, key: i } });
    } else if (isFieldMap(value)) {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i -= 1) {
        const key = keys[i]!;
        const reason = stringProblem(key, rules.maxStringLength);
        if (reason !== undefined) return { source, field: place === undefined ? '(key)' : fieldPath(partsOf(place)), reason: `has a key that ${reason}` };
        stack.push({ value: value[key], place: { parent: place, key } });
      }
    }
  }
  return undefined;
};

/** The refusal for a problem: VALIDATION_FAILED (rendered INVALID_PARAMETER_VALUE on MLflow routes). */
export const inputProblemError = (problem: InputProblem): AppError => {
  const where = problem.source === 'body' ? '' : ` (${problem.source === 'params' ? 'path' : 'query'})`;
  const path = `${problem.source}.${problem.field}`;
  return new AppError('VALIDATION_FAILED', `Invalid value for parameter '${problem.field}'${where}: it ${problem.reason}`, {
    details: { field: problem.field, in: problem.source, issues: [{ path, message: problem.reason }] },
  });
};

const rulesOf = (request: FastifyRequest): InputRules => {
  const config = request.routeOptions.config;
  return {
    maxStringLength: config?.errorFormat === 'mlflow' ? inputStringCeilings.mlflow : inputStringCeilings.platform,
    nonFiniteFields: config?.nonFiniteFields ?? [],
  };
};

/**
 * Checks params, query and body of every request (see the module comment). Path parameters and the query
 * string are checked when the request arrives, before the auth hook resolves the `:tenant` parameter
 * with a query (register this first); the body once it is parsed, before validation and the handler.
 */
export const registerInputValidation = (app: FastifyInstance): void => {
  app.addHook('onRequest', async (request) => {
    // An unmatched URL is answered 404 by the not-found handler whatever it carries.
    if (request.is404) return;
    // Path parameters and query strings are short text: the platform ceiling applies to them on every route.
    const short: InputRules = { maxStringLength: inputStringCeilings.platform, nonFiniteFields: [] };
    const problem = findInputProblem('params', request.params, short) ?? findInputProblem('querystring', request.query, short);
    if (problem !== undefined) throw inputProblemError(problem);
  });
  app.addHook('preValidation', async (request) => {
    if (request.is404) return;
    const problem = findInputProblem('body', request.body, rulesOf(request));
    if (problem !== undefined) throw inputProblemError(problem);
  });
};
