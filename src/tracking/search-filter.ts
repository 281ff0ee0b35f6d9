/**
 * MLflow's search filter grammar and `order_by` syntax, compiled to parameterized PostgreSQL. Pure: no
 * IO. The HTTP handlers of search-runs, search-experiments, search-registered-models,
 * search-model-versions and search-logged-models place the compiled SQL in their queries.
 *
 * Behaviour learned from MLflow (mlflow/utils/search_utils.py: SearchUtils, SearchExperimentsUtils,
 * SearchModelUtils, SearchModelVersionUtils; mlflow/utils/search_logged_model_utils.py;
 * mlflow/store/tracking/sqlalchemy_store.py and mlflow/store/model_registry/sqlalchemy_store.py for the
 * SQL meaning). Logged models take their `order_by` as objects (`{field_name, ascending, ...}`), not as
 * this grammar's strings: see {@link compileLoggedModelOrderBy}. MLflow tokenizes with
 * sqlparse; this module has its own small lexer and recursive-descent parser for the same language:
 *
 *   filter     := comparison (AND comparison)*            -- no OR, no parentheses
 *   comparison := identifier comparator value
 *               | identifier [NOT] IN '(' string (',' string)* ')'
 *   identifier := part ('.' part)*                        -- part: word, `backticked` or "double quoted"
 *   comparator := = | != | < | <= | > | >= | LIKE | ILIKE  (keywords in any case)
 *   value      := 'single quoted' | "double quoted" | number
 *   order_by   := identifier [ASC | DESC]
 *
 * The first part of an identifier with more than one part is the entity prefix (`metrics.`, `params.`,
 * `tags.`, `attributes.` and their aliases); a one-part identifier is an attribute.
 *
 * Security: user text never reaches the SQL text. Keys, values and LIKE patterns are bound as `$n`
 * parameters; column names come only from the constant tables below. Anything the grammar does not
 * know (`;`, comments, OR, sub-expressions, unknown characters) is refused with
 * INVALID_PARAMETER_VALUE before any SQL is built.
 *
 * Deliberate differences from MLflow, all in the caller's favour:
 * - Quotes inside strings may be escaped as `''` or `\'` (MLflow kept the escape characters in the value).
 * - A NaN metric matches only `!=` (IEEE semantics, like MLflow's in-memory store); MLflow's SQL store
 *   stores NaN as 0 and therefore lets `metrics.m = 0` match it.
 * - `attributes.run_name` compares the `runs.name` column (MLflow compares the `mlflow.runName` tag,
 *   because runs logged by MLflow <= 1.29 had no name column).
 * - `attribute.`/`attributes.` prefixes are accepted for experiments and the model registry too.
 * - MLflow drops run ids containing upper-case letters from IN lists (a MySQL work-around); PostgreSQL
 *   compares case-sensitively, so the ids are kept and simply do not match.
 * - `datasets.name|digest|context` run filters match a run that has a dataset input satisfying the
 *   comparison (each comparison on its own, as MLflow's SQL store joins them).
 */

import { mlflowErrors } from './mlflow-errors.ts';

export type SearchEntity = 'run' | 'experiment' | 'registered_model' | 'model_version' | 'logged_model';
export type KeyType = 'attribute' | 'metric' | 'param' | 'tag' | 'dataset';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

/** A right-hand side. Numbers keep the literal text (validated), so no precision is lost before SQL. */
export type FilterValue =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'list'; readonly values: readonly string[] };

/** One comparison of a parsed filter; a filter is the AND of its comparisons. */
export interface FilterComparison {
  readonly type: KeyType;
  /** Attribute keys are canonical (`created` → `start_time`, `Run Name` → `run_name`). */
  readonly key: string;
  readonly comparator: Comparator;
  readonly value: FilterValue;
}

export interface OrderByTerm {
  readonly type: KeyType;
  readonly key: string;
  readonly ascending: boolean;
}

/** SQL text with `$n` placeholders and the values to bind to them, in order. */
export interface CompiledSql {
  readonly sql: string;
  readonly params: unknown[];
}

export interface CompileOptions {
  /**
   * Number of the first placeholder this fragment may use (`$firstParam`); default 1. A value that is
   * not a positive integer throws RangeError (a programming error).
   */
  readonly firstParam?: number;
}

// ---------------------------------------------------------------------------------------------
// Lexer

type TokenKind = 'word' | 'backtick' | 'dquote' | 'squote' | 'number' | 'op' | 'lparen' | 'rparen' | 'comma' | 'dot';

