-- Tables for bench/pgbench/numbering.sh: the fast baselines of
-- bench/fast-hand.sql, and a table numbered in fast mode by racefree.
-- Needs the racefree kit migrated in the database.
\i bench/pgbench/numbering-teardown.sql
\i bench/fast-hand.sql
CREATE TABLE racefree_pgbench_fast (id bigserial PRIMARY KEY, title text, n text);
-- The SQL API addNumbering(pgm, { name: 'racefree_pgbench_fast', table: 'racefree_pgbench_fast', column: 'n', template: 'F-{seq:6}', mode: 'fast' }) calls.
SELECT racefree.add_numbering('racefree_pgbench_fast', 'n', 'F-{seq:6}', 'fast', name => 'racefree_pgbench_fast');
