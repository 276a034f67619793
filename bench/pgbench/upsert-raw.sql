-- The baseline: the raw statement, 200 hot keys, new values on every call.
\set k random(0, 199)
\set n random(1, 1000000)
INSERT INTO racefree_pgbench_raw AS t (technology, proficiency_level, questions, total_questions)
VALUES ('tech-' || (:k::int / 4), 'level-' || (:k::int % 4), jsonb_build_array(:n::int), :n::int)
ON CONFLICT (technology, proficiency_level) DO UPDATE SET questions = excluded.questions, total_questions = excluded.total_questions
RETURNING *;
