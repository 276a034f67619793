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
CREATE TABLE racefree_pgbench_hand (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
-- What a careful hand writes for the generated function's guarantees (the row
-- and its action; equal values write nothing), without its generality (every
-- argument given): the floor of any function around the raw statement.
CREATE TYPE racefree_pgbench_hand_result AS (id bigint, technology text, proficiency_level text, questions jsonb,
  total_questions int, updated_at timestamptz, action text);
CREATE FUNCTION racefree_pgbench_hand_fn(p_technology text, p_level text, p_questions jsonb, p_total int)
RETURNS racefree_pgbench_hand_result LANGUAGE plpgsql AS $$
DECLARE
  r racefree_pgbench_hand_result;
BEGIN
  INSERT INTO racefree_pgbench_hand AS t (technology, proficiency_level, questions, total_questions)
  VALUES (p_technology, p_level, p_questions, p_total)
  ON CONFLICT (technology, proficiency_level) DO UPDATE SET questions = excluded.questions, total_questions = excluded.total_questions
  WHERE (t.questions, t.total_questions) IS DISTINCT FROM (excluded.questions, excluded.total_questions)
  RETURNING t.*, CASE WHEN t.xmax = 0 THEN 'inserted' ELSE 'updated' END INTO r;
  IF NOT FOUND THEN
    -- Equal values: the row is locked, not written; read it back in a new statement (a new snapshot).
    SELECT t.*, 'unchanged' INTO r FROM racefree_pgbench_hand AS t WHERE t.technology = p_technology AND t.proficiency_level = p_level;
  END IF;
  RETURN r;
END
$$;
-- The SQL API addUpsert(pgm, { table: 'racefree_pgbench_gen', key: ['technology', 'proficiency_level'] }) calls.
SELECT racefree.add_upsert('racefree_pgbench_gen', ARRAY['technology', 'proficiency_level']);
