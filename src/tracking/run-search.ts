/**
 * search-runs as keyset pages: the SQL of one page, and the page token that carries the last row's place in
 * the order. Pure: no IO (the tracking service runs the statements).
 *
 * Why keyset and segments (issue 20). An OFFSET page costs every row before it, and an `order_by` on a
 * metric written as `COALESCE(class) ASC, (subquery) DESC NULLS LAST` can only be sorted after computing it
 * for every run. Instead the order is split by its first term into segments that each follow an index
 * (migration 0014), and a page resumes strictly after the last row it returned:
 *
 * - first term an attribute, or no `order_by`: one segment over `runs` (the default order, start_time DESC
 *   then run id, is the `runs_search_idx` order; `run_name` follows `runs_name_idx`, `user_id`
 *   `runs_user_idx`; other attributes are sorted), except `status` alone: one segment per status, each in
 *   `runs_status_idx` order, and `end_time`: the runs with an end time in `runs_end_time_idx` order, then
 *   those without;
 * - first term `metrics.k`: (0) runs with a real latest value, joined from `run_latest_metrics` in value
 *   order through `run_latest_metrics_search_idx` (the experiment's part, migration 0043; for the metric
 *   alone, then MLflow's tail as the row carries it, migration 0046); (1) runs whose
 *   latest value is NaN; (2) runs without the metric. MLflow's order: real values, then NaN, then missing,
 *   in both directions;
 * - first term `params.k` / `tags.k`: (0) runs with the key, in value order (index on the first 200
 *   characters, `value_prefix`, in the ucs_basic collation, then the whole value in the same collation, so
 *   the order is code point order on every database); (1) runs without the key.
 *
 * An index's other direction (an ascending metric alone, ascending end time, descending name or user) is
 * read in windows of the index when the search has no filter (groupRows), so a large group of equal values
 * costs a page, not the group.
 *
 * Inside a segment the remaining terms follow as before (correlated lookups by primary key), then
 * `start_time DESC` unless ordered, then the run id unless ordered: the order is total, so "after the last
 * row" is exact. A page asks segment after segment until it has max_results + 1 rows; the token holds the
 * segment and the sort keys of the page's last row (as PostgreSQL prints them: float8 and bigint text is
 * exact), so runs inserted or changed elsewhere in the order between two pages neither repeat nor shift the
 * next page. A run's own keys changing between pages may move it, as in any keyset scheme.
 *
 * Every experiment is searched through its own LATERAL subquery with its own LIMIT (so that each walks its
 * own index range), and the outer query merges them.
 *
 * Security: as in search-filter.ts, keys and values are bound parameters; SQL text comes from this file
 * and the search compiler. Tenancy comes from row-level security (the caller's withTenant); the page token
 * is checked against the search it was made for and its values against their types before any SQL.
 */
import { createHash } from 'node:crypto';
import { decodePageToken, encodePageToken, invalidPageToken } from './page-token.ts';
import { INDEXED_COLLATION, compileRunFilter, indexedValue, parseRunOrderBy, runOrderColumn } from './search-filter.ts';
import type { OrderByTerm } from './search-filter.ts';

type SortType = 'float8' | 'bigint' | 'int' | 'text';

interface SortTerm {
  /** Trusted SQL over `r` (runs) and, in a joined segment, `s`; placeholders already bound. */
  readonly sql: string;
  readonly type: SortType;
  readonly ascending: boolean;
  readonly nullable: boolean;
  /** The collation its values compare in, when not the database's default (text in ucs_basic). */
  readonly collation?: string;
}

interface Segment {
  /** A JOIN clause (segment 0 of a metric, param or tag order), or ''. */
  readonly join: string;
  /** An extra condition, or ''. */
  readonly where: string;
  readonly terms: readonly SortTerm[];
  /**
   * Segment 0 of an order by one param or tag and nothing else: its rows are read from the table's
   * per-experiment order indexes (migration 0040), not through a join, in two parts merged by the statement —
   * short values (the value is its prefix: the index order is the whole order) and long ones (sorted by
   * the whole value). Its terms are over `s` alone (the run's start time and id as the row carries them).
   */
  readonly keyOrder?: { readonly table: 'run_params' | 'run_tags'; readonly key: string };
  /**
   * Set when the segment's terms are [lead, start_time DESC, run id] and an index holds (lead, start_time
   * DESC, run id) with the lead in the other direction: the rows are read in windows of the index
   * (groupRows), each group of equal values forward, instead of walking the index backwards and sorting each
   * group (which reads a whole group however large) — with a filter, when the planner would walk backwards
   * (PageQuery.walk). `table` (alias d) holds `column`, its
   * experiment in `experimentColumn`; `where` are conditions over d that the segment's rows meet (its
   * index's predicate).
   */
  readonly groups?: {
    readonly table: 'runs' | 'run_latest_metrics';
    readonly column: string;
    readonly experimentColumn: string;
    readonly where: readonly string[];
    /** The index (walked backwards by a plain statement in this order): PageQuery.walk. */
    readonly index: string;
  };
}

/** Where a page starts: after the row of `segment` whose sort keys were `keys`. */
export interface RunCursor {
  readonly segment: number;
  readonly keys: readonly (string | null)[];
}

export interface RunSearchInput {
  readonly filter: string | undefined | null;
  readonly orderBy: readonly string[] | undefined | null;
  readonly experimentIds: readonly number[];
  /**
   * Whose runs: the caller's own tenant, or the owner of a shared experiment (issue 15: there row-level
   * security also admits the caller's own runs of the same experiment id, and this keeps them out). Every
   * table the statements read is compared with it (`r.tenant_id = $owner`, and `x.tenant_id = r.tenant_id`
   * for params, tags and metrics), although row-level security stays in force and decides what is visible:
   * with the share policies of migration 0022 ORed to `tenant_isolation`, RLS alone gives the planner no
   * tenant to start an index range from, and a metric filter became a walk of every row of the key
   * (measured at 100k runs: 152 ms instead of 22).
   */
  readonly tenantId: string;
  readonly stages: readonly string[];
  /**
   * Whether a metric range of the filter that holds few runs is read first (see `narrowed` in
   * planRunSearch); default true. Tests turn it off to check the other statements against a reference.
   */
  readonly narrowMetricRanges?: boolean;
}

