-- The generated upsert, called as db.call calls it, same keys and values as upsert-raw.sql.
\set k random(0, 199)
\set n random(1, 1000000)
SELECT * FROM upsert_racefree_pgbench_gen(technology => 'tech-' || (:k::int / 4), proficiency_level => 'level-' || (:k::int % 4),
  questions => jsonb_build_array(:n::int), total_questions => :n::int);
