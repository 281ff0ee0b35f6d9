import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MlflowError } from './mlflow-errors.ts';
import {
  type CompiledSql,
  compileExperimentFilter,
  compileExperimentOrderBy,
  compileLoggedModelFilter,
  compileLoggedModelOrderBy,
  compileModelVersionFilter,
  compileModelVersionOrderBy,
  compileRegisteredModelFilter,
  compileRegisteredModelOrderBy,
  compileRunFilter,
  compileRunOrderBy,
  parseOrderBy,
  parseSearchFilter,
} from './search-filter.ts';

const rejects = (fn: () => unknown, code = 'INVALID_PARAMETER_VALUE', message?: RegExp): void => {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MlflowError, `expected MlflowError, got ${String(error)}`);
    assert.equal(error.errorCode, code);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
};

/** The generated SQL never contains quotes, statement separators or comments: user text is never in it. */
const assertSafeSql = (compiled: CompiledSql, firstParam = 1): void => {
  assert.doesNotMatch(compiled.sql, /['"`;]|--|\/\*|#/);
  const numbers = [...compiled.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
  for (const n of numbers) assert.ok(n >= firstParam && n < firstParam + compiled.params.length, `placeholder $${n} out of range`);
  assert.equal(new Set(numbers).size, compiled.params.length, 'every parameter is used');
};

describe('parseSearchFilter: runs', () => {
  const cases: [string, unknown][] = [
    ['metrics.accuracy > 0.72', [{ type: 'metric', key: 'accuracy', comparator: '>', value: { kind: 'number', text: '0.72' } }]],
    ['metrics."accuracy" > 0.72', [{ type: 'metric', key: 'accuracy', comparator: '>', value: { kind: 'number', text: '0.72' } }]],
    ['metric.loss <= -1.5e-3', [{ type: 'metric', key: 'loss', comparator: '<=', value: { kind: 'number', text: '-1.5e-3' } }]],
    ['metrics.f1 != .5', [{ type: 'metric', key: 'f1', comparator: '!=', value: { kind: 'number', text: '.5' } }]],
    ['params.batch_size = "2"', [{ type: 'param', key: 'batch_size', comparator: '=', value: { kind: 'string', value: '2' } }]],
    ['param.model LIKE \'GPT%\'', [{ type: 'param', key: 'model', comparator: 'LIKE', value: { kind: 'string', value: 'GPT%' } }]],
    ['parameters.model ilike "gpt%"', [{ type: 'param', key: 'model', comparator: 'ILIKE', value: { kind: 'string', value: 'gpt%' } }]],
    ['tags.`mlflow.source.type` = \'LOCAL\'', [{ type: 'tag', key: 'mlflow.source.type', comparator: '=', value: { kind: 'string', value: 'LOCAL' } }]],
    ['tags.mlflow.source.name = "train.py"', [{ type: 'tag', key: 'mlflow.source.name', comparator: '=', value: { kind: 'string', value: 'train.py' } }]],
    ['tag."my tag" != \'\'', [{ type: 'tag', key: 'my tag', comparator: '!=', value: { kind: 'string', value: '' } }]],
    ['attributes.status = \'FINISHED\'', [{ type: 'attribute', key: 'status', comparator: '=', value: { kind: 'string', value: 'FINISHED' } }]],
    ['attribute.run_name = \'r\'', [{ type: 'attribute', key: 'run_name', comparator: '=', value: { kind: 'string', value: 'r' } }]],
    ['`Run Name` = \'r\'', [{ type: 'attribute', key: 'run_name', comparator: '=', value: { kind: 'string', value: 'r' } }]],
    ['attributes.`run name` = \'r\'', [{ type: 'attribute', key: 'run_name', comparator: '=', value: { kind: 'string', value: 'r' } }]],
    ['created > 1664067852747', [{ type: 'attribute', key: 'start_time', comparator: '>', value: { kind: 'number', text: '1664067852747' } }]],
    ['attr.Created >= 0', [{ type: 'attribute', key: 'start_time', comparator: '>=', value: { kind: 'number', text: '0' } }]],
    ['run.end_time < 10', [{ type: 'attribute', key: 'end_time', comparator: '<', value: { kind: 'number', text: '10' } }]],
    ['attributes.run_id IN (\'a1\', "b2")', [{ type: 'attribute', key: 'run_id', comparator: 'IN', value: { kind: 'list', values: ['a1', 'b2'] } }]],
    ['run_id not in (\'a1\')', [{ type: 'attribute', key: 'run_id', comparator: 'NOT IN', value: { kind: 'list', values: ['a1'] } }]],
    ['datasets.digest IN (\'d1\')', [{ type: 'dataset', key: 'digest', comparator: 'IN', value: { kind: 'list', values: ['d1'] } }]],
    ['metrics.précision > 0', [{ type: 'metric', key: 'précision', comparator: '>', value: { kind: 'number', text: '0' } }]],
    ['metrics.1st_epoch > 0', [{ type: 'metric', key: '1st_epoch', comparator: '>', value: { kind: 'number', text: '0' } }]],
    ['params.a = \'it\'\'s\'', [{ type: 'param', key: 'a', comparator: '=', value: { kind: 'string', value: "it's" } }]],
    ['params.a = \'it\\\'s\'', [{ type: 'param', key: 'a', comparator: '=', value: { kind: 'string', value: "it's" } }]],
    ['params.a LIKE \'50\\%\'', [{ type: 'param', key: 'a', comparator: 'LIKE', value: { kind: 'string', value: '50\\%' } }]],
    ['', []],
    ['   ', []],
  ];
  for (const [filter, expected] of cases) {
    it(`parses ${JSON.stringify(filter)}`, () => assert.deepEqual(parseSearchFilter(filter, 'run'), expected));
  }

  it('parses AND-ed comparisons, keywords in any case, any whitespace', () => {
    const parsed = parseSearchFilter("metrics.acc>0.9 and\tparams.lr = '0.01'\nAND tags.team LIKE 'v%'", 'run');
    assert.deepEqual(
      parsed.map((c) => [c.type, c.key, c.comparator]),
      [
        ['metric', 'acc', '>'],
        ['param', 'lr', '='],
        ['tag', 'team', 'LIKE'],
      ],
    );
  });

  it('treats null and undefined as no filter', () => {
    assert.deepEqual(parseSearchFilter(null, 'run'), []);
    assert.deepEqual(parseSearchFilter(undefined, 'run'), []);
  });

  const invalid: [string, RegExp?][] = [
    ["metrics.acc > 'a'", /numeric value for metric/],
    ['params.x = 1', /quoted string value for param/],
    ["params.x > '1'", /Invalid comparator '>'/],
    ["tags.x < 'a'", /Invalid comparator '<'/],
    ['tags.x = abc', /Expected a quoted string/],
    ['tags.x = `abc`', /Expected a quoted string/],
    ["foo.bar = 'x'", /Invalid entity type 'foo'/],
    ["METRICS.x > 1", /Invalid entity type 'METRICS'/],
    ["unknown_attr = 'x'", /Invalid attribute key 'unknown_attr'/],
    ["lifecycle_stage = 'active'", /Invalid attribute key/],
    ["metrics.a > 1 OR metrics.b > 1", /OR operator is not supported/],
    ['(metrics.a > 1)', /expected an identifier/],
    ['metrics.a > 1 AND', /expected an identifier at the end/],
    ['AND metrics.a > 1', /expected a comparator/],
    ['metrics.a > 1 metrics.b > 2', /Invalid clause/],
    ['metrics.a', /expected a comparator at the end/],
    ['metrics.a >', /expected a value at the end/],
    ['metrics.a <> 1', /Invalid comparator '<>'/],
    ['metrics.a == 1', /Invalid comparator '=='/],
    ['metrics.a LIKE 1', /Invalid comparator 'LIKE'/],
    ["status IN ('x')", /Only the 'run_id' attribute/],
    ["user_id NOT IN ('x')", /Only the 'run_id' attribute/],
    ['run_id IN ()', /non-empty list/],
    ["run_id IN ('a', 1)", /list of quoted string/],
    ["run_id IN ('a' 'b')", /expected , or \)/],
    ["run_id IN ('a',)", /list of quoted string/],
    ["run_id = ('a')", /only allowed with IN/],
    ["run_id IN 'a'", /parenthesized/],
    ["run_id NOT LIKE 'a'", /NOT may only be followed by IN/],
    ["start_time > '1'", /numeric value for numeric attribute 'start_time'/],
    ["start_time LIKE '1'", /Invalid comparator 'LIKE'/],
    ["status > 'A'", /Invalid comparator '>'/],
    ['status = 1', /quoted string value for attribute/],
    ["params.a = 'unterminated", /Unterminated/],
    ['params.a IS NULL', /IS NULL/],
    ['metrics.a > 1e400', /out of range/],
    ['metrics.a > 1abc', /Invalid number/],
    ["datasets.size = 'x'", /Invalid dataset key/],
    ["params. = 'x'", /Invalid identifier/],
    ["metrics.a > 1 & metrics.b > 1", /Invalid character '&'/],
  ];
  for (const [filter, message] of invalid) {
    it(`refuses ${JSON.stringify(filter)}`, () => rejects(() => parseSearchFilter(filter, 'run'), 'INVALID_PARAMETER_VALUE', message));
  }
});

describe('compileRunFilter', () => {
  it('compiles an empty filter to TRUE', () => {
    assert.deepEqual(compileRunFilter(''), { sql: 'TRUE', params: [], comparesIndexedValue: false, metricRanges: [] });
    assert.deepEqual(compileRunFilter(undefined, { firstParam: 7 }), { sql: 'TRUE', params: [], comparesIndexedValue: false, metricRanges: [] });
  });

  it('compiles metrics against the latest value, keeping NaN out of everything but !=', () => {
    const c = compileRunFilter('metrics.rmse < 0.5');
    assert.equal(
      c.sql,
      'EXISTS (SELECT 1 FROM run_latest_metrics f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.key = $1 AND f.run_experiment_id = r.experiment_id AND NOT f.is_nan AND f.value < $2::double precision)',
    );
    assert.deepEqual(c.params, ['rmse', '0.5']);
    // The comparison's range of the key's index, for a search that reads its matches first (run-search.ts).
    assert.deepEqual(c.metricRanges, ["f.key = $1 AND f.value < $2::double precision AND f.value < 'NaN'::float8"]);
    const ne = compileRunFilter('metrics.rmse != 0.5');
    assert.match(ne.sql, /\(f\.is_nan OR f\.value <> \$2::double precision\)/);
    // `!=` is no one range.
    assert.deepEqual(ne.metricRanges, []);
    assert.equal(compileRunFilter("metrics.a >= 1 AND params.p = 'x' AND metrics.b = 2").metricRanges.length, 2);
  });

  it('compiles params and tags to EXISTS with bound key and value', () => {
    const c = compileRunFilter("params.model = 'cnn' AND tags.team ILIKE 'vi%'", { firstParam: 3 });
    assert.equal(
      c.sql,
      // A value shorter than the indexed prefix is compared through the (tenant, key, experiment, value_prefix) index alone.
      '(EXISTS (SELECT 1 FROM run_params f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.run_experiment_id = r.experiment_id AND f.key = $3 AND f.value_prefix = $4::text COLLATE ucs_basic)) AND ' +
        '(EXISTS (SELECT 1 FROM run_tags f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.run_experiment_id = r.experiment_id AND f.key = $5 AND f.value ILIKE $6))',
    );
    assert.deepEqual(c.params, ['model', 'cnn', 'team', 'vi%']);
    assertSafeSql(c, 3);
    // 200 characters or more: the prefix narrows the range and the whole value decides.
    const long = compileRunFilter(`params.model = '${'v'.repeat(200)}'`);
    assert.equal(long.sql, 'EXISTS (SELECT 1 FROM run_params f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.run_experiment_id = r.experiment_id AND f.key = $1 AND f.value = $2 AND f.value_prefix = left($2, 200) COLLATE ucs_basic)');
  });

  it('compiles attributes to columns of r, with numeric casts and array parameters for lists', () => {
    const c = compileRunFilter(
      "run_id IN ('a','b') AND run_id NOT IN ('c') AND created >= 10 AND end_time < 20 AND `Run Name` LIKE 'x%' AND user_id != 'u' AND artifact_uri = 'p' AND status = 'RUNNING'",
    );
    assert.equal(
      c.sql,
      [
        '(r.id = ANY($1::text[]))',
        '(NOT (r.id = ANY($2::text[])))',
        '(r.start_time >= $3::numeric)',
        '(r.end_time < $4::numeric)',
        '(r.name LIKE $5)',
        '(r.user_id <> $6)',
        '(r.artifact_uri = $7)',
        '(r.status = $8)',
      ].join(' AND '),
    );
    assert.deepEqual(c.params, [['a', 'b'], ['c'], '10', '20', 'x%', 'u', 'p', 'RUNNING']);
  });

  it('compiles dataset filters to an input of the run that satisfies the comparison', () => {
    const name = compileRunFilter("datasets.name = 'train'");
    assert.equal(name.sql, 'EXISTS (SELECT 1 FROM run_inputs f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id AND f.name = $1)');
    assert.deepEqual(name.params, ['train']);
    const digest = compileRunFilter("datasets.digest NOT IN ('d1', 'd2')");
    assert.match(digest.sql, /AND NOT \(f\.digest = ANY\(\$1::text\[\]\)\)\)$/);
    assert.deepEqual(digest.params, [['d1', 'd2']]);
    // The context is the input's mlflow.data.context tag.
    const context = compileRunFilter("datasets.context LIKE 'train%'");
    assert.match(context.sql, /jsonb_to_recordset\(f\.tags\) AS t\(key text, value text\)\s+WHERE t\.key = \$1 AND t\.value LIKE \$2\)\)$/);
    assert.deepEqual(context.params, ['mlflow.data.context', 'train%']);
    for (const compiled of [name, digest, context]) assertSafeSql(compiled, 1);
    rejects(() => compileRunFilter("datasets.context > 'a'"), 'INVALID_PARAMETER_VALUE');
    rejects(() => compileRunFilter("datasets.source = 'a'"), 'INVALID_PARAMETER_VALUE');
  });

  it('refuses a bad firstParam as a programming error', () => {
    assert.throws(() => compileRunFilter("params.a = 'b'", { firstParam: 0 }), RangeError);
  });

  describe('injection attempts', () => {
    it('binds quotes, semicolons and comments inside values', () => {
      const evil = "x'; DROP TABLE runs; -- /* */ #";
      const c = compileRunFilter(`params.a = '${evil.replaceAll("'", "''")}'`);
      assert.deepEqual(c.params, ['a', evil]);
      assertSafeSql(c);
    });

    it('binds quotes, semicolons and comments inside quoted keys', () => {
      const c = compileRunFilter('params."a\'; DROP TABLE runs; --" = \'x\' AND tags.`b``c` = \'y\'');
      assert.deepEqual(c.params, ["a'; DROP TABLE runs; --", 'x', 'b`c', 'y']);
      assertSafeSql(c);
    });

    it('binds a backslash-escaped quote instead of ending the string', () => {
      const c = compileRunFilter("params.a = 'x\\' OR 1=1 --'");
      assert.deepEqual(c.params, ['a', "x' OR 1=1 --"]);
      assertSafeSql(c);
    });

    it('refuses statements and comments outside quotes', () => {
      rejects(() => compileRunFilter("params.a = 'x'; DROP TABLE runs"), 'INVALID_PARAMETER_VALUE', /multiple statements/);
      rejects(() => compileRunFilter("params.a = 'x' -- comment"), 'INVALID_PARAMETER_VALUE', /Comments/);
      rejects(() => compileRunFilter("params.a = 'x' /* c */"), 'INVALID_PARAMETER_VALUE', /Comments/);
      rejects(() => compileRunFilter("params.a = 'x' # c"), 'INVALID_PARAMETER_VALUE', /Comments/);
      rejects(() => compileRunFilter("params.a = 'x' OR 1=1"), 'INVALID_PARAMETER_VALUE', /OR/);
      rejects(() => compileRunFilter("params.a = 'x' AND 1=1"), 'INVALID_PARAMETER_VALUE');
      rejects(() => compileRunFilter("params.a = 'x' UNION SELECT 1"), 'INVALID_PARAMETER_VALUE');
      rejects(() => compileRunFilter('metrics.a > 1); DELETE FROM runs; --'), 'INVALID_PARAMETER_VALUE');
      rejects(() => compileRunFilter("run_id IN ('a'); DROP TABLE runs; --')"), 'INVALID_PARAMETER_VALUE');
    });

    const dangerous = fc.string({
      unit: fc.constantFrom("'", '"', '`', ';', '-', '/', '*', '#', '(', ')', ',', '.', ' ', '\\', '=', '$', '1', 'a', 'é', '%', '_', '\n'),
      maxLength: 12,
    });
    const quote = (q: string, text: string) => `${q}${text.replaceAll(q, q + q)}${q}`;
    const key = fc.oneof(
      fc.constantFrom('acc', 'run_id', 'status', 'created', 'x.y'),
      dangerous.map((t) => quote('`', t)),
      dangerous.map((t) => quote('"', t)),
    );
    const value = fc.oneof(
      dangerous.map((t) => quote("'", t)),
      dangerous.map((t) => quote('"', t)),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      fc.array(dangerous.map((t) => quote("'", t)), { minLength: 1, maxLength: 3 }).map((xs) => `(${xs.join(', ')})`),
    );
    const stringValue = fc.oneof(dangerous.map((t) => quote("'", t)), dangerous.map((t) => quote('"', t)));
    const anyComparison = fc
      .tuple(
        fc.constantFrom('', 'metrics.', 'params.', 'tags.', 'attributes.', 'run.', 'datasets.'),
        key,
        fc.constantFrom('=', '!=', '<', '>=', 'LIKE', 'ilike', 'IN', 'NOT IN'),
        value,
      )
      .map(([prefix, k, op, v]) => `${prefix}${k} ${op} ${v}`);
    const comparison = fc.oneof(
      fc.tuple(key, fc.constantFrom('=', '!=', '<', '>='), fc.double({ noNaN: true, noDefaultInfinity: true })).map(([k, op, n]) => `metrics.${k} ${op} ${n}`),
      fc.tuple(fc.constantFrom('params.', 'tags.'), key, fc.constantFrom('=', '!=', 'LIKE', 'ilike'), stringValue).map(([p, k, op, v]) => `${p}${k} ${op} ${v}`),
      fc.tuple(fc.constantFrom('IN', 'NOT IN'), fc.array(dangerous.map((t) => quote("'", t)), { minLength: 1, maxLength: 3 })).map(([op, xs]) => `run_id ${op} (${xs.join(', ')})`),
      anyComparison,
    );
    const filter = fc.tuple(fc.array(comparison, { minLength: 1, maxLength: 4 }), fc.option(fc.tuple(dangerous, fc.nat()), { nil: undefined })).map(
      ([parts, garbage]) => {
        const text = parts.join(' AND ');
        if (garbage === undefined) return text;
        const at = garbage[1] % (text.length + 1);
        return text.slice(0, at) + garbage[0] + text.slice(at);
      },
    );

    it('never lets user text into the SQL, whatever the input (property)', () => {
      let compiled = 0;
      fc.assert(
        fc.property(filter, fc.integer({ min: 1, max: 50 }), (text, firstParam) => {
          let result: CompiledSql;
          try {
            result = compileRunFilter(text, { firstParam });
          } catch (error) {
            assert.ok(error instanceof MlflowError, `unexpected ${String(error)} for ${JSON.stringify(text)}`);
            return;
          }
          compiled += 1;
          assertSafeSql(result, firstParam);
        }),
        { numRuns: 3000 },
      );
      // The generator must reach the compiler, or this property proves nothing.
      assert.ok(compiled > 300, `only ${compiled} generated filters compiled`);
    });

    it('round-trips any value through a quoted literal into a parameter (property)', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
          const literal = `'${value.replaceAll("'", "''")}'`;
          // Backslash-quote is an escape too, so values containing \' are out of this round trip.
          fc.pre(!value.includes("\\'") && !value.endsWith('\\') && !value.includes('\\\\'));
          const c = compileRunFilter(`tags.k = ${literal}`);
          assert.deepEqual(c.params, ['k', value]);
          assertSafeSql(c);
        }),
        { numRuns: 1000 },
      );
    });
  });
});