interface Token {
  readonly kind: TokenKind;
  /** Decoded content for quoted tokens, the source text otherwise. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const invalid = (message: string) => mlflowErrors.invalidParameter(message);

/** Shortens user text quoted back in an error message. */
const excerpt = (text: string): string => (text.length > 100 ? `${text.slice(0, 100)}...` : text);

const WORD_START = /[\p{L}_][\p{L}\p{N}_]*/uy;
const WORD_AFTER_DOT = /[\p{L}\p{N}_]+/uy;
const NUMBER = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/y;
const WORD_CHAR = /[\p{L}\p{N}_]/u;
const OPERATOR = /<=|>=|!=|<>|==|=|<|>/y;

const matchAt = (re: RegExp, input: string, at: number): string | undefined => {
  re.lastIndex = at;
  const m = re.exec(input);
  return m === null ? undefined : m[0];
};

/** Reads a quoted token starting at `start`; doubled quotes and backslash-quote are escapes. */
const readQuoted = (input: string, start: number, quote: string): { text: string; end: number } => {
  let text = '';
  let i = start + 1;
  while (i < input.length) {
    const c = input[i];
    const next = input[i + 1];
    if (c === quote) {
      if (next === quote) {
        text += quote;
        i += 2;
        continue;
      }
      return { text, end: i + 1 };
    }
    if (c === '\\' && quote !== '`' && (next === quote || next === '\\')) {
      // `\'` is an escaped quote; `\\` stays two backslashes (it is how LIKE patterns escape).
      text += next === quote ? quote : '\\\\';
      i += 2;
      continue;
    }
    text += c;
    i += 1;
  }
  throw invalid(`Unterminated quoted string starting at position ${start} in '${excerpt(input)}'`);
};

const lex = (input: string): Token[] => {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (/\s/u.test(c)) {
      i += 1;
      continue;
    }
    const prev = tokens.at(-1);
    const prevAdjacent = prev !== undefined && prev.end === i;
    if (c === "'" || c === '"' || c === '`') {
      const { text, end } = readQuoted(input, i, c);
      tokens.push({ kind: c === "'" ? 'squote' : c === '"' ? 'dquote' : 'backtick', text, start: i, end });
      i = end;
      continue;
    }
    if (c === ';') throw invalid(`Search filter contained multiple statements: '${excerpt(input)}'`);
    if ((c === '-' && input[i + 1] === '-') || (c === '/' && input[i + 1] === '*') || c === '#') {
      throw invalid(`Comments are not allowed in a search filter: '${excerpt(input)}'`);
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c === '(' ? 'lparen' : c === ')' ? 'rparen' : 'comma', text: c, start: i, end: i + 1 });
      i += 1;
      continue;
    }
    // A dot glued to an identifier part joins parts; elsewhere it can only start a number (`.5`).
    if (c === '.' && prevAdjacent && (prev.kind === 'word' || prev.kind === 'backtick' || prev.kind === 'dquote')) {
      tokens.push({ kind: 'dot', text: '.', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if (prevAdjacent && prev.kind === 'dot') {
      const word = matchAt(WORD_AFTER_DOT, input, i);
      if (word !== undefined) {
        tokens.push({ kind: 'word', text: word, start: i, end: i + word.length });
        i += word.length;
        continue;
      }
    }
    const number = matchAt(NUMBER, input, i);
    if (number !== undefined) {
      const after = input[i + number.length];
      if (after !== undefined && (WORD_CHAR.test(after) || after === '.')) {
        throw invalid(`Invalid number '${excerpt(input.slice(i, i + number.length + 1))}' in search filter`);
      }
      tokens.push({ kind: 'number', text: number, start: i, end: i + number.length });
      i += number.length;
      continue;
    }
    const word = matchAt(WORD_START, input, i);
    if (word !== undefined) {
      tokens.push({ kind: 'word', text: word, start: i, end: i + word.length });
      i += word.length;
      continue;
    }
    const op = matchAt(OPERATOR, input, i);
    if (op !== undefined) {
      tokens.push({ kind: 'op', text: op, start: i, end: i + op.length });
      i += op.length;
      continue;
    }
    throw invalid(`Invalid character '${c}' at position ${i} in '${excerpt(input)}'`);
  }
  return tokens;
};

// ---------------------------------------------------------------------------------------------
// Parser (entity independent)

interface IdentifierPart {
  readonly text: string;
  readonly quoted: boolean;
}

interface RawComparison {
  readonly parts: readonly IdentifierPart[];
  readonly comparator: Comparator;
  readonly value: FilterValue;
  readonly source: string;
}

class TokenCursor {
  readonly tokens: readonly Token[];
  readonly input: string;
  pos = 0;

  constructor(tokens: readonly Token[], input: string) {
    this.tokens = tokens;
    this.input = input;
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  next(): Token | undefined {
    const token = this.tokens[this.pos];
    if (token !== undefined) this.pos += 1;
    return token;
  }

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }

  isKeyword(token: Token | undefined, keyword: string): boolean {
    return token !== undefined && token.kind === 'word' && token.text.toUpperCase() === keyword;
  }
}

const isPart = (t: Token | undefined): boolean =>
  t !== undefined && (t.kind === 'word' || t.kind === 'backtick' || t.kind === 'dquote');

const parseIdentifier = (cur: TokenCursor, what: string): IdentifierPart[] => {
  const first = cur.next();
  if (first === undefined || !isPart(first)) {
    throw invalid(
      first === undefined
        ? `Invalid ${what} '${excerpt(cur.input)}': expected an identifier at the end`
        : `Invalid ${what} '${excerpt(cur.input)}': expected an identifier, found '${excerpt(first.text)}'`,
    );
  }
  const parts: IdentifierPart[] = [{ text: first.text, quoted: first.kind !== 'word' }];
  while (cur.peek()?.kind === 'dot') {
    cur.next();
    const part = cur.next();
    if (part === undefined || !isPart(part)) throw invalid(`Invalid identifier in ${what} '${excerpt(cur.input)}'`);
    parts.push({ text: part.text, quoted: part.kind !== 'word' });
  }
  return parts;
};

const parseList = (cur: TokenCursor): FilterValue => {
  const open = cur.next();
  if (open?.kind !== 'lparen') {
    throw invalid('IN and NOT IN expect a parenthesized, non-empty list of quoted strings');
  }
  const values: string[] = [];
  for (;;) {
    const item = cur.next();
    if (item?.kind === 'rparen' && values.length === 0) {
      throw invalid('While parsing a list in the query, expected a non-empty list of string values, but got empty list');
    }
    if (item?.kind !== 'squote' && item?.kind !== 'dquote') {
      throw invalid('While parsing a list in the query, expected a list of quoted string values');
    }
    values.push(item.text);
    const sep = cur.next();
    if (sep?.kind === 'rparen') return { kind: 'list', values };
    if (sep?.kind !== 'comma') throw invalid('While parsing a list in the query, expected , or ) after a value');
  }
};

const parseScalar = (cur: TokenCursor): FilterValue => {
  const token = cur.next();
  if (token === undefined) throw invalid(`Invalid comparison in '${excerpt(cur.input)}': expected a value at the end`);
  switch (token.kind) {
    case 'squote':
    case 'dquote':
      return { kind: 'string', value: token.text };
    case 'number':
      return { kind: 'number', text: token.text };
    case 'lparen':
      throw invalid('A list of values is only allowed with IN and NOT IN');
    default:
      throw invalid(
        `Expected a quoted string or a number as value, got '${excerpt(token.text)}'. ` +
          "Quote string values with single or double quotes, e.g. tags.team = 'vision'",
      );
  }
};

const parseComparison = (cur: TokenCursor): RawComparison => {
  const start = cur.peek()?.start ?? cur.input.length;
  const parts = parseIdentifier(cur, 'filter');
  const token = cur.next();
  let comparator: Comparator;
  let value: FilterValue;
  if (token?.kind === 'op') {
    if (token.text === '<>' || token.text === '==') {
      throw invalid(`Invalid comparator '${token.text}'; use = or !=`);
    }
    comparator = token.text as Comparator;
    value = parseScalar(cur);
  } else if (cur.isKeyword(token, 'LIKE') || cur.isKeyword(token, 'ILIKE')) {
    comparator = (token as Token).text.toUpperCase() as Comparator;
    value = parseScalar(cur);
  } else if (cur.isKeyword(token, 'IN')) {
    comparator = 'IN';
    value = parseList(cur);
  } else if (cur.isKeyword(token, 'NOT')) {
    if (!cur.isKeyword(cur.next(), 'IN')) throw invalid("Invalid comparator: NOT may only be followed by IN");
    comparator = 'NOT IN';
    value = parseList(cur);
  } else if (cur.isKeyword(token, 'IS')) {
    throw invalid('IS NULL / IS NOT NULL comparisons are not supported in search filters');
  } else {
    throw invalid(
      token === undefined
        ? `Invalid comparison clause in '${excerpt(cur.input)}': expected a comparator at the end`
        : `Invalid comparison clause in '${excerpt(cur.input)}': expected a comparator, found '${excerpt(token.text)}'`,
    );
  }
  const end = cur.tokens[cur.pos - 1]?.end ?? cur.input.length;
  return { parts, comparator, value, source: cur.input.slice(start, end) };
};

const parseRawFilter = (filter: string): RawComparison[] => {
  if (filter.trim() === '') return [];
  const cur = new TokenCursor(lex(filter), filter);
  const comparisons: RawComparison[] = [];
  for (;;) {
    comparisons.push(parseComparison(cur));
    if (cur.atEnd()) return comparisons;
    const conj = cur.next();
    if (cur.isKeyword(conj, 'AND')) continue;
    if (cur.isKeyword(conj, 'OR')) throw invalid("The OR operator is not supported in search filters; combine comparisons with AND");
    throw invalid(`Invalid clause(s) in filter string '${excerpt(filter)}' near '${excerpt(conj?.text ?? '')}'`);
  }
};

// ---------------------------------------------------------------------------------------------
// Entity specifications: the only source of SQL identifiers.

interface AttributeSpec {
  /** Trusted SQL expression for the column. */
  readonly column: string;
  readonly kind: 'string' | 'number';
  /** Whether IN / NOT IN with a list is allowed (MLflow: only run ids). */
  readonly list?: boolean;
}

interface TagTableSpec {
  readonly table: string;
  /** Trusted SQL joining alias `f` to the outer row. */
  readonly join: string;
  /**
   * Whether the table has the generated column `value_prefix` (the value's first 200 characters, collation
   * ucs_basic) and an index on (tenant_id, key, [run_experiment_id,] value_prefix, …): run params and tags
   * (migrations 0014, 0043), experiment, registered model and model version tags (0036). Logged-model tags
   * and params do not.
   */
  readonly indexedPrefix?: boolean;
}

interface EntitySpec {
  readonly label: string;
  readonly prefixes: Readonly<Record<string, KeyType>>;
  /** Filterable attributes by accepted spelling (aliases included). */
  readonly filterAttributes: Readonly<Record<string, { readonly canonical: string; readonly spec: AttributeSpec }>>;
  readonly stringComparators: ReadonlySet<Comparator>;
  /** Whether a numeric attribute also takes a quoted number (model versions' version_number). */
  readonly quotedNumbers: boolean;
  readonly tags: TagTableSpec;
  /** Where `params.` comparisons look (runs and logged models only; the others have no params prefix). */
  readonly params?: TagTableSpec;
  /** Which values `metrics.` comparisons test: a run's latest value, or any point linked to a logged model. */
  readonly metrics?: 'run_latest' | 'logged_model';
}

const NUMERIC_COMPARATORS: ReadonlySet<Comparator> = new Set(['=', '!=', '<', '<=', '>', '>=']);
const KEY_VALUE_COMPARATORS: ReadonlySet<Comparator> = new Set(['=', '!=', 'LIKE', 'ILIKE']);
const LIST_COMPARATORS: ReadonlySet<Comparator> = new Set(['IN', 'NOT IN']);

const attr = (canonical: string, spec: AttributeSpec) => ({ canonical, spec });

const RUN_ATTRIBUTES = {
  run_id: { column: 'r.id', kind: 'string', list: true },
  run_name: { column: 'r.name', kind: 'string' },
  user_id: { column: 'r.user_id', kind: 'string' },
  status: { column: 'r.status', kind: 'string' },
  start_time: { column: 'r.start_time', kind: 'number' },
  end_time: { column: 'r.end_time', kind: 'number' },
  artifact_uri: { column: 'r.artifact_uri', kind: 'string' },
} as const satisfies Record<string, AttributeSpec>;

const RUN_SPEC: EntitySpec = {
  label: 'runs',
  prefixes: {
    metric: 'metric',
    metrics: 'metric',
    parameter: 'param',
    parameters: 'param',
    param: 'param',
    params: 'param',
    tag: 'tag',
    tags: 'tag',
    attribute: 'attribute',
    attributes: 'attribute',
    attr: 'attribute',
    run: 'attribute',
    dataset: 'dataset',
    datasets: 'dataset',
  },
  filterAttributes: {
    run_id: attr('run_id', RUN_ATTRIBUTES.run_id),
    run_name: attr('run_name', RUN_ATTRIBUTES.run_name),
    'run name': attr('run_name', RUN_ATTRIBUTES.run_name),
    'Run name': attr('run_name', RUN_ATTRIBUTES.run_name),
    'Run Name': attr('run_name', RUN_ATTRIBUTES.run_name),
    user_id: attr('user_id', RUN_ATTRIBUTES.user_id),
    status: attr('status', RUN_ATTRIBUTES.status),
    start_time: attr('start_time', RUN_ATTRIBUTES.start_time),
    created: attr('start_time', RUN_ATTRIBUTES.start_time),
    Created: attr('start_time', RUN_ATTRIBUTES.start_time),
    end_time: attr('end_time', RUN_ATTRIBUTES.end_time),
    artifact_uri: attr('artifact_uri', RUN_ATTRIBUTES.artifact_uri),
  },
  stringComparators: new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN']),
  quotedNumbers: false,
  // The tenant equality is redundant under row-level security but not for the planner: with a share
  // policy (migration 0022) ORed to the tenant's, RLS no longer gives an index condition on tenant_id, and
  // the probe of a run's row would not find it by (tenant_id, run_id, key). The search names its tenant on
  // `r` (run-search.ts), so this is `f.tenant_id = <constant>` for the index.
  // The row's copy of its run's experiment (migrations 0040, 0043): as a semi-join, one experiment's range.
  tags: { table: 'run_tags', join: 'f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.run_experiment_id = r.experiment_id', indexedPrefix: true },
  params: { table: 'run_params', join: 'f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.run_experiment_id = r.experiment_id', indexedPrefix: true },
  metrics: 'run_latest',
};

const REGISTRY_PREFIXES: Readonly<Record<string, KeyType>> = {
  attribute: 'attribute',
  attributes: 'attribute',
  tag: 'tag',
  tags: 'tag',
};

const EXPERIMENT_SPEC: EntitySpec = {
  label: 'experiments',
  prefixes: REGISTRY_PREFIXES,
  filterAttributes: {
    name: attr('name', { column: 'e.name', kind: 'string' }),
    creation_time: attr('creation_time', { column: 'e.creation_time', kind: 'number' }),
    last_update_time: attr('last_update_time', { column: 'e.last_update_time', kind: 'number' }),
  },
  stringComparators: KEY_VALUE_COMPARATORS,
  quotedNumbers: false,
  tags: { table: 'experiment_tags', join: 'f.tenant_id = e.tenant_id AND f.experiment_id = e.id', indexedPrefix: true },
};

const REGISTERED_MODEL_SPEC: EntitySpec = {
  label: 'registered models',
  prefixes: REGISTRY_PREFIXES,
  filterAttributes: { name: attr('name', { column: 'm.name', kind: 'string' }) },
  stringComparators: KEY_VALUE_COMPARATORS,
  quotedNumbers: false,
  tags: { table: 'registered_model_tags', join: 'f.tenant_id = m.tenant_id AND f.name = m.name', indexedPrefix: true },
};

const MODEL_VERSION_SPEC: EntitySpec = {
  label: 'model versions',
  prefixes: REGISTRY_PREFIXES,
  filterAttributes: {
    name: attr('name', { column: 'v.name', kind: 'string' }),
    version_number: attr('version_number', { column: 'v.version', kind: 'number' }),
    run_id: attr('run_id', { column: 'v.run_id', kind: 'string', list: true }),
    source_path: attr('source_path', { column: 'v.source', kind: 'string' }),
  },
  // MLflow's SearchModelVersionUtils: IN but not NOT IN.
  stringComparators: new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN']),
  quotedNumbers: true,
  tags: { table: 'model_version_tags', join: 'f.tenant_id = v.tenant_id AND f.name = v.name AND f.version = v.version', indexedPrefix: true },
};

const LOGGED_MODEL_ATTRIBUTES = {
  name: { column: 'lm.name', kind: 'string', list: true },
  model_id: { column: 'lm.id', kind: 'string', list: true },
  model_type: { column: 'lm.model_type', kind: 'string', list: true },
  source_run_id: { column: 'lm.source_run_id', kind: 'string', list: true },
  status: { column: 'lm.status', kind: 'string', list: true },
  creation_timestamp: { column: 'lm.creation_time', kind: 'number' },
  last_updated_timestamp: { column: 'lm.last_updated_time', kind: 'number' },
} as const satisfies Record<string, AttributeSpec>;

// MLflow's search_logged_model_utils: attributes (with SqlLoggedModel's aliases), metrics, params, tags;
// numeric comparators for metrics and times, =, !=, LIKE, ILIKE (and IN / NOT IN on attributes) for strings.
const LOGGED_MODEL_SPEC: EntitySpec = {
  label: 'logged models',
  prefixes: {
    metrics: 'metric',
    metric: 'metric',
    params: 'param',
    param: 'param',
    parameters: 'param',
    tags: 'tag',
    tag: 'tag',
    attributes: 'attribute',
    attribute: 'attribute',
  },
  filterAttributes: {
    name: attr('name', LOGGED_MODEL_ATTRIBUTES.name),
    model_id: attr('model_id', LOGGED_MODEL_ATTRIBUTES.model_id),
    model_type: attr('model_type', LOGGED_MODEL_ATTRIBUTES.model_type),
    source_run_id: attr('source_run_id', LOGGED_MODEL_ATTRIBUTES.source_run_id),
    status: attr('status', LOGGED_MODEL_ATTRIBUTES.status),
    creation_time: attr('creation_timestamp', LOGGED_MODEL_ATTRIBUTES.creation_timestamp),
    creation_timestamp: attr('creation_timestamp', LOGGED_MODEL_ATTRIBUTES.creation_timestamp),
    creation_timestamp_ms: attr('creation_timestamp', LOGGED_MODEL_ATTRIBUTES.creation_timestamp),
    last_updated_timestamp: attr('last_updated_timestamp', LOGGED_MODEL_ATTRIBUTES.last_updated_timestamp),
    last_updated_timestamp_ms: attr('last_updated_timestamp', LOGGED_MODEL_ATTRIBUTES.last_updated_timestamp),
  },
  stringComparators: new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN']),
  quotedNumbers: false,
  tags: { table: 'logged_model_tags', join: 'f.model_id = lm.id' },
  params: { table: 'logged_model_params', join: 'f.model_id = lm.id' },
  metrics: 'logged_model',
};

const SPECS: Readonly<Record<SearchEntity, EntitySpec>> = {
  run: RUN_SPEC,
  experiment: EXPERIMENT_SPEC,
  registered_model: REGISTERED_MODEL_SPEC,
  model_version: MODEL_VERSION_SPEC,
  logged_model: LOGGED_MODEL_SPEC,
};

const DATASET_KEYS: ReadonlySet<string> = new Set(['name', 'digest', 'context']);

const formatSet = (values: Iterable<string>): string => `{${[...values].map((v) => `'${v}'`).join(', ')}}`;

/** Splits an identifier into its key type and key, following the entity's prefixes. */
const resolveIdentifier = (
  parts: readonly IdentifierPart[],
  spec: EntitySpec,
): { type: KeyType; key: string } => {
  const [first, ...rest] = parts;
  if (first === undefined) throw invalid('Empty identifier');
  if (rest.length === 0) return { type: 'attribute', key: first.text };
  const type = Object.hasOwn(spec.prefixes, first.text) ? spec.prefixes[first.text] : undefined;
  if (type === undefined) {
    throw invalid(
      `Invalid entity type '${excerpt(first.text)}' for ${spec.label}. Valid values are ${formatSet(Object.keys(spec.prefixes))}`,
    );
  }
  const key = rest.map((p) => p.text).join('.');
  if (key === '') throw invalid(`Missing key after '${excerpt(first.text)}.'`);
  return { type, key };
};

const isNumericText = (text: string): boolean => {
  NUMBER.lastIndex = 0;
  const m = NUMBER.exec(text);
  return m !== null && m[0] === text;
};

const checkValueForComparator = (comparator: Comparator, value: FilterValue, what: string): void => {
  const isList = value.kind === 'list';
  if (LIST_COMPARATORS.has(comparator) !== isList) {
    throw invalid(
      isList
        ? `A list of values is only allowed with IN or NOT IN (${what})`
        : `${comparator} expects a parenthesized list of quoted strings (${what})`,
    );
  }
};

const resolveComparison = (raw: RawComparison, spec: EntitySpec): FilterComparison => {
  const { type, key } = resolveIdentifier(raw.parts, spec);
  const { comparator, value } = raw;
  const where = `in '${excerpt(raw.source)}'`;
  const requireComparator = (allowed: ReadonlySet<Comparator>, what: string) => {
    if (!allowed.has(comparator)) {
      throw invalid(`Invalid comparator '${comparator}' for ${what} ${where}; expected one of ${formatSet(allowed)}`);
    }
  };
  switch (type) {
    case 'metric': {
      requireComparator(NUMERIC_COMPARATORS, 'a metric');
      if (value.kind !== 'number') throw invalid(`Expected a numeric value for metric '${excerpt(key)}' ${where}`);
      if (!Number.isFinite(Number(value.text))) throw invalid(`Metric value ${excerpt(value.text)} is out of range ${where}`);
      return { type, key, comparator, value };
    }
    case 'param':
    case 'tag': {
      requireComparator(KEY_VALUE_COMPARATORS, type === 'param' ? 'a param' : 'a tag');
      if (value.kind !== 'string') {
        throw invalid(`Expected a quoted string value for ${type} '${excerpt(key)}' (e.g. 'my-value') ${where}`);
      }
      return { type, key, comparator, value };
    }
    case 'dataset': {
      if (!DATASET_KEYS.has(key)) {
        throw invalid(`Invalid dataset key '${excerpt(key)}' specified. Valid keys are ${formatSet(DATASET_KEYS)}`);
      }
      requireComparator(new Set(['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN']), 'a dataset attribute');
      checkValueForComparator(comparator, value, where);
      if (value.kind === 'number') throw invalid(`Expected a quoted string value for dataset ${key} ${where}`);
      return { type, key, comparator, value };
    }
    case 'attribute': {
      const found = Object.hasOwn(spec.filterAttributes, key) ? spec.filterAttributes[key] : undefined;
      if (found === undefined) {
        throw invalid(
          `Invalid attribute key '${excerpt(key)}' specified for ${spec.label}. Valid keys are ${formatSet(Object.keys(spec.filterAttributes))}`,
        );
      }
      const canonical = found.canonical;
      if (found.spec.kind === 'number') {
        requireComparator(NUMERIC_COMPARATORS, `numeric attribute '${canonical}'`);
        if (value.kind === 'number') return { type, key: canonical, comparator, value };
        if (spec.quotedNumbers && value.kind === 'string' && isNumericText(value.value.trim())) {
          return { type, key: canonical, comparator, value: { kind: 'number', text: value.value.trim() } };
        }
        throw invalid(`Expected a numeric value for numeric attribute '${canonical}' ${where}`);
      }
      requireComparator(spec.stringComparators, `string attribute '${canonical}'`);
      if (value.kind === 'number') {
        throw invalid(`Expected a quoted string value for attribute '${canonical}' ${where}`);
      }
      if ((value.kind === 'list' || LIST_COMPARATORS.has(comparator)) && found.spec.list !== true) {
        throw invalid(`Only the 'run_id' attribute supports comparison with a list of quoted string values ${where}`);
      }
      checkValueForComparator(comparator, value, where);
      return { type, key: canonical, comparator, value };
    }
  }
};

/**
 * Parses an MLflow search filter for one kind of entity into its comparisons (implicitly AND-ed).
 * An empty or blank filter gives `[]`.
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for anything MLflow would refuse (unknown prefix or
 * attribute, comparator not valid for the key type, unquoted string, string for a metric, list outside
 * IN, OR, `;`, comments, unterminated quotes…), with a message naming the offending part.
 */
export const parseSearchFilter = (filter: string | undefined | null, entity: SearchEntity): FilterComparison[] =>
  parseRawFilter(filter ?? '').map((raw) => resolveComparison(raw, SPECS[entity]));

// ---------------------------------------------------------------------------------------------
// SQL compilation

class ParamSink {
  readonly params: unknown[] = [];
  readonly first: number;
  /** The index ranges of a run filter's latest-metric comparisons (CompiledRunFilter.metricRanges). */
  readonly metricRanges: string[] = [];

  constructor(options: CompileOptions | undefined) {
    const first = options?.firstParam ?? 1;
    if (!Number.isSafeInteger(first) || first < 1) throw new RangeError(`firstParam must be a positive integer, got ${first}`);
    this.first = first;
  }

  /** The placeholder of the value bound last. */
  last(): string {
    if (this.params.length === 0) throw new Error('no parameter bound yet');
    return `$${this.first + this.params.length - 1}`;
  }

  /** Binds a value and returns its placeholder. */
  add(value: unknown): string {
    this.params.push(value);
    return `$${this.first + this.params.length - 1}`;
  }
}

const SQL_OPERATOR: Readonly<Record<Exclude<Comparator, 'IN' | 'NOT IN'>, string>> = {
  '=': '=',
  '!=': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  LIKE: 'LIKE',
  ILIKE: 'ILIKE',
};

/** `column <op> $n` for a string column; lists become `= ANY($n::text[])`. */
const stringPredicate = (column: string, comparator: Comparator, value: FilterValue, sink: ParamSink): string => {
  if (value.kind === 'list') {
    const any = `${column} = ANY(${sink.add([...value.values])}::text[])`;
    return comparator === 'NOT IN' ? `NOT (${any})` : any;
  }
  if (value.kind !== 'string' || comparator === 'IN' || comparator === 'NOT IN') {
    throw new Error('unreachable: string predicate without a string value');
  }
  return `${column} ${SQL_OPERATOR[comparator]} ${sink.add(value.value)}`;
};

const numericPredicate = (column: string, comparator: Comparator, value: FilterValue, cast: string, sink: ParamSink): string => {
  if (value.kind !== 'number' || comparator === 'IN' || comparator === 'NOT IN' || comparator === 'LIKE' || comparator === 'ILIKE') {
    throw new Error('unreachable: numeric predicate without a number');
  }
  return `${column} ${SQL_OPERATOR[comparator]} ${sink.add(value.text)}::${cast}`;
};

const keyValueExists = (tags: TagTableSpec, c: FilterComparison, sink: ParamSink): string => {
  const key = sink.add(c.key);
  const prefixRange = prefixOnlyRange(tags, c, sink);
  // `LIKE 'abc%'` on an indexed-prefix table is the range ['abc', 'abd') of the indexed prefix, and nothing
  // else: the planner estimates a range from the column's histogram (it has no estimate for LIKE in a
  // non-C collation, and took 50 % of the rows for 0.15 %, reading all of run_tags).
  if (prefixRange !== undefined) return `EXISTS (SELECT 1 FROM ${tags.table} f WHERE ${tags.join} AND f.key = ${key}${prefixRange})`;
  // `= 'v'` with v shorter than the indexed prefix is `value_prefix = 'v'` alone: a prefix shorter than 200
  // characters is the whole value. One condition, not two: the planner multiplies the selectivities of
  // `value = v` and `value_prefix = v` as if independent (1 % for a value of one run in ten), and then
  // chose to read every match and sort instead of walking the order and stopping early.
  if (isShortEquality(tags, c)) return `EXISTS (SELECT 1 FROM ${tags.table} f WHERE ${tags.join} AND f.key = ${key} AND ${indexedValue('f')} = ${sink.add(c.value.kind === 'string' ? c.value.value : '')}::text COLLATE ${INDEXED_COLLATION})`;
  return `EXISTS (SELECT 1 FROM ${tags.table} f WHERE ${tags.join} AND f.key = ${key} AND ${stringPredicate('f.value', c.comparator, c.value, sink)}${indexedValueRange(tags, c, sink)})`;
};

/** The input tag MLflow records a dataset's role in (`mlflow.log_input(ds, context="training")`). */
const DATASET_CONTEXT_TAG = 'mlflow.data.context';

/**
 * `datasets.name` / `datasets.digest` / `datasets.context`: the run has a dataset input that satisfies the
 * comparison (MLflow joins each such comparison to the run's inputs on its own, so `!=` and `NOT IN` also
 * mean "an input whose value is not …", and two comparisons may be met by two different inputs). The
 * context is the input's `mlflow.data.context` tag. Probed by the run's key (`run_inputs` primary key): a
 * dataset filter is checked on each run the search walks.
 */
const datasetExists = (c: FilterComparison, sink: ParamSink): string => {
  const inputs = 'FROM run_inputs f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id';
  switch (c.key) {
    case 'name':
    case 'digest':
      // The input's own column of that name (one of these two literals).
      return `EXISTS (SELECT 1 ${inputs} AND ${stringPredicate(`f.${c.key}`, c.comparator, c.value, sink)})`;
    case 'context':
      return `EXISTS (SELECT 1 ${inputs} AND EXISTS (SELECT 1 FROM jsonb_to_recordset(f.tags) AS t(key text, value text)
        WHERE t.key = ${sink.add(DATASET_CONTEXT_TAG)} AND ${stringPredicate('t.value', c.comparator, c.value, sink)}))`;
    default:
      throw new Error(`unreachable: dataset key ${c.key}`);
  }
};

/** `=` on an indexed-prefix table with a value shorter than the prefix (so the prefix is the whole value). */
const isShortEquality = (tags: TagTableSpec, c: FilterComparison): boolean =>
  tags.indexedPrefix === true && c.comparator === '=' && c.value.kind === 'string' && [...c.value.value].length < INDEXED_VALUE_LENGTH;

/** For `LIKE '<literal>%'` (nothing else) on an indexed-prefix table, the equivalent range of `value_prefix`. */
const prefixOnlyRange = (tags: TagTableSpec, c: FilterComparison, sink: ParamSink): string | undefined => {
  if (tags.indexedPrefix !== true || c.comparator !== 'LIKE' || c.value.kind !== 'string') return undefined;
  const { prefix, rest } = splitLikePattern(c.value.value);
  const chars = [...prefix];
  if (rest !== '%' || chars.length === 0 || chars.length > INDEXED_VALUE_LENGTH) return undefined;
  const upper = successor(chars);
  if (upper === undefined) return undefined;
  const bound = (value: string) => `${sink.add(value)}::text COLLATE ${INDEXED_COLLATION}`;
  return ` AND ${indexedValue('f')} >= ${bound(prefix)} AND ${indexedValue('f')} < ${bound(upper)}`;
};

/**
 * The first characters of a value that run_params / run_tags (migration 0014) and the registry tag tables
 * (0036) index (the generated column
 * `value_prefix`, collation ucs_basic, so that a LIKE prefix is a range of it whatever the database's
 * collation). Values compared with it must be given the same collation (see {@link INDEXED_COLLATION}).
 */
export const indexedValue = (alias: string): string => `${alias}.value_prefix`;
export const INDEXED_COLLATION = 'ucs_basic';
export const INDEXED_VALUE_LENGTH = 200;

/**
 * Redundant conditions on the indexed prefix of param and tag values, so that `=` and a LIKE with a
 * literal prefix can start from the (tenant, key, value) index instead of probing every run: `=` also
 * compares the first 200 characters, `LIKE 'abc%'` also bounds them to ['abc', 'abd'). They never change
 * the result (the full comparison stays). Only on the tables with that index (`indexedPrefix`).
 */
const indexedValueRange = (tags: TagTableSpec, c: FilterComparison, sink: ParamSink): string => {
  if (tags.indexedPrefix !== true || !comparesIndexedValue(c) || c.value.kind !== 'string') return '';
  const column = indexedValue('f');
  // The value was bound last (by stringPredicate): compare its prefix through the same placeholder.
  if (c.comparator === '=') return ` AND ${column} = left(${sink.last()}, ${INDEXED_VALUE_LENGTH}) COLLATE ${INDEXED_COLLATION}`;
  const prefix = [...likePrefix(c.value.value)].slice(0, INDEXED_VALUE_LENGTH);
  const upper = successor(prefix);
  const bound = (value: string) => `${sink.add(value)}::text COLLATE ${INDEXED_COLLATION}`;
  return ` AND ${column} >= ${bound(prefix.join(''))}${upper === undefined ? '' : ` AND ${column} < ${bound(upper)}`}`;
};

/**
 * Whether a param or tag comparison gets a condition on the indexed value prefix (on an `indexedPrefix` table):
 * `=` on a string, or LIKE with a literal prefix. `!=`, ILIKE and a LIKE that starts with a wildcard do not.
 */
const comparesIndexedValue = (c: FilterComparison): boolean =>
  c.value.kind === 'string' && (c.comparator === '=' || (c.comparator === 'LIKE' && likePrefix(c.value.value) !== ''));

/** The literal text a LIKE pattern starts with (up to its first unescaped `%` or `_`; `\\x` is a literal x). */
export const likePrefix = (pattern: string): string => splitLikePattern(pattern).prefix;

/** A LIKE pattern as its literal prefix (escapes resolved) and the rest of the pattern from the first wildcard. */
const splitLikePattern = (pattern: string): { prefix: string; rest: string } => {
  let prefix = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i] as string;
    if (ch === '%' || ch === '_') return { prefix, rest: pattern.slice(i) };
    if (ch === '\\') {
      i += 1;
      if (i < pattern.length) prefix += pattern[i];
      continue;
    }
    prefix += ch;
  }
  return { prefix, rest: '' };
};

