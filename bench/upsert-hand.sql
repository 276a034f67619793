-- The hand-written upsert both upsert benches compare the generated one with
-- (bench/upsert.ts, bench/pgbench/upsert.sh): what a careful hand writes for
-- the generated function's guarantees (the row and its action; equal values
-- write nothing), without its generality (every argument given), so the floor
-- of any function around the raw statement. Plain SQL, run after
-- bench/upsert-hand-drop.sql, which removes it.
CREATE TABLE bench_upsert_hand (id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level));
CREATE TYPE bench_upsert_hand_result AS (id bigint, technology text, proficiency_level text, questions jsonb,
  total_questions int, updated_at timestamptz, action text);
CREATE FUNCTION bench_upsert_hand_fn(p_technology text, p_level text, p_questions jsonb, p_total int)
RETURNS bench_upsert_hand_result LANGUAGE plpgsql AS $$
DECLARE
  r bench_upsert_hand_result;
BEGIN
  INSERT INTO bench_upsert_hand AS t (technology, proficiency_level, questions, total_questions)
  VALUES (p_technology, p_level, p_questions, p_total)
  ON CONFLICT (technology, proficiency_level) DO UPDATE SET questions = excluded.questions, total_questions = excluded.total_questions
  WHERE (t.questions, t.total_questions) IS DISTINCT FROM (excluded.questions, excluded.total_questions)
  RETURNING t.*, CASE WHEN t.xmax = 0 THEN 'inserted' ELSE 'updated' END INTO r;
  IF NOT FOUND THEN
    -- Equal values: the row is locked, not written; read it back in a new statement (a new snapshot).
    SELECT t.*, 'unchanged' INTO r FROM bench_upsert_hand AS t WHERE t.technology = p_technology AND t.proficiency_level = p_level;
  END IF;
  RETURN r;
END
$$;