describe('compileExperimentFilter', () => {
  it('compiles name, times and tags over e', () => {
    const c = compileExperimentFilter("attributes.name LIKE 'proj-%' AND creation_time > 5 AND last_update_time <= 9 AND tags.k != 'v'");
    assert.equal(
      c.sql,
      '(e.name LIKE $1) AND (e.creation_time > $2::numeric) AND (e.last_update_time <= $3::numeric) AND ' +
        '(EXISTS (SELECT 1 FROM experiment_tags f WHERE f.tenant_id = e.tenant_id AND f.experiment_id = e.id AND f.key = $4 AND f.value <> $5))',
    );
    assert.deepEqual(c.params, ['proj-%', '5', '9', 'k', 'v']);
  });

  it('accepts the MLflow documentation examples', () => {
    for (const f of ["name = 'x'", "attribute.name ILIKE '%x%'", "tags.`k 1` = 'v'", "tag.k LIKE 'v%'", 'creation_time >= 0']) {
      assertSafeSql(compileExperimentFilter(f));
    }
  });

  for (const f of ["name IN ('a')", "params.x = '1'", "metrics.x > 1", "creation_time > '5'", "lifecycle_stage = 'active'", "experiment_id = '1'", "name > 'a'"]) {
    it(`refuses ${JSON.stringify(f)}`, () => rejects(() => compileExperimentFilter(f)));
  }
});

