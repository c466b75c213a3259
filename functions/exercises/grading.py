"""Grading a submission, once, however often `submission.created` arrives.

1. Claim (transaction): a queued submission, or a running one whose lease ran out, becomes
   running with a new attempt number and a lease. A graded one is not graded again: its stored
   result is published again under the same event id, which every consumer has already seen
   (or sees for the first time, if the first publish was lost).
2. Run it in the sandbox (outside any transaction), judge each test on the host.
3. Finish (transaction): write the result only if this attempt still holds the claim, and
   `submission.graded` (event id `submission-graded-<id>`) into the outbox with it.
4. Send the staged event; if the process dies first, the outbox flush publishes it. One
   result per submission, whoever publishes it.

Every failure after the claim (the exercise read, the sandbox, the finish) gives the claim
back (`_release`) and fails the delivery, so Pub/Sub delivers it again and a new attempt grades
it; a failure after the finish committed changes nothing (the next delivery finds it graded). A
grading that keeps failing ends as `internal_error` after MAX_ATTEMPTS claims. A claim whose
release failed too, or whose instance was killed, holds until its lease runs out: then the next
delivery takes it over, and the sweep ends it only once both `stale_at` and the lease have passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.exercises import judge
from functions.exercises.service import exercise_ref
from functions.exercises.submissions import submission_ref
from shared import store
from shared.collections import SUBMISSIONS
from shared.errors import NotFound
from shared.event_types import SUBMISSION_GRADED, SubmissionGraded
from shared.events import StagedEvent, publish, publish_in
from shared.logging import get_logger, log_fields

log = get_logger("exercises.grading")

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 3
SWEEP_BATCH = 200


def graded_event_id(submission_id: str) -> str:
    return f"submission-graded-{submission_id}"


def _internal_error(reason: str, now: datetime) -> dict[str, Any]:
    return {
        "status": "graded",
        "verdict": "internal_error",
        "score": 0.0,
        "auto_score": 0.0,
        "tests_passed": 0,
        "tests_total": 0,
        "results": [],
        "feedback": reason,
        "graded_at": now,
        "lease_until": None,
    }


def _graded_event(submission_id: str, data: dict[str, Any]) -> SubmissionGraded | None:
    """`submission.graded` for a stored result; an internal error is nobody's attempt: none."""
    if data.get("status") != "graded" or data.get("verdict") == "internal_error":
        return None
    return SubmissionGraded(
        user_id=data["user_id"],
        submission_id=submission_id,
        exercise_id=data["exercise_id"],
        topic=data.get("topic") or "general",
        score=float(data.get("auto_score") or 0.0),
        passed=data.get("verdict") == "accepted",
        verdict=data.get("verdict"),
    )


def publish_graded(submission_id: str, data: dict[str, Any]) -> None:
    """Publish again the event of a result stored earlier (same event id: consumers count it once)."""
    if (event := _graded_event(submission_id, data)) is not None:
        publish(SUBMISSION_GRADED, event, occurred_at=data.get("graded_at"), event_id=graded_event_id(submission_id))


def _claim(ref: Any, now: datetime) -> tuple[str, dict[str, Any]]:
    def work(txn: store.Transaction) -> tuple[str, dict[str, Any]]:
        data = ref.get(transaction=txn).to_dict()
        if data is None:
            return "missing", {}
        if data.get("status") == "graded":
            return "graded", data
        lease = data.get("lease_until")
        if data.get("status") == "running" and lease is not None and lease > now:
            return "busy", data
        attempts = int(data.get("attempts", 0)) + 1
        if attempts > MAX_ATTEMPTS:
            ended = _internal_error("Grading failed repeatedly; submit again.", now)
            txn.update(ref, ended)
            return "graded", {**data, **ended}
        claim = {"status": "running", "attempts": attempts, "lease_until": now + LEASE}
        txn.update(ref, claim)
        return "claimed", {**data, **claim}

    return store.run_transaction(work)


