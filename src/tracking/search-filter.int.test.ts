/**
 * Runs the compiled search SQL against real PostgreSQL (a scratch database, dropped at the end) and
 * against PGlite, on tables shaped as the tracking schema will be: it checks that the SQL is valid,
 * that placeholders compose with a caller's own parameters, and that results and orderings follow
 * MLflow's semantics (latest metric, NaN, missing keys last, LIKE/ILIKE, IN lists).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import {
  compileExperimentFilter,
  compileExperimentOrderBy,
  compileModelVersionFilter,
  compileModelVersionOrderBy,
  compileRegisteredModelFilter,
  compileRegisteredModelOrderBy,
  compileRunFilter,
  compileRunOrderBy,
} from './search-filter.ts';

const DATABASE = `bh_search_${process.pid}_${Date.now().toString(36)}`;
const SERVER = { host: '127.0.0.1', port: 5432, user: 'postgres' };

const SCHEMA = `
CREATE TABLE experiments (id bigint PRIMARY KEY, name text NOT NULL, artifact_location text, lifecycle_stage text NOT NULL,
  creation_time bigint, last_update_time bigint);
CREATE TABLE experiment_tags (experiment_id bigint NOT NULL, key text NOT NULL, value text, PRIMARY KEY (experiment_id, key),
  value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED);
CREATE TABLE runs (id text PRIMARY KEY, experiment_id bigint NOT NULL, name text, user_id text, status text NOT NULL,
  start_time bigint NOT NULL, end_time bigint, lifecycle_stage text NOT NULL, artifact_uri text);
CREATE TABLE run_params (run_id text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (run_id, key),
  value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED);
CREATE TABLE run_tags (run_id text NOT NULL, key text NOT NULL, value text, PRIMARY KEY (run_id, key),
  value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED);
CREATE TABLE run_latest_metrics (run_id text NOT NULL, key text NOT NULL, value double precision NOT NULL,
  timestamp bigint NOT NULL, step bigint NOT NULL, is_nan boolean NOT NULL, PRIMARY KEY (run_id, key));
CREATE TABLE registered_models (name text PRIMARY KEY, creation_time bigint, last_updated_time bigint, description text);
CREATE TABLE registered_model_tags (name text NOT NULL, key text NOT NULL, value text, PRIMARY KEY (name, key),
  value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED);
CREATE TABLE model_versions (name text NOT NULL, version integer NOT NULL, creation_time bigint, last_updated_time bigint,
  description text, user_id text, current_stage text, source text, run_id text, status text, status_message text, run_link text,
  PRIMARY KEY (name, version));
CREATE TABLE model_version_tags (name text NOT NULL, version integer NOT NULL, key text NOT NULL, value text,
  PRIMARY KEY (name, version, key), value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED);

INSERT INTO experiments VALUES (1, 'proj-a', 'a', 'active', 10, 15), (2, 'proj-b', 'b', 'active', 20, 25), (3, 'other', 'c', 'active', 30, 35);
INSERT INTO experiment_tags VALUES (1, 'owner', 'x'), (2, 'owner', 'y');
-- tenant_id as in the real run tables (the compiled run filter joins on it), one tenant here; added last,
-- so that the positional INSERTs below leave it to its default.
ALTER TABLE runs ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE run_params ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE run_tags ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE run_latest_metrics ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE experiments ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE experiment_tags ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE registered_models ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE registered_model_tags ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE model_versions ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
ALTER TABLE model_version_tags ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
INSERT INTO runs VALUES
  ('r1', 1, 'alpha', 'ann', 'FINISHED', 100, 200, 'active', 'mlflow-artifacts:/1/r1/artifacts'),
  ('r2', 1, 'beta', 'bob', 'RUNNING', 200, NULL, 'active', 'mlflow-artifacts:/1/r2/artifacts'),
  ('r3', 2, 'gamma', 'ann', 'FAILED', 300, 400, 'active', 'mlflow-artifacts:/2/r3/artifacts'),
  ('r4', 2, 'Delta', 'cy', 'FINISHED', 250, 260, 'active', 'mlflow-artifacts:/2/r4/artifacts');
INSERT INTO run_params VALUES ('r1', 'model', 'cnn'), ('r1', 'lr', '0.01'), ('r2', 'model', 'rnn'), ('r4', 'model', 'CNN');
INSERT INTO run_tags VALUES ('r1', 'team', 'vision'), ('r2', 'team', 'nlp'), ('r3', 'team', 'it''s'), ('r1', 'mlflow.runName', 'alpha');
-- r2's acc is NaN, stored the way MLflow's SQL store does (value 0, is_nan true).
INSERT INTO run_latest_metrics VALUES
  ('r1', 'acc', 0.9, 1, 0, false), ('r1', 'loss', 0.1, 1, 0, false),
  ('r2', 'acc', 0, 1, 0, true), ('r2', 'loss', 0.3, 1, 0, false),
  ('r3', 'acc', 0.5, 1, 0, false);
INSERT INTO registered_models VALUES ('bert', 1, 50, NULL), ('gpt', 2, 40, NULL);
INSERT INTO registered_model_tags VALUES ('bert', 'k', 'v');
INSERT INTO model_versions VALUES
  ('bert', 1, 1, 10, NULL, 'ann', 'None', 's3://b/1', 'r1', 'READY', NULL, NULL),
  ('bert', 2, 2, 30, NULL, 'ann', 'None', 's3://b/2', 'r2', 'READY', NULL, NULL),
  ('gpt', 1, 3, 20, NULL, 'bob', 'None', 'gs://g/1', 'r3', 'READY', NULL, NULL);
INSERT INTO model_version_tags VALUES ('bert', 2, 'validated', 'yes');
-- The run's experiment on its metric, param and tag rows, as migrations 0040 and 0043 keep it (the compiled
-- run filter names it).
ALTER TABLE run_latest_metrics ADD COLUMN run_experiment_id bigint;
UPDATE run_latest_metrics m SET run_experiment_id = r.experiment_id FROM runs r WHERE r.id = m.run_id;
ALTER TABLE run_params ADD COLUMN run_experiment_id bigint;
UPDATE run_params p SET run_experiment_id = r.experiment_id FROM runs r WHERE r.id = p.run_id;
ALTER TABLE run_tags ADD COLUMN run_experiment_id bigint;
UPDATE run_tags t SET run_experiment_id = r.experiment_id FROM runs r WHERE r.id = t.run_id;
-- Dataset inputs (log-inputs): r1 trained on train/d1 and evaluated on eval/d2, r2 trained on train/d9,
-- r3 used train/d1 with no context tag.
CREATE TABLE run_inputs (tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001', run_id text NOT NULL,
  name text NOT NULL, digest text NOT NULL, tags jsonb NOT NULL DEFAULT '[]', PRIMARY KEY (run_id, name, digest));
INSERT INTO run_inputs (run_id, name, digest, tags) VALUES
  ('r1', 'train', 'd1', '[{"key": "mlflow.data.context", "value": "training"}]'),
  ('r1', 'eval', 'd2', '[{"key": "mlflow.data.context", "value": "evaluation"}, {"key": "other", "value": "x"}]'),
  ('r2', 'train', 'd9', '[{"key": "mlflow.data.context", "value": "training"}]'),
  ('r3', 'train', 'd1', '[]');
`;

type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/** Runs a search the way a handler would: its own parameter first, then the filter's, then order_by's. */
const searchRuns = async (query: Query, filter: string, orderBy?: string[]): Promise<string[]> => {
  const where = compileRunFilter(filter, { firstParam: 2 });
  const order = compileRunOrderBy(orderBy, { firstParam: 2 + where.params.length });
  const sql = `SELECT r.id FROM runs r WHERE r.experiment_id = ANY($1::bigint[]) AND r.lifecycle_stage = 'active' AND (${where.sql}) ORDER BY ${order.sql} LIMIT 100`;
  const rows = await query(sql, [[1, 2], ...where.params, ...order.params]);
  return rows.map((row) => String(row['id']));
};

