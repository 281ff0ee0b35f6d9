/**
 * Keyset pages for the attribute-ordered searches — experiments/search, registered-models/search,
 * model-versions/search (issue 20 item 2). An OFFSET page costs every row before it (the 50th page of
 * 1,000 read 50,000 rows); a keyset page starts where the last one ended: the page token carries the sort
 * key of the page's last row and the next page asks for rows strictly after it in the (total) order. Rows
 * added while a client pages never shift the pages it has not read yet (a row inserted before the place
 * the token marks is simply not seen, as MLflow's own pages would not see it either).
 *
 * The order comes from the search compiler (search-filter.ts: `compileExperimentOrderBy` and its
 * siblings), whose output is a list of trusted `alias.column ASC|DESC` terms ending in a unique key; this
 * module parses that list back (it contains no user text), drops the terms after a column that is unique
 * by itself (they never decide anything and would keep the planner from reading an index in order), and
 * builds the "after" condition and the token codec. The token binds the search it belongs to (a
 * fingerprint of the endpoint, filter and order): another search's token is INVALID_PARAMETER_VALUE, as
 * is anything malformed. Keys are bound parameters, never SQL text.
 */
import { createHash } from 'node:crypto';
import { decodePageToken, encodePageToken, invalidPageToken } from './page-token.ts';

export type KeysetType = 'text' | 'bigint';

export interface KeysetTerm {
  /** Trusted SQL, `alias.column`. */
  readonly column: string;
  /** The row field that holds the column's value (the column name without its alias). */
  readonly field: string;
  readonly type: KeysetType;
  readonly ascending: boolean;
}

/** A sort key value as the token carries it: text, or an integer as decimal digits (int8 range). */
export type KeysetKey = string;

export interface KeysetOrder {
  readonly terms: readonly KeysetTerm[];
  /** What follows ORDER BY. */
  readonly orderSql: string;
  /**
   * `(t0 > $a) OR (t0 = $a AND t1 < $b) ...` for the row after `keys` (directions respected), led by the
   * redundant bound `t0 >= $a` (or `<=`) so that the planner can start an index range there. Values are
   * appended to `params`, numbered from `params.length + 1`.
   */
  after(keys: readonly KeysetKey[], params: unknown[]): string;
  /** The sort key of a result row (its fields named by the terms). */
  keyOf(row: object): KeysetKey[];
  encode(keys: readonly KeysetKey[]): string;
  /** undefined for no token; throws INVALID_PARAMETER_VALUE for a malformed one or one of another search. */
  decode(token: string | undefined | null): KeysetKey[] | undefined;
}

const TERM = /^([a-z]+)\.([a-z_]+) (ASC|DESC)$/;
const INTEGER = /^-?\d{1,19}$/;
const MAX_TOKEN_LENGTH = 4096;
const MAX_TEXT_KEY = 1000;

/** Decimal text of a value in int8's range (what PostgreSQL's `::bigint` accepts without an error). */
const isInt8 = (k: string): boolean => INTEGER.test(k) && BigInt(k) >= -(2n ** 63n) && BigInt(k) < 2n ** 63n;

/**
 * The keyset order of a compiled attribute `order_by` list. `types` names the type of every column that
 * may appear (a column missing there is a programming error); `unique` lists the columns unique by
 * themselves within a tenant (terms after one are dropped). `search` identifies the search for the token
 * fingerprint (endpoint, filter, view type: everything that decides which rows match).
 */