describe('compileRegisteredModelFilter', () => {
  it('compiles name and tags over m', () => {
    const c = compileRegisteredModelFilter("name ILIKE '%bert%' AND tags.`stage` = 'prod'", { firstParam: 2 });
    assert.equal(
      c.sql,
      // A short value is compared through the indexed prefix alone (migration 0036): it is the whole value.
      '(m.name ILIKE $2) AND (EXISTS (SELECT 1 FROM registered_model_tags f WHERE f.tenant_id = m.tenant_id AND f.name = m.name AND f.key = $3 AND f.value_prefix = $4::text COLLATE ucs_basic))',
    );
    assert.deepEqual(c.params, ['%bert%', 'stage', 'prod']);
  });

  for (const f of ["creation_timestamp > 1", "metrics.x > 1", "name IN ('a')", "run_id = 'a'", 'name = 1']) {
    it(`refuses ${JSON.stringify(f)}`, () => rejects(() => compileRegisteredModelFilter(f)));
  }
});

describe('compileModelVersionFilter', () => {
  it('compiles name, version_number, run_id lists, source_path and tags over v', () => {
    const c = compileModelVersionFilter(
      "name = 'm' AND version_number >= 2 AND version_number < '10' AND run_id IN ('r1','r2') AND source_path LIKE 's3://%' AND tags.t != 'x'",
    );
    assert.equal(
      c.sql,
      [
        '(v.name = $1)',
        '(v.version >= $2::numeric)',
        '(v.version < $3::numeric)',
        '(v.run_id = ANY($4::text[]))',
        '(v.source LIKE $5)',
        '(EXISTS (SELECT 1 FROM model_version_tags f WHERE f.tenant_id = v.tenant_id AND f.name = v.name AND f.version = v.version AND f.key = $6 AND f.value <> $7))',
      ].join(' AND '),
    );
    assert.deepEqual(c.params, ['m', '2', '10', ['r1', 'r2'], 's3://%', 't', 'x']);
  });

  for (const f of ["run_id NOT IN ('a')", "name IN ('a')", "version_number = 'abc'", "version_number LIKE '1'", "current_stage = 'Production'", "name = 1"]) {
    it(`refuses ${JSON.stringify(f)}`, () => rejects(() => compileModelVersionFilter(f)));
  }
});

