"""Learners on a path: enrolment, each lesson's progress, completion as the server decides it,
and the events that complete exercise and practice-exam lessons by themselves. See docs/paths.md.

Firestore layout:
  path_enrollments/{path_id}_{user_id}   path_id, user_id, enrolled (false once left: the
      progress stays for a return), enrolled_at, left_at, updated_at, and the learner's state
      of every lesson they touched: lessons {<lesson_id>: {completed, completed_at,
      watched_seconds, position_seconds, started_at (the first report: the video's start),
      reported_at}}. One document per learner and path, so
      `GET /paths/{id}` reads the path and this document in one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.paths.authoring import lessons_of, path_of_lesson, path_out
from functions.paths.models import (
    EnrollmentOut,
    LessonProgressIn,
    LessonProgressOut,
    LessonStateOut,
    PathDetailOut,
    ProgressOut,
    UserPathOut,
)
from shared import store
from shared.auth import new_id
from shared.collections import EXAM_SESSIONS, PATH_ENROLLMENTS, PATHS, SUBMISSIONS
from shared.errors import Conflict, NotFound
from shared.event_types import LESSON_COMPLETED, ExamCompleted, LessonCompleted, SubmissionGraded
from shared.events import Event, StagedEvent, publish_in, run_once
from shared.logging import get_logger, log_fields
from shared.registry import composite_index
from shared.store import eq

log = get_logger("paths")
T = TypeVar("T")

ENROLLMENTS = PATH_ENROLLMENTS

# Video: a lesson completes once 90% of it has been watched. The client reports its running
# total of seconds played; the server credits, in all, at most MAX_PLAYBACK_RATE times the
# wall-clock time since the learner started the video plus one grace (clocks and network), so
# scrubbing to the end, one report claiming the whole video, or a burst of reports (a grace
# each, were it per report) credits almost nothing.
VIDEO_COMPLETE_SHARE = 0.9
MAX_PLAYBACK_RATE = 2.0
REPORT_GRACE_SECONDS = 5
# Events look through at most this many of a learner's enrolments.
EVENT_ENROLMENT_CAP = 200

ENROLLED_BY_USER = composite_index(
    ENROLLMENTS, ("user_id", "ASCENDING"), ("enrolled", "ASCENDING"), ("enrolled_at", "DESCENDING")
)
ACCEPTED_SUBMISSIONS = composite_index(
    SUBMISSIONS, ("user_id", "ASCENDING"), ("exercise_id", "ASCENDING"), ("verdict", "ASCENDING")
)
PASSING_SESSIONS = composite_index(
    EXAM_SESSIONS,
    ("user_id", "ASCENDING"),
    ("exam_type", "ASCENDING"),
    ("status", "ASCENDING"),
    ("score", "ASCENDING"),
)


def _col(name: str) -> Any:
    return store.db().collection(name)


def enrollment_id(path_id: str, user_id: str) -> str:
    return f"{path_id}_{user_id}"


def _enrollment_ref(path_id: str, user_id: str) -> Any:
    return _col(ENROLLMENTS).document(enrollment_id(path_id, user_id))


# Progress arithmetic ----------------------------------------------------------------------------


def summarize(lesson_ids: list[str], states: dict[str, Any]) -> tuple[int, int, str | None]:
    """(completed lessons, percent, the lesson to resume): over the path's lessons as they are
    now, so a removed lesson no longer counts; the next lesson is the first not completed."""
    done = [lid for lid in lesson_ids if (states.get(lid) or {}).get("completed")]
    following = next((lid for lid in lesson_ids if not (states.get(lid) or {}).get("completed")), None)
    percent = (100 * len(done)) // len(lesson_ids) if lesson_ids else 0
    return len(done), percent, following


def progress_out(path: dict[str, Any], enrollment: dict[str, Any] | None) -> ProgressOut:
    lesson_ids = list(path.get("lesson_ids") or [])
    states = (enrollment or {}).get("lessons") or {}
    completed, percent, following = summarize(lesson_ids, states)
    return ProgressOut(
        enrolled=bool((enrollment or {}).get("enrolled")),
        percent=percent,
        completed_lessons=completed,
        next_lesson_id=following,
        lessons={lid: LessonStateOut(**_state_fields(states.get(lid))) for lid in lesson_ids},
    )


def _state_fields(state: dict[str, Any] | None) -> dict[str, Any]:
    state = state or {}
    return {
        "completed": bool(state.get("completed")),
        "watched_seconds": int(state.get("watched_seconds") or 0),
        "position_seconds": int(state.get("position_seconds") or 0),
    }


def credit_watched(watched: int, claimed: int, duration: int, started_at: datetime, now: datetime) -> int:
    """The watched seconds to keep: never less than before, never more than the duration, and in
    all never more than the wall clock allows since the learner started the video (a bound on
    the total, not per report, so neither the number of reports nor their speed adds to it)."""
    elapsed = max(0.0, (now - started_at).total_seconds())
    allowed = int(MAX_PLAYBACK_RATE * elapsed) + REPORT_GRACE_SECONDS
    return max(watched, min(duration, claimed, allowed))


def video_done(watched: int, duration: int) -> bool:
    return watched >= VIDEO_COMPLETE_SHARE * duration


def has_accepted_submission(user_id: str, exercise_id: str) -> bool:
    query = (
        _col(SUBMISSIONS)
        .where(filter=eq("user_id", user_id))
        .where(filter=eq("exercise_id", exercise_id))
        .where(filter=eq("verdict", "accepted"))
        .limit(1)
    )
    return bool(query.get())


def has_passing_session(user_id: str, exam_type: str, pass_score: int) -> bool:
    query = (
        _col(EXAM_SESSIONS)
        .where(filter=eq("user_id", user_id))
        .where(filter=eq("exam_type", exam_type))
        .where(filter=eq("status", "submitted"))
        .where(filter=FieldFilter("score", ">=", pass_score))
        .limit(1)
    )
    return bool(query.get())


def condition_met(user_id: str, lesson: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the caller has done what the lesson asks (a reading lesson: being told is enough)."""
    kind = lesson["kind"]
    if kind == "reading":
        return True
    if kind == "video":
        return video_done(int(state.get("watched_seconds") or 0), int(lesson["duration_seconds"]))
    if kind == "exercise":
        return has_accepted_submission(user_id, lesson["exercise_id"])
    return has_passing_session(user_id, lesson["exam_type"], int(lesson.get("pass_score") or 0))