export const keysetOrder = (
  compiledOrder: string,
  types: Readonly<Record<string, KeysetType>>,
  unique: readonly string[],
  search: string,
): KeysetOrder => {
  const terms: KeysetTerm[] = [];
  for (const part of compiledOrder.split(',').map((p) => p.trim())) {
    const m = TERM.exec(part);
    if (m === null) throw new Error(`keyset order: unexpected term ${part}`);
    const column = `${m[1] as string}.${m[2] as string}`;
    const type = types[column];
    if (type === undefined) throw new Error(`keyset order: no type for ${column}`);
    terms.push({ column, field: m[2] as string, type, ascending: m[3] === 'ASC' });
    if (unique.includes(column)) break;
  }
  const orderSql = terms.map((t) => `${t.column} ${t.ascending ? 'ASC' : 'DESC'}`).join(', ');
  const fingerprint = createHash('sha256').update(`${search}\u0000${orderSql}`).digest('base64url').slice(0, 16);

  const valid = (t: KeysetTerm, k: unknown): k is string =>
    typeof k === 'string' && (t.type === 'bigint' ? isInt8(k) : k.length <= MAX_TEXT_KEY);

  return {
    terms,
    orderSql,
    after(keys, params) {
      const bind = (t: KeysetTerm, k: KeysetKey): string => {
        params.push(k);
        return `$${params.length}::${t.type}`;
      };
      const placeholders = terms.map((t, i) => bind(t, keys[i] as KeysetKey));
      const branches = terms.map((t, i) => {
        const equal = terms.slice(0, i).map((u, j) => `${u.column} = ${placeholders[j] as string}`);
        return `(${[...equal, `${t.column} ${t.ascending ? '>' : '<'} ${placeholders[i] as string}`].join(' AND ')})`;
      });
      const first = terms[0] as KeysetTerm;
      return `${first.column} ${first.ascending ? '>=' : '<='} ${placeholders[0] as string} AND (${branches.join(' OR ')})`;
    },
    keyOf(row) {
      return terms.map((t) => String((row as Record<string, unknown>)[t.field]));
    },
    ...keyTokens(fingerprint, MAX_TOKEN_LENGTH, 'filter, order_by or view type changed', terms, valid),
  };
};

/**
 * The page tokens of a keyset: base64 JSON `{h: fingerprint, k: keys}`, one key per term. `decode` answers
 * undefined for no token and INVALID_PARAMETER_VALUE for another search's token (`changed` says what
 * differs), or for keys that are not one per term, each `valid` for its term.
 */
const keyTokens = <T, K>(fingerprint: string, maxLength: number, changed: string, terms: readonly T[], valid: (term: T, key: unknown) => key is K) => ({
  encode(keys: readonly K[]): string {
    return encodePageToken({ h: fingerprint, k: keys });
  },
  decode(token: string | undefined | null): K[] | undefined {
    const parsed = decodePageToken(token, maxLength);
    if (parsed === undefined) return undefined;
    const { h, k } = parsed as { h?: unknown; k?: unknown };
    if (h !== fingerprint) throw invalidPageToken(`it belongs to a different search (${changed})`);
    if (!Array.isArray(k) || k.length !== terms.length || !terms.every((t, i) => valid(t, k[i]))) throw invalidPageToken('malformed');
    return k as K[];
  },
});

/** Sort columns of experiments/search (compileExperimentOrderBy) and their types. */
export const EXPERIMENT_KEYS: Readonly<Record<string, KeysetType>> = {
  'e.name': 'text', 'e.id': 'bigint', 'e.creation_time': 'bigint', 'e.last_update_time': 'bigint',
};
/** Sort columns of registered-models/search (compileRegisteredModelOrderBy). */
export const MODEL_KEYS: Readonly<Record<string, KeysetType>> = {
  'm.name': 'text', 'm.creation_time': 'bigint', 'm.last_updated_time': 'bigint',
};
/** Sort columns of model-versions/search (compileModelVersionOrderBy). */
export const VERSION_KEYS: Readonly<Record<string, KeysetType>> = {
  'v.name': 'text', 'v.version': 'bigint', 'v.creation_time': 'bigint', 'v.last_updated_time': 'bigint',
};

/** Where a get-history page ended: the last point's (step, timestamp, value), as decimal text. */
export interface HistoryCursor {
  readonly step: string;
  readonly timestamp: string;
  /** float8 text as PostgreSQL prints it (round-trips exactly; `NaN`, `Infinity` included). */
  readonly value: string;
}

const FLOAT = /^(-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|-?Infinity)$/;
const seriesFingerprint = (runId: string, key: string): string =>
  createHash('sha256').update(`get-history\u0000${runId}\u0000${key}`).digest('base64url').slice(0, 16);