/** The smallest string above every string that starts with `chars`, in code point order; undefined if none fits. */
const successor = (chars: readonly string[]): string | undefined => {
  const head = [...chars];
  while (head.length > 0) {
    const last = (head.pop() as string).codePointAt(0) as number;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return head.join('') + String.fromCodePoint(next);
  }
  return undefined;
};

/** A dataset a logged-model search restricts its metrics to (search-logged-models `datasets`). */
export interface DatasetFilter {
  readonly name: string;
  readonly digest?: string | undefined;
}

/** ` AND (<alias>.dataset_name = $a [AND <alias>.dataset_digest = $b] OR ...)`, or '' without datasets. */
const datasetScope = (alias: string, datasets: readonly DatasetFilter[], sink: ParamSink): string => {
  if (datasets.length === 0) return '';
  const any = datasets.map((d) => {
    const name = `${alias}.dataset_name = ${sink.add(d.name)}`;
    return d.digest === undefined ? `(${name})` : `(${name} AND ${alias}.dataset_digest = ${sink.add(d.digest)})`;
  });
  return ` AND (${any.join(' OR ')})`;
};

/** Metric comparators that are one range of a key's values in its index (not `!=`). */
const RANGE_COMPARATORS = new Set(['<', '<=', '>', '>=', '=']);

