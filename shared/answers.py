"""Who may see an answer, and when: the one rule (API.md, "Answers: who may see them, and when").

Every place that can show an answer asks here and nowhere else: the exams routes, the exercises
routes and results, the data export and the tutor. An area never decides it alone
(`tests/test_architecture.py` holds that).

- A bank question's key (`correct_answer`) and explanations: admins and verified teachers; a
  student only for a question answered in a practice session (from that answer on) or belonging
  to an exam session they have submitted.
- An exercise's `solution` and hidden tests: its author, verified teachers of the author's school,
  admins. A hidden test's result is `{name, hidden, passed, verdict}` only.
- A verified teacher is a teacher or school admin who belongs to a school (their session carries
  the school, so the rule costs no read).

Places that see a session (its view, the export) decide from the session alone. Places that do
not (the tutor) ask `citable_questions`, which reads the grants written when a key is earned
(`grant_keys_in`, in the same transaction as the answer or the submit) and the caller's exam
sessions in progress: exact, in a bounded number of reads (one per candidate question, plus one
query that returns the exam sessions in progress).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.auth import STAFF_ROLES  # the staff roles a school can vouch for
from shared.collections import EXAM_SESSIONS, EXERCISES, SUBMISSIONS
from shared.errors import Forbidden
from shared.userdata import field, personal

# One document per (user, question) whose key the user has earned; id "<user id>_<question id>".
ANSWER_GRANTS = personal("answer_grants", field("user_id"))


@dataclass(frozen=True)
class Viewer:
    """Who is looking: enough of the caller to apply the rule without a read."""

    user_id: str
    role: str
    school_id: str | None = None

    @classmethod
    def of(cls, principal: Any) -> Viewer:
        """From a `shared.auth.Principal` (typed loosely: the kernel's auth imports nothing of this)."""
        return cls(user_id=principal.user_id, role=principal.role, school_id=getattr(principal, "school_id", None))

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_verified_teacher(self) -> bool:
        return self.role in STAFF_ROLES and bool(self.school_id)


def is_verified_teacher(role: str, school_id: str | None) -> bool:
    """The `teacher_verified` of a user object: staff a school vouches for."""
    return role in STAFF_ROLES and bool(school_id)


# Questions -----------------------------------------------------------------------------------


def sees_every_question_key(viewer: Viewer) -> bool:
    return viewer.is_admin or viewer.is_verified_teacher


def require_every_question_key(viewer: Viewer) -> None:
    """The question bank shows every key: admins and verified teachers read it; anyone else
    (a student, a self-registered teacher no school vouches for) is refused (403)."""
    if not sees_every_question_key(viewer):
        raise Forbidden("Only admins and verified teachers of a school read the question bank.")


def session_keys_shown(viewer: Viewer, session: Mapping[str, Any]) -> frozenset[str]:
    """The questions of one exam session whose key and explanations `viewer` may see in it.

    Staff who see every key see them all; the owner sees a submitted session's keys, and in a
    practice session the keys of the questions answered so far; anyone else (and the owner of an
    exam in progress) sees none."""
    question_ids = frozenset(str(q["id"]) for q in session.get("questions") or [])
    if sees_every_question_key(viewer):
        return question_ids
    if session.get("user_id") != viewer.user_id:
        return frozenset()
    if session.get("status") == "submitted":
        return question_ids
    if session.get("mode") == "practice":
        return question_ids & frozenset(str(k) for k in (session.get("answers") or {}))
    return frozenset()


def grant_id(user_id: str, question_id: str) -> str:
    return f"{user_id}_{question_id}"


def grant_keys_in(txn: Any, user_id: str, question_ids: Iterable[str], now: datetime) -> None:
    """Record, in the caller's transaction, that `user_id` has earned these questions' keys.
    Idempotent: a grant written again is the same grant."""
    from shared import store

    col = store.db().collection(ANSWER_GRANTS)
    for question_id in question_ids:
        ref = col.document(grant_id(user_id, question_id))
        txn.set(ref, {"user_id": user_id, "question_id": question_id, "granted_at": now})


def questions_in_running_exams(user_id: str) -> frozenset[str]:
    """The questions of the user's exam-mode sessions still in progress (equality filters only,
    served by single-field indexes; a read per session found, at least one)."""
    from shared import store

    found = (
        store.db()
        .collection(EXAM_SESSIONS)
        .where(filter=FieldFilter("user_id", "==", user_id))
        .where(filter=FieldFilter("mode", "==", "exam"))
        .where(filter=FieldFilter("status", "==", "in_progress"))
        .select(["questions"])
        .get()
    )
    return frozenset(str(q["id"]) for s in found for q in (s.to_dict() or {}).get("questions") or [])


def citable_questions(
    viewer: Viewer, question_ids: Iterable[str], *, running: frozenset[str] | None = None
) -> frozenset[str]:
    """Of `question_ids`, those whose key `viewer` may see now, outside any exam of theirs in
    progress: what the tutor may quote or cite. Reads: one per candidate (a batched get of the
    grants) plus the query of the running exams, unless the caller read them already
    (`running`, from `questions_in_running_exams`); none for a candidate list that is empty."""
    from shared import store

    wanted = list(dict.fromkeys(str(q) for q in question_ids))
    if not wanted:
        return frozenset()
    if running is None:
        running = questions_in_running_exams(viewer.user_id)
    candidates = [q for q in wanted if q not in running]
    if sees_every_question_key(viewer) or not candidates:
        return frozenset(candidates)
    col = store.db().collection(ANSWER_GRANTS)
    refs = [col.document(grant_id(viewer.user_id, q)) for q in candidates]
    return frozenset(str((s.to_dict() or {})["question_id"]) for s in store.db().get_all(refs) if s.exists)


# Exercises -----------------------------------------------------------------------------------


def may_see_exercise_key(viewer: Viewer, *, author_id: str, author_school_id: str | None) -> bool:
    """An exercise's solution and hidden tests: its author, verified teachers of the author's
    school, admins."""
    if viewer.is_admin or viewer.user_id == author_id:
        return True
    return viewer.is_verified_teacher and author_school_id is not None and viewer.school_id == author_school_id


# What an exercise's key is made of: its solution, and these fields of a hidden test.
HIDDEN_TEST_KEY_FIELDS = ("stdin", "code", "expected_output")
HIDDEN_RESULT_FIELDS = ("name", "hidden", "passed", "verdict")


def exercise_key_holder(viewer: Viewer, exercise: Mapping[str, Any]) -> bool:
    """`may_see_exercise_key` for a stored exercise (its `author_id` and `author_school_id`)."""
    return may_see_exercise_key(
        viewer, author_id=str(exercise.get("author_id") or ""), author_school_id=exercise.get("author_school_id")
    )


def exercise_shown(viewer: Viewer, exercise: Mapping[str, Any]) -> dict[str, Any]:
    """A stored exercise as `viewer` may see it: without its solution and its hidden tests'
    stdin, code and expected output unless they hold its key."""
    if exercise_key_holder(viewer, exercise):
        return dict(exercise)
    shown = {k: v for k, v in exercise.items() if k != "solution"}
    shown["tests"] = [
        {k: v for k, v in t.items() if k not in HIDDEN_TEST_KEY_FIELDS} if t.get("hidden") else dict(t)
        for t in exercise.get("tests") or []
    ]
    return shown


def hidden_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """What anyone but the exercise's key holders sees of a hidden test's result: its name and
    outcome, never its output, error or time."""
    return {"name": result["name"], "hidden": True, "passed": bool(result["passed"]), "verdict": result["verdict"]}


def results_shown(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A submission's results as everyone sees them, key holders included: a hidden test's result
    is `hidden_result` (the grader keeps no output of it, and its time tells nothing a key holder
    needs: they read the test itself on the exercise)."""
    return [hidden_result(r) if r.get("hidden") else dict(r) for r in results]


# Whole stored documents (the export) ---------------------------------------------------------


def _session_earned(viewer: Viewer, session: Mapping[str, Any]) -> dict[str, Any]:
    """A stored exam session with the keys `viewer` has not earned taken out: a question's
    `correct_answer`, an answer's `correct`, and the running `correct` count while any answered
    question's key is still unearned (it would tell which answers were right)."""
    shown = session_keys_shown(viewer, session)
    out = dict(session)
    out["questions"] = [
        dict(q) if str(q.get("id")) in shown else {k: v for k, v in q.items() if k != "correct_answer"}
        for q in session.get("questions") or []
    ]
    given: Mapping[str, Any] = session.get("answers") or {}
    out["answers"] = {
        qid: dict(a) if qid in shown else {k: v for k, v in a.items() if k != "correct"} for qid, a in given.items()
    }
    if any(qid not in shown for qid in given):
        out.pop("correct", None)
    return out


def earned_only(viewer: Viewer, collection: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document of `collection` holding no key `viewer` has not earned: what the export
    (or any place that shows whole documents) hands out. Collections that hold no key pass as is."""
    if collection == EXAM_SESSIONS:
        return _session_earned(viewer, document)
    if collection == SUBMISSIONS:
        return {**document, "results": results_shown(document.get("results") or [])}
    if collection == EXERCISES:
        return exercise_shown(viewer, document)
    return dict(document)