/**
 * One statement: its SQL and parameters. Rows: `run_id`, `keys` (the sort keys as a JSON array of strings
 * and nulls, in text: only the page's last row becomes a token, so only its keys are parsed — decoding a
 * text[] for each of 1,001 rows was 2–3 ms of the server's thread per 1,000-row page).
 */
export interface PageQuery {
  readonly sql: string;
  readonly params: unknown[];
  /**
   * With a filter, a segment whose order runs against its index (Segment.groups) has a second statement for
   * the same rows: the index read in windows, the filter tested on each run as it is reached. Which is
   * cheaper depends on how selective the filter is, which only the planner estimates: when it plans `sql`
   * as a backward walk of `index` (planWalksBackward), each group of equal values would be read whole and
   * sorted, and the windows read about a page's worth of matches instead; otherwise the planner reads the
   * filter's matches first and `sql` is the one to run (docs/tracking.md, "Search at scale").
   */
  readonly walk?: { readonly sql: string; readonly params: unknown[]; readonly index: string };
}

export interface RunSearchPlan {
  readonly segmentCount: number;
  /** Run first in each transaction of the search: RUN_SEARCH_SETTINGS, plus what this form needs (below). */
  readonly settings: string;
  /** The statement for `limit` rows of `segment`, after `after` when given (a cursor of the same segment). */
  query(segment: number, limit: number, after?: RunCursor): PageQuery;
  encodeToken(cursor: RunCursor): string;
  /** Throws INVALID_PARAMETER_VALUE for a token that is malformed or belongs to another search. */
  decodeToken(token: string | undefined | null): RunCursor | undefined;
}

/**
 * Run first in a search transaction: sequential scans off for its statements (SET LOCAL). Every form has an
 * index path whose cost follows the rows it reads, and the tables are shared by all tenants: a sequential
 * scan reads every tenant's rows (row-level security filters them afterwards), so one tenant's million
 * runs would slow every other tenant's search. Measured on PostgreSQL at 100k runs, the planner otherwise
 * picked a sequential scan of run_tags for `params.a = '3' AND tags.t LIKE 'x%'` (one tag in two matches
 * the prefix): 88 ms, against 67 ms through the indexes. The setting is a cost penalty, not a ban: a
 * statement with no index path would still run.
 *
 * Materialize off too: the one shape in which a search reads rows quadratically is a nested loop whose
 * inner side is materialized once and compared with every outer run through a join filter (`r.id =
 * f.run_id` checked for each pair, no index). The planner costs that comparison at a fraction of a probe,
 * so it picks it when a filter's matches look few: measured on PGlite at 10k runs, `params.a = '3' AND
 * tags.t LIKE 'x%'` compared 2,018 runs with 500 matches (1.3 s instead of 40 ms), and the share-policy
 * regression of issue 20 (a metric filter at 100k runs on PostgreSQL) removed 10M pairs by join filter.
 * Without Materialize the planner probes by index or hashes. No plan of the indexed forms on PostgreSQL
 * used a Materialize node before this (run-search-plans.int.test.ts).
 */
export const RUN_SEARCH_SETTINGS = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_material', 'off', true)";

/**
 * Added for a filter with an indexed condition on a param or a tag value (`=`, or LIKE with a literal
 * prefix) and an order whose first key is a param or a tag: incremental sort off. With it, the planner may
 * walk the order's index (few distinct values, so groups of thousands of runs) and test the filter on each
 * run, betting that the matches are spread evenly along the order;
 * params and tags are often correlated (a tag that implies a param value), and then the walk reads every
 * group before the one holding the matches. Measured on PostgreSQL at 100k runs, `tags.t = 'x42'` +
 * `order_by params.a, metrics.m0 DESC`, 100 rows (the seed's x42 runs all have a = 2): 234–299 ms walking,
 * 18 ms reading the 1,000 matching runs and sorting them. Without incremental sort a walk would have to
 * sort everything it reads, so the filter's matches are read first: bounded by them, as a filter on the
 * order's own key is. Only this combination: an order on a metric (distinct values) has no such groups;
 * with no param or tag filter the walk is the only index path; and a `!=` (or a LIKE without a prefix)
 * usually keeps most runs, so reading its matches first costs more than the walk (measured on PGlite at
 * 100k runs: `params.p2 != '3' and metrics.loss > 0.5` + `order_by params.p3 DESC`, 100 rows, 107 ms walking
 * and 323 ms reading and sorting the 50k matches).
 */
const CORRELATED_ORDER_SETTINGS = ", set_config('enable_incremental_sort', 'off', true)";

const ATTRIBUTE_TYPES: Readonly<Record<string, { type: SortType; nullable: boolean }>> = {
  run_id: { type: 'text', nullable: false },
  run_name: { type: 'text', nullable: false },
  user_id: { type: 'text', nullable: false },
  status: { type: 'text', nullable: false },
  start_time: { type: 'bigint', nullable: false },
  end_time: { type: 'bigint', nullable: true },
  artifact_uri: { type: 'text', nullable: false },
};

const KEY_TABLES = { metric: 'run_latest_metrics', param: 'run_params', tag: 'run_tags' } as const;

class Params {
  readonly values: unknown[];