const compileComparison = (c: FilterComparison, spec: EntitySpec, sink: ParamSink, datasets: readonly DatasetFilter[]): string => {
  switch (c.type) {
    case 'attribute': {
      const found = spec.filterAttributes[c.key];
      if (found === undefined) throw new Error(`unreachable: unknown attribute ${c.key}`);
      return found.spec.kind === 'number'
        ? numericPredicate(found.spec.column, c.comparator, c.value, 'numeric', sink)
        : stringPredicate(found.spec.column, c.comparator, c.value, sink);
    }
    case 'tag':
      return keyValueExists(spec.tags, c, sink);
    case 'param':
      if (spec.params === undefined) throw new Error(`unreachable: params of ${spec.label}`);
      return keyValueExists(spec.params, c, sink);
    case 'metric': {
      // A NaN value only satisfies != (see module comment).
      const key = sink.add(c.key);
      const cmp = numericPredicate('f.value', c.comparator, c.value, 'double precision', sink);
      const nanGuard = c.comparator === '!=' ? `(f.is_nan OR ${cmp})` : `NOT f.is_nan AND ${cmp}`;
      if (spec.metrics === 'run_latest') {
        // Runs compare the latest value of the metric (MLflow joins latest_metrics).
        // The row's copy of its run's experiment (migration 0043), as for params and tags.
        // float8 orders NaN above every number, so `< 'NaN'` is "not NaN" as an index range (no heap read).
        if (RANGE_COMPARATORS.has(c.comparator)) sink.metricRanges.push(`f.key = ${key} AND ${cmp} AND f.value < 'NaN'::float8`);
        return `EXISTS (SELECT 1 FROM run_latest_metrics f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.key = ${key} AND f.run_experiment_id = r.experiment_id AND ${nanGuard})`;
      }
      if (spec.metrics === 'logged_model') {
        // Logged models match when any point linked to them does, on any of the requested datasets
        // (MLflow's SQL store joins logged_model_metrics the same way).
        return `EXISTS (SELECT 1 FROM logged_model_metrics f WHERE f.model_id = lm.id AND f.key = ${key} AND ${nanGuard}${datasetScope('f', datasets, sink)})`;
      }
      throw new Error(`unreachable: metrics of ${spec.label}`);
    }
    case 'dataset':
      return datasetExists(c, sink);
  }
};

