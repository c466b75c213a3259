"""Exam sessions: start, answer, submit, read; a user's history and weak areas."""

from __future__ import annotations

from typing import Any

from functions.exams import bank, history, sessions
from functions.exams.models import (
    AnswerIn,
    ExamAnswerOut,
    PracticeAnswerOut,
    ResultOut,
    SessionIn,
    SessionOut,
    SessionSummaryOut,
    WeakAreasOut,
    WeakAreasQuery,
)
from shared import answers, store
from shared.event_types import EXAM_ANSWERED, ExamAnswered
from shared.events import Event, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction, student_data
from shared.logging import get_logger, log_fields
from shared.validation import PageQuery

log = get_logger("exams")

sessions_route = HttpFunction("exams-sessions", "/api/v1/exam-sessions")
session_route = HttpFunction("exams-sessions-item", "/api/v1/exam-sessions/{session_id}")
answers_route = HttpFunction("exams-sessions-answers", "/api/v1/exam-sessions/{session_id}/answers")
submit_route = HttpFunction("exams-sessions-submit", "/api/v1/exam-sessions/{session_id}/submit")
user_sessions_route = HttpFunction("exams-user-sessions", "/api/v1/users/{user_id}/exam-sessions")
weak_areas_route = HttpFunction("exams-weak-areas", "/api/v1/users/{user_id}/weak-areas")


# Sessions ---------------------------------------------------------------------------------------------


@sessions_route.post(SIGNED_IN, body=SessionIn, response=SessionOut, status=201, errors=(404, 409))
def start_session(call: Call[SessionIn, None]) -> SessionOut:
    """Start a practice or exam session of random questions; a student gets no answers or explanations."""
    b = call.body
    viewer = answers.Viewer.of(call.user)
    return sessions.start_session(viewer, b.exam_type, b.question_count, b.domains, b.mode, call.now)


@session_route.get(SIGNED_IN, response=SessionOut)
def read_session(call: Call[None, None]) -> SessionOut:
    """One session of the caller's (admins may read any)."""
    return sessions.get_session(call.params["session_id"], call.user)


@answers_route.post(SIGNED_IN, body=AnswerIn, response=PracticeAnswerOut | ExamAnswerOut, errors=(409,))
def answer(call: Call[AnswerIn, None]) -> Any:
    """Answer one question. Practice mode: the verdict and explanations; exam mode: `{recorded: true}`."""
    return sessions.answer(call.params["session_id"], call.user, call.body.question_id, call.body.answer, call.now)


@submit_route.post(SIGNED_IN, response=ResultOut, errors=(409,))
def submit(call: Call[None, None]) -> ResultOut:
    """Score the session: total and per domain. Once."""
    return sessions.submit(call.params["session_id"], call.user, call.now)


@user_sessions_route.get(student_data("user_id"), query=PageQuery, response=SessionSummaryOut)
def user_sessions(call: Call[None, PageQuery]) -> store.Page:
    """A user's sessions, newest first (the user, their teachers, an admin)."""
    return history.list_user_sessions(call.params["user_id"], call.query.limit, call.query.cursor)


@weak_areas_route.get(student_data("user_id"), query=WeakAreasQuery, response=WeakAreasOut)
def weak_areas(call: Call[None, WeakAreasQuery]) -> WeakAreasOut:
    """A user's domains by accuracy over all answers, weakest first (the user, their teachers, an admin)."""
    return history.weak_areas(call.params["user_id"], call.query.exam_type)


@subscriber("exams-on-answered", topic=EXAM_ANSWERED)
def on_answered(event: Event) -> None:
    """Keep the student's per-question progress (adaptive selection reads it); idempotent."""
    data = event.data_as(ExamAnswered)
    if not bank.valid_question_doc_id(data.question_id):
        # Not `<exam_type>:<id>`, so no question of the bank: nothing to record, and a retry
        # would fail the same way (acknowledge rather than retry it into the dead letters).
        log.warning("exam.answered for no question of the bank dropped", extra=log_fields(event_id=event.id))
        return
    history.record_answer(data.user_id, data.exam_type, data.question_id, bool(data.correct), event.occurred_at)


@subscriber("exams-expire-sessions", topic="jobs.exams-expire-sessions", schedule="*/5 * * * *")
def expire_sessions(event: Event) -> None:
    """Submit exam sessions past their deadline (each submit happens once, so a redelivery is harmless)."""
    sessions.expire_sessions(store.now())
