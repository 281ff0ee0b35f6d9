/**
 * Label values for Prometheus: bounded tenant labels and route templates. Pure, no IO.
 */

/** The label value every tenant past the limit shares. */
export const OTHER_LABEL = '_other';
/** The route label of a request no route matched (404s on unknown paths): never the raw path. */
export const UNMATCHED_ROUTE = '_unmatched';

export interface BoundedLabels {
  /** `key` itself while fewer than `max` distinct keys have been seen (or `key` is one of them); else `_other`. */
  label(key: string): string;
  /** How many distinct keys hold a label of their own (≤ max). */
  readonly size: number;
}

/**
 * First come, first labelled: the first `max` distinct keys keep their own label for the life of the
 * process; every later key is `_other`. A key's label never changes once given, so a series never
 * jumps between a tenant and `_other` (which would double-count in sum()).
 */
export const createBoundedLabels = (max: number): BoundedLabels => {
  const known = new Set<string>();
  return {
    label(key) {
      if (known.has(key)) return key;
      if (known.size >= max) return OTHER_LABEL;
      known.add(key);
      return key;
    },
    get size() {
      return known.size;
    },
  };
};

/**
 * A Fastify route URL as the OpenAPI document (@fastify/swagger's formatParamUrl) spells it: `:param` →
 * `{param}`, `:param(regex)` → `{param}`, an anonymous `(regex)` → `{regexpN}`, `*` → `{*}`, `::` → `:`.
 * Undefined (no route matched) → `_unmatched`.
 */
export const openApiRoute = (url: string | undefined): string => {
  if (url === undefined || url === '') return UNMATCHED_ROUTE;
  let out = '';
  let anonymous = 0;
  for (let i = 0; i < url.length; i += 1) {
    const char = url[i]!;
    if (char === ':' && url[i + 1] === ':') {
      out += ':';
      i += 1;
    } else if (char === ':' || char === '(') {
      let name = '';
      if (char === ':') {
        while (i + 1 < url.length && /[A-Za-z0-9_]/.test(url[i + 1]!)) name += url[++i];
      }
      if (url[i + 1] === '(' || char === '(') {
        // Skip a regular expression, balanced parentheses.
        if (char === ':') i += 1;
        let level = 1;
        while (i + 1 < url.length && level > 0) {
          const next = url[++i];
          if (next === '(') level += 1;
          else if (next === ')') level -= 1;
        }
        if (name === '') name = `regexp${String(++anonymous)}`;
      }
      out += `{${name}}`;
    } else if (char === '*') {
      out += '{*}';
    } else {
      out += char;
    }
  }
  return out;
};

/** `2xx` … `5xx` from a status code. */
export const statusClass = (status: number): string => `${String(Math.floor(status / 100))}xx`;
