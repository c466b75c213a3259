"""Learning paths: authoring, the catalogue, enrolment, lesson progress the server decides, and
the events that complete exercise and practice-exam lessons by themselves."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from functions.paths import authoring, learning
from functions.paths.models import (
    EnrollmentOut,
    LessonProgressIn,
    LessonProgressOut,
    PathDetailOut,
    PathIn,
    PathListQuery,
    PathOut,
    PathSummaryPage,
    UserPathPage,
)
from shared import store
from shared.auth import STAFF_ROLES
from shared.event_types import EXAM_COMPLETED, SUBMISSION_GRADED, ExamCompleted, SubmissionGraded
from shared.events import Event, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction, Response, roles, student_data
from shared.logging import get_logger
from shared.validation import PageQuery

log = get_logger("paths")
M = TypeVar("M", bound=BaseModel)

AUTHORS = roles("admin", *STAFF_ROLES)

paths_route = HttpFunction("paths-collection", "/api/v1/paths")
path_route = HttpFunction("paths-item", "/api/v1/paths/{path_id}")
enrollment_route = HttpFunction("paths-enrollment", "/api/v1/paths/{path_id}/enrollment")
user_paths_route = HttpFunction("paths-user-paths", "/api/v1/users/{user_id}/paths")
lesson_progress_route = HttpFunction("paths-lesson-progress", "/api/v1/lessons/{lesson_id}/progress")

# Each consumer's name, once: its function and its processed-event markers.
ON_SUBMISSION_GRADED = "paths-on-submission-graded"
ON_EXAM_COMPLETED = "paths-on-exam-completed"


@paths_route.get(SIGNED_IN, query=PathListQuery, response=PathSummaryPage)
def list_paths(call: Call[None, PathListQuery]) -> store.Page:
    """Paths, newest first, filtered by `subject` (any case) and `interest` (a catalogue id)."""
    q = call.query
    return authoring.list_paths(q.subject, q.interest, q.limit, q.cursor)


@paths_route.post(AUTHORS, body=PathIn, response=PathOut, status=201, errors=(404,))
def create_path(call: Call[PathIn, None]) -> PathOut:
    """Author a whole path, modules and lessons inline (admins and teachers)."""
    return authoring.create_path(call.user.user_id, call.body, call.now)


@path_route.get(SIGNED_IN, response=PathDetailOut)
def read_path(call: Call[None, None]) -> PathDetailOut:
    """The path with its modules and lessons, and the caller's progress on it."""
    return learning.get_path(call.params["path_id"], call.user.user_id)


@path_route.put(AUTHORS, body=PathIn, response=PathOut)
def replace_path(call: Call[PathIn, None]) -> PathOut:
    """Replace the whole path (its author or an admin); lessons sent with their id keep it."""
    return authoring.update_path(call.params["path_id"], call.user, call.body, call.now)


@path_route.delete(AUTHORS, status=204)
def delete_path(call: Call[None, None]) -> Response:
    """Delete the path (its author or an admin)."""
    authoring.delete_path(call.params["path_id"], call.user)
    return Response(status=204)


@enrollment_route.post(SIGNED_IN, response=EnrollmentOut, status=201, also=(200,))
def enroll(call: Call[None, None]) -> Response:
    """Enrol the caller: 201 the first time, 200 when already enrolled."""
    enrollment, created = learning.enroll(call.params["path_id"], call.user.user_id, call.now)
    return Response(status=201 if created else 200, body=enrollment)


@enrollment_route.delete(SIGNED_IN, status=204)
def unenroll(call: Call[None, None]) -> Response:
    """Leave the path; the progress is kept for a return."""
    learning.unenroll(call.params["path_id"], call.user.user_id, call.now)
    return Response(status=204)


@user_paths_route.get(student_data("user_id"), query=PageQuery, response=UserPathPage)
def user_paths(call: Call[None, PageQuery]) -> store.Page:
    """A user's enrolled paths with percent and the lesson to resume (the user, their teachers,
    an admin)."""
    user_id = call.params["user_id"]
    return learning.list_user_paths(user_id, call.query.limit, call.query.cursor)


@lesson_progress_route.post(SIGNED_IN, body=LessonProgressIn, response=LessonProgressOut, errors=(409,))
def report_progress(call: Call[LessonProgressIn, None]) -> LessonProgressOut:
    """Report watching, position or completion of a lesson; the server decides completion."""
    return learning.report_progress(call.params["lesson_id"], call.user.user_id, call.body, call.now)


@subscriber(ON_SUBMISSION_GRADED, topic=SUBMISSION_GRADED)
def on_submission_graded(event: Event) -> None:
    """An accepted submission completes the learner's exercise lessons of that exercise."""
    learning.on_submission_graded(ON_SUBMISSION_GRADED, event.data_as(SubmissionGraded), event)


@subscriber(ON_EXAM_COMPLETED, topic=EXAM_COMPLETED)
def on_exam_completed(event: Event) -> None:
    """A submitted exam session completes the learner's practice lessons it passes."""
    learning.on_exam_completed(ON_EXAM_COMPLETED, event.data_as(ExamCompleted), event)
