-- racefree kit migration 0021: idempotency keys belong to the transaction that claimed them, and pruning is racefree_admin's.
-- A frozen copy of the changes to sql/idempotency.sql as released; change behaviour with a new migration.

-- Up Migration
-- Fails unless run by racefree migrate up or racefree sql (sql/kit-guard.sql).
DO $racefree_guard$
BEGIN
  IF coalesce(current_setting('racefree.migrate_session', true), '') = '' THEN
    RAISE EXCEPTION 'racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes'
      USING ERRCODE = '55000',
            DETAIL = 'psql -f on a kit migration file runs its Up and Down sections alike and installs nothing.',
            HINT = 'racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql';
  END IF;
END
$racefree_guard$;
-- The top-level transaction that claimed the key: only it may complete the
-- claim. Never reused: a committed xid8 is unique for the cluster's life.
-- Nullable without a default: a catalog change, no table rewrite.
ALTER TABLE racefree.idempotency_keys ADD COLUMN claimed_by xid8;

CREATE OR REPLACE FUNCTION racefree._idempotency_claim(scope text, key text, fingerprint text, wait_ms integer)
RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  previous text;
  stored_fingerprint text;
BEGIN
  -- One expression on the hot path; the helper only runs to raise.
  IF (char_length(scope) BETWEEN 1 AND 255 AND char_length(key) BETWEEN 1 AND 255 AND fingerprint IS NOT NULL) IS NOT TRUE THEN
    PERFORM racefree._idempotency_invalid('racefree.idempotency_claim', scope, key);
  END IF;
  IF wait_ms IS NOT NULL THEN
    IF wait_ms < 1 THEN
      -- lock_timeout = 0 would mean waiting for ever.
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('racefree._idempotency_claim: wait_ms must be >= 1, got %s', wait_ms);
    END IF;
    previous := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', wait_ms::text, true);
  END IF;
  LOOP
    -- Waits while another transaction holds an uncommitted claim of this key.
    INSERT INTO racefree.idempotency_keys (scope, key, fingerprint, claimed_by)
    VALUES (_idempotency_claim.scope, _idempotency_claim.key, _idempotency_claim.fingerprint, pg_current_xact_id())
    ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING;
    IF FOUND THEN
      status := 'claimed';
      EXIT;
    END IF;
    -- A committed claim exists. At READ COMMITTED this statement takes a new
    -- snapshot, which sees it.
    SELECT k.fingerprint, k.response INTO stored_fingerprint, response
      FROM racefree.idempotency_keys AS k
     WHERE k.scope = _idempotency_claim.scope AND k.key = _idempotency_claim.key;
    IF FOUND THEN
      IF stored_fingerprint <> _idempotency_claim.fingerprint THEN
        -- Names scope and key only: the stored response may belong to someone else.
        RAISE EXCEPTION USING
          ERRCODE = 'RF001',
          MESSAGE = format('racefree.idempotency_claim: key %L in scope %L was already used with a different request',
                           _idempotency_claim.key, _idempotency_claim.scope),
          DETAIL = jsonb_build_object('scope', _idempotency_claim.scope, 'key', _idempotency_claim.key)::text,
          HINT = 'Use a new idempotency key for a different request.';
      END IF;
      status := 'replayed';
      EXIT;
    END IF;
    -- Pruned between the conflict and the read: the key is free again.
  END LOOP;
  IF wait_ms IS NOT NULL THEN
    -- The caller's work runs under its own lock_timeout again. After a
    -- timeout the transaction is aborted and ends with its setting anyway.
    PERFORM set_config('lock_timeout', previous, true);
  END IF;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION racefree._idempotency_claim(text, text, text, integer) IS
  'Internal: racefree.idempotency_claim(); with wait_ms, lock_timeout is wait_ms for the claim only and then restored (the TypeScript client''s db.once() uses this: one round trip instead of three). Errors: as racefree.idempotency_claim(), and 22023 when wait_ms < 1.';

