"""Submissions: queue one for grading, read them (the author, their teachers, admins),
the history per student and per exercise, a teacher's override of the score.

A submission document: user_id, exercise_id, language, code, status (queued, running, graded),
verdict, score (the override when a teacher set one), auto_score (the grader's), tests_passed,
tests_total, results, feedback, evaluated_by, created_at, graded_at, the grader's own
bookkeeping (attempts, lease_until, topic), and class_ids: the author's active classes, set
when it is made and kept in step by class.joined / class.left (`refresh_classes`), so that a
teacher's list is one indexed query per 30 of their classes, whatever the roster (issue 22).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.exercises.models import SubmissionOut, SubmissionQueuedOut
from functions.exercises.service import exercise_ref
from shared import answers, store
from shared.access import teaches
from shared.auth import Principal, new_id
from shared.collections import CLASSES, MEMBERSHIPS, SUBMISSIONS
from shared.config import settings
from shared.errors import Conflict, Forbidden, NotFound
from shared.event_types import SUBMISSION_CREATED, SubmissionCreated
from shared.events import publish_in
from shared.ratelimit import Limit, hit
from shared.registry import composite_index

RATE_WINDOW_SECONDS = 60
# Past this, a queued or running submission is stale: the sweep ends it as internal_error.
STALE_AFTER = timedelta(minutes=15)
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
NEWEST = ("created_at", store.DESCENDING)

BY_USER = composite_index(SUBMISSIONS, ("user_id", "ASCENDING"), ("created_at", "DESCENDING"))
BY_USER_EXERCISE = composite_index(
    SUBMISSIONS, ("user_id", "ASCENDING"), ("exercise_id", "ASCENDING"), ("created_at", "DESCENDING")
)
BY_EXERCISE = composite_index(SUBMISSIONS, ("exercise_id", "ASCENDING"), ("created_at", "DESCENDING"))
BY_EXERCISE_CLASS = composite_index(
    SUBMISSIONS, ("exercise_id", "ASCENDING"), ("class_ids", "CONTAINS"), ("created_at", "DESCENDING")
)
MAX_ANY_OF = 30  # values an `array_contains_any` filter takes
STALE = composite_index(SUBMISSIONS, ("status", "ASCENDING"), ("stale_at", "ASCENDING"))


def submission_ref(submission_id: str) -> Any:
    if not _HEX_ID.match(submission_id):
        raise NotFound("No such submission.")
    return store.db().collection(SUBMISSIONS).document(submission_id)


def submission_out(submission_id: str, data: dict[str, Any]) -> SubmissionOut:
    fields = {k: data[k] for k in SubmissionOut.model_fields if k not in ("id", "results") and k in data}
    return SubmissionOut(id=submission_id, results=answers.results_shown(data.get("results") or []), **fields)


def create_submission(user_id: str, exercise_id: str, code: str, now: datetime) -> SubmissionQueuedOut:
    """Queue `code` for grading and publish `submission.created`. Rate-limited per user."""
    hit(
        Limit("submissions", max_hits=settings().submissions_per_minute, window_seconds=RATE_WINDOW_SECONDS),
        user_id,
        now,
    )
    if not exercise_ref(exercise_id).get(field_paths=["topic"]).exists:
        raise NotFound("No such exercise.", details=[{"field": "exercise_id", "message": "No such exercise."}])
    submission_id = new_id()
    data: dict[str, Any] = {
        "user_id": user_id,
        "exercise_id": exercise_id,
        "language": "python",
        "code": code,
        "status": "queued",
        "verdict": None,
        "score": None,
        "auto_score": None,
        "tests_passed": None,
        "tests_total": None,
        "results": [],
        "feedback": None,
        "evaluated_by": None,
        "created_at": now,
        "graded_at": None,
        "attempts": 0,
        "stale_at": now + STALE_AFTER,
        "class_ids": classes_of(user_id),
    }
    # The event commits with the submission: a crash before the publish cannot lose it.
    batch = store.db().batch()
    batch.create(submission_ref(submission_id), data)
    created = publish_in(
        batch,
        SUBMISSION_CREATED,
        SubmissionCreated(submission_id=submission_id, user_id=user_id, exercise_id=exercise_id),
        occurred_at=now,
    )
    batch.commit()
    created.send()
    return SubmissionQueuedOut(
        id=submission_id, exercise_id=exercise_id, user_id=user_id, status="queued", created_at=now
    )


def _may_see(principal: Principal, author_id: str) -> bool:
    if principal.is_self_or_admin(author_id):
        return True
    return principal.is_staff and teaches(principal.user_id, author_id)


def get_submission(submission_id: str, principal: Principal) -> SubmissionOut:
    """The author, a teacher of the author's class or an admin; anyone else learns nothing (404)."""
    data = submission_ref(submission_id).get().to_dict()
    if data is None or not _may_see(principal, data["user_id"]):
        raise NotFound("No such submission.")
    return submission_out(submission_id, data)