describe('order_by', () => {
  it('parses directions, quotes and aliases', () => {
    assert.deepEqual(parseOrderBy('metrics.rmse DESC', 'run'), { type: 'metric', key: 'rmse', ascending: false });
    assert.deepEqual(parseOrderBy('params.`batch size` asc', 'run'), { type: 'param', key: 'batch size', ascending: true });
    assert.deepEqual(parseOrderBy('tags."a b"', 'run'), { type: 'tag', key: 'a b', ascending: true });
    assert.deepEqual(parseOrderBy('created', 'run'), { type: 'attribute', key: 'start_time', ascending: true });
    assert.deepEqual(parseOrderBy('attributes.end_time DeSc', 'run'), { type: 'attribute', key: 'end_time', ascending: false });
  });

  it('gives MLflow default run ordering', () => {
    assert.deepEqual(compileRunOrderBy(undefined), { sql: 'r.start_time DESC, r.id ASC', params: [] });
    assert.deepEqual(compileRunOrderBy([]), { sql: 'r.start_time DESC, r.id ASC', params: [] });
  });

  it('orders runs by metrics (values, then NaN, then missing), params and tags with bound keys', () => {
    const c = compileRunOrderBy(['metrics.`my metric` DESC', 'params.p', 'tags.t DESC', 'attributes.created'], { firstParam: 4 });
    assert.equal(
      c.sql,
      [
        'COALESCE((SELECT CASE WHEN o.is_nan THEN 1 ELSE 0 END FROM run_latest_metrics o WHERE o.run_id = r.id AND o.key = $4), 2) ASC',
        '(SELECT o.value FROM run_latest_metrics o WHERE o.run_id = r.id AND o.key = $4 AND NOT o.is_nan) DESC NULLS LAST',
        '(SELECT o.value FROM run_params o WHERE o.run_id = r.id AND o.key = $5) ASC NULLS LAST',
        '(SELECT o.value FROM run_tags o WHERE o.run_id = r.id AND o.key = $6) DESC NULLS LAST',
        'r.start_time ASC NULLS LAST',
        'r.id ASC',
      ].join(', '),
    );
    assert.deepEqual(c.params, ['my metric', 'p', 't']);
  });

  it('binds injection attempts in order_by keys', () => {
    const c = compileRunOrderBy(['params."x) ; DROP TABLE runs; --" DESC']);
    assert.deepEqual(c.params, ['x) ; DROP TABLE runs; --']);
    assertSafeSql(c);
  });

  for (const clause of ['metrics.a DOWN', 'metrics.a DESC extra', '', '   ', 'foo.bar', 'datasets.name', 'lifecycle_stage', "metrics.a; DROP TABLE runs", 'metrics.a -- c', 'metrics.a, metrics.b', "'quoted'"]) {
    it(`refuses run order_by ${JSON.stringify(clause)}`, () => rejects(() => compileRunOrderBy([clause])));
  }

  it('refuses duplicate run order_by fields, aliases included', () => {
    rejects(() => compileRunOrderBy(['metrics.a', 'metric.a DESC']), 'INVALID_PARAMETER_VALUE', /duplicate/);
    rejects(() => compileRunOrderBy(['created', 'start_time DESC']), 'INVALID_PARAMETER_VALUE', /duplicate/);
  });

  it('refuses a non-list order_by', () => {
    rejects(() => compileRunOrderBy('metrics.a' as unknown as string[]));
    rejects(() => compileRunOrderBy([1] as unknown as string[]));
  });

  it('orders experiments with MLflow defaults and tie-breaker', () => {
    assert.equal(compileExperimentOrderBy(undefined).sql, 'e.creation_time DESC, e.id ASC');
    assert.equal(compileExperimentOrderBy(['name']).sql, 'e.name ASC, e.id DESC');
    assert.equal(compileExperimentOrderBy(['last_update_time DESC', 'experiment_id']).sql, 'e.last_update_time DESC, e.id ASC');
    rejects(() => compileExperimentOrderBy(['tags.k']), 'INVALID_PARAMETER_VALUE', /order_by entity/);
    rejects(() => compileExperimentOrderBy(['metrics.k']), 'INVALID_PARAMETER_VALUE', /entity type/);
    rejects(() => compileExperimentOrderBy(['artifact_location']), 'INVALID_PARAMETER_VALUE', /order_by key/);
  });

  it('orders registered models; timestamp means last update', () => {
    assert.equal(compileRegisteredModelOrderBy(undefined).sql, 'm.name ASC');
    assert.equal(compileRegisteredModelOrderBy(['timestamp DESC']).sql, 'm.last_updated_time DESC, m.name ASC');
    assert.equal(compileRegisteredModelOrderBy(['name DESC', 'creation_timestamp']).sql, 'm.name DESC, m.creation_time ASC');
    rejects(() => compileRegisteredModelOrderBy(['timestamp', 'last_updated_timestamp DESC']), 'INVALID_PARAMETER_VALUE', /duplicate/);
    rejects(() => compileRegisteredModelOrderBy(['version_number']));
  });

  it('orders model versions with MLflow defaults and tie-breakers', () => {
    assert.equal(compileModelVersionOrderBy(undefined).sql, 'v.last_updated_time DESC, v.name ASC, v.version DESC');
    assert.equal(compileModelVersionOrderBy(['creation_timestamp']).sql, 'v.creation_time ASC, v.name ASC, v.version DESC');
    assert.equal(compileModelVersionOrderBy(['version_number ASC', 'name DESC']).sql, 'v.version ASC, v.name DESC');
    rejects(() => compileModelVersionOrderBy(['name', 'name DESC']), 'INVALID_PARAMETER_VALUE', /duplicate/);
    rejects(() => compileModelVersionOrderBy(['run_id']));
  });
});