  constructor(initial: readonly unknown[]) {
    this.values = [...initial];
  }

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The sort terms of one `order_by` term when it is not the first (or is an attribute). */
const laterTerms = (term: OrderByTerm, params: Params): SortTerm[] => {
  switch (term.type) {
    case 'attribute': {
      const info = ATTRIBUTE_TYPES[term.key];
      if (info === undefined) throw new Error(`unreachable: order attribute ${term.key}`);
      return [{ sql: runOrderColumn(term.key), type: info.type, ascending: term.ascending, nullable: info.nullable }];
    }
    case 'metric': {
      const from = `FROM run_latest_metrics o WHERE o.tenant_id = r.tenant_id AND o.run_id = r.id AND o.key = ${params.add(term.key)}`;
      return [
        { sql: `COALESCE((SELECT CASE WHEN o.is_nan THEN 1 ELSE 0 END ${from}), 2)`, type: 'int', ascending: true, nullable: false },
        { sql: `(SELECT o.value ${from} AND NOT o.is_nan)`, type: 'float8', ascending: term.ascending, nullable: true },
      ];
    }
    case 'param':
    case 'tag':
      return [{
        sql: `((SELECT o.value FROM ${KEY_TABLES[term.type]} o WHERE o.tenant_id = r.tenant_id AND o.run_id = r.id AND o.key = ${params.add(term.key)}) COLLATE ${INDEXED_COLLATION})`,
        type: 'text',
        ascending: term.ascending,
        nullable: true,
        collation: INDEXED_COLLATION,
      }];
    case 'dataset':
      throw new Error('unreachable: datasets are refused by parseOrderBy');
  }
};

/** The terms MLflow appends: start_time DESC unless ordered, then the run id unless ordered. */
const tailTerms = (terms: readonly OrderByTerm[]): SortTerm[] => {
  const ordered = (key: string) => terms.some((t) => t.type === 'attribute' && t.key === key);
  const tail: SortTerm[] = [];
  if (!ordered('start_time')) tail.push({ sql: 'r.start_time', type: 'bigint', ascending: false, nullable: false });
  if (!ordered('run_id')) tail.push({ sql: 'r.id', type: 'text', ascending: true, nullable: false });
  return tail;
};

/** A run's statuses (runs_status_check), in their sort order (upper-case ASCII: the same in every collation). */
const RUN_STATUSES = ['FAILED', 'FINISHED', 'KILLED', 'RUNNING', 'SCHEDULED'] as const;

/** The runs indexes (lead, start_time DESC, id) of migrations 0045 and 0047: the lead's direction, the index's name. */
const LEAD_INDEXES: ReadonlyMap<string, { readonly ascending: boolean; readonly name: string }> = new Map([
  ['r.end_time', { ascending: false, name: 'runs_end_time_idx' }],
  ['r.name', { ascending: true, name: 'runs_name_idx' }],
  ['r.user_id', { ascending: true, name: 'runs_user_idx' }],
]);

/**
 * A runs segment's `groups`, when its lead is the order's only term and is ordered against its index's
 * direction (LEAD_INDEXES): that direction is read in windows (groupRows). `where`: the index's predicate.
 */
const runGroups = (lead: SortTerm, alone: boolean, where: readonly string[]): Pick<Segment, 'groups'> => {
  const index = LEAD_INDEXES.get(lead.sql);
  return alone && index !== undefined && index.ascending !== lead.ascending
    ? { groups: { table: 'runs', column: lead.sql.slice('r.'.length), experimentColumn: 'experiment_id', where, index: index.name } }
    : {};
};

const segmentsFor = (terms: readonly OrderByTerm[], params: Params): Segment[] => {
  const [first, ...rest] = terms;
  const restTerms = (): SortTerm[] => [...rest.flatMap((t) => laterTerms(t, params)), ...tailTerms(terms)];
  if (first?.type === 'attribute' && first.key === 'status') {
    // Ordered by status (the console's Status column): the statuses in the order's direction, each its own
    // segments — instead of sorting every run of the experiment (migration 0044). The statuses are this
    // file's constants. Alone, a status is walked in `runs_status_idx` order (start_time DESC, run id:
    // MLflow's tail).
    const statuses = first.ascending ? RUN_STATUSES : [...RUN_STATUSES].reverse();
    if (rest.length === 0) return statuses.map((status) => ({ join: '', where: `r.status = '${status}'`, terms: tailTerms(terms) }));
    // Followed by more terms: each status's runs in the rest's order, as the rest's own segments restricted
    // to the status (a metric's walk keeps about a page of each status's runs). The rest's segments are
    // planned once, so each status's statements use the same parameters. Not in windows: they would test the
    // status apart from the index they walk, as a filter (an order against its index is walked backwards,
    // each group read whole).
    const after = segmentsFor(rest, params).map(({ groups: _, ...segment }) => segment);
    return statuses.flatMap((status) => after.map((segment) => ({
      ...segment,
      where: [segment.where, `r.status = '${status}'`].filter((w) => w !== '').join(' AND '),
    })));
  }
  if (first?.type === 'attribute' && first.key === 'end_time') {
    // Ordered by end time, null while a run runs and last in both directions (MLflow): (0) the runs with an
    // end time, walked in `runs_end_time_idx` order; (1) those without, in the tail's order,
    // `runs_running_idx` (both partial, migration 0045).
    const later = restTerms();
    // Ascending, the index's other direction, is read in windows (ties of a millisecond are rare, but a bulk
    // import may end thousands of runs at once).
    const lead: SortTerm = { sql: 'r.end_time', type: 'bigint', ascending: first.ascending, nullable: false };
    return [
      { join: '', where: 'r.end_time IS NOT NULL', terms: [lead, ...later], ...runGroups(lead, rest.length === 0, ['d.end_time IS NOT NULL']) },
      { join: '', where: 'r.end_time IS NULL', terms: later },
    ];
  }
  if (first === undefined || first.type === 'attribute') {
    // A name or user descending, the other direction of runs_name_idx / runs_user_idx (migrations 0045,
    // 0047), is read in windows. One user's runs are one group: often most of the experiment.
    const lead = first === undefined ? [] : laterTerms(first, params);
    return [{
      join: '',
      where: '',
      terms: [...lead, ...restTerms()],
      ...(lead[0] === undefined ? {} : runGroups(lead[0], rest.length === 0, [])),
    }];
  }
  if (first.type === 'dataset') throw new Error('unreachable: datasets are refused by parseOrderBy');
  const table = KEY_TABLES[first.type];
  const key = params.add(first.key);
  // The row's copy of its run's experiment (migrations 0040, 0043) makes the walk one experiment's part of
  // the key's index, not the tenant's whole key.
  const join = `JOIN ${table} s ON s.tenant_id = r.tenant_id AND s.run_id = r.id AND s.key = ${key} AND s.run_experiment_id = r.experiment_id`;
  const missing = `NOT EXISTS (SELECT 1 FROM ${table} m WHERE m.tenant_id = r.tenant_id AND m.run_id = r.id AND m.key = ${key})`;
  const later = restTerms();
  if (first.type === 'metric') {
    // Ordered by this one metric: MLflow's tail (start_time DESC, run id) as the metric row carries it, which
    // is `run_latest_metrics_search_idx` order after the value (migration 0046): a group of runs sharing a
    // value is walked, not read whole and sorted (exactly for DESC and NaN; ASC walks it backwards).
    const tail: SortTerm[] = rest.length === 0
      ? [{ sql: 's.run_start_time', type: 'bigint', ascending: false, nullable: false }, { sql: 's.run_id', type: 'text', ascending: true, nullable: false }]
      : later;
    // Ascending real values are the index's other direction: read in windows.
    const groups = rest.length === 0 && first.ascending
      ? { groups: { table: 'run_latest_metrics', column: 'value', experimentColumn: 'run_experiment_id', where: [`d.key = ${key}`, "d.value < 'NaN'::float8"], index: 'run_latest_metrics_search_idx' } } as const
      : {};
    // float8 orders NaN above every number, so `< 'NaN'` is "not NaN" as an index range.
    return [
      { join: `${join} AND s.value < 'NaN'::float8`, where: '', terms: [{ sql: 's.value', type: 'float8', ascending: first.ascending, nullable: false }, ...tail], ...groups },
      { join: `${join} AND s.value = 'NaN'::float8`, where: '', terms: tail },
      { join: '', where: missing, terms: later },
    ];
  }
  const valueTerms: SortTerm[] = [
    { sql: indexedValue('s'), type: 'text', ascending: first.ascending, nullable: false, collation: INDEXED_COLLATION },
    { sql: `(s.value COLLATE ${INDEXED_COLLATION})`, type: 'text', ascending: first.ascending, nullable: false, collation: INDEXED_COLLATION },
  ];
  const withKey: Segment = rest.length === 0
    // Ordered by this one key: MLflow's tail (start_time DESC, run id) follows the value, as the row carries it.
    ? {
      join: '',
      where: '',
      keyOrder: { table: KEY_TABLES[first.type], key },
      terms: [...valueTerms, { sql: 's.run_start_time', type: 'bigint', ascending: false, nullable: false }, { sql: 's.run_id', type: 'text', ascending: true, nullable: false }],
    }
    : { join, where: '', terms: [...valueTerms, ...later] };
  return [withKey, { join: '', where: missing, terms: later }];
};

/** A cursor placeholder cast to the term's type (and collation, which must match for an index range). */
const typedValue = (t: SortTerm, placeholder: string): string =>
  `${placeholder}::${t.type}${t.collation === undefined ? '' : ` COLLATE ${t.collation}`}`;

const orderSql = (t: SortTerm, sql = t.sql): string => `${sql} ${t.ascending ? 'ASC' : 'DESC'}${t.nullable ? ' NULLS LAST' : ''}`;

/** The ORDER BY list of `terms` over their output columns `alias.k0`, `alias.k1`, … (a subquery's sort keys). */
const keysOrder = (terms: readonly SortTerm[], alias: string): string => terms.map((t, i) => orderSql(t, `${alias}.k${i}`)).join(', ');

/**
 * Rows strictly after the cursor in the order of `terms` (nulls last in both directions):
 * after₀ OR (equal₀ AND (after₁ OR (equal₁ AND … after_last))), plus a redundant bound on the first term
 * that an index can use as its range.
 */
const keysetCondition = (terms: readonly SortTerm[], keys: readonly (string | null)[], params: Params): string => {
  const after: string[] = [];
  const equal: string[] = [];
  terms.forEach((t, i) => {
    const key = keys[i] ?? null;
    if (key === null) {
      after.push('FALSE');
      equal.push(`${t.sql} IS NULL`);
      return;
    }
    const value = typedValue(t, params.add(key));
    const beyond = `${t.sql} ${t.ascending ? '>' : '<'} ${value}`;
    after.push(t.nullable ? `(${t.sql} IS NULL OR ${beyond})` : beyond);
    equal.push(`${t.sql} = ${value}`);
  });
  let condition = after[after.length - 1] as string;
  for (let i = terms.length - 2; i >= 0; i -= 1) {
    condition = after[i] === 'FALSE' ? `(${equal[i]} AND ${condition})` : `(${after[i]} OR (${equal[i]} AND ${condition}))`;
  }
  const first = terms[0];
  const firstKey = keys[0] ?? null;
  if (first !== undefined && firstKey !== null && !first.nullable) {
    condition = `${first.sql} ${first.ascending ? '>=' : '<='} ${typedValue(first, params.add(firstKey))} AND ${condition}`;
  }
  return condition;
};

/**
 * Rows strictly after the cursor as disjoint conditions, in the order their rows come: (equal₀ … equal₍ₙ₋₂₎
 * AND after₍ₙ₋₁₎), …, (equal₀ AND after₁), (after₀). When `terms` are the leading sort columns of an index,
 * in its order, each is one index range. keysetCondition's single OR is a range on its first term only, so
 * a page resuming inside a group of ties read every row of the group before its cursor (10,000 runs per
 * value of the benchmark's tag at 1M runs; every run when all share one value, as `mlflow.user` often does).
 * Keys must be non-null, terms not nullable.
 */
const keysetRanges = (terms: readonly SortTerm[], keys: readonly string[], params: Params): string[] => {
  const values = terms.map((t, i) => typedValue(t, params.add(keys[i])));
  return terms.map((_, k) => {
    const last = terms.length - 1 - k;
    const term = terms[last] as SortTerm;
    const equal = terms.slice(0, last).map((t, i) => `${t.sql} = ${values[i]}`);
    return [...equal, `${term.sql} ${term.ascending ? '>' : '<'} ${values[last]}`].join(' AND ');
  });
};

/** Where a page of a segment resumes: one condition, or disjoint index ranges (keysetRanges) when it can. */
interface Resume {
  /** All rows after the cursor in one condition (keysetCondition); absent when the ranges cover every row read. */
  readonly condition?: string;
  /** For the rows read in index order (a keyOrder segment's short values, runs in an index's order: isIndexOrder). */
  readonly ranges?: readonly string[];
}

/**
 * Whether `terms` are an index's order of `runs` after the tenant, the experiment and a segment's equality:
 * MLflow's default order, start_time DESC then run id (`runs_search_idx`; in a status segment
 * `runs_status_idx`; in end time's null segment `runs_running_idx`), after end time descending
 * (`runs_end_time_idx`), the name ascending (`runs_name_idx`, migration 0045) or the user ascending
 * (`runs_user_idx`, migration 0047); or a metric order's real values descending and its NaN values, with the
 * tail as the metric row carries it (`run_latest_metrics_search_idx`, migration 0046). The other direction
 * of these is read in windows without a filter (groupRows), or else a backward walk whose tail is sorted:
 * not one range per term.
 */
const isIndexOrder = (terms: readonly SortTerm[]): boolean => {
  if (terms.length < 2 || terms.length > 3) return false;
  const [start, id] = terms.slice(-2) as [SortTerm, SortTerm];
  if (start.ascending || start.nullable || !id.ascending) return false;
  const lead = terms.length === 3 ? terms[0] as SortTerm : undefined;
  if (start.sql === 's.run_start_time' && id.sql === 's.run_id') return lead === undefined || (lead.sql === 's.value' && !lead.ascending);
  if (start.sql !== 'r.start_time' || id.sql !== 'r.id') return false;
  return lead === undefined || (!lead.nullable && lead.ascending === LEAD_INDEXES.get(lead.sql)?.ascending);
};

/** The rows of a segment read straight from `runs` (no keyOrder): one statement, or one per range. */
const runRows = (segment: Segment, conditions: readonly string[], resume: Resume | undefined, columns: string, limitAt: string): string => {
  const select = (extra: readonly string[]): string => `SELECT r.id AS run_id, ${columns} FROM runs r ${segment.join} WHERE ${[...conditions, ...extra].join(' AND ')}
        ORDER BY ${segment.terms.map((t) => orderSql(t)).join(', ')} LIMIT ${limitAt}`;
  if (resume?.ranges === undefined) return select(resume?.condition === undefined ? [] : [resume.condition]);
  return resume.ranges.map((range) => `(${select([range])})`).join(' UNION ALL ');
};

/**
 * The rows of a `keyOrder` segment for one experiment (`x.eid`), in its order: short values walked in index
 * order (prefix, then start_time DESC and run id, which the index holds after the prefix), long values
 * sorted by the whole value, the two merged. Each part states the row's key, experiment and length class as
 * its index's leading equalities (the tenant comes from the run's, which the conditions name); the run is
 * joined for the stage, the filter and the owner. After a short value's row the short part resumes in
 * index ranges (the rest of its tie group, then the values after it).
 */
const keyOrderRows = (segment: Segment, order: NonNullable<Segment['keyOrder']>, conditions: readonly string[], resume: Resume | undefined, columns: string, limitAt: string): string => {
  const [prefix, value, start, id] = segment.terms as [SortTerm, SortTerm, SortTerm, SortTerm];
  const select = (long: boolean, extra: readonly string[]): string => {
    const terms = long ? [prefix, value, start, id] : [prefix, start, id];
    return `(SELECT r.id AS run_id, ${columns} FROM ${order.table} s
        JOIN runs r ON r.tenant_id = s.tenant_id AND r.id = s.run_id
        WHERE s.key = ${order.key} AND s.value_long = ${long ? 'TRUE' : 'FALSE'} AND ${[...conditions, ...extra].join(' AND ')}
        ORDER BY ${terms.map((t) => orderSql(t)).join(', ')} LIMIT ${limitAt})`;
  };
  const extra = resume?.condition === undefined ? [] : [resume.condition];
  const short = resume?.ranges === undefined ? [select(false, extra)] : resume.ranges.map((range) => select(false, [range]));
  return `SELECT * FROM (${[...short, select(true, extra)].join(' UNION ALL ')}) u
        ORDER BY ${keysOrder(segment.terms, 'u')} LIMIT ${limitAt}`;
};

/**
 * The rows of a `groups` segment for one experiment (`x.eid`), in its order, read in windows of the lead's
 * index: a recursive statement (which PostgreSQL evaluates only as far as the page asks) steps through the
 * index in the order's direction, `window` entries at a time, and each step's bound `hi` is the lead value of
 * its last entry. A window's rows are those strictly between the previous bound and `hi` (fewer than `window`
 * index entries: read and sorted) and then the group of `hi` itself, read forward in its index (start_time
 * DESC, then the run id: MLflow's tail) up to the page. So a large group of equal values is read only as far
 * as the page needs, and distinct values cost about two reads of each index entry. After a cursor: the rest
 * of the cursor's group (index ranges), then the windows past its value.
 *
 * Reading the index backwards instead gives each group's tail reversed: a whole group is read and sorted
 * (every run of a user, a third of the runs for a metric with three values). Over distinct values the
 * windows cost more than that walk: in the database at 100k runs, 0.60 → 0.86 ms for 101 rows and 5.55 →
 * 7.0 ms for 1,001; with a group of ≈ 33,000 equal values, 124 → 10 ms p50 for 100 rows through the API
 * (docs/benchmarks.md).
 */
const groupRows = (
  segment: Segment,
  walk: NonNullable<Segment['groups']>,
  conditions: readonly string[],
  cursor: readonly (string | null)[] | undefined,
  columns: string,
  limit: number,
  limitAt: string,
  owner: string,
  params: Params,
): string => {
  const [lead, start, id] = segment.terms as [SortTerm, SortTerm, SortTerm];
  const direction = lead.ascending ? 'ASC' : 'DESC';
  const beyond = (column: string, value: string): string => `${column} ${lead.ascending ? '>' : '<'} ${value}`;
  const before = (column: string, value: string): string => `${column} ${lead.ascending ? '<' : '>'} ${value}`;
  // The lead value of the index's first entry (past `from` when given), or of the entry `window` entries on
  // (a window's last entry) when `skip` (the window less one) is given.
  const offset = params.add(Math.max(limit, 2) - 1);
  const entry = (from: string | undefined, skip: string | undefined): string => `(SELECT d.${walk.column} FROM ${walk.table} d
          WHERE ${[`d.tenant_id = ${owner}::uuid`, `d.${walk.experimentColumn} = x.eid`, ...walk.where, ...(from === undefined ? [] : [beyond(`d.${walk.column}`, from)])].join(' AND ')}
          ORDER BY d.${walk.column} ${direction}${skip === undefined ? '' : ` OFFSET ${skip}`} LIMIT 1)`;
  const rows = (extra: readonly string[], order: readonly SortTerm[]): string => `(SELECT r.id AS run_id, ${columns} FROM runs r ${segment.join}
        WHERE ${[...conditions, ...extra].join(' AND ')}
        ORDER BY ${order.map((t) => orderSql(t)).join(', ')} LIMIT ${limitAt})`;
  const first = cursor === undefined ? undefined : typedValue(lead, params.add(cursor[0]));
  // Each window of g: the entries strictly between lo and hi (fewer than `window`, sorted), then hi's group
  // in its index order; the last window (hi NULL: fewer than `window` entries left) all entries past lo.
  // Every condition on the lead is an index range (an `OR lo IS NULL` would not be). A first page starts
  // with a window of the first value's group alone (lo NULL matches nothing); after a cursor at value v0 the
  // windows start past v0.
  const walked = `WITH RECURSIVE g(lo, hi) AS (
          SELECT ${first === undefined ? `NULL::${lead.type}, ${entry(undefined, undefined)}` : `${first}, ${entry(first, offset)}`}
          UNION ALL
          SELECT g.hi, ${entry('g.hi', offset)} FROM g WHERE g.hi IS NOT NULL)
        SELECT q.* FROM g CROSS JOIN LATERAL (
          SELECT * FROM (${rows([beyond(lead.sql, 'g.lo'), before(lead.sql, 'g.hi')], segment.terms)}
            UNION ALL ${rows(['g.hi IS NULL', beyond(lead.sql, 'g.lo')], segment.terms)}
            UNION ALL ${rows([`${lead.sql} = g.hi`], [start, id])}) w
          ORDER BY ${keysOrder(segment.terms, 'w')} LIMIT ${limitAt}) q
        LIMIT ${limitAt}`;
  if (cursor === undefined || first === undefined) return walked;
  const rest = keysetRanges([start, id], cursor.slice(1) as string[], params).map((range) => rows([`${lead.sql} = ${first}`, range], [start, id]));
  return [...rest, `(${walked})`].join(' UNION ALL ');
};

/**
 * The index ranges a page of `segment` resumes in, when its rows are read in an index's order: a keyOrder
 * segment's short values, and runs in an index's order (isIndexOrder). Otherwise undefined.
 *
 * In a keyOrder segment, after a short value's row (its prefix is its whole value) the short part resumes in
 * its tie group, then past it. After a long value's row (prefix P, value V: P is a proper prefix of V, so
 * a short value P sorts before V), the short rows after it are those past P ascending; descending, those
 * of prefix P and those past it, each whole: two ranges.
 */
const resumeRanges = (segment: Segment, keys: readonly (string | null)[], params: Params): string[] | undefined => {
  if (keys.some((k) => k === null)) return undefined;
  const [k0, k1, k2, k3] = keys as string[];
  if (segment.keyOrder !== undefined) {
    const [prefix, , start, id] = segment.terms as [SortTerm, SortTerm, SortTerm, SortTerm];
    if (k0 === k1) return keysetRanges([prefix, start, id], [k0 as string, k2 as string, k3 as string], params);
    const p = typedValue(prefix, params.add(k0));
    return prefix.ascending ? [`${prefix.sql} > ${p}`] : [`${prefix.sql} = ${p}`, `${prefix.sql} < ${p}`];
  }
  return isIndexOrder(segment.terms) ? keysetRanges(segment.terms, keys as string[], params) : undefined;
};

const FLOAT = /^(?:-?Infinity|NaN|-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)$/;
const BIGINT = /^-?\d{1,19}$/;
const INT = /^-?\d{1,9}$/;
const MAX_TOKEN_LENGTH = 65_536;

const validKey = (type: SortType, key: unknown): boolean => {
  if (typeof key !== 'string') return false;
  switch (type) {
    case 'float8':
      return FLOAT.test(key);
    case 'bigint':
      return BIGINT.test(key);
    case 'int':
      return INT.test(key);
    case 'text':
      return true;
  }
};

/** A run's key columns and their copies on its metric row (alias s). */
const METRIC_ROW_KEYS: Readonly<Record<string, string>> = { 'r.tenant_id': 's.tenant_id', 'r.id': 's.run_id', 'r.experiment_id': 's.run_experiment_id' };

/**
 * A compiled run filter over the metric row `s` instead of the run `r`, when it reads nothing of the run but
 * its keys (params, tags, metrics and dataset inputs are looked up by them); else undefined. Tested on the
 * metric row, the filter rules a run out before its row is read: in a window of a metric's index, about
 * three quarters of the time per run reached (runs_pkey's probe) when the filter keeps few of them.
 */
const overMetricRow = (sql: string): string | undefined => {
  const columns = sql.match(/\br\.\w+/g) ?? [];
  if (columns.some((c) => METRIC_ROW_KEYS[c] === undefined)) return undefined;
  return sql.replace(/\br\.\w+/g, (c) => METRIC_ROW_KEYS[c] as string);
};

/** A node of a plan as `EXPLAIN (FORMAT JSON)` gives it: the fields read here. */
interface ExplainedNode {
  readonly 'Index Name'?: string;
  readonly 'Scan Direction'?: string;
  readonly Plans?: readonly ExplainedNode[];
}

/**
 * Whether a plan (`EXPLAIN (FORMAT JSON)`'s one value: an array holding `{ Plan }`) reads `index` backwards:
 * a PageQuery's plain statement walking against its order's index (PageQuery.walk).
 */
export const planWalksBackward = (explained: unknown, index: string): boolean => {
  const visit = (node: ExplainedNode): boolean =>
    (node['Index Name'] === index && node['Scan Direction'] === 'Backward') || (node.Plans ?? []).some(visit);
  const root = Array.isArray(explained) ? (explained[0] as { Plan?: ExplainedNode } | undefined)?.Plan : undefined;
  return root !== undefined && visit(root);
};

/**
 * Plans a search-runs request: parses and compiles the filter and `order_by` (MlflowError
 * INVALID_PARAMETER_VALUE / NOT_IMPLEMENTED as compileRunFilter and parseRunOrderBy) and returns the
 * statement builder for its segments and its page-token codec.
 *
 * Parameters of every statement: $1 the experiment ids (bigint[]), $2 the lifecycle stages (text[]), then
 * the filter's, the order's, the cursor's and the limit.
 */
export const planRunSearch = (input: RunSearchInput): RunSearchPlan => {
  const filter = compileRunFilter(input.filter, { firstParam: 3 });
  const terms = parseRunOrderBy(input.orderBy);
  const base = new Params([[...input.experimentIds], [...input.stages], ...filter.params]);
  const segments = segmentsFor(terms, base);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([input.filter ?? '', input.orderBy ?? [], input.experimentIds, input.stages, input.tenantId]))
    .digest('base64url')
    .slice(0, 16);

