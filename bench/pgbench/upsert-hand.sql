-- The hand-written function with the generated one's guarantees (bench/upsert-hand.sql), same keys and values as upsert-raw.sql.
\set k random(0, 199)
\set n random(1, 1000000)
SELECT * FROM bench_upsert_hand_fn('tech-' || (:k::int / 4), 'level-' || (:k::int % 4), jsonb_build_array(:n::int), :n::int);
