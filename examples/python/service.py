"""Seeds 000, 001 and 002 fixed in a Python service, with psycopg 3 and plain SQL.

Each handler takes a psycopg connection in autocommit mode (one per thread)
and calls the functions racefree generated (migrations/) or its idempotency
protocol (racefree.idempotency_claim / idempotency_complete). Nothing here
looks before it writes, so concurrent requests cannot race.
"""

import random
import time

import psycopg
from psycopg.types.json import Jsonb

from racefree_fingerprint import fingerprint

RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock: the whole transaction may run again


def with_retries(work, errors, attempts=10):
    """Run work() again on 40001 / 40P01 only, with full-jitter backoff; tally every error by SQLSTATE."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except psycopg.Error as error:
            errors[error.sqlstate] = errors.get(error.sqlstate, 0) + 1
            if error.sqlstate not in RETRY_SQLSTATES or attempt == attempts:
                raise
            time.sleep(random.uniform(0, min(1.0, 0.005 * 2**attempt)))


# --- seed 000: save an assessment, one per (technology, proficiency_level) ---

def save_assessment(conn, assessment):
    """One INSERT ... ON CONFLICT statement; returns 'inserted', 'updated' or 'unchanged'."""
    row = conn.execute(
        """SELECT action FROM pyseeds.upsert_tech_stack_assessments(
             assessment_id => %(assessment_id)s, technology => %(technology)s,
             proficiency_level => %(proficiency_level)s, questions => %(questions)s,
             total_questions => %(total_questions)s)""",
        {**assessment, "questions": Jsonb(assessment["questions"])},
    ).fetchone()
    return row[0]


# --- seed 001: save a task's intent analysis, resumed from checkpoints ---

ANALYSIS_COLUMNS = ("task_id", "roadmap_id", "parsed_goal", "key_technologies", "content_format_weights", "full_analysis_data")
JSON_COLUMNS = {"key_technologies", "content_format_weights", "full_analysis_data"}


def save_analysis(conn, analysis):
    """A resume that saves the same analysis writes nothing ('unchanged'). Returns (action, updated_at)."""
    args = {c: (Jsonb(analysis[c]) if c in JSON_COLUMNS and analysis[c] is not None else analysis[c]) for c in ANALYSIS_COLUMNS}
    return conn.execute(
        """SELECT action, updated_at FROM pyseeds.upsert_intent_analysis_metadata(
             task_id => %(task_id)s, roadmap_id => %(roadmap_id)s, parsed_goal => %(parsed_goal)s,
             key_technologies => %(key_technologies)s, content_format_weights => %(content_format_weights)s,
             full_analysis_data => %(full_analysis_data)s)""",
        args,
    ).fetchone()


def replace_analysis(conn, analysis):
    """Named arguments cannot write NULL (NULL means "left out"): a JSON null through upsert_<table>_many does."""
    return conn.execute(
        "SELECT action, content_format_weights FROM pyseeds.upsert_intent_analysis_metadata_many(%s)",
        [Jsonb([analysis])],
    ).fetchone()


# --- seed 002: ingest a quiz session once per client_session_uuid ---

def ingest(conn, body, errors, wait_ms=5000):
    """POST /ingest/study/attempts with the idempotency protocol in plain SQL.

    Returns (status, headers, body) as the HTTP layer would send them: the
    first request's own response, a replay of it (Idempotent-Replayed), 422
    for the key reused with another request, 409 while the first one still
    runs after wait_ms.
    """
    scope, key = f"user:{body['user_id']}", body["client_session_uuid"]

    def attempt():
        with conn.transaction():  # READ COMMITTED: a waiting duplicate then reads the winner's row
            # The wait for a duplicate's uncommitted claim is bounded by lock_timeout, for the claim only.
            (previous,) = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [f"{wait_ms}ms"])
            status, response = conn.execute(
                "SELECT status, response FROM racefree.idempotency_claim(%s, %s, %s)", [scope, key, fingerprint(body)]
            ).fetchone()
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            if status == "replayed":
                return 200, {"Idempotent-Replayed": "true"}, response
            response = {"status": "ingested", **ingest_session(conn, body)}
            conn.execute("SELECT racefree.idempotency_complete(%s, %s, %s)", [scope, key, Jsonb(response)])
            return 200, {}, response

    try:
        return with_retries(attempt, errors)
    except psycopg.Error as error:
        if error.sqlstate == "RF001":
            return 422, {}, {"detail": error.diag.message_primary}
        if error.sqlstate == "RF002":
            return 400, {}, {"detail": error.diag.message_primary}
        if error.sqlstate == "55P03":
            return 409, {"Retry-After": str(max(1, wait_ms // 1000))}, {"detail": error.diag.message_primary}
        raise


def ingest_session(conn, body):
    """The seed's ingest: the session row, then the progress it advances (finalize_session)."""
    outcomes = [a["outcome"] for a in body["attempts"]]
    counts = {o: outcomes.count(o) for o in ("correct", "wrong", "unsure")}
    (session_id,) = conn.execute(
        """INSERT INTO pyseeds.quiz_sessions (user_id, topic_id, client_session_uuid, correct, wrong, unsure)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        [body["user_id"], body["topic_id"], body["client_session_uuid"], counts["correct"], counts["wrong"], counts["unsure"]],
    ).fetchone()
    conn.execute("SELECT pg_sleep(0.02)")  # finalize_session's work: the window a re-send arrives in
    conn.execute(
        """INSERT INTO pyseeds.progress AS p VALUES (%s, %s, %s)
           ON CONFLICT ON CONSTRAINT progress_pkey DO UPDATE SET answered = p.answered + excluded.answered""",
        [body["user_id"], body["topic_id"], len(outcomes)],
    )
    return {"quiz_session_id": session_id, **counts}
