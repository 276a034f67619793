"""Seeds 000, 001 and 002 from a Python service under load: each story, then
`--requests` requests per seed from `--threads` threads (one connection each),
every key requested several times at once. Prints a JSON report.

Needs the kit and this example's migrations:
  racefree migrate up --dir examples/python/migrations
  DATABASE_URL=postgres://... python3 examples/python/run_seeds.py --threads 32
"""

import argparse
import json
import os
import threading
import uuid

import psycopg

import service

LEVELS = ("beginner", "intermediate", "expert")


def hammer(url, threads, requests, request):
    """Run request(conn, i, errors) for i in 0..requests-1 from `threads` threads; a raise is a failed request."""
    lock = threading.Lock()
    state = {"next": 0, "failed": 0, "errors": {}}

    def worker():
        errors = {}
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= requests:
                    break
                try:
                    request(conn, i, errors)
                except Exception as error:  # a 500: tallied, never hidden
                    code = getattr(error, "sqlstate", None) or type(error).__name__
                    errors[code] = errors.get(code, 0) + 1
                    with lock:
                        state["failed"] += 1
        with lock:
            for code, n in errors.items():
                state["errors"][code] = state["errors"].get(code, 0) + n

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"requests": requests, "failed": state["failed"], "errors": state["errors"]}


def at_once(url, calls):
    """Run each call(conn) on its own connection, released together by a barrier; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i):
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            try:
                results[i] = calls[i](conn)
            except psycopg.Error as error:
                results[i] = f"failed: SQLSTATE {error.sqlstate}"

    pool = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def assessment(technology, level, request):
    questions = [{"q": f"What is {technology}?"}, {"q": f"{technology} at {level} level"}]
    return {"assessment_id": f"asm-{request}", "technology": technology, "proficiency_level": level,
            "questions": questions, "total_questions": len(questions)}


def analysis(task_id, query, weights=True):
    goal = f"{query} basics"
    return {"task_id": task_id, "roadmap_id": f"roadmap-{task_id}", "parsed_goal": goal,
            "key_technologies": query.split(" ")[-1:], "content_format_weights": {"video": 0.5, "text": 0.5} if weights else None,
            "full_analysis_data": {"goal": goal, "query": query}}


def quiz(session_uuid, outcomes=("correct", "wrong", "unsure")):
    return {"client_session_uuid": session_uuid, "user_id": 7, "topic_id": 3, "score": 1.0,
            "attempts": [{"question_id": i + 1, "outcome": o} for i, o in enumerate(outcomes)]}


def scalar(conn, sql, params=()):
    return conn.execute(sql, params).fetchone()[0]


def seed000(url, threads, requests):
    double_click = at_once(url, [lambda c, r=r: service.save_assessment(c, assessment("Hive", "beginner", r)) for r in (1, 2)])
    actions = {}
    lock = threading.Lock()

    def request(conn, i, errors):
        # 8 requests per key: a double-click storm.
        a = assessment(f"tech-{i // 24}", LEVELS[(i // 8) % 3], i)
        action = service.with_retries(lambda: service.save_assessment(conn, a), errors)
        with lock:
            actions[action] = actions.get(action, 0) + 1

    load = hammer(url, threads, requests, request)
    with psycopg.connect(url) as conn:
        load["duplicates"] = scalar(conn, "SELECT count(*) - count(DISTINCT (technology, proficiency_level)) FROM pyseeds.tech_stack_assessments")
        rows = scalar(conn, "SELECT count(*) FROM pyseeds.tech_stack_assessments WHERE technology = 'Hive'")
    return {"double_click": sorted(double_click), "rows": rows, "load": load, "actions": actions}


def seed001(url, threads, requests):
    with psycopg.connect(url, autocommit=True) as conn:
        first = analysis("task-b", "Learn Python")
        run_action, run_at = service.save_analysis(conn, first)
        resume_action, resume_at = service.save_analysis(conn, first)
        retry_action, retry_weights = service.replace_analysis(conn, analysis("task-b", "Learn Advanced Python", weights=False))
    story = {"run": run_action, "resume": resume_action, "resume_wrote_nothing": resume_at == run_at,
             "retry": retry_action, "retry_weights": retry_weights}
    actions = {}
    lock = threading.Lock()

    def request(conn, i, errors):
        # 4 saves per task: a run racing its own resumes.
        a = analysis(f"task-{i // 4}", "Learn Redis")
        action, _ = service.with_retries(lambda: service.save_analysis(conn, a), errors)
        with lock:
            actions[action] = actions.get(action, 0) + 1

    load = hammer(url, threads, requests, request)
    with psycopg.connect(url) as conn:
        load["duplicates"] = scalar(conn, "SELECT count(*) - count(DISTINCT task_id) FROM pyseeds.intent_analysis_metadata")
    return {"story": story, "load": load, "actions": actions}


def seed002(url, threads, requests):
    errors = {}
    story_uuid = str(uuid.uuid4())
    concurrent = at_once(url, [lambda c: service.ingest(c, quiz(story_uuid), errors)] * 2)
    with psycopg.connect(url, autocommit=True) as conn:
        resend = service.ingest(conn, quiz(story_uuid), errors)
        mismatch = service.ingest(conn, quiz(story_uuid, ("wrong",)), errors)
        story_ingests = scalar(conn, "SELECT count(*) FROM pyseeds.quiz_sessions WHERE client_session_uuid = %s", [story_uuid])
    responses = [*concurrent, resend, mismatch]
    story = {"responses": [{"status": s, "headers": h, "body": b} for s, h, b in responses], "ingests": story_ingests,
             "same_body": all(r[2] == concurrent[0][2] for r in [*concurrent, resend])}

    replayed = []
    lock = threading.Lock()
    prefix = "00000000-0000-4000-a000-"

    def request(conn, i, errors):
        # Each session POSTed twice at once: an outbox re-send racing the first send.
        status, headers, _ = service.ingest(conn, quiz(f"{prefix}{i // 2:012d}"), errors)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        if headers.get("Idempotent-Replayed") == "true":
            with lock:
                replayed.append(i)

    load = hammer(url, threads, requests, request)
    with psycopg.connect(url) as conn:
        ingests = scalar(conn, "SELECT count(*) FROM pyseeds.quiz_sessions WHERE starts_with(client_session_uuid::text, %s)", [prefix])
        load["duplicates"] = ingests - scalar(conn, "SELECT count(DISTINCT client_session_uuid) FROM pyseeds.quiz_sessions WHERE starts_with(client_session_uuid::text, %s)", [prefix])
        answered = scalar(conn, "SELECT answered FROM pyseeds.progress WHERE user_id = 7 AND topic_id = 3")
    return {"story": story, "story_errors": errors, "load": load, "replayed": len(replayed), "ingests": ingests, "answered": answered}


def cross_language(url):
    """One POST whose body holds a float (1.0): a Node.js service with the same key must replay it, not get RF001."""
    body = quiz("11111111-2222-4333-8444-555555555555")
    with psycopg.connect(url, autocommit=True) as conn:
        status, _, response = service.ingest(conn, body, {})
    return {"scope": f"user:{body['user_id']}", "key": body["client_session_uuid"], "request": json.dumps(body), "status": status, "response": response}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--requests", type=int, default=320)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        server = scalar(conn, "SELECT current_setting('server_version')")
    report = {
        "threads": args.threads, "server_version": server, "psycopg": psycopg.__version__,
        "seed000": seed000(url, args.threads, args.requests),
        "seed001": seed001(url, args.threads, args.requests),
        "seed002": seed002(url, args.threads, args.requests),
        "cross_language": cross_language(url),
    }
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
