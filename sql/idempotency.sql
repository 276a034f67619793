-- racefree idempotency keys: exactly one execution per (scope, key).
--
-- A request claims its key with one INSERT ... ON CONFLICT DO NOTHING, in the
-- same transaction as its work and its response. While that transaction is
-- open, a duplicate's INSERT waits for it (the uncommitted row is a
-- speculative-insertion conflict): if the winner commits, the duplicate reads
-- the committed row and replays its response; if the winner rolls back or its
-- session dies, the duplicate's INSERT goes through and it runs the work
-- itself. No key is ever left claimed by a transaction that did not commit.
--
-- Keys and scopes are compared byte for byte (COLLATE "C"): Unicode NFC and
-- NFD spellings of the same text are different keys.

-- Scope and key are 1 to 255 characters. The functions that write the table
-- check it (RF002) before they write; a CHECK constraint would be read back
-- from the catalog and planned again by every claim and every completion,
-- which cost a claim about a quarter of its server CPU.
CREATE TABLE racefree.idempotency_keys (
  scope        text COLLATE "C" NOT NULL,
  key          text COLLATE "C" NOT NULL,
  fingerprint  text        NOT NULL,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (scope, key),
  -- The top-level transaction that claimed the key: only it may complete the
  -- claim. Never reused: a committed xid8 is unique for the cluster's life.
  claimed_by   xid8
);
COMMENT ON TABLE racefree.idempotency_keys IS
  'One row per idempotency key that a committed transaction claimed: the request fingerprint and the response stored by racefree.idempotency_complete(). Written only by the racefree.idempotency_* functions; old rows are removed by racefree.idempotency_prune().';

-- Prune finds old keys by claim time. created_at never changes, so completing
-- a claim does not touch this index.
CREATE INDEX idempotency_keys_created_at_idx ON racefree.idempotency_keys (created_at);

-- ---------------------------------------------------------------------------
-- Internals

CREATE FUNCTION racefree_internal._idempotency_invalid(caller text, scope text, key text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  argument text := CASE WHEN scope IS NULL OR char_length(scope) NOT BETWEEN 1 AND 255 THEN 'scope'
                        WHEN key IS NULL OR char_length(key) NOT BETWEEN 1 AND 255 THEN 'key'
                        ELSE 'fingerprint' END;
  len int := char_length(CASE argument WHEN 'scope' THEN scope ELSE key END);
BEGIN
  IF argument = 'fingerprint' THEN
    RAISE EXCEPTION USING
      ERRCODE = 'RF002',
      MESSAGE = format('%s: fingerprint must not be NULL', caller),
      DETAIL = jsonb_build_object('argument', argument)::text;
  END IF;
  -- The value itself is left out: it may be megabytes of someone's header.
  RAISE EXCEPTION USING
    ERRCODE = 'RF002',
    MESSAGE = format('%s: %s must be 1 to 255 characters, got %s', caller, argument,
                     coalesce(len::text || ' characters', 'NULL')),
    DETAIL = jsonb_build_object('argument', argument)::text;
END
$$;
COMMENT ON FUNCTION racefree_internal._idempotency_invalid(text, text, text) IS
  'Internal: raises RF002 (invalid idempotency key, DETAIL {"argument"}) for the first of scope and key that is not 1 to 255 characters, else for a NULL fingerprint.';

CREATE FUNCTION racefree._idempotency_claim(scope text, key text, fingerprint text, wait_ms integer)
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
    PERFORM racefree_internal._idempotency_invalid('racefree.idempotency_claim', scope, key);
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

-- ---------------------------------------------------------------------------
-- Public functions

CREATE FUNCTION racefree.idempotency_claim(scope text, key text, fingerprint text)
RETURNS TABLE (status text, response jsonb)
LANGUAGE sql VOLATILE
AS $$
  SELECT c.status, c.response FROM racefree._idempotency_claim($1, $2, $3, NULL) AS c
$$;
COMMENT ON FUNCTION racefree.idempotency_claim(text, text, text) IS
  'Claims (scope, key) for the calling transaction. Returns one row: status ''claimed'' (this transaction owns the key: do the work, then call racefree.idempotency_complete() in the same transaction) or ''replayed'' with the response an earlier, committed transaction stored. While another transaction holds an uncommitted claim of the key, waits for it to end (bounded by lock_timeout, 55P03): if it commits, replays its response; if it rolls back, claims the key. Run it at READ COMMITTED: under REPEATABLE READ or SERIALIZABLE a duplicate of a concurrent claim gets 40001. Keys and scopes are compared byte for byte (NFC and NFD forms differ). Errors: RF001 when the key was claimed with a different fingerprint (names scope and key, never the stored response); RF002 when scope or key is NULL, empty or longer than 255 characters, or fingerprint is NULL.';

CREATE FUNCTION racefree.idempotency_complete(scope text, key text, response jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF (char_length(scope) BETWEEN 1 AND 255 AND char_length(key) BETWEEN 1 AND 255) IS NOT TRUE THEN
    PERFORM racefree_internal._idempotency_invalid('racefree.idempotency_complete', scope, key);
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

CREATE FUNCTION racefree.idempotency_prune(older_than interval, batch integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  deleted bigint;
BEGIN
  IF older_than IS NULL OR older_than < interval '0' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('racefree.idempotency_prune: older_than must be an interval >= 0, got %s', coalesce(older_than::text, 'NULL'));
  END IF;
  IF batch IS NULL OR batch < 1 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('racefree.idempotency_prune: batch must be >= 1, got %s', coalesce(batch::text, 'NULL'));
  END IF;
  -- SKIP LOCKED: a row someone else has locked is left for the next call, so
  -- prune never queues behind a claim, a completion or another prune.
  WITH doomed AS (
    SELECT k.scope, k.key
      FROM racefree.idempotency_keys AS k
     WHERE k.created_at < now() - older_than AND k.completed_at IS NOT NULL
     ORDER BY k.created_at
     LIMIT batch
       FOR UPDATE SKIP LOCKED
  )
  DELETE FROM racefree.idempotency_keys AS k
   USING doomed AS d
   WHERE k.scope = d.scope AND k.key = d.key;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;
COMMENT ON FUNCTION racefree.idempotency_prune(interval, integer) IS
  'Deletes up to batch completed keys claimed more than older_than ago and returns how many it deleted; call it again (each call in its own transaction) until it returns 0. Rows locked by others are skipped (SKIP LOCKED), and in-flight claims are invisible to it, so it never waits for requests; a claim of a key being deleted at that moment waits for this one statement. Keys claimed but never completed are kept (racefree doctor reports them). Errors: 22023 when older_than is NULL or negative, or batch is NULL or < 1.';

-- ---------------------------------------------------------------------------
-- Privileges: services claim and complete keys through racefree_user;
-- pruning, which deletes every scope's keys, is racefree_admin's.

REVOKE ALL ON FUNCTION racefree_internal._idempotency_invalid(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._idempotency_claim(text, text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.idempotency_claim(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.idempotency_complete(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.idempotency_prune(interval, integer) FROM PUBLIC;

-- idempotency_claim() is a plain SQL wrapper: its callers need the internal function too.
GRANT EXECUTE ON FUNCTION racefree._idempotency_claim(text, text, text, integer) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree.idempotency_claim(text, text, text) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree.idempotency_complete(text, text, jsonb) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree.idempotency_prune(interval, integer) TO racefree_admin;
