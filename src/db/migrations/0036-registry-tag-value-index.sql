-- Tag filters of experiments/search, registered-models/search and model-versions/search by value
-- (issue 20 item 2): `tags.team = 'x'` and `tags.team LIKE 'x%'` start from an index range of the
-- tenant's matching tags instead of probing the tag of every object in the order (or hash-joining all of
-- the tenant's tags). The same design as run params and tags in 0014: a tag value may be 5,000 characters,
-- more than a B-tree entry holds, so the index holds `value_prefix`, the first 200 characters, a stored
-- generated column in collation ucs_basic (a LIKE prefix is a range of it whatever the database's
-- collation; comparisons of text are leakproof, so they stay index conditions under row-level security).
-- The compiled filter compares the prefix first, then the whole value.
--
-- Compatible one version back: a generated column is filled by PostgreSQL on every insert, whichever
-- replica's code wrote it; the previous version names its columns and never reads this one.
ALTER TABLE experiment_tags ADD COLUMN value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED;
ALTER TABLE registered_model_tags ADD COLUMN value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED;
ALTER TABLE model_version_tags ADD COLUMN value_prefix text COLLATE ucs_basic GENERATED ALWAYS AS (left(value, 200)) STORED;
CREATE INDEX experiment_tags_search_idx ON experiment_tags (tenant_id, key, value_prefix, experiment_id);
CREATE INDEX registered_model_tags_search_idx ON registered_model_tags (tenant_id, key, value_prefix, name);
CREATE INDEX model_version_tags_search_idx ON model_version_tags (tenant_id, key, value_prefix, name, version);