  const segmentAt = (i: number): Segment => {
    const segment = segments[i];
    if (segment === undefined) throw new RangeError(`no segment ${i}`);
    return segment;
  };

  // The searched experiments. One (the usual search, and every console page) is a subquery the planner
  // flattens, so the experiment id is a constant when it plans the statement (its parameters are known: an
  // unnamed statement gets a custom plan) and its row estimates use the experiment's own statistics. Through
  // unnest, the id is unknown at planning and every experiment looks alike (1 / their number): measured at
  // 100k runs in a tenant with a second, 2,000-run experiment, `params.a = '3' AND tags.t LIKE 'x%'` was
  // planned as reading every match (10,000 and 50,000 rows, hashed, sorted: 57 ms) instead of walking the
  // default order and probing (about 2,000 runs: 13–17 ms).
  const experiments = input.experimentIds.length === 1 ? '(SELECT ($1::bigint[])[1] AS eid) AS x' : 'unnest($1::bigint[]) AS x(eid)';
  /** The statement: each experiment's rows (`inner`, over x.eid), merged in the segment's order. */
  const outer = (segment: Segment, inner: string, limitAt: string, params: Params): PageQuery => {
    const keys = segment.terms.map((_, i) => `p.k${i}::text`).join(', ');
    const sql = `SELECT p.run_id, array_to_json(ARRAY[${keys}]::text[])::text AS keys
        FROM ${experiments} CROSS JOIN LATERAL (${inner}) p
        ORDER BY ${keysOrder(segment.terms, 'p')} LIMIT ${limitAt}`;
    return { sql, params: params.values };
  };
  // An indexed condition on a param or tag value (`=` or a LIKE prefix); `!=` and other LIKE / ILIKE forms
  // usually keep most runs, and reading their matches first would not pay.
  const filtersParamOrTag = filter.comparesIndexedValue;
  const ordersByParamOrTag = terms[0] !== undefined && (terms[0].type === 'param' || terms[0].type === 'tag');
  return {
    segmentCount: segments.length,
    settings: filtersParamOrTag && ordersByParamOrTag ? `${RUN_SEARCH_SETTINGS}${CORRELATED_ORDER_SETTINGS}` : RUN_SEARCH_SETTINGS,

    query(index, limit, after) {
      const segment = segmentAt(index);
      if (after !== undefined && after.segment !== index) throw new RangeError('cursor of another segment');
      const columns = segment.terms.map((t, i) => `${t.sql} AS k${i}`).join(', ');
      /**
       * `inner` (a segment's rows for experiment x.eid) with a filter on a metric's range: when the range
       * holds fewer than `cap` (ten pages, at least 1,000) of the experiment's runs, counted in its index up to
       * the cap, the runs are read from those rows and sorted instead. The planner estimates a metric range
       * from the value column's statistics, every key's values together, so a range one key rarely reaches
       * can look common (another key's zeros, say): it then walks the order and tests every run of the
       * experiment for a page it never fills (measured: `metrics.m0 < 0.001` at 100k runs, 100,000 runs read
       * for ten matches, 0.6 s). The count and the choice are in the statement: one branch runs (a one-time
       * filter). `conditions` include the whole filter; the range only picks the runs to test, each run
       * looked up from its metric row (LATERAL: the matches drive, whatever the planner estimates of them).
       * Not for a param or tag order alone (keyOrder), whose rows are read from the key's order index.
       */
      const narrowed = (inner: string, conditions: readonly string[], owner: string, limitAt: string, params: Params): string => {
        const range = filter.metricRanges[0];
        if (range === undefined || input.narrowMetricRanges === false) return inner;
        const cap = params.add(Math.max(10 * limit, 1000));
        const keyset = after === undefined ? [] : [keysetCondition(segment.terms, after.keys, params)];
        const matches = `SELECT f.run_id FROM run_latest_metrics f WHERE f.tenant_id = ${owner}::uuid AND f.run_experiment_id = x.eid AND ${range}`;
        return `SELECT q.* FROM (SELECT count(*) AS n FROM (${matches} LIMIT ${cap}) z) n CROSS JOIN LATERAL (
          SELECT * FROM (SELECT * FROM (SELECT w.* FROM (${matches} OFFSET 0) c CROSS JOIN LATERAL (
                SELECT r.id AS run_id, ${columns} FROM runs r ${segment.join}
                 WHERE r.id = c.run_id AND ${[...conditions, ...keyset].join(' AND ')}) w OFFSET 0) m
            ORDER BY ${keysOrder(segment.terms, 'm')} LIMIT ${limitAt}) a WHERE n.n < ${cap}
          UNION ALL
          SELECT * FROM (${inner}) b WHERE n.n >= ${cap}) q`;
      };
      /** The statement with `filterSql` as the filter's condition, read in windows (groupRows) or not. */
      const statement = (filterSql: string | undefined, windows: boolean): PageQuery => {
        const params = new Params(base.values);
        // A keyOrder segment reads the experiment from the param or tag row (its order index leads with it).
        const conditions = [segment.keyOrder === undefined ? 'r.experiment_id = x.eid' : 's.run_experiment_id = x.eid', 'r.lifecycle_stage = ANY($2::text[])'];
        if (filterSql !== undefined) conditions.push(filterSql);
        const owner = params.add(input.tenantId);
        conditions.push(`r.tenant_id = ${owner}::uuid`);
        if (segment.where !== '') conditions.push(segment.where);
        if (windows && segment.groups !== undefined) {
          const limitAt = params.add(limit);
          const inner = groupRows(segment, segment.groups, conditions, after?.keys, columns, limit, limitAt, owner, params);
          return outer(segment, narrowed(inner, conditions, owner, limitAt, params), limitAt, params);
        }
        let resume: Resume | undefined;
        if (after !== undefined) {
          const ranges = resumeRanges(segment, after.keys, params);
          // Every placeholder must appear in the statement: the single condition only where something reads it.
          const condition = ranges === undefined || segment.keyOrder !== undefined ? keysetCondition(segment.terms, after.keys, params) : undefined;
          resume = { ...(condition === undefined ? {} : { condition }), ...(ranges === undefined ? {} : { ranges }) };
        }
        const limitAt = params.add(limit);
        const inner = segment.keyOrder === undefined
          ? narrowed(runRows(segment, conditions, resume, columns, limitAt), conditions, owner, limitAt, params)
          : keyOrderRows(segment, segment.keyOrder, conditions, resume, columns, limitAt);
        return outer(segment, inner, limitAt, params);
      };
      if (filter.sql === 'TRUE') return statement(undefined, segment.groups !== undefined);
      const plain = statement(`(${filter.sql})`, false);
      if (segment.groups === undefined) return plain;
      // With a filter, the windows test it on each run they reach: a scalar subquery with OFFSET 0, which the
      // planner neither pulls up into a join nor uses to read the matches once per window (8–9× slower with a
      // selective filter). Forced on every filter, they would still lose to reading a selective filter's
      // matches first (`attributes.run_name = 'run-123'` + `order_by metrics.tie` at 100k runs: 2.4 ms that
      // way, 350 ms in windows): the planner's plan of the plain statement decides (PageQuery.walk).
      const tested = segment.groups.table === 'run_latest_metrics' ? overMetricRow(filter.sql) ?? filter.sql : filter.sql;
      const walked = statement(`(SELECT (${tested}) OFFSET 0)`, true);
      return { ...plain, walk: { ...walked, index: segment.groups.index } };
    },

    encodeToken(cursor) {
      return encodePageToken({ s: cursor.segment, k: cursor.keys, h: fingerprint });
    },

    decodeToken(token) {
      const parsed = decodePageToken(token, MAX_TOKEN_LENGTH);
      if (parsed === undefined) return undefined;
      const { s, k, h } = parsed as Record<string, unknown>;
      if (h !== fingerprint) throw invalidPageToken('it belongs to a different search (filter, order_by, experiment_ids or run_view_type changed)');
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s >= segments.length || !Array.isArray(k)) throw invalidPageToken('malformed');
      const segment = segmentAt(s);
      if (k.length !== segment.terms.length) throw invalidPageToken('malformed');
      segment.terms.forEach((t, i) => {
        const key: unknown = k[i];
        if (key === null ? !t.nullable : !validKey(t.type, key)) throw invalidPageToken('malformed');
      });
      return { segment: s, keys: k as (string | null)[] };
    },
  };
};
