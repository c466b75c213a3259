"""Payloads and responses of the practice-exam routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from shared.validation import DISTINCT, Changes, NotNull, Out, PageQuery, Payload

EXAM_TYPE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
DOMAIN_PATTERN = r"^[0-9]{1,2}\.[0-9]{1,2}$"
QUESTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

MAX_QUESTION_TEXT = 2000
MAX_OPTION_TEXT = 500
MAX_EXPLANATION_TEXT = 2000
MAX_SESSION_QUESTIONS = 100

ExamType = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=EXAM_TYPE_PATTERN)]
Domain = Annotated[str, StringConstraints(min_length=3, max_length=5, pattern=DOMAIN_PATTERN)]
QuestionKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=QUESTION_ID_PATTERN)]
QuestionText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION_TEXT)]
OptionText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_OPTION_TEXT)]
ExplanationText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPLANATION_TEXT)]
Letter = Literal["A", "B", "C", "D"]
# Firestore keeps no key order in a map: answers always list the options A to D.
ByLetter = Annotated[dict[str, str], AfterValidator(lambda letters: dict(sorted(letters.items())))]
Mode = Literal["practice", "exam"]


def _upper_letter(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


class Options(Payload):
    A: OptionText
    B: OptionText
    C: OptionText
    D: OptionText


class Explanations(Payload):
    A: ExplanationText
    B: ExplanationText
    C: ExplanationText
    D: ExplanationText


# Question bank -------------------------------------------------------------------------------


class QuestionIn(Payload):
    exam_type: ExamType
    question_id: QuestionKey | None = Field(default=None, description="Your own id (the CSV `question-id`).")
    domain: Domain
    question_text: QuestionText
    options: Options
    explanations: Explanations
    correct_answer: Letter

    @field_validator("correct_answer", mode="before")
    @classmethod
    def _letter(cls, value: object) -> object:
        return _upper_letter(value)


class QuestionPatch(Changes):
    domain: NotNull[Domain] = None
    question_text: NotNull[QuestionText] = None
    options: NotNull[Options] = None
    explanations: NotNull[Explanations] = None
    correct_answer: NotNull[Letter] = None

    @field_validator("correct_answer", mode="before")
    @classmethod
    def _letter(cls, value: object) -> object:
        return _upper_letter(value)


class QuestionListQuery(PageQuery):
    exam_type: ExamType | None = None
    domain: Domain | None = None


class QuestionOut(Out):
    id: str
    exam_type: str
    question_id: str
    domain: str
    question_text: str
    options: ByLetter
    explanations: ByLetter
    correct_answer: Letter
    created_at: datetime
    updated_at: datetime


class DomainCountOut(Out):
    domain: str
    count: int


class ExamTypeOut(Out):
    id: str
    name: str
    question_count: int
    domains: list[DomainCountOut]


# Imports --------------------------------------------------------------------------------------


class ImportQuery(Payload):
    exam_type: ExamType


class ImportAcceptedOut(Out):
    id: str
    status: Literal["pending", "running", "completed", "failed"]
    exam_type: str
    object: str


class ImportErrorOut(Out):
    row: int
    message: str


class ImportOut(Out):
    id: str
    status: Literal["pending", "running", "completed", "failed"]
    exam_type: str | None = None
    object: str
    rows_total: int
    rows_imported: int
    rows_rejected: int
    rows_created: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    errors: list[ImportErrorOut]
    errors_truncated: bool = False
    message: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


# Sessions ------------------------------------------------------------------------------------


class SessionIn(Payload):
    exam_type: ExamType
    question_count: int = Field(ge=1, le=MAX_SESSION_QUESTIONS)
    domains: Annotated[list[Domain], Field(min_length=1, max_length=30), DISTINCT] | None = None
    mode: Mode = "practice"


class AnswerIn(Payload):
    question_id: Annotated[str, StringConstraints(min_length=1, max_length=110)]
    answer: Letter

    @field_validator("answer", mode="before")
    @classmethod
    def _letter(cls, value: object) -> object:
        return _upper_letter(value)


class SessionQuestionOut(Out):
    id: str
    domain: str
    question_text: str
    options: ByLetter
    # Filled in once the caller may see them: practice answers, or after submit.
    answer: Letter | None = None
    correct: bool | None = None
    correct_answer: Letter | None = None


class DomainScoreOut(Out):
    domain: str
    correct: int
    total: int


class ResultOut(Out):
    score: int
    correct: int
    total: int
    domains: list[DomainScoreOut]


class SessionOut(Out):
    id: str
    user_id: str
    exam_type: str
    mode: Mode
    status: Literal["in_progress", "submitted"]
    question_count: int
    answered: int
    created_at: datetime
    deadline: datetime | None = None
    submitted_at: datetime | None = None
    result: ResultOut | None = None
    questions: list[SessionQuestionOut]


class SessionSummaryOut(Out):
    id: str
    exam_type: str
    mode: Mode
    status: Literal["in_progress", "submitted"]
    question_count: int
    answered: int
    score: int | None = None
    created_at: datetime
    deadline: datetime | None = None
    submitted_at: datetime | None = None


class PracticeAnswerOut(Out):
    correct: bool
    correct_answer: Letter
    explanations: ByLetter


class ExamAnswerOut(Out):
    recorded: Literal[True] = True


class WeakAreaOut(Out):
    exam_type: str
    domain: str
    answered: int
    correct: int
    accuracy: float


class WeakAreasQuery(Payload):
    exam_type: ExamType | None = None


class WeakAreasOut(Out):
    items: list[WeakAreaOut]
