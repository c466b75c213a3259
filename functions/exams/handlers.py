"""Practice exams: exam types, the question bank, CSV imports, exam sessions, weak areas."""

from __future__ import annotations

import csv
import io
from typing import IO, Any

from functions.exams import bank, csvrows, history, imports, sessions
from functions.exams.models import (
    AnswerIn,
    ExamAnswerOut,
    ExamTypeOut,
    ImportOut,
    ImportQuery,
    PracticeAnswerOut,
    QuestionIn,
    QuestionListQuery,
    QuestionOut,
    QuestionPatch,
    ResultOut,
    SessionIn,
    SessionOut,
    SessionSummaryOut,
    WeakAreasOut,
    WeakAreasQuery,
)
from shared import store
from shared.errors import ValidationFailed
from shared.event_types import ExamAnswered
from shared.events import Event, StorageObject, on_object_finalized, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction, Response, roles, student_data
from shared.logging import get_logger, log_fields
from shared.uploads import read_upload
from shared.validation import PageQuery

log = get_logger("exams")

exams_route = HttpFunction("exams-list", "/api/v1/exams")
questions_route = HttpFunction("exams-questions", "/api/v1/questions")
question_route = HttpFunction("exams-questions-item", "/api/v1/questions/{question_id}")
imports_route = HttpFunction("exams-imports", "/api/v1/imports", memory="512Mi", timeout_seconds=120)
import_route = HttpFunction("exams-imports-item", "/api/v1/imports/{import_id}")
sessions_route = HttpFunction("exams-sessions", "/api/v1/exam-sessions")
session_route = HttpFunction("exams-sessions-item", "/api/v1/exam-sessions/{session_id}")
answers_route = HttpFunction("exams-sessions-answers", "/api/v1/exam-sessions/{session_id}/answers")
submit_route = HttpFunction("exams-sessions-submit", "/api/v1/exam-sessions/{session_id}/submit")
user_sessions_route = HttpFunction("exams-user-sessions", "/api/v1/users/{user_id}/exam-sessions")
weak_areas_route = HttpFunction("exams-weak-areas", "/api/v1/users/{user_id}/weak-areas")

STAFF = roles("admin", "teacher")
ADMIN = roles("admin")


# Exam types and questions ------------------------------------------------------------------------


@exams_route.get(SIGNED_IN, query=PageQuery, response=ExamTypeOut)
def list_exams(call: Call[None, PageQuery]) -> store.Page:
    """Exam types with their question counts per domain."""
    return bank.list_exam_types(call.query.limit, call.query.cursor)


@questions_route.get(STAFF, query=QuestionListQuery, response=QuestionOut)
def list_questions(call: Call[None, QuestionListQuery]) -> store.Page:
    """The question bank, filtered by exam type and domain (admins and teachers)."""
    q = call.query
    return bank.list_questions(q.exam_type, q.domain, q.limit, q.cursor)


@questions_route.post(ADMIN, body=QuestionIn, response=QuestionOut, status=201)
def create_question(call: Call[QuestionIn, None]) -> QuestionOut:
    """Add a question (admins). A new exam type starts with its first question."""
    return bank.create_question(call.body.model_dump(), call.now)


@question_route.get(STAFF, response=QuestionOut)
def read_question(call: Call[None, None]) -> QuestionOut:
    """One question with its answer and explanations (admins and teachers)."""
    return bank.get_question(call.params["question_id"])


@question_route.patch(ADMIN, body=QuestionPatch, response=QuestionOut)
def update_question(call: Call[QuestionPatch, None]) -> QuestionOut:
    """Change a question (admins); a domain change moves the exam type's counts."""
    changes = call.body.model_dump(include=call.body.model_fields_set)
    return bank.update_question(call.params["question_id"], changes, call.now)


@question_route.delete(ADMIN, status=204)
def delete_question(call: Call[None, None]) -> Response:
    """Delete a question (admins)."""
    bank.delete_question(call.params["question_id"], call.now)
    return Response(status=204)


# Imports ---------------------------------------------------------------------------------------------


def _check_header(upload: IO[bytes]) -> None:
    """Refuse at once a file whose first line is not the question header."""
    head = upload.read(64 * 1024)
    upload.seek(0)
    text = head.decode("utf-8-sig", errors="replace")
    if "\n" not in text and len(head) == 64 * 1024:
        return  # a header this long: the import will judge it
    record = next(csv.reader(io.StringIO(text)), None)
    try:
        csvrows.column_positions(record or [])
    except csvrows.HeaderError as exc:
        raise ValidationFailed(str(exc), details=[{"field": "file", "message": str(exc)}]) from exc


@imports_route.post(ADMIN, query=ImportQuery, response=ImportOut, status=202, raw_body=True)
def upload_import(call: Call[None, ImportQuery]) -> Response:
    """Upload a question CSV to `questions/<exam_type>.csv`; the storage trigger imports it."""
    upload, size = read_upload(call.request, field="file", body_types=("text/csv", "application/csv", "text/plain"))
    with upload:
        _check_header(upload)
        report = imports.upload_import(call.query.exam_type, upload, size, call.user.user_id, call.now)
    return Response(status=202, body=report)


@import_route.get(ADMIN, response=ImportOut)
def read_import(call: Call[None, None]) -> ImportOut:
    """The report of one import: status, counts and each rejected row with its reason."""
    return imports.get_import(call.params["import_id"])


@on_object_finalized("exams-import-csv", bucket_setting="imports_bucket")
def import_csv(obj: StorageObject) -> None:
    """A CSV finalized under `questions/` in the imports bucket: import it, once per generation."""
    imports.import_object(obj.bucket, obj.name, obj.generation, store.now())


# Sessions ---------------------------------------------------------------------------------------------


@sessions_route.post(SIGNED_IN, body=SessionIn, response=SessionOut, status=201)
def start_session(call: Call[SessionIn, None]) -> SessionOut:
    """Start a practice or exam session of random questions; no answers or explanations inside."""
    b = call.body
    return sessions.start_session(call.user.user_id, b.exam_type, b.question_count, b.domains, b.mode, call.now)


@session_route.get(SIGNED_IN, response=SessionOut)
def read_session(call: Call[None, None]) -> SessionOut:
    """One session of the caller's (admins may read any)."""
    return sessions.get_session(call.params["session_id"], call.user)


@answers_route.post(SIGNED_IN, body=AnswerIn, response=PracticeAnswerOut | ExamAnswerOut)
def answer(call: Call[AnswerIn, None]) -> Any:
    """Answer one question. Practice mode: the verdict and explanations; exam mode: `{recorded: true}`."""
    return sessions.answer(call.params["session_id"], call.user, call.body.question_id, call.body.answer, call.now)


@submit_route.post(SIGNED_IN, response=ResultOut)
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


@subscriber("exams-on-answered", topic="exam.answered")
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
