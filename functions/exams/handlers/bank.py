"""The question bank: exam types and their questions."""

from __future__ import annotations

from functions.exams import bank
from functions.exams.models import ExamTypeOut, QuestionIn, QuestionListQuery, QuestionOut, QuestionPatch
from shared import answers, store
from shared.auth import STAFF_ROLES
from shared.http import SIGNED_IN, Call, HttpFunction, Response, roles
from shared.validation import PageQuery

exams_route = HttpFunction("exams-list", "/api/v1/exams")
questions_route = HttpFunction("exams-questions", "/api/v1/questions")
question_route = HttpFunction("exams-questions-item", "/api/v1/questions/{question_id}")

# Staff reach the bank; shared.answers then admits admins and verified teachers only (403).
STAFF = roles("admin", *STAFF_ROLES)
ADMIN = roles("admin")


# Exam types and questions ------------------------------------------------------------------------


@exams_route.get(SIGNED_IN, query=PageQuery, response=ExamTypeOut)
def list_exams(call: Call[None, PageQuery]) -> store.Page:
    """Exam types with their question counts per domain."""
    return bank.list_exam_types(call.query.limit, call.query.cursor)


@questions_route.get(STAFF, query=QuestionListQuery, response=QuestionOut)
def list_questions(call: Call[None, QuestionListQuery]) -> store.Page:
    """The question bank, filtered by exam type and domain (admins and verified teachers)."""
    q = call.query
    return bank.list_questions(q.exam_type, q.domain, q.limit, q.cursor, answers.Viewer.of(call.user))


@questions_route.post(ADMIN, body=QuestionIn, response=QuestionOut, status=201, errors=(409,))
def create_question(call: Call[QuestionIn, None]) -> QuestionOut:
    """Add a question (admins). A new exam type starts with its first question."""
    return bank.create_question(call.body.model_dump(), call.now, answers.Viewer.of(call.user))


@question_route.get(STAFF, response=QuestionOut)
def read_question(call: Call[None, None]) -> QuestionOut:
    """One question with its answer and explanations (admins and verified teachers)."""
    return bank.get_question(call.params["question_id"], answers.Viewer.of(call.user))


@question_route.patch(ADMIN, body=QuestionPatch, response=QuestionOut)
def update_question(call: Call[QuestionPatch, None]) -> QuestionOut:
    """Change a question (admins); a domain change moves the exam type's counts."""
    changes = call.body.model_dump(include=call.body.model_fields_set)
    return bank.update_question(call.params["question_id"], changes, call.now, answers.Viewer.of(call.user))


@question_route.delete(ADMIN, status=204)
def delete_question(call: Call[None, None]) -> Response:
    """Delete a question (admins)."""
    bank.delete_question(call.params["question_id"], call.now)
    return Response(status=204)