const compileFilter = (
  filter: string | undefined | null,
  entity: SearchEntity,
  options: CompileOptions | undefined,
  datasets: readonly DatasetFilter[] = [],
): CompiledSql => {
  const { sql, params } = compileComparisons(parseSearchFilter(filter, entity), entity, options, datasets);
  return { sql, params };
};

const compileComparisons = (
  comparisons: readonly FilterComparison[],
  entity: SearchEntity,
  options: CompileOptions | undefined,
  datasets: readonly DatasetFilter[] = [],
): CompiledSql & { readonly metricRanges: readonly string[] } => {
  const spec = SPECS[entity];
  const sink = new ParamSink(options);
  const parts = comparisons.map((c) => compileComparison(c, spec, sink, datasets));
  if (datasets.length > 0 && !comparisons.some((c) => c.type === 'metric')) {
    // Datasets without a metric comparison keep the models with any metric on those datasets (MLflow).
    parts.push(`EXISTS (SELECT 1 FROM logged_model_metrics f WHERE f.model_id = lm.id${datasetScope('f', datasets, sink)})`);
  }
  if (parts.length === 0) return { sql: 'TRUE', params: [], metricRanges: [] };
  return { sql: parts.length === 1 ? (parts[0] as string) : parts.map((p) => `(${p})`).join(' AND '), params: sink.params, metricRanges: sink.metricRanges };
};