CREATE OR REPLACE FUNCTION racefree.idempotency_complete(scope text, key text, response jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF (char_length(scope) BETWEEN 1 AND 255 AND char_length(key) BETWEEN 1 AND 255) IS NOT TRUE THEN
    PERFORM racefree._idempotency_invalid('racefree.idempotency_complete', scope, key);
  END IF;
  -- Only the claim of this very transaction: a claim another transaction
  -- committed without completing is not anyone's to fill in.
  UPDATE racefree.idempotency_keys AS k
     SET response = idempotency_complete.response, completed_at = clock_timestamp()
   WHERE k.scope = idempotency_complete.scope AND k.key = idempotency_complete.key
     AND k.completed_at IS NULL AND k.claimed_by = pg_current_xact_id();
  IF NOT FOUND THEN
    RAISE EXCEPTION USING
      ERRCODE = '55000',
      MESSAGE = format('racefree.idempotency_complete: key %L in scope %L has no claim of this transaction awaiting a response',
                       idempotency_complete.key, idempotency_complete.scope),
      HINT = 'Call racefree.idempotency_claim() in the same transaction first, and complete a claim once.';
  END IF;
END
$$;
COMMENT ON FUNCTION racefree.idempotency_complete(text, text, jsonb) IS
  'Stores the response of a key claimed by racefree.idempotency_claim() in the same transaction; later claims of the key replay it once this transaction commits. Errors: 55000 when the key has no claim of this transaction awaiting a response (not claimed, claimed by another transaction, or already completed); RF002 for an invalid scope or key.';

-- Pruning deletes every scope's keys: not an application's to call.
REVOKE EXECUTE ON FUNCTION racefree.idempotency_prune(interval, integer) FROM racefree_user;
GRANT EXECUTE ON FUNCTION racefree.idempotency_prune(interval, integer) TO racefree_admin;

-- Down Migration
-- Fails unless run by racefree migrate up or racefree sql (sql/kit-guard.sql).
DO $racefree_guard$
BEGIN
  IF coalesce(current_setting('racefree.migrate_session', true), '') = '' THEN
    RAISE EXCEPTION 'racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes'
      USING ERRCODE = '55000',
            DETAIL = 'psql -f on a kit migration file runs its Up and Down sections alike and installs nothing.',
            HINT = 'racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql';
  END IF;
END
$racefree_guard$;
REVOKE EXECUTE ON FUNCTION racefree.idempotency_prune(interval, integer) FROM racefree_admin;
GRANT EXECUTE ON FUNCTION racefree.idempotency_prune(interval, integer) TO racefree_user;
CREATE OR REPLACE FUNCTION racefree.idempotency_complete(scope text, key text, response jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF (char_length(scope) BETWEEN 1 AND 255 AND char_length(key) BETWEEN 1 AND 255) IS NOT TRUE THEN
    PERFORM racefree._idempotency_invalid('racefree.idempotency_complete', scope, key);
  END IF;
  UPDATE racefree.idempotency_keys AS k
     SET response = idempotency_complete.response, completed_at = clock_timestamp()
   WHERE k.scope = idempotency_complete.scope AND k.key = idempotency_complete.key
     AND k.completed_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING
      ERRCODE = '55000',
      MESSAGE = format('racefree.idempotency_complete: key %L in scope %L has no claim awaiting a response',
                       idempotency_complete.key, idempotency_complete.scope),
      HINT = 'Call racefree.idempotency_claim() in the same transaction first, and complete a claim once.';
  END IF;
END
$$;
COMMENT ON FUNCTION racefree.idempotency_complete(text, text, jsonb) IS
  'Stores the response of a key claimed by racefree.idempotency_claim() in the same transaction; later claims of the key replay it once this transaction commits. Errors: 55000 when the key has no claim awaiting a response (not claimed, or already completed); RF002 for an invalid scope or key.';

CREATE OR REPLACE FUNCTION racefree._idempotency_claim(scope text, key text, fingerprint text, wait_ms integer)
RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  previous text;
  ignored text;
  stored_fingerprint text;
BEGIN
  -- One expression on the hot path; the helper only runs to raise.
  IF (char_length(scope) BETWEEN 1 AND 255 AND char_length(key) BETWEEN 1 AND 255 AND fingerprint IS NOT NULL) IS NOT TRUE THEN
    PERFORM racefree._idempotency_invalid('racefree.idempotency_claim', scope, key);
  END IF;
  IF wait_ms IS NOT NULL THEN
    IF wait_ms < 1 THEN
      -- lock_timeout = 0 would mean waiting for ever.
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('racefree._idempotency_claim: wait_ms must be >= 1, got %s', wait_ms);
    END IF;
    previous := current_setting('lock_timeout');
    ignored := set_config('lock_timeout', wait_ms::text, true);
  END IF;
  LOOP
    -- Waits while another transaction holds an uncommitted claim of this key.
    INSERT INTO racefree.idempotency_keys (scope, key, fingerprint)
    VALUES (_idempotency_claim.scope, _idempotency_claim.key, _idempotency_claim.fingerprint)
    ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING;
    IF FOUND THEN
      status := 'claimed';
      EXIT;
    END IF;
    -- A committed claim exists. At READ COMMITTED this statement takes a new
    -- snapshot, which sees it.
    SELECT k.fingerprint, k.response INTO stored_fingerprint, response
      FROM racefree.idempotency_keys AS k
     WHERE k.scope = _idempotency_claim.scope AND k.key = _idempotency_claim.key;
    IF FOUND THEN
      IF stored_fingerprint <> _idempotency_claim.fingerprint THEN
        -- Names scope and key only: the stored response may belong to someone else.
        RAISE EXCEPTION USING
          ERRCODE = 'RF001',
          MESSAGE = format('racefree.idempotency_claim: key %L in scope %L was already used with a different request',
                           _idempotency_claim.key, _idempotency_claim.scope),
          DETAIL = jsonb_build_object('scope', _idempotency_claim.scope, 'key', _idempotency_claim.key)::text,
          HINT = 'Use a new idempotency key for a different request.';
      END IF;
      status := 'replayed';
      EXIT;
    END IF;
    -- Pruned between the conflict and the read: the key is free again.
  END LOOP;
  IF wait_ms IS NOT NULL THEN
    -- The caller's work runs under its own lock_timeout again. After a
    -- timeout the transaction is aborted and ends with its setting anyway.
    ignored := set_config('lock_timeout', previous, true);
  END IF;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION racefree._idempotency_claim(text, text, text, integer) IS
  'Internal: racefree.idempotency_claim(); with wait_ms, lock_timeout is wait_ms for the claim only and then restored (the TypeScript client''s db.once() uses this: one round trip instead of three). Errors: as racefree.idempotency_claim(), and 22023 when wait_ms < 1.';

ALTER TABLE racefree.idempotency_keys DROP COLUMN claimed_by;