def _announce(
    writer: Any, user_id: str, path_id: str, lesson: dict[str, Any], now: datetime, event_id: str
) -> StagedEvent:
    """Stage `lesson.completed` through the writer of the completion itself; send it after the commit."""
    data = LessonCompleted(user_id=user_id, lesson_id=lesson["id"], path_id=path_id, topic=lesson.get("topic"))
    return publish_in(writer, LESSON_COMPLETED, data, occurred_at=now, event_id=event_id)


def _announced(staged: StagedEvent, user_id: str, path_id: str, lesson_id: str) -> None:
    staged.send()
    log.info("lesson completed", extra=log_fields(path_id=path_id, lesson_id=lesson_id, user_id=user_id))


# Reading a path with the caller's progress --------------------------------------------------------


def get_path(path_id: str, user_id: str) -> PathDetailOut:
    """The path and the caller's enrolment, in one batched read of two documents."""
    path_ref, enrollment_ref = _col(PATHS).document(path_id), _enrollment_ref(path_id, user_id)
    found = {s.reference.path: s.to_dict() for s in store.db().get_all([path_ref, enrollment_ref]) if s.exists}
    path = found.get(path_ref.path)
    if path is None:
        raise NotFound("No such path.")
    base = path_out(path_id, path)
    return PathDetailOut(**base.model_dump(), progress=progress_out(path, found.get(enrollment_ref.path)))


# Enrolment ------------------------------------------------------------------------------------------


def _require_path(path_id: str) -> None:
    if not _col(PATHS).document(path_id).get(field_paths=["title"]).exists:
        raise NotFound("No such path.")


def _path_lessons(path_id: str) -> list[dict[str, Any]]:
    snapshot = _col(PATHS).document(path_id).get(field_paths=["modules"])
    if not snapshot.exists:
        raise NotFound("No such path.")
    return lessons_of(snapshot.to_dict() or {})