/**
 * Compiles a search-runs filter to a boolean SQL expression over the run row aliased `r` (table `runs`),
 * using EXISTS subqueries on `run_params`, `run_tags` and `run_latest_metrics`. An empty filter gives
 * `TRUE`. Placeholders are numbered from `firstParam`; `params` lists their values in order (strings,
 * numeric literals as strings cast in SQL, and string arrays for IN lists). Put the expression in
 * parentheses when combining it with other conditions.
 *
 * Semantics (as MLflow's SQL store): `params.`/`tags.`/`metrics.` comparisons, `!=` included, only match
 * runs that have the key; metrics compare the latest logged value; LIKE/ILIKE patterns are bound as
 * parameters and keep PostgreSQL's `\` escape. The expression does not restrict experiments, lifecycle
 * stage or tenant: the caller adds those (tenancy comes from row-level security).
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for invalid filters.
 */
export const compileRunFilter = (filter: string | undefined | null, options?: CompileOptions): CompiledRunFilter => {
  const comparisons = parseSearchFilter(filter, 'run');
  return {
    ...compileComparisons(comparisons, 'run', options),
    comparesIndexedValue: comparisons.some((c) => (c.type === 'param' || c.type === 'tag') && comparesIndexedValue(c)),
  };
};

export interface CompiledRunFilter extends CompiledSql {
  /** A param or tag comparison reads the indexed value prefix (`=`, LIKE with a literal prefix). */
  readonly comparesIndexedValue: boolean;
  /**
   * Each latest-metric comparison that is one range of the key's values (`<`, `<=`, `>`, `>=`, `=`), as a
   * condition over `run_latest_metrics f` on its key and value alone, an index range (the same placeholders
   * as `sql`): the rows of the metric's index a run must have to match.
   */
  readonly metricRanges: readonly string[];
}

/**
 * Compiles a search-experiments filter (`name`, `creation_time`, `last_update_time`, `tags.<key>`) to a
 * boolean SQL expression over the experiment row aliased `e`. Same contract as {@link compileRunFilter};
 * the caller adds the lifecycle-stage (view type) condition.
 */
export const compileExperimentFilter = (filter: string | undefined | null, options?: CompileOptions): CompiledSql =>
  compileFilter(filter, 'experiment', options);

/**
 * Compiles a search-registered-models filter (`name`, `tags.<key>`) to a boolean SQL expression over the
 * registered model row aliased `m`. Same contract as {@link compileRunFilter}.
 */
export const compileRegisteredModelFilter = (filter: string | undefined | null, options?: CompileOptions): CompiledSql =>
  compileFilter(filter, 'registered_model', options);

/**
 * Compiles a search-model-versions filter (`name`, `version_number`, `run_id` incl. `IN (...)`,
 * `source_path`, `tags.<key>`) to a boolean SQL expression over the model version row aliased `v`.
 * Same contract as {@link compileRunFilter}. The caller must still exclude soft-deleted versions
 * (MLflow filters `current_stage != 'Deleted_Internal'` outside the user's filter).
 */
export const compileModelVersionFilter = (filter: string | undefined | null, options?: CompileOptions): CompiledSql =>
  compileFilter(filter, 'model_version', options);

/**
 * Compiles a search-logged-models filter (attributes `name`, `model_id`, `model_type`, `source_run_id`,
 * `status`, `creation_timestamp` / `creation_time`, `last_updated_timestamp`; `metrics.`, `params.`,
 * `tags.`) to a boolean SQL expression over the logged model row aliased `lm`. Same contract as
 * {@link compileRunFilter}, except for metrics: a model matches when any metric point linked to it
 * matches (not only the latest), restricted to `datasets` when some are given; datasets without a metric
 * comparison keep the models that have any metric on them (MLflow's SQL store). The caller restricts
 * experiments and the lifecycle stage.
 */
export const compileLoggedModelFilter = (
  filter: string | undefined | null,
  options?: CompileOptions & { readonly datasets?: readonly DatasetFilter[] },
): CompiledSql => compileFilter(filter, 'logged_model', options, options?.datasets ?? []);

// ---------------------------------------------------------------------------------------------
// order_by

const parseRawOrderBy = (clause: string): { parts: IdentifierPart[]; ascending: boolean } => {
  if (typeof clause !== 'string' || clause.trim() === '') throw invalid(`Invalid order_by clause '${excerpt(String(clause))}'. Could not be parsed.`);
  const cur = new TokenCursor(lex(clause), clause);
  const parts = parseIdentifier(cur, 'order_by clause');
  let ascending = true;
  const dir = cur.next();
  if (dir !== undefined) {
    if (cur.isKeyword(dir, 'ASC')) ascending = true;
    else if (cur.isKeyword(dir, 'DESC')) ascending = false;
    else throw invalid(`Invalid ordering key in order_by clause '${excerpt(clause)}'.`);
  }
  if (!cur.atEnd()) throw invalid(`Invalid order_by clause '${excerpt(clause)}'. Could not be parsed.`);
  return { parts, ascending };
};

interface OrderSpec {
  readonly label: string;
  readonly prefixes: Readonly<Record<string, KeyType>>;
  /** Orderable attributes by accepted spelling → canonical key and trusted column. */
  readonly attributes: Readonly<Record<string, { readonly canonical: string; readonly column: string }>>;
}

const RUN_ORDER: OrderSpec = {
  label: 'runs',
  prefixes: RUN_SPEC.prefixes,
  attributes: {
    run_id: { canonical: 'run_id', column: 'r.id' },
    run_name: { canonical: 'run_name', column: 'r.name' },
    user_id: { canonical: 'user_id', column: 'r.user_id' },
    status: { canonical: 'status', column: 'r.status' },
    start_time: { canonical: 'start_time', column: 'r.start_time' },
    created: { canonical: 'start_time', column: 'r.start_time' },
    Created: { canonical: 'start_time', column: 'r.start_time' },
    end_time: { canonical: 'end_time', column: 'r.end_time' },
    artifact_uri: { canonical: 'artifact_uri', column: 'r.artifact_uri' },
  },
};

const EXPERIMENT_ORDER: OrderSpec = {
  label: 'experiments',
  prefixes: REGISTRY_PREFIXES,
  attributes: {
    name: { canonical: 'name', column: 'e.name' },
    experiment_id: { canonical: 'experiment_id', column: 'e.id' },
    creation_time: { canonical: 'creation_time', column: 'e.creation_time' },
    last_update_time: { canonical: 'last_update_time', column: 'e.last_update_time' },
  },
};

const REGISTERED_MODEL_ORDER: OrderSpec = {
  label: 'registered models',
  prefixes: REGISTRY_PREFIXES,
  attributes: {
    name: { canonical: 'name', column: 'm.name' },
    // MLflow's SQL store sorts both `timestamp` and `last_updated_timestamp` by last update time.
    timestamp: { canonical: 'last_updated_timestamp', column: 'm.last_updated_time' },
    last_updated_timestamp: { canonical: 'last_updated_timestamp', column: 'm.last_updated_time' },
    creation_timestamp: { canonical: 'creation_timestamp', column: 'm.creation_time' },
  },
};

const MODEL_VERSION_ORDER: OrderSpec = {
  label: 'model versions',
  prefixes: REGISTRY_PREFIXES,
  attributes: {
    name: { canonical: 'name', column: 'v.name' },
    version_number: { canonical: 'version_number', column: 'v.version' },
    creation_timestamp: { canonical: 'creation_timestamp', column: 'v.creation_time' },
    last_updated_timestamp: { canonical: 'last_updated_timestamp', column: 'v.last_updated_time' },
  },
};

