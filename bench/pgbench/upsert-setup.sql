-- Tables for bench/pgbench/upsert.sh: the same columns three times, written by
-- the raw statement, by the generated upsert (what addUpsert() makes), and by
-- a hand-written function with the same guarantees.
-- Needs the racefree kit migrated in the database.
\i bench/pgbench/upsert-teardown.sql
CREATE TABLE racefree_pgbench_raw (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
CREATE TABLE racefree_pgbench_gen (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
-- The hand-written function with the same guarantees, shared with bench/upsert.ts.
\i bench/upsert-hand.sql
-- The SQL API addUpsert(pgm, { table: 'racefree_pgbench_gen', key: ['technology', 'proficiency_level'] }) calls.
SELECT racefree.add_upsert('racefree_pgbench_gen', ARRAY['technology', 'proficiency_level']);