def done_before(user_id: str, lessons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exercise and practice-exam lessons whose condition the learner already meets (an
    accepted submission, a passing session): work done before enrolling counts. One query per
    distinct condition."""
    met: dict[tuple[str, ...], bool] = {}
    found = []
    for lesson in lessons:
        if lesson["kind"] == "exercise":
            key: tuple[str, ...] = ("exercise", lesson["exercise_id"])
        elif lesson["kind"] == "practice_exam":
            key = ("practice_exam", lesson["exam_type"], str(int(lesson.get("pass_score") or 0)))
        else:
            continue  # reading and video lessons are done on the path itself
        if key not in met:
            met[key] = condition_met(user_id, lesson, {})
        if met[key]:
            found.append(lesson)
    return found


def enroll(path_id: str, user_id: str, now: datetime) -> tuple[EnrollmentOut, bool]:
    """Enrol (again): True when this call enrolled, False when the caller already was. A return
    after leaving keeps the earlier progress. Exercises solved and practice exams passed before
    complete their lessons at once (each publishes `lesson.completed`)."""
    lessons = _path_lessons(path_id)
    credited: list[dict[str, Any]] | None = None  # looked up once, and only when this call enrols

    def decide(
        current: dict[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, tuple[datetime, bool, list[dict[str, Any]]]]:
        nonlocal credited
        if current is not None and current.get("enrolled"):
            return None, (current["enrolled_at"], False, [])
        if credited is None:
            credited = done_before(user_id, lessons)
        states = (current or {}).get("lessons") or {}
        newly = [lesson for lesson in credited if not (states.get(lesson["id"]) or {}).get("completed")]
        completions = {
            lesson["id"]: {
                "completed": True,
                "completed_at": now,
                "watched_seconds": 0,
                "position_seconds": 0,
                "reported_at": None,
            }
            for lesson in newly
        }
        changes = {"path_id": path_id, "user_id": user_id, "enrolled": True, "enrolled_at": now, "updated_at": now}
        if current is None:
            changes.update(left_at=None, lessons=completions)
        else:
            changes.update({f"lessons.{lesson_id}": state for lesson_id, state in completions.items()})
        return changes, (now, True, newly)

    event_ids = {lesson["id"]: new_id() for lesson in lessons}  # the same events whichever attempt commits

    def stage(batch: Any, answer: tuple[datetime, bool, list[dict[str, Any]]]) -> list[StagedEvent]:
        return [_announce(batch, user_id, path_id, lesson, now, event_ids[lesson["id"]]) for lesson in answer[2]]

    (enrolled_at, created, newly), staged = store.guarded_write(_enrollment_ref(path_id, user_id), decide, stage)
    for lesson, event in zip(newly, staged or [], strict=True):
        _announced(event, user_id, path_id, lesson["id"])
    return EnrollmentOut(path_id=path_id, user_id=user_id, enrolled=True, enrolled_at=enrolled_at), created


def unenroll(path_id: str, user_id: str, now: datetime) -> None:
    """Leave the path (idempotent). The progress stays, for a later return."""

    def decide(current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
        if current is None:
            return None, False
        if current.get("enrolled"):
            return {"enrolled": False, "left_at": now, "updated_at": now}, True
        return None, True

    if not store.guarded_write(_enrollment_ref(path_id, user_id), decide)[0]:
        _require_path(path_id)


def list_user_paths(user_id: str, limit: int, cursor: str | None) -> store.Page:
    """The user's enrolled paths, latest enrolment first, each with percent and the lesson to
    resume computed from the path as it is now. A deleted path drops out of the page."""
    query = _col(ENROLLMENTS).where(filter=eq("user_id", user_id)).where(filter=eq("enrolled", True))
    page = store.paginate(query, _col(ENROLLMENTS), [("enrolled_at", store.DESCENDING)], limit, cursor, lambda s: s)
    enrollments = [s.to_dict() or {} for s in page.items]
    refs = [_col(PATHS).document(e["path_id"]) for e in enrollments]
    paths: dict[str, dict[str, Any]] = {}
    if refs:
        for snapshot in store.db().get_all(refs, field_paths=["title", "subject", "lesson_ids"]):
            if snapshot.exists:
                paths[snapshot.id] = snapshot.to_dict() or {}
    items = []
    for enrollment in enrollments:
        path = paths.get(enrollment["path_id"])
        if path is None:
            continue
        lesson_ids = list(path.get("lesson_ids") or [])
        completed, percent, following = summarize(lesson_ids, enrollment.get("lessons") or {})
        items.append(
            UserPathOut(
                path_id=enrollment["path_id"],
                title=path.get("title", ""),
                subject=path.get("subject", ""),
                enrolled_at=enrollment["enrolled_at"],
                lesson_count=len(lesson_ids),
                completed_lessons=completed,
                percent=percent,
                next_lesson_id=following,
            )
        )
    return store.Page(items=items, next_cursor=page.next_cursor)


# Reports from the client ----------------------------------------------------------------------------


def report_progress(lesson_id: str, user_id: str, report: LessonProgressIn, now: datetime) -> LessonProgressOut:
    """Apply a report; completion only when the lesson's condition holds (else 409, nothing
    written). The first completion publishes `lesson.completed`; repeats write nothing."""
    path_id, path, lesson = path_of_lesson(lesson_id)
    kind, duration = lesson["kind"], int(lesson["duration_seconds"])
    if report.watched_seconds is not None and kind != "video":
        raise Conflict(  # the lesson's kind, stored: a state the report does not fit
            "Only video lessons take watched_seconds.",
            details=[{"field": "watched_seconds", "message": "Not a video lesson."}],
        )
    ref = _enrollment_ref(path_id, user_id)

    def decide(
        enrollment: dict[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], dict[str, Any], bool]]:
        if enrollment is None or not enrollment.get("enrolled"):
            raise Conflict("Enrol in this path first.")
        before = dict((enrollment.get("lessons") or {}).get(lesson_id) or {})
        state: dict[str, Any] = {
            "completed": bool(before.get("completed")),
            "completed_at": before.get("completed_at"),
            "watched_seconds": int(before.get("watched_seconds") or 0),
            "position_seconds": int(before.get("position_seconds") or 0),
            "reported_at": before.get("reported_at"),
        }
        if kind == "video":
            # The first report starts the clock; states from before it was kept start at their last report.
            state["started_at"] = before.get("started_at") or before.get("reported_at") or now
        if report.watched_seconds is not None:
            state["watched_seconds"] = credit_watched(
                state["watched_seconds"], report.watched_seconds, duration, state["started_at"], now
            )
            state["reported_at"] = now
        if report.position_seconds is not None:
            state["position_seconds"] = min(report.position_seconds, duration)
        newly = False
        if not state["completed"]:
            wants = bool(report.completed) or (kind == "video" and report.watched_seconds is not None)
            if wants and condition_met(user_id, lesson, state):
                state.update(completed=True, completed_at=now)
                newly = True
            elif report.completed:
                raise Conflict(_refusal(lesson))
        states = {**(enrollment.get("lessons") or {}), lesson_id: state}
        changes = {f"lessons.{lesson_id}": state, "updated_at": now} if state != before else None
        return changes, (state, states, newly)

    event_id = new_id()  # one event whichever attempt commits

    def stage(batch: Any, answer: tuple[dict[str, Any], dict[str, Any], bool]) -> StagedEvent | None:
        return _announce(batch, user_id, path_id, lesson, now, event_id) if answer[2] else None

    (state, states, _), staged = store.guarded_write(ref, decide, stage)
    if staged is not None:
        _announced(staged, user_id, path_id, lesson_id)
    _, percent, following = summarize(list(path.get("lesson_ids") or []), states)
    return LessonProgressOut(
        lesson_id=lesson_id,
        path_id=path_id,
        kind=kind,
        completed=state["completed"],
        completed_at=state["completed_at"],
        watched_seconds=state["watched_seconds"],
        position_seconds=state["position_seconds"],
        duration_seconds=duration,
        path_percent=percent,
        next_lesson_id=following,
    )


def _refusal(lesson: dict[str, Any]) -> str:
    kind = lesson["kind"]
    if kind == "video":
        return f"Watch at least {int(VIDEO_COMPLETE_SHARE * 100)}% of the video first."
    if kind == "exercise":
        return "Solve the exercise first: it completes with an accepted submission."
    return f"Submit a {lesson['exam_type']} practice exam scoring at least {lesson.get('pass_score')} first."


# Events -----------------------------------------------------------------------------------------------


def _complete_matching(
    consumer: str, event: Event, user_id: str, matches: Callable[[dict[str, Any]], bool], verify: Callable[[], bool]
) -> int:
    """Complete, once per event, every lesson that `matches` in the paths the user is enrolled
    in; `verify` (a read of the source document) runs only when some lesson matches."""
    enrolled = (
        _col(ENROLLMENTS)
        .where(filter=eq("user_id", user_id))
        .where(filter=eq("enrolled", True))
        .select(["path_id"])
        .limit(EVENT_ENROLMENT_CAP)
        .get()
    )
    if not enrolled:
        return 0
    path_ids = [str((s.to_dict() or {}).get("path_id")) for s in enrolled]
    refs = [_col(PATHS).document(pid) for pid in path_ids]
    targets: dict[str, list[dict[str, Any]]] = {}
    for snapshot in store.db().get_all(refs, field_paths=["modules"]):
        if snapshot.exists:
            found = [lesson for lesson in lessons_of(snapshot.to_dict() or {}) if matches(lesson)]
            if found:
                targets[snapshot.id] = found
    if not targets or not verify():
        return 0

    event_ids = {(pid, lesson["id"]): new_id() for pid, lessons in targets.items() for lesson in lessons}

    def work(txn: store.Transaction) -> list[tuple[str, str, StagedEvent]]:
        refs = {pid: _enrollment_ref(pid, user_id) for pid in targets}
        current = {pid: ref.get(transaction=txn).to_dict() for pid, ref in refs.items()}
        newly: list[tuple[str, dict[str, Any]]] = []
        for pid, lessons in targets.items():
            enrollment = current[pid]
            if enrollment is None or not enrollment.get("enrolled"):
                continue
            states = enrollment.get("lessons") or {}
            updates: dict[str, Any] = {}
            for lesson in lessons:
                before = dict(states.get(lesson["id"]) or {})
                if before.get("completed"):
                    continue
                updates[f"lessons.{lesson['id']}"] = {
                    "completed": True,
                    "completed_at": event.occurred_at,
                    "watched_seconds": int(before.get("watched_seconds") or 0),
                    "position_seconds": int(before.get("position_seconds") or 0),
                    "reported_at": before.get("reported_at"),
                }
                newly.append((pid, lesson))
            if updates:
                txn.update(refs[pid], {**updates, "updated_at": event.occurred_at})
        # lesson.completed commits with the completions (shared.events.publish_in).
        at = event.occurred_at
        return [
            (pid, done["id"], _announce(txn, user_id, pid, done, at, event_ids[(pid, done["id"])]))
            for pid, done in newly
        ]

    announced = run_once(consumer, event, work) or []
    for pid, lesson_id, staged in announced:
        _announced(staged, user_id, pid, lesson_id)
    return len(announced)


def on_submission_graded(consumer: str, data: SubmissionGraded, event: Event) -> int:
    """An accepted submission completes the learner's lessons of that exercise. The submission
    document is checked, so the event and the route apply one rule: verdict `accepted`."""
    if not data.passed:
        return 0

    def accepted() -> bool:
        submission = _col(SUBMISSIONS).document(data.submission_id).get().to_dict() or {}
        return (
            submission.get("verdict") == "accepted"
            and submission.get("user_id") == data.user_id
            and submission.get("exercise_id") == data.exercise_id
        )

    return _complete_matching(
        consumer,
        event,
        data.user_id,
        lambda lesson: lesson.get("kind") == "exercise" and lesson.get("exercise_id") == data.exercise_id,
        accepted,
    )


def on_exam_completed(consumer: str, data: ExamCompleted, event: Event) -> int:
    """A submitted session completes the learner's practice lessons of its exam type whose pass
    score it reached."""
    return _complete_matching(
        consumer,
        event,
        data.user_id,
        lambda lesson: (
            lesson.get("kind") == "practice_exam"
            and lesson.get("exam_type") == data.exam_type
            and data.score >= int(lesson.get("pass_score") or 0)
        ),
        lambda: True,
    )