// SqlLoggedModel's columns and ALIASES (creation_time → creation_timestamp_ms, ...).
const LOGGED_MODEL_ORDER: OrderSpec = {
  label: 'logged models',
  prefixes: { metrics: 'metric' },
  attributes: {
    name: { canonical: 'name', column: 'lm.name' },
    model_id: { canonical: 'model_id', column: 'lm.id' },
    experiment_id: { canonical: 'experiment_id', column: 'lm.experiment_id' },
    model_type: { canonical: 'model_type', column: 'lm.model_type' },
    source_run_id: { canonical: 'source_run_id', column: 'lm.source_run_id' },
    status: { canonical: 'status', column: 'lm.status' },
    creation_time: { canonical: 'creation_timestamp', column: 'lm.creation_time' },
    creation_timestamp: { canonical: 'creation_timestamp', column: 'lm.creation_time' },
    creation_timestamp_ms: { canonical: 'creation_timestamp', column: 'lm.creation_time' },
    last_updated_timestamp: { canonical: 'last_updated_timestamp', column: 'lm.last_updated_time' },
    last_updated_timestamp_ms: { canonical: 'last_updated_timestamp', column: 'lm.last_updated_time' },
  },
};

const ORDER_SPECS: Readonly<Record<SearchEntity, OrderSpec>> = {
  run: RUN_ORDER,
  experiment: EXPERIMENT_ORDER,
  registered_model: REGISTERED_MODEL_ORDER,
  model_version: MODEL_VERSION_ORDER,
  logged_model: LOGGED_MODEL_ORDER,
};

/**
 * Parses one `order_by` clause (`metrics.rmse DESC`, `` params.`batch size` ``, `name ASC`) for an
 * entity. Attribute keys come back canonical. Only runs can be ordered by metrics, params and tags.
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for an unknown key, prefix or direction, or trailing text.
 */
export const parseOrderBy = (clause: string, entity: SearchEntity): OrderByTerm => {
  const spec = ORDER_SPECS[entity];
  const { parts, ascending } = parseRawOrderBy(clause);
  const { type, key } = resolveIdentifier(parts, { ...SPECS[entity], prefixes: spec.prefixes });
  if (type === 'attribute') {
    const found = Object.hasOwn(spec.attributes, key) ? spec.attributes[key] : undefined;
    if (found === undefined) {
      throw invalid(
        `Invalid order_by key '${excerpt(key)}' specified for ${spec.label}. Valid keys are ${formatSet(Object.keys(spec.attributes))}`,
      );
    }
    return { type, key: found.canonical, ascending };
  }
  if (entity !== 'run' || type === 'dataset') throw invalid(`Invalid order_by entity '${type}' for ${spec.label}`);
  return { type, key, ascending };
};

const direction = (ascending: boolean): string => (ascending ? 'ASC' : 'DESC');

const checkOrderByList = (orderBy: unknown): readonly string[] => {
  if (orderBy === undefined || orderBy === null) return [];
  if (!Array.isArray(orderBy) || !orderBy.every((c) => typeof c === 'string')) {
    throw invalid('order_by must be a list of strings');
  }
  return orderBy;
};

/**
 * Compiles search-runs `order_by` clauses to the list that follows `ORDER BY` (without the keyword),
 * over the run row aliased `r`.
 *
 * Metrics, params and tags are ordered through correlated scalar subqueries (keys bound as parameters,
 * numbered from `firstParam`), so the caller's FROM clause needs no extra joins; this relies on one
 * row per (run_id, key) in `run_params`, `run_tags` and `run_latest_metrics`. As in MLflow: runs
 * missing the key sort last in both directions; for metrics, real values come first, then NaN, then
 * missing; attributes sort NULLs last. Unless the list orders by `start_time` (or `created`),
 * `r.start_time DESC` follows; `r.id ASC` always ends the list so paging by offset is stable.
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for an invalid clause or a field ordered twice.
 */
export const compileRunOrderBy = (orderBy: readonly string[] | undefined | null, options?: CompileOptions): CompiledSql => {
  const sink = new ParamSink(options);
  const terms: string[] = [];
  const seen = new Set<string>();
  for (const clause of checkOrderByList(orderBy)) {
    const term = parseOrderBy(clause, 'run');
    const identity = `${term.type}\u0000${term.key}`;
    if (seen.has(identity)) throw invalid(`order_by contains duplicate fields: ${excerpt(JSON.stringify(orderBy))}`);
    seen.add(identity);
    const dir = direction(term.ascending);
    switch (term.type) {
      case 'attribute': {
        const column = RUN_ORDER.attributes[term.key]?.column;
        if (column === undefined) throw new Error(`unreachable: unknown order attribute ${term.key}`);
        terms.push(`${column} ${dir} NULLS LAST`);
        break;
      }
      case 'metric': {
        const key = sink.add(term.key);
        const from = `FROM run_latest_metrics o WHERE o.run_id = r.id AND o.key = ${key}`;
        terms.push(`COALESCE((SELECT CASE WHEN o.is_nan THEN 1 ELSE 0 END ${from}), 2) ASC`);
        terms.push(`(SELECT o.value ${from} AND NOT o.is_nan) ${dir} NULLS LAST`);
        break;
      }
      case 'param':
      case 'tag': {
        const table = term.type === 'param' ? 'run_params' : 'run_tags';
        terms.push(`(SELECT o.value FROM ${table} o WHERE o.run_id = r.id AND o.key = ${sink.add(term.key)}) ${dir} NULLS LAST`);
        break;
      }
      case 'dataset':
        throw new Error('unreachable: datasets are refused by parseOrderBy');
    }
  }
  if (!seen.has(`attribute\u0000start_time`)) terms.push('r.start_time DESC');
  if (!seen.has(`attribute\u0000run_id`)) terms.push('r.id ASC');
  return { sql: terms.join(', '), params: sink.params };
};

/**
 * Parses search-runs `order_by` clauses into terms (attribute keys canonical), as {@link compileRunOrderBy}
 * does, for callers that build their own ORDER BY (the keyset search in run-search.ts).
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for an invalid clause or a field ordered twice.
 */
export const parseRunOrderBy = (orderBy: readonly string[] | undefined | null): OrderByTerm[] => {
  const seen = new Set<string>();
  return checkOrderByList(orderBy).map((clause) => {
    const term = parseOrderBy(clause, 'run');
    const identity = `${term.type}\u0000${term.key}`;
    if (seen.has(identity)) throw invalid(`order_by contains duplicate fields: ${excerpt(JSON.stringify(orderBy))}`);
    seen.add(identity);
    return term;
  });
};

/** The trusted column of a canonical run attribute that `order_by` accepts (`start_time` → `r.start_time`). */
export const runOrderColumn = (key: string): string => {
  const column = RUN_ORDER.attributes[key]?.column;
  if (column === undefined) throw new Error(`unreachable: unknown order attribute ${key}`);
  return column;
};

const compileAttributeOrderBy = (
  entity: SearchEntity,
  clauses: readonly string[],
  tieBreakers: readonly { readonly key: string; readonly sql: string }[],
  rejectDuplicates: boolean,
): CompiledSql => {
  const spec = ORDER_SPECS[entity];
  const seen = new Set<string>();
  const terms: string[] = [];
  for (const clause of clauses) {
    const term = parseOrderBy(clause, entity);
    if (term.type !== 'attribute') throw invalid(`Invalid order_by entity '${term.type}' for ${spec.label}`);
    if (rejectDuplicates && seen.has(term.key)) throw invalid(`order_by contains duplicate fields: ${excerpt(JSON.stringify(clauses))}`);
    seen.add(term.key);
    const column = spec.attributes[term.key]?.column;
    if (column === undefined) throw new Error(`unreachable: unknown order attribute ${term.key}`);
    terms.push(`${column} ${direction(term.ascending)}`);
  }
  for (const tie of tieBreakers) if (!seen.has(tie.key)) terms.push(tie.sql);
  return { sql: terms.join(', '), params: [] };
};

/**
 * Compiles search-experiments `order_by` (keys `name`, `experiment_id`, `creation_time`,
 * `last_update_time`) to the list that follows `ORDER BY`, over alias `e`. Empty means MLflow's default
 * `creation_time DESC, experiment_id ASC`; otherwise `e.id DESC` breaks ties unless ordered explicitly.
 * `params` is always empty (no user text is needed in the SQL). Throws INVALID_PARAMETER_VALUE.
 */
export const compileExperimentOrderBy = (orderBy: readonly string[] | undefined | null): CompiledSql => {
  const list = checkOrderByList(orderBy);
  return compileAttributeOrderBy(
    'experiment',
    list.length > 0 ? list : ['creation_time DESC', 'experiment_id ASC'],
    [{ key: 'experiment_id', sql: 'e.id DESC' }],
    false,
  );
};

