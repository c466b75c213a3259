"""Learning events: the per-user stats that the progress pipeline keeps, and their routes."""

from __future__ import annotations

from functions.progress import service
from functions.progress.models import BadgePage, ProgressOut
from shared.event_types import UserRegistered
from shared.events import Event, run_once, subscriber
from shared.http import Call, HttpFunction, student_data

student_progress_route = HttpFunction("progress-student", "/api/v1/students/{student_id}/progress")
badges_route = HttpFunction("progress-badges", "/api/v1/users/{user_id}/badges")


@subscriber("progress-on-user-registered", topic="user.registered")
def on_user_registered(event: Event) -> None:
    """A new account gets its stats document, once however often the event arrives."""
    data = event.data_as(UserRegistered)
    run_once(
        "progress-on-user-registered",
        event,
        lambda txn: service.create_stats(txn, data.user_id, data.role, event.occurred_at),
    )


@subscriber("progress-on-exam-answered", topic="exam.answered")
def on_exam_answered(event: Event) -> None:
    """An answer: questions answered and correct, domain mastery, XP, the day's activity."""
    service.on_exam_answered("progress-on-exam-answered", event)


@subscriber("progress-on-exam-completed", topic="exam.completed")
def on_exam_completed(event: Event) -> None:
    """A submitted exam: exams taken, scores, XP, badges."""
    service.on_exam_completed("progress-on-exam-completed", event)


@subscriber("progress-on-submission-graded", topic="submission.graded")
def on_submission_graded(event: Event) -> None:
    """A graded exercise submission: topic mastery, exercise analytics, XP on the first pass."""
    service.on_submission_graded("progress-on-submission-graded", event)


@subscriber("progress-on-lesson-completed", topic="lesson.completed")
def on_lesson_completed(event: Event) -> None:
    """A completed lesson: XP and the count, once per lesson."""
    service.on_lesson_completed("progress-on-lesson-completed", event)


@subscriber("progress-on-class-joined", topic="class.joined")
def on_class_joined(event: Event) -> None:
    """Keep the user's class_ids in step with the membership document."""
    service.on_class_membership("progress-on-class-joined", event)


@subscriber("progress-on-class-left", topic="class.left")
def on_class_left(event: Event) -> None:
    """Keep the user's class_ids in step with the membership document."""
    service.on_class_membership("progress-on-class-left", event)


@student_progress_route.get(student_data("student_id"), response=ProgressOut)
def student_progress(call: Call[None, None]) -> ProgressOut:
    """Everything a dashboard shows: XP, streaks, counts, mastery, badges (the student, their
    teachers, admins)."""
    return service.get_progress(call.user, call.params["student_id"], call.now)


@badges_route.get(student_data("user_id"), response=BadgePage)
def badges(call: Call[None, None]) -> BadgePage:
    """The badges a user holds, in the order earned."""
    return BadgePage(items=service.get_badges(call.user, call.params["user_id"]))