const sorted = (ids: string[]) => [...ids].sort();

const scenarios = (name: string, getQuery: () => Query): void => {
  describe(name, () => {
    const runFilters: [string, string[]][] = [
      ['', ['r1', 'r2', 'r3', 'r4']],
      ['metrics.acc > 0.4', ['r1', 'r3']],
      ['metrics.acc != 0.9', ['r2', 'r3']],
      ['metrics.acc = 0', []],
      ['metrics.acc <= 0', []],
      ['metrics.loss >= 0.1 AND metrics.loss < 0.3', ['r1']],
      ["params.model = 'cnn'", ['r1']],
      ["params.model ILIKE 'cnn'", ['r1', 'r4']],
      ["params.model LIKE 'c%'", ['r1']],
      ["params.model != 'cnn'", ['r2', 'r4']],
      ["tags.team = 'it''s'", ['r3']],
      ["tags.`mlflow.runName` = 'alpha'", ['r1']],
      ["attributes.user_id = 'ann' AND metrics.loss < 0.2", ['r1']],
      ["run_id IN ('r1', 'r3', 'R2')", ['r1', 'r3']],
      ["run_id NOT IN ('r1')", ['r2', 'r3', 'r4']],
      ['created >= 200', ['r2', 'r3', 'r4']],
      ['end_time > 150', ['r1', 'r3', 'r4']],
      ["run_name LIKE 'a%'", ['r1']],
      ["`Run Name` ILIKE 'd%'", ['r4']],
      ["status = 'RUNNING'", ['r2']],
      ["artifact_uri LIKE '%/2/%'", ['r3', 'r4']],
      ["datasets.name = 'train'", ['r1', 'r2', 'r3']],
      ["datasets.name = 'eval' AND datasets.digest = 'd1'", ['r1']],
      ["datasets.digest IN ('d2', 'd9')", ['r1', 'r2']],
      ["datasets.name != 'train'", ['r1']],
      ["datasets.digest NOT IN ('d1')", ['r1', 'r2']],
      ["datasets.context = 'training'", ['r1', 'r2']],
      ["datasets.context ILIKE 'EVAL%'", ['r1']],
      ["datasets.context = 'x'", []],
      ["datasets.name LIKE 'tr%' AND params.model = 'rnn'", ['r2']],
      ["params.model = 'x''; DROP TABLE runs; --'", []],
      ["params.\"model'; --\" = 'cnn'", []],
    ];
    for (const [filter, expected] of runFilters) {
      it(`filters runs: ${JSON.stringify(filter)}`, async () => {
        assert.deepEqual(sorted(await searchRuns(getQuery(), filter)), expected);
      });
    }

    const runOrders: [string[] | undefined, string[]][] = [
      [undefined, ['r3', 'r4', 'r2', 'r1']],
      [['metrics.acc DESC'], ['r1', 'r3', 'r2', 'r4']],
      [['metrics.acc ASC'], ['r3', 'r1', 'r2', 'r4']],
      [['tags.team'], ['r3', 'r2', 'r1', 'r4']],
      [['tags.team DESC'], ['r1', 'r2', 'r3', 'r4']],
      [['end_time DESC'], ['r3', 'r4', 'r1', 'r2']],
      [['end_time ASC'], ['r1', 'r4', 'r3', 'r2']],
      [['params.lr DESC', 'created'], ['r1', 'r2', 'r4', 'r3']],
      [['status', 'run_id DESC'], ['r3', 'r4', 'r1', 'r2']],
    ];
    for (const [orderBy, expected] of runOrders) {
      it(`orders runs: ${JSON.stringify(orderBy)}`, async () => {
        assert.deepEqual(await searchRuns(getQuery(), '', orderBy), expected);
      });
    }

    it('combines a filter and an order_by with shared placeholders', async () => {
      assert.deepEqual(await searchRuns(getQuery(), "metrics.loss > 0 AND params.model != 'zzz'", ['metrics.loss DESC']), ['r2', 'r1']);
    });

    it('searches experiments', async () => {
      const where = compileExperimentFilter("name LIKE 'proj-%' AND tags.owner = 'x' AND creation_time < 100");
      const rows = await getQuery()(`SELECT e.id FROM experiments e WHERE ${where.sql} ORDER BY ${compileExperimentOrderBy([]).sql}`, where.params);
      assert.deepEqual(rows.map((r) => Number(r['id'])), [1]);
      const all = await getQuery()(`SELECT e.id FROM experiments e ORDER BY ${compileExperimentOrderBy(undefined).sql}`, []);
      assert.deepEqual(all.map((r) => Number(r['id'])), [3, 2, 1]);
    });

    it('searches registered models', async () => {
      const where = compileRegisteredModelFilter("name ILIKE 'B%' AND tags.k = 'v'");
      const rows = await getQuery()(`SELECT m.name FROM registered_models m WHERE ${where.sql} ORDER BY ${compileRegisteredModelOrderBy([]).sql}`, where.params);
      assert.deepEqual(rows.map((r) => r['name']), ['bert']);
      const all = await getQuery()(`SELECT m.name FROM registered_models m ORDER BY ${compileRegisteredModelOrderBy(['timestamp ASC']).sql}`, []);
      assert.deepEqual(all.map((r) => r['name']), ['gpt', 'bert']);
    });

    it('searches model versions', async () => {
      const q = async (filter: string, orderBy?: string[]) => {
        const where = compileModelVersionFilter(filter, { firstParam: 2 });
        const sql = `SELECT v.name || '/' || v.version AS id FROM model_versions v WHERE v.current_stage <> $1 AND (${where.sql}) ORDER BY ${compileModelVersionOrderBy(orderBy).sql}`;
        return (await getQuery()(sql, ['Deleted_Internal', ...where.params])).map((r) => r['id']);
      };
      assert.deepEqual(await q("name = 'bert' AND version_number > 1"), ['bert/2']);
      assert.deepEqual(await q("version_number = '1'"), ['gpt/1', 'bert/1']);
      assert.deepEqual(await q("run_id IN ('r1', 'r3')"), ['gpt/1', 'bert/1']);
      assert.deepEqual(await q("source_path LIKE 's3://%' AND tags.validated = 'yes'"), ['bert/2']);
      assert.deepEqual(await q(''), ['bert/2', 'gpt/1', 'bert/1']);
      assert.deepEqual(await q('', ['name', 'version_number ASC']), ['bert/1', 'bert/2', 'gpt/1']);
    });
  });
};

let admin: pg.Client | undefined;
let client: pg.Client | undefined;
let lite: PGlite | undefined;

before(async () => {
  admin = new pg.Client({ ...SERVER, database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  client = new pg.Client({ ...SERVER, database: DATABASE });
  await client.connect();
  await client.query(SCHEMA);
  lite = await PGlite.create();
  await lite.exec(SCHEMA);
});

after(async () => {
  await client?.end();
  await lite?.close();
  if (admin !== undefined) {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
    await admin.end();
  }
});

scenarios('PostgreSQL', () => async (sql, params) => {
  if (client === undefined) throw new Error('not connected');
  return (await client.query(sql, params)).rows as Record<string, unknown>[];
});

scenarios('PGlite', () => async (sql, params) => {
  if (lite === undefined) throw new Error('not started');
  return (await lite.query(sql, params)).rows as Record<string, unknown>[];
});
