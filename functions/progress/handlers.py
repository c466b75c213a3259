"""Learning events: the per-user stats that the progress pipeline keeps, and their routes."""

from __future__ import annotations

from functions.progress import service
from functions.progress.models import BadgePage, ProgressOut
from shared.event_types import (
    CLASS_JOINED,
    CLASS_LEFT,
    EXAM_ANSWERED,
    EXAM_COMPLETED,
    LESSON_COMPLETED,
    SUBMISSION_GRADED,
    USER_REGISTERED,
    UserRegistered,
)
from shared.events import Event, run_once, subscriber
from shared.http import Call, HttpFunction, student_data

student_progress_route = HttpFunction("progress-student", "/api/v1/students/{student_id}/progress")
badges_route = HttpFunction("progress-badges", "/api/v1/users/{user_id}/badges")

# Each consumer's name, once: its function and its processed-event markers.
ON_USER_REGISTERED = "progress-on-user-registered"
ON_EXAM_ANSWERED = "progress-on-exam-answered"
ON_EXAM_COMPLETED = "progress-on-exam-completed"
ON_SUBMISSION_GRADED = "progress-on-submission-graded"
ON_LESSON_COMPLETED = "progress-on-lesson-completed"
ON_CLASS_JOINED = "progress-on-class-joined"
ON_CLASS_LEFT = "progress-on-class-left"


@subscriber(ON_USER_REGISTERED, topic=USER_REGISTERED)
def on_user_registered(event: Event) -> None:
    """A new account gets its stats document, once however often the event arrives."""
    data = event.data_as(UserRegistered)
    run_once(
        ON_USER_REGISTERED,
        event,
        lambda txn: service.create_stats(txn, data.user_id, data.role, event.occurred_at),
    )


@subscriber(ON_EXAM_ANSWERED, topic=EXAM_ANSWERED)
def on_exam_answered(event: Event) -> None:
    """An answer: questions answered and correct, domain mastery, XP, the day's activity."""
    service.on_exam_answered(ON_EXAM_ANSWERED, event)


@subscriber(ON_EXAM_COMPLETED, topic=EXAM_COMPLETED)
def on_exam_completed(event: Event) -> None:
    """A submitted exam: exams taken, scores, XP, badges."""
    service.on_exam_completed(ON_EXAM_COMPLETED, event)


@subscriber(ON_SUBMISSION_GRADED, topic=SUBMISSION_GRADED)
def on_submission_graded(event: Event) -> None:
    """A graded exercise submission: topic mastery, exercise analytics, XP on the first pass."""
    service.on_submission_graded(ON_SUBMISSION_GRADED, event)


@subscriber(ON_LESSON_COMPLETED, topic=LESSON_COMPLETED)
def on_lesson_completed(event: Event) -> None:
    """A completed lesson: XP and the count, once per lesson."""
    service.on_lesson_completed(ON_LESSON_COMPLETED, event)


@subscriber(ON_CLASS_JOINED, topic=CLASS_JOINED)
def on_class_joined(event: Event) -> None:
    """Keep the user's class_ids in step with the membership document."""
    service.on_class_membership(ON_CLASS_JOINED, event)


@subscriber(ON_CLASS_LEFT, topic=CLASS_LEFT)
def on_class_left(event: Event) -> None:
    """Keep the user's class_ids in step with the membership document."""
    service.on_class_membership(ON_CLASS_LEFT, event)


@student_progress_route.get(student_data("student_id"), response=ProgressOut)
def student_progress(call: Call[None, None]) -> ProgressOut:
    """Everything a dashboard shows: XP, streaks, counts, mastery, badges (the student, their
    teachers, admins)."""
    return service.get_progress(call.user, call.params["student_id"], call.now)


@badges_route.get(student_data("user_id"), response=BadgePage)
def badges(call: Call[None, None]) -> BadgePage:
    """The badges a user holds, in the order earned."""
    return BadgePage(items=service.get_badges(call.user, call.params["user_id"]))