/**
 * Compiles search-registered-models `order_by` (keys `name`, `timestamp` / `last_updated_timestamp`,
 * `creation_timestamp`) to the list that follows `ORDER BY`, over alias `m`; `m.name ASC` ends the list
 * unless `name` is ordered explicitly. Throws INVALID_PARAMETER_VALUE, also for a field ordered twice.
 */
export const compileRegisteredModelOrderBy = (orderBy: readonly string[] | undefined | null): CompiledSql =>
  compileAttributeOrderBy('registered_model', checkOrderByList(orderBy), [{ key: 'name', sql: 'm.name ASC' }], true);

/**
 * Compiles search-model-versions `order_by` (keys `name`, `version_number`, `creation_timestamp`,
 * `last_updated_timestamp`) to the list that follows `ORDER BY`, over alias `v`. Empty means MLflow's
 * default `last_updated_timestamp DESC, name ASC, version_number DESC`; `v.name ASC` and
 * `v.version DESC` break ties. Throws INVALID_PARAMETER_VALUE, also for a field ordered twice.
 */
export const compileModelVersionOrderBy = (orderBy: readonly string[] | undefined | null): CompiledSql => {
  const list = checkOrderByList(orderBy);
  return compileAttributeOrderBy(
    'model_version',
    list.length > 0 ? list : ['last_updated_timestamp DESC', 'name ASC', 'version_number DESC'],
    [
      { key: 'name', sql: 'v.name ASC' },
      { key: 'version_number', sql: 'v.version DESC' },
    ],
    true,
  );
};

/** One `order_by` entry of search-logged-models, as the client sends it (SearchLoggedModels.OrderBy). */
export interface LoggedModelOrderByInput {
  readonly field_name?: unknown;
  readonly ascending?: unknown;
  readonly dataset_name?: unknown;
  readonly dataset_digest?: unknown;
}

const optionalText = (what: string, value: unknown): string | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(`Invalid value for ${what}: expected a string`);
  return value;
};

/** One term of a compiled logged-model order: a trusted SQL expression over `lm`, its type and direction. */
export interface LoggedModelOrderTerm {
  readonly sql: string;
  readonly type: 'text' | 'bigint' | 'float8';
  readonly ascending: boolean;
  /** Sorted NULLS LAST; a non-nullable term has no NULLS clause. */
  readonly nullable: boolean;
  /** For an attribute: the logged_models column (`sql` is `lm.<column>`). */
  readonly column?: string;
  /**
   * For a metric: its key and dataset selector as logged_model_latest_metrics keys them (migration
   * 0039: '' = any dataset / any digest), for searches that read that table's index directly.
   */
  readonly metric?: { readonly key: string; readonly datasetName: string; readonly datasetDigest: string };
}

/**
 * The logged-model columns an order may name (logged_models in migration 0009): type, and whether the
 * column may be NULL. NOT NULL columns are non-nullable terms: `name DESC` rather than `name DESC NULLS
 * LAST`, the same order for such a column, but one a backward index scan provides (an index sorts NULLs
 * first in descending order, so the planner cannot read `DESC NULLS LAST` from it).
 */
const LOGGED_MODEL_COLUMNS: Readonly<Record<string, { readonly type: 'text' | 'bigint'; readonly nullable: boolean }>> = {
  'lm.name': { type: 'text', nullable: false },
  'lm.id': { type: 'text', nullable: false },
  'lm.experiment_id': { type: 'bigint', nullable: false },
  'lm.model_type': { type: 'text', nullable: true },
  'lm.source_run_id': { type: 'text', nullable: true },
  'lm.status': { type: 'text', nullable: false },
  'lm.creation_time': { type: 'bigint', nullable: false },
  'lm.last_updated_time': { type: 'bigint', nullable: false },
};

/**
 * Compiles search-logged-models `order_by` (a list of `{field_name, ascending, dataset_name,
 * dataset_digest}` objects, not strings) to the list that follows `ORDER BY`, over alias `lm`.
 *
 * As MLflow's SQL store: `field_name` is an attribute (`name`, `model_id`, `creation_timestamp` /
 * `creation_time`, `last_updated_timestamp`, `status`, `model_type`, `source_run_id`, `experiment_id`)
 * or `metrics.<key>`, which orders by the model's latest point of that metric (by timestamp, then step,
 * then the largest value), on the given dataset when `dataset_name` (and `dataset_digest`) are set, as
 * logged_model_latest_metrics keeps it (migration 0039). Missing values sort last in both directions;
 * NaN sorts as PostgreSQL orders float8, above every number. Unless ordered by creation time, `lm.creation_time DESC` follows; `lm.id ASC` ends the
 * list so the order is total (keyset pages need that). Metric keys and dataset names are bound from `firstParam`.
 *
 * Throws MlflowError INVALID_PARAMETER_VALUE for a malformed entry, an unknown field, a prefix other
 * than `metrics.`, or a dataset on a non-metric field / a digest without a dataset name.
 */
export const compileLoggedModelOrderBy = (orderBy: unknown, options?: CompileOptions): CompiledSql & { readonly terms: readonly LoggedModelOrderTerm[] } => {
  const sink = new ParamSink(options);
  if (orderBy === undefined || orderBy === null) orderBy = [];
  if (!Array.isArray(orderBy)) throw invalid('order_by must be a list of {field_name, ascending} objects');
  const terms: LoggedModelOrderTerm[] = [];
  const seen = new Set<string>();
  for (const entry of orderBy as unknown[]) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw invalid('Each order_by entry must be an object with a field_name, e.g. {"field_name": "metrics.accuracy", "ascending": false}');
    }
    const { field_name: rawField, ascending: rawAscending, dataset_name: rawDataset, dataset_digest: rawDigest } = entry as LoggedModelOrderByInput;
    const field = optionalText('order_by.field_name', rawField);
    if (field === undefined) throw invalid("Missing value for required parameter 'order_by.field_name'.");
    if (rawAscending !== undefined && rawAscending !== null && typeof rawAscending !== 'boolean') {
      throw invalid(`Invalid value for order_by.ascending of '${excerpt(field)}': expected true or false`);
    }
    const ascending = rawAscending !== false;
    const dataset = optionalText('order_by.dataset_name', rawDataset);
    const digest = optionalText('order_by.dataset_digest', rawDigest);
    if (digest !== undefined && dataset === undefined) throw invalid('order_by.dataset_digest may only be set together with order_by.dataset_name');
    const dot = field.indexOf('.');
    if (dot < 0) {
      const found = Object.hasOwn(LOGGED_MODEL_ORDER.attributes, field) ? LOGGED_MODEL_ORDER.attributes[field] : undefined;
      if (found === undefined) {
        throw invalid(`Invalid order by field name: ${excerpt(field)}. Valid attributes are ${formatSet(Object.keys(LOGGED_MODEL_ORDER.attributes))}`);
      }
      if (dataset !== undefined) throw invalid(`order_by.dataset_name may only be set for a metric, not '${excerpt(field)}'`);
      seen.add(found.canonical);
      const column = LOGGED_MODEL_COLUMNS[found.column];
      if (column === undefined) throw new Error(`logged-model order: no type for ${found.column}`);
      terms.push({ sql: found.column, type: column.type, ascending, nullable: column.nullable, column: found.column.slice('lm.'.length) });
      continue;
    }
    const entity = field.slice(0, dot);
    const key = field.slice(dot + 1);
    if (entity !== 'metrics' || key === '') throw invalid(`Invalid order by field name: ${excerpt(field)}. Only metrics are supported.`);
    // The model's latest point of the key on the selector, kept by log-batch (migration 0039): one
    // primary-key probe per model here; searches that can read the table's index do (logged-model-service.ts).
    const metric = { key, datasetName: dataset ?? '', datasetDigest: digest ?? '' };
    const sql = `(SELECT o.value FROM logged_model_latest_metrics o WHERE o.tenant_id = lm.tenant_id AND o.model_id = lm.id AND o.key = ${sink.add(key)}`
      + ` AND o.dataset_name = ${sink.add(metric.datasetName)} AND o.dataset_digest = ${sink.add(metric.datasetDigest)})`;
    terms.push({ sql, type: 'float8', ascending, nullable: true, metric });
  }
  if (!seen.has('creation_timestamp')) terms.push({ sql: 'lm.creation_time', type: 'bigint', ascending: false, nullable: false, column: 'creation_time' });
  if (!seen.has('model_id')) terms.push({ sql: 'lm.id', type: 'text', ascending: true, nullable: false, column: 'id' });
  const sql = terms.map((t) => `${t.sql} ${direction(t.ascending)}${t.nullable ? ' NULLS LAST' : ''}`).join(', ');
  return { sql, params: sink.params, terms };
};