def _finish(ref: Any, attempt: int, outcome: dict[str, Any]) -> tuple[dict[str, Any], StagedEvent | None] | None:
    """Store the outcome if attempt `attempt` still holds the claim, with its `submission.graded`
    in the same transaction (shared.events.publish_in); the stored document and the staged event
    to send, else None."""

    def work(txn: store.Transaction) -> tuple[dict[str, Any], StagedEvent | None] | None:
        data = ref.get(transaction=txn).to_dict()
        if data is None or data.get("status") != "running" or int(data.get("attempts", 0)) != attempt:
            return None
        txn.update(ref, outcome)
        stored = {**data, **outcome}
        event = _graded_event(ref.id, stored)
        if event is None:
            return stored, None
        staged = publish_in(
            txn, SUBMISSION_GRADED, event, occurred_at=stored.get("graded_at"), event_id=graded_event_id(ref.id)
        )
        return stored, staged

    return store.run_transaction(work)


def outcome_of(exercise: dict[str, Any], code: str, now: datetime) -> dict[str, Any]:
    judged = judge.run_exercise(code, exercise)
    verdict, score, passed = judge.overall(judged)
    return {
        "status": "graded",
        "verdict": verdict,
        "score": score,
        "auto_score": score,
        "tests_passed": passed,
        "tests_total": len(judged),
        "results": [j.result() for j in judged],
        "topic": exercise.get("topic"),
        "graded_at": now,
        "lease_until": None,
    }


def grade(submission_id: str, now: datetime) -> str:
    """Grade one submission; returns what happened (claimed, graded, busy, missing)."""
    try:
        ref = submission_ref(submission_id)
    except NotFound:
        return "missing"
    state, data = _claim(ref, now)
    if state == "graded":
        publish_graded(submission_id, data)
    if state != "claimed":
        return state
    attempt = int(data["attempts"])
    try:
        exercise = exercise_ref(data["exercise_id"]).get().to_dict()
        if exercise is None:
            outcome = _internal_error("The exercise no longer exists.", store.now())
        else:
            outcome = outcome_of(exercise, data["code"], store.now())
        finished = _finish(ref, attempt, outcome)
    except Exception:
        # The platform failed, not the submission: give the claim back for the next delivery.
        _release(ref, attempt)
        raise
    if finished is not None:
        stored, staged = finished
        log.info(
            "submission graded",
            extra=log_fields(submission_id=submission_id, verdict=stored["verdict"], attempt=attempt),
        )
        if staged is not None:
            staged.send()  # if this fails, the outbox flush publishes it
    return "claimed"


def _release(ref: Any, attempt: int) -> None:
    """Give back attempt `attempt`'s claim (queued again, no lease), if it still holds it: a
    finish that did commit before its answer was lost leaves nothing to release. When even
    this fails, the claim holds until its lease runs out (then a delivery takes it over)."""

    def work(txn: store.Transaction) -> None:
        data = ref.get(transaction=txn).to_dict()
        if data is not None and data.get("status") == "running" and int(data.get("attempts", 0)) == attempt:
            txn.update(ref, {"status": "queued", "lease_until": None})

    try:
        store.run_transaction(work)
    except Exception as exc:
        log.error("grading: the claim could not be released", extra=log_fields(error=type(exc).__name__))


def sweep(now: datetime) -> int:
    """End as internal_error every queued submission past `stale_at`, and every running one past
    `stale_at` whose lease ran out (a live grader's claim is left alone)."""
    ended = 0
    collection = store.db().collection(SUBMISSIONS)
    for status in ("queued", "running"):
        stale = (
            collection.where(filter=store.eq("status", status))
            .where(filter=FieldFilter("stale_at", "<", now))
            .limit(SWEEP_BATCH)
            .stream()
        )
        for snapshot in stale:

            def work(txn: store.Transaction, ref: Any = snapshot.reference) -> bool:
                data = ref.get(transaction=txn).to_dict()
                if data is None or data.get("status") == "graded":
                    return False
                lease = data.get("lease_until")
                if data.get("status") == "running" and lease is not None and lease > now:
                    return False
                txn.update(ref, _internal_error("Grading did not finish in time; submit again.", now))
                return True

            ended += int(store.run_transaction(work))
    return ended