def list_student_submissions(student_id: str, exercise_id: str | None, limit: int, cursor: str | None) -> store.Page:
    collection = store.db().collection(SUBMISSIONS)
    query = collection.where(filter=store.eq("user_id", student_id))
    if exercise_id:
        query = query.where(filter=store.eq("exercise_id", exercise_id))
    return store.paginate(query, collection, [NEWEST], limit, cursor, lambda s: submission_out(s.id, s.to_dict() or {}))


def classes_of(student_id: str) -> list[str]:
    """The student's active classes (one query: a read per class, at least one)."""
    memberships = (
        store.db()
        .collection(MEMBERSHIPS)
        .where(filter=store.eq("student_id", student_id))
        .where(filter=store.eq("status", "active"))
        .select(["class_id"])
        .stream()
    )
    return sorted({(m.to_dict() or {}).get("class_id", "") for m in memberships} - {""})


def refresh_classes(student_id: str) -> int:
    """Set `class_ids` of every submission of the student to their active classes now (a class
    joined or left); returns how many changed. It reads the current memberships, so a late,
    repeated or reordered event leaves the same result."""
    classes = classes_of(student_id)
    mine = store.db().collection(SUBMISSIONS).where(filter=store.eq("user_id", student_id)).select(["class_ids"])
    return store.update_all(
        (s.reference, {"class_ids": classes}) for s in mine.stream() if (s.to_dict() or {}).get("class_ids") != classes
    )


def _classes_taught(teacher_id: str) -> list[str]:
    """The teacher's active classes (one query: a read per class, at least one)."""
    taught = (
        store.db()
        .collection(CLASSES)
        .where(filter=store.eq("teacher_id", teacher_id))
        .where(filter=store.eq("status", "active"))
        .select([])
        .stream()
    )
    return sorted(c.id for c in taught)


def list_exercise_submissions(exercise_id: str, principal: Principal, limit: int, cursor: str | None) -> store.Page:
    """Its author and admins see every submission; another teacher only their students'."""
    exercise = exercise_ref(exercise_id).get(field_paths=["author_id"]).to_dict()
    if exercise is None:
        raise NotFound("No such exercise.")
    collection = store.db().collection(SUBMISSIONS)
    query = collection.where(filter=store.eq("exercise_id", exercise_id))
    if not (principal.is_admin or exercise.get("author_id") == principal.user_id):
        if not principal.is_staff:
            raise Forbidden("Only the exercise's author, teachers and admins see its submissions.")
        # The submissions carry their author's classes: one indexed query per 30 of the teacher's
        # classes (Firestore's limit), merged into one page; the roster's size costs nothing.
        classes = _classes_taught(principal.user_id)
        queries = [
            query.where(filter=FieldFilter("class_ids", "array_contains_any", classes[i : i + MAX_ANY_OF]))
            for i in range(0, len(classes), MAX_ANY_OF)
        ]
        if not queries:
            return store.Page(items=[])
        return store.paginate_union(
            queries, collection, [NEWEST], limit, cursor, lambda s: submission_out(s.id, s.to_dict() or {})
        )
    return store.paginate(query, collection, [NEWEST], limit, cursor, lambda s: submission_out(s.id, s.to_dict() or {}))


def evaluate(submission_id: str, principal: Principal, score: float, feedback: str, now: datetime) -> SubmissionOut:
    """A teacher of the author's class (or an admin) overrides the score; the grader's stays in
    `auto_score`. Only a graded submission can be evaluated (409 before)."""
    ref = submission_ref(submission_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        data = ref.get(transaction=txn).to_dict()
        if data is None or not (principal.is_admin or teaches(principal.user_id, data["user_id"])):
            raise NotFound("No such submission.")
        if data.get("status") != "graded":
            raise Conflict("The submission is not graded yet.")
        changes = {"score": score, "feedback": feedback, "evaluated_by": principal.user_id, "evaluated_at": now}
        txn.update(ref, changes)
        return {**data, **changes}

    return submission_out(submission_id, store.run_transaction(work))