export const encodeHistoryToken = (runId: string, key: string, cursor: HistoryCursor): string =>
  encodePageToken({ h: seriesFingerprint(runId, key), s: cursor.step, t: cursor.timestamp, v: cursor.value });

/** undefined for no token; INVALID_PARAMETER_VALUE for a malformed one or one of another series. */
export const decodeHistoryToken = (token: string | undefined | null, runId: string, key: string): HistoryCursor | undefined => {
  const parsed = decodePageToken(token, MAX_TOKEN_LENGTH);
  if (parsed === undefined) return undefined;
  const { h, s, t, v } = parsed as Record<string, unknown>;
  if (h !== seriesFingerprint(runId, key)) throw invalidPageToken('it belongs to a different metric history');
  if (typeof s !== 'string' || !isInt8(s) || typeof t !== 'string' || !isInt8(t) || typeof v !== 'string' || !FLOAT.test(v) || v.length > 40) throw invalidPageToken('malformed');
  return { step: s, timestamp: t, value: v };
};

/** One page's statement: the caller runs it and turns the rows into a page with {@link keysetPage}. */
export interface KeysetStatement {
  readonly sql: string;
  readonly params: unknown[];
  readonly order: KeysetOrder;
  readonly maxResults: number;
}

/**
 * `<select> WHERE <conditions> [AND <after the token>] ORDER BY … LIMIT max_results + 1`. `conditions`
 * refers to `params` as $1…; the keyset values and the limit are appended after them.
 */
export const keysetStatement = (
  select: string, conditions: string, params: readonly unknown[], order: KeysetOrder, pageToken: string | undefined, maxResults: number,
): KeysetStatement => {
  const after = order.decode(pageToken);
  const all = [...params];
  const keyset = after === undefined ? '' : ` AND ${order.after(after, all)}`;
  all.push(maxResults + 1);
  return { sql: `${select} WHERE ${conditions}${keyset} ORDER BY ${order.orderSql} LIMIT $${all.length}`, params: all, order, maxResults };
};

/** The page of a {@link keysetStatement}'s rows: at most max_results, and a token when there are more. */
export const keysetPage = <R extends object>(statement: KeysetStatement, rows: readonly R[]): { rows: R[]; nextPageToken: string | undefined } => {
  const page = rows.slice(0, statement.maxResults);
  const last = page.at(-1);
  const more = rows.length > statement.maxResults && last !== undefined;
  return { rows: page, nextPageToken: more ? statement.order.encode(statement.order.keyOf(last)) : undefined };
};

/** A sort term over a computed expression (logged models: attributes and a metric's latest value). */
export interface ComputedKeysetTerm {
  /** Trusted SQL; it may use bound parameters of the caller's statement. */
  readonly sql: string;
  readonly type: 'text' | 'bigint' | 'float8';
  readonly ascending: boolean;
  /** Sorted NULLS LAST (a missing metric, an unset attribute). */
  readonly nullable: boolean;
}

/** A sort key as a token carries it: the value as PostgreSQL prints it (`::text`), or null. */
export type ComputedKey = string | null;

export interface ComputedKeyset {
  /** Select-list items naming the keys `k0, k1, …` (the statement's inner query). */
  readonly selectSql: string;
  /** The keys as text, `t0, t1, …`, from the inner query aliased `s` (what {@link keyOf} reads). */
  readonly textSql: string;
  /** What follows ORDER BY, over `s.k0, s.k1, …`. */
  readonly orderSql: string;
  /** The condition for the rows after `keys`, over `s.k0…`; values appended to `params`. */
  after(keys: readonly ComputedKey[], params: unknown[]): string;
  keyOf(row: object): ComputedKey[];
  encode(keys: readonly ComputedKey[]): string;
  /** undefined for no token; throws INVALID_PARAMETER_VALUE for a malformed one or one of another search. */
  decode(token: string | undefined | null): ComputedKey[] | undefined;
}

/**
 * The rows strictly after `keys` in the order of `columns` (NULLS LAST where nullable): the OR over i of
 * "equal in every column before i, strictly after in column i"; a NULL key has nothing after it in its
 * column. Key values are appended to `params` as typed placeholders. With `leadingBound`, a first column that
 * cannot be NULL is also bounded on its own (`c0 >= $k0`, `<=` descending): the same rows, but a condition
 * from which the planner starts an index range instead of filtering the index from its start.
 */
