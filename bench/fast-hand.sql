-- The hand-written baselines of a fast numbering, F-{seq:6}, both numbering
-- benches compare it with (bench/numbering.ts, bench/pgbench/numbering.sh).
-- Plain SQL, run after bench/fast-hand-drop.sql, which removes it.

-- The baseline: a sequence DEFAULT with the same unique index, which, unlike
-- racefree, ignores explicit numbers and truncates past 6 digits.
CREATE SEQUENCE bench_fast_hand_seq;
CREATE TABLE bench_fast_hand (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_hand_seq')::text, 6, '0'));

-- The floor of any design that keeps explicit numbers safe with a row
-- trigger: the same DEFAULT beside a PL/pgSQL BEFORE INSERT trigger that
-- does nothing.
CREATE SEQUENCE bench_fast_floor_seq;
CREATE FUNCTION bench_fast_floor_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEW;
END
$$;
CREATE TABLE bench_fast_floor (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_floor_seq')::text, 6, '0'));
CREATE TRIGGER bench_fast_floor BEFORE INSERT ON bench_fast_floor FOR EACH ROW EXECUTE FUNCTION bench_fast_floor_trigger();

-- What a careful hand would add for explicit numbers: a number ahead of the
-- sequence came with the row, and moves it (under a lock, so two explicit
-- numbers cannot move it back); a generated one is never ahead. The check is
-- an SQL function the planner inlines into the trigger's IF.
CREATE FUNCTION bench_fast_ahead(seq regclass, n text) RETURNS boolean LANGUAGE sql VOLATILE AS $$
  SELECT n ~ '^F-[0-9]{1,18}$' AND substr(n, 3)::bigint > coalesce(pg_sequence_last_value(seq), 0)
$$;
CREATE FUNCTION bench_fast_advance(seq regclass, n text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(seq::oid::bigint);
  SELECT setval(seq, greatest(substr(n, 3)::bigint, coalesce(pg_sequence_last_value(seq), 0)));
$$;
CREATE SEQUENCE bench_fast_guard_hand_seq;
CREATE FUNCTION bench_fast_guard_hand_explicit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF bench_fast_ahead('bench_fast_guard_hand_seq', NEW.n) THEN
    PERFORM bench_fast_advance('bench_fast_guard_hand_seq', NEW.n);
  END IF;
  RETURN NEW;
END
$$;
CREATE TABLE bench_fast_guard_hand (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_guard_hand_seq')::text, 6, '0'));
CREATE TRIGGER bench_fast_guard_hand BEFORE INSERT ON bench_fast_guard_hand FOR EACH ROW EXECUTE FUNCTION bench_fast_guard_hand_explicit();

-- The cheapest shape that keeps the guarantee, measured for a design that
-- racefree does not use (it would drop the column DEFAULT that fast numbering
-- sets): no DEFAULT, a BEFORE INSERT trigger that fills a missing number from
-- the sequence and moves the sequence past an explicit one, as above.
CREATE SEQUENCE bench_fast_fill_seq;
CREATE FUNCTION bench_fast_fill_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.n IS NULL THEN
    NEW.n := 'F-' || lpad(nextval('bench_fast_fill_seq')::text, 6, '0');
  ELSIF bench_fast_ahead('bench_fast_fill_seq', NEW.n) THEN
    PERFORM bench_fast_advance('bench_fast_fill_seq', NEW.n);
  END IF;
  RETURN NEW;
END
$$;
CREATE TABLE bench_fast_fill (id bigserial PRIMARY KEY, title text, n text UNIQUE);
CREATE TRIGGER bench_fast_fill BEFORE INSERT ON bench_fast_fill FOR EACH ROW EXECUTE FUNCTION bench_fast_fill_number();
