-- Tables for bench/pgbench/upsert.sh: the same columns twice, one written by
-- the raw statement, one by the generated upsert (what addUpsert() makes).
-- Needs the racefree kit migrated in the database.
\i bench/pgbench/upsert-teardown.sql
CREATE TABLE racefree_pgbench_raw (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
CREATE TABLE racefree_pgbench_gen (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
-- The SQL API addUpsert(pgm, { table: 'racefree_pgbench_gen', key: ['technology', 'proficiency_level'] }) calls.
SELECT racefree.add_upsert('racefree_pgbench_gen', ARRAY['technology', 'proficiency_level']);