export const computedKeysAfter = (
  columns: readonly ComputedKeysetTerm[], keys: readonly ComputedKey[], params: unknown[], options: { leadingBound?: boolean } = {},
): string => {
  const placeholders = columns.map((c, i) => {
    const k = keys[i] ?? null;
    if (k === null) return null;
    params.push(k);
    return `$${String(params.length)}::${c.type}`;
  });
  const equal = (i: number): string => {
    const c = columns[i] as ComputedKeysetTerm;
    const p = placeholders[i] ?? null;
    return p === null ? `${c.sql} IS NULL` : `${c.sql} = ${p}`;
  };
  const branches: string[] = [];
  columns.forEach((c, i) => {
    const p = placeholders[i] ?? null;
    if (p === null) return; // nothing sorts after NULL in this term
    const beyond = `${c.sql} ${c.ascending ? '>' : '<'} ${p}`;
    branches.push(`(${[...columns.slice(0, i).map((_, j) => equal(j)), c.nullable ? `(${beyond} OR ${c.sql} IS NULL)` : beyond].join(' AND ')})`);
  });
  if (branches.length === 0) return 'FALSE';
  const first = columns[0] as ComputedKeysetTerm;
  const lead = placeholders[0] ?? null;
  const bound = options.leadingBound === true && lead !== null && !first.nullable ? `${first.sql} ${first.ascending ? '>=' : '<='} ${lead} AND ` : '';
  return `${bound}(${branches.join(' OR ')})`;
};

/** Text keys of logged models are at most 500 characters (name, model type); several may be in a token. */
const MAX_COMPUTED_TOKEN_LENGTH = 16_384;
const MAX_COMPUTED_TEXT_KEY = 2_000;

/**
 * The keyset of an order over computed expressions, NULLS LAST, ending in a unique term. The statement is
 * `SELECT …, <textSql> FROM (SELECT …, <selectSql> FROM … WHERE …) s WHERE <after> ORDER BY <orderSql>
 * LIMIT n`. The after condition uses PostgreSQL's own comparison of each type (text in the database's
 * collation, float8 with NaN above every number), so it agrees with ORDER BY by construction; a NULL key
 * sorts last, so nothing is strictly after it in that term.
 */
export const computedKeyset = (terms: readonly ComputedKeysetTerm[], search: string): ComputedKeyset => {
  const alias = (i: number) => `s.k${String(i)}`;
  const orderSql = terms.map((t, i) => `${alias(i)} ${t.ascending ? 'ASC' : 'DESC'}${t.nullable ? ' NULLS LAST' : ''}`).join(', ');
  const fingerprint = createHash('sha256').update(`${search}\u0000${terms.map((t) => `${t.sql}\u0001${t.type}\u0001${String(t.ascending)}`).join('\u0000')}`).digest('base64url').slice(0, 16);
  const valid = (t: ComputedKeysetTerm, k: unknown): k is ComputedKey => {
    if (k === null) return t.nullable;
    if (typeof k !== 'string') return false;
    if (t.type === 'bigint') return isInt8(k);
    if (t.type === 'float8') return k.length <= 40 && FLOAT.test(k);
    return k.length <= MAX_COMPUTED_TEXT_KEY;
  };
  return {
    selectSql: terms.map((t, i) => `${t.sql} AS k${String(i)}`).join(', '),
    textSql: terms.map((_, i) => `${alias(i)}::text AS t${String(i)}`).join(', '),
    orderSql,
    after(keys, params) {
      return computedKeysAfter(terms.map((t, i) => ({ ...t, sql: alias(i) })), keys, params);
    },
    keyOf(row) {
      return terms.map((_, i) => {
        const value = (row as Record<string, unknown>)[`t${String(i)}`];
        return value === null || value === undefined ? null : String(value);
      });
    },
    ...keyTokens(fingerprint, MAX_COMPUTED_TOKEN_LENGTH, 'experiments, filter, datasets or order_by changed', terms, valid),
  };
};