describe('logged models (search-logged-models)', () => {
  it('compiles attributes, params, tags and metrics over alias lm, numbering from firstParam', () => {
    const compiled = compileLoggedModelFilter(
      "name LIKE 'cand-%' AND status = 'READY' AND params.lr = '0.1' AND tags.team != 'x' AND metrics.acc >= 0.8 AND creation_time > 5",
      { firstParam: 2 },
    );
    assertSafeSql(compiled, 2);
    assert.match(compiled.sql, /lm\.name LIKE \$2/);
    assert.match(compiled.sql, /FROM logged_model_params f WHERE f\.model_id = lm\.id/);
    assert.match(compiled.sql, /FROM logged_model_tags f WHERE f\.model_id = lm\.id/);
    assert.match(compiled.sql, /FROM logged_model_metrics f WHERE f\.model_id = lm\.id/);
    assert.match(compiled.sql, /lm\.creation_time > \$\d+::numeric/);
    assert.deepEqual(compiled.params, ['cand-%', 'READY', 'lr', '0.1', 'team', 'x', 'acc', '0.8', '5']);
  });

  it('restricts metric comparisons to the datasets, and keeps models with metrics on them when no metric is compared', () => {
    const withMetric = compileLoggedModelFilter('metrics.acc > 0.5', { datasets: [{ name: 'eval' }, { name: 'test', digest: 'd1' }] });
    assertSafeSql(withMetric);
    assert.match(withMetric.sql, /AND \(\(f\.dataset_name = \$3\) OR \(f\.dataset_name = \$4 AND f\.dataset_digest = \$5\)\)/);
    assert.deepEqual(withMetric.params, ['acc', '0.5', 'eval', 'test', 'd1']);
    const datasetsOnly = compileLoggedModelFilter('', { datasets: [{ name: 'eval' }] });
    assertSafeSql(datasetsOnly);
    assert.match(datasetsOnly.sql, /^EXISTS \(SELECT 1 FROM logged_model_metrics f WHERE f\.model_id = lm\.id AND/);
    assert.deepEqual(compileLoggedModelFilter(''), { sql: 'TRUE', params: [] });
  });

  it('takes IN lists on string attributes and refuses what the grammar does not know', () => {
    assertSafeSql(compileLoggedModelFilter("model_id IN ('m-1', 'm-2') AND source_run_id NOT IN ('r')"));
    rejects(() => compileLoggedModelFilter("run_name = 'x'"), 'INVALID_PARAMETER_VALUE', /Invalid attribute key/);
    rejects(() => compileLoggedModelFilter("datasets.name = 'x'"), 'INVALID_PARAMETER_VALUE', /Invalid entity type/);
    rejects(() => compileLoggedModelFilter("metrics.acc = 'high'"));
    rejects(() => compileLoggedModelFilter("params.lr IN ('1')"));
    rejects(() => compileLoggedModelFilter("name = 'a' OR name = 'b'"));
    rejects(() => compileLoggedModelFilter("name = 'a'; DROP TABLE logged_models"));
  });

  it('orders by attributes and metrics from order_by objects, with creation time and id as tie-breakers', () => {
    const byDefault = compileLoggedModelOrderBy(undefined);
    assert.deepEqual({ sql: byDefault.sql, params: byDefault.params }, { sql: 'lm.creation_time DESC, lm.id ASC', params: [] });
    assert.deepEqual(byDefault.terms, [
      { sql: 'lm.creation_time', type: 'bigint', ascending: false, nullable: false, column: 'creation_time' },
      { sql: 'lm.id', type: 'text', ascending: true, nullable: false, column: 'id' },
    ]);
    // NOT NULL columns have no NULLS clause (an index read backwards gives `DESC`, not `DESC NULLS LAST`).
    const byName = compileLoggedModelOrderBy([{ field_name: 'name', ascending: false }, { field_name: 'creation_time' }]);
    assert.equal(byName.sql, 'lm.name DESC, lm.creation_time ASC, lm.id ASC');
    assert.equal(compileLoggedModelOrderBy([{ field_name: 'model_type', ascending: false }]).sql, 'lm.model_type DESC NULLS LAST, lm.creation_time DESC, lm.id ASC');
    // Metrics read the latest value kept per (model, key, dataset selector) (migration 0039; '' = any).
    const byMetric = compileLoggedModelOrderBy([{ field_name: 'metrics.acc', ascending: true, dataset_name: 'eval', dataset_digest: 'd' }], { firstParam: 3 });
    assertSafeSql(byMetric, 3);
    assert.match(byMetric.sql, /^\(SELECT o\.value FROM logged_model_latest_metrics o WHERE o\.tenant_id = lm\.tenant_id AND o\.model_id = lm\.id AND o\.key = \$3 AND o\.dataset_name = \$4 AND o\.dataset_digest = \$5\) ASC NULLS LAST/);
    assert.deepEqual(byMetric.params, ['acc', 'eval', 'd']);
    assert.deepEqual(byMetric.terms[0]?.metric, { key: 'acc', datasetName: 'eval', datasetDigest: 'd' });
    assert.deepEqual(compileLoggedModelOrderBy([{ field_name: 'metrics.acc' }]).params, ['acc', '', '']);
  });

  it('refuses malformed order_by entries', () => {
    for (const bad of ['name', ['name ASC'], [{}], [{ field_name: 'params.lr' }], [{ field_name: 'nope' }], [{ field_name: 'name', ascending: 'yes' }],
      [{ field_name: 'name', dataset_name: 'eval' }], [{ field_name: 'metrics.acc', dataset_digest: 'd' }], [{ field_name: 'metrics.' }]]) {
      rejects(() => compileLoggedModelOrderBy(bad), 'INVALID_PARAMETER_VALUE');
    }
  });
});
